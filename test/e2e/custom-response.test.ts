/**
 * envoy.filters.http.custom_response against the real proxy on every runtime: a real
 * upstream answering 401 and 503, undici as the client. A LocalResponsePolicy replaces
 * the 503; a RedirectPolicy sends the 401's request again (GET) to /login on the same
 * upstream and gives its answer the policy's status_code; a route's own config wins.
 * HttpResponseLocalReplyMatchInput tells a local reply (direct_response, the router's 503)
 * from the upstream's response of the same code.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { parseResponses, rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.custom_response.v3.CustomResponse";
const LOCAL = "type.googleapis.com/envoy.extensions.http.custom_response.local_response_policy.v3.LocalResponsePolicy";
const REDIRECT = "type.googleapis.com/envoy.extensions.http.custom_response.redirect_policy.v3.RedirectPolicy";
const CODE = "type.googleapis.com/envoy.type.matcher.v3.HttpResponseStatusCodeMatchInput";
const LOCAL_REPLY = "type.googleapis.com/envoy.type.matcher.v3.HttpResponseLocalReplyMatchInput";

const onCode = (code: string, typeUrl: string, fields: Record<string, unknown>) => ({
  predicate: { single_predicate: { input: { name: "code", typed_config: { "@type": CODE } }, value_match: { exact: code } } },
  on_match: { action: { name: "policy", typed_config: { "@type": typeUrl, ...fields } } },
});

/** A user's shape: (local reply is "true"/"false") and (status is code). */
const onLocalReplyAndCode = (localReply: "true" | "false", code: string, fields: Record<string, unknown>) => ({
  predicate: {
    and_matcher: {
      predicate: [
        { single_predicate: { input: { name: "local_reply", typed_config: { "@type": LOCAL_REPLY } }, value_match: { exact: localReply } } },
        { single_predicate: { input: { name: "status", typed_config: { "@type": CODE } }, value_match: { exact: code } } },
      ],
    },
  },
  on_match: { action: { name: "policy", typed_config: { "@type": LOCAL, ...fields } } },
});

describe.each(RUNTIMES)("custom_response on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  let base: string;
  let port: number;

  beforeAll(async () => {
    upstream = await httpUpstream((req, res) => {
      const m = /^\/(?:[a-z]+\/)?(\d{3})$/.exec(req.url);
      res.statusCode = m ? Number(m[1]) : 200;
      res.setHeader("x-upstream", "yes");
      // /empty/…: no body, so the response is complete with its headers.
      res.end(req.url.startsWith("/empty/") ? "" : `upstream ${req.method} ${req.url}`);
    });
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // Nothing listens there: the router's 503 (a local reply).
    const deadPort = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { app: [upstream.port], dead: [deadPort] },
      routes: [
        { match: { path: "/existing-body" }, action: { direct_response: { status: 201, body: { inline_string: "route body" } } } },
        { match: { prefix: "/dead" }, cluster: "dead" },
        {
          match: { prefix: "/special" },
          action: {
            route: { cluster: "app" },
            typed_per_filter_config: {
              "envoy.filters.http.custom_response": { "@type": TYPE, custom_response_matcher: { matcher_list: { matchers: [onCode("503", LOCAL, { status_code: 200, body: { inline_string: "route says ok" } })] } } },
            },
          },
        },
        { match: { prefix: "/" }, cluster: "app" },
      ],
      hcm: {
        http_filters: [
          {
            name: "envoy.filters.http.custom_response",
            typed_config: {
              "@type": TYPE,
              custom_response_matcher: {
                matcher_list: {
                  matchers: [
                    // The user's shape: no body, so %LOCAL_REPLY_BODY% is the local reply's own (envoyproxy/envoy#46555).
                    onLocalReplyAndCode("true", "201", { body_format: { text_format_source: { inline_string: "[%LOCAL_REPLY_BODY%]" } } }),
                    // An upstream response has no local reply body: "".
                    onLocalReplyAndCode("false", "201", { body_format: { text_format_source: { inline_string: "upstream 201 replaced [%LOCAL_REPLY_BODY%]" } } }),
                    onLocalReplyAndCode("true", "503", { body: { inline_string: "proxy unavailable" } }),
                    onCode("503", LOCAL, { body: { inline_string: "down for maintenance" }, response_headers_to_add: [{ header: { key: "x-custom", value: "local" } }] }),
                    onCode("418", LOCAL, { status_code: 204, body: { inline_string: "no content has no body" }, response_headers_to_add: [{ header: { key: "content-type", value: "text/html" } }] }),
                    onCode("409", LOCAL, { status_code: 304, body: { inline_string: "not modified has no body" } }),
                    onCode("401", REDIRECT, { uri: `http://127.0.0.1:${port}/login`, status_code: 302, response_headers_to_add: [{ header: { key: "x-custom", value: "redirected" } }] }),
                  ],
                },
              },
            },
          },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    });
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  async function send(method: string, path: string, body?: string) {
    const response = await request(base + path, { method, ...(body !== undefined && { body }) });
    return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
  }

  test("a 503 from the upstream is replaced by the local response; other codes pass", async () => {
    const replaced = await send("GET", "/503");
    expect([replaced.status, replaced.body, replaced.headers["x-custom"], replaced.headers["x-upstream"]]).toEqual([503, "down for maintenance", "local", undefined]);
    const passed = await send("GET", "/404");
    expect([passed.status, passed.body]).toEqual([404, "upstream GET /404"]);
  });

  test("a 503 replaced by the local response leaves its upstream connection open when its response had ended", async () => {
    // Envoy's router: an upstream response complete when the stream ends goes back to the pool; only an
    // unfinished one (a body still to come) is reset, which closes an HTTP/1.1 connection (router.cc onDestroy).
    await send("GET", "/404");
    const before = upstream.connections;
    for (let i = 0; i < 5; i++) expect((await send("GET", "/empty/503")).body).toBe("down for maintenance");
    expect((await send("GET", "/404")).status).toBe(404);
    expect(upstream.connections - before).toBe(0);
  });

  test("a 401 is redirected internally: the upstream's /login answer with status_code 302 and the added header", async () => {
    const before = upstream.requests.length;
    const redirected = await send("POST", "/401", "credentials");
    expect([redirected.status, redirected.body, redirected.headers["x-custom"]]).toEqual([302, "upstream GET /login", "redirected"]);
    expect(upstream.requests.slice(before).map((r) => `${r.method} ${r.url} ${r.body.length}`)).toEqual(["POST /401 11", "GET /login 0"]);
  });

  test("a 204 or 304 local response has no body, content-length or content-type (RFC 9110 §15.3.5, §15.4.5)", async () => {
    // One connection: a body or a content-length left on the 204/304 would break the next response's framing.
    const get = (path: string) => `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`;
    const { text } = await rawExchange(port, get("/418") + get("/409") + `GET /404 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
    const [noContent, notModified, next] = parseResponses(text);
    for (const [reply, status] of [[noContent, 204], [notModified, 304]] as const) {
      expect([reply?.status, reply?.headers["content-length"], reply?.headers["content-type"], reply?.body]).toEqual([status, undefined, undefined, ""]);
    }
    expect(next?.status, text).toBe(404);
  });

  test("HttpResponseLocalReplyMatchInput: a direct_response and the router's 503 are local replies, the upstream's 201 and 503 are not; %LOCAL_REPLY_BODY% without a policy body is the local reply's", async () => {
    const direct = await send("GET", "/existing-body");
    expect([direct.status, direct.body]).toEqual([201, "[route body]"]);
    const upstream201 = await send("GET", "/201");
    expect([upstream201.status, upstream201.body]).toEqual([201, "upstream 201 replaced []"]);
    const router503 = await send("GET", "/dead/x");
    expect([router503.status, router503.body]).toEqual([503, "proxy unavailable"]);
    const upstream503 = await send("GET", "/503");
    expect([upstream503.status, upstream503.body]).toEqual([503, "down for maintenance"]);
  });

  test("a route's CustomResponse wins where it matches", async () => {
    const replaced = await send("GET", "/special/503");
    expect([replaced.status, replaced.body]).toEqual([200, "route says ok"]);
  });
});
