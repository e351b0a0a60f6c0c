/**
 * The HCM's header options against the real proxy on every runtime, each shown by its
 * effect on what the upstream or the client gets: via, always_set_request_id_in_response,
 * preserve_external_request_id, add_user_agent, scheme_header_transformation,
 * strip_any_host_port / strip_matching_host_port, and http_protocol_options
 * (accept_http_10, default_host_for_http_10, header_key_format.proper_case_words).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mkdtempSync, readFileSync, existsSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { parseResponses, rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The response head as sent (names in their case). */
  head: string;
  closed: boolean;
}

/** One request on a new connection (closed after it unless HTTP/1.0 keeps it). */
async function send(port: number, head: string): Promise<Reply> {
  const { text, closed } = await rawExchange(port, head, 2000);
  const [response] = parseResponses(text);
  expect(response, `a response: ${JSON.stringify(text)}`).toBeDefined();
  return { ...response!, head: text.slice(0, text.indexOf("\r\n\r\n")), closed };
}

function get(port: number, host: string, headers = "", target = "/"): Promise<Reply> {
  return send(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n${headers}\r\n`);
}

/** The request headers the upstream saw (it answers them as JSON). */
function seen(reply: Reply): Record<string, string> {
  expect(reply.status, reply.body).toBe(200);
  return (JSON.parse(reply.body) as { headers: Record<string, string> }).headers;
}

/** Only example.com is served: a Host with a port left on finds no virtual host (404). */
const VIRTUAL_HOSTS = [{ name: "example", domains: ["example.com"], routes: [{ match: { prefix: "/" }, route: { cluster: "echo" } }] }];

describe.each(RUNTIMES)("HCM header options on %s", (runtime) => {
  let echo: HttpUpstream;
  let a: ProxyProcess;
  let b: ProxyProcess;
  let dir: string;
  const ports = { a: 0, b: 0, lds: 0 };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "polyvoy-hcm-headers-"));
    echo = await httpUpstream((req, res) => {
      res.setHeader("via", "1.1 upstream");
      res.setHeader("x-request-id", "from-upstream");
      res.setHeader("x-custom-header", "1");
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ headers: req.headers }));
    });
    ports.a = await freePort();
    ports.b = await freePort();
    ports.lds = await freePort();
    // b also takes a listener from LDS (a file) with add_user_agent: it reads the same node as a static one.
    const ldsListener = httpProxyConfig({ listenPort: ports.lds, clusters: { echo: [echo.port] }, routes: [], virtualHosts: VIRTUAL_HOSTS, hcm: { add_user_agent: true } }) as { static_resources: { listeners: object[] } };
    const lds = join(dir, "lds.json");
    writeFileSync(lds, JSON.stringify({ version_info: "1", resources: [{ "@type": "type.googleapis.com/envoy.config.listener.v3.Listener", ...ldsListener.static_resources.listeners[0], name: "lds" }] }));
    a = await ProxyProcess.start(runtime, {
      node: { id: "node-1", cluster: "front" },
      ...httpProxyConfig({
        listenPort: ports.a,
        clusters: { echo: [echo.port] },
        routes: [],
        virtualHosts: VIRTUAL_HOSTS,
        hcm: {
          via: "1.1 polyvoy",
          always_set_request_id_in_response: true,
          use_remote_address: true,
          xff_num_trusted_hops: 1,
          preserve_external_request_id: true,
          add_user_agent: true,
          scheme_header_transformation: { scheme_to_overwrite: "https" },
          strip_any_host_port: true,
          http_protocol_options: { accept_http_10: true, default_host_for_http_10: "example.com", header_key_format: { proper_case_words: {} } },
        },
      }),
    });
    b = await ProxyProcess.start(runtime, {
      node: { id: "node-b", cluster: "back" },
      dynamic_resources: { lds_config: { path_config_source: { path: lds }, resource_api_version: "V3" } },
      ...httpProxyConfig({
        listenPort: ports.b,
        clusters: { echo: [echo.port] },
        routes: [],
        virtualHosts: VIRTUAL_HOSTS,
        hcm: {
          use_remote_address: true,
          xff_num_trusted_hops: 1,
          strip_matching_host_port: true,
          scheme_header_transformation: { match_upstream: true },
          access_log: [
            {
              name: "envoy.access_loggers.file",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                path: join(dir, "b.log"),
                log_format: { text_format_source: { inline_string: "%REQ(:SCHEME)% %REQ(X-FORWARDED-PROTO)%\n" } },
              },
            },
          ],
        },
      }),
    });
  });

  afterAll(async () => {
    await a?.stop("SIGKILL");
    await b?.stop("SIGKILL");
    await echo?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("via: appended to the request's and to the response's via", async () => {
    const reply = await get(ports.a, "example.com", "Via: 1.0 client\r\n");
    expect(seen(reply)["via"]).toBe("1.0 client, 1.1 polyvoy");
    expect(reply.headers["via"]).toBe("1.1 upstream, 1.1 polyvoy");
    // Without via, the upstream's goes through as it was.
    const plain = await get(ports.b, "example.com", "Via: 1.0 client\r\n");
    expect(seen(plain)["via"]).toBe("1.0 client");
    expect(plain.headers["via"]).toBe("1.1 upstream");
  });

  test("always_set_request_id_in_response: the response carries the id the upstream was sent, also on a local reply", async () => {
    const reply = await get(ports.a, "example.com");
    const id = seen(reply)["x-request-id"];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(reply.headers["x-request-id"]).toBe(id);
    const notFound = await get(ports.a, "other.org", "X-Request-Id: mine\r\n");
    expect(notFound.status).toBe(404);
    expect(notFound.headers["x-request-id"]).toBe("mine");
    // Off (b): the upstream's own header is what the client gets.
    expect((await get(ports.b, "example.com")).headers["x-request-id"]).toBe("from-upstream");
  });

  test("preserve_external_request_id: an external (edge) request keeps its x-request-id; otherwise it is replaced", async () => {
    // xff_num_trusted_hops 1: the client is 8.8.8.8, an external address.
    const external = "X-Forwarded-For: 8.8.8.8\r\nX-Request-Id: client-id\r\n";
    expect(seen(await get(ports.a, "example.com", external))["x-request-id"]).toBe("client-id");
    const replaced = seen(await get(ports.b, "example.com", external))["x-request-id"];
    expect(replaced).not.toBe("client-id");
    expect(replaced).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("add_user_agent: node.cluster and node.id in x-envoy-downstream-service-*, user-agent when the client sent none", async () => {
    const headers = seen(await get(ports.a, "example.com"));
    expect(headers["x-envoy-downstream-service-cluster"]).toBe("front");
    expect(headers["x-envoy-downstream-service-node"]).toBe("node-1");
    expect(headers["user-agent"]).toBe("front");
    expect(seen(await get(ports.a, "example.com", "User-Agent: curl/8\r\n"))["user-agent"]).toBe("curl/8");
    expect(seen(await get(ports.b, "example.com"))["x-envoy-downstream-service-cluster"]).toBeUndefined();
  });

  test("add_user_agent on a listener from LDS: the node's cluster and id as on a static one", async () => {
    await b.waitForLog(/listener 'lds' listening on /);
    const headers = seen(await get(ports.lds, "example.com"));
    expect([headers["x-envoy-downstream-service-cluster"], headers["x-envoy-downstream-service-node"], headers["user-agent"]]).toEqual(["back", "node-b", "back"]);
  });

  test("scheme_header_transformation: scheme_to_overwrite sets x-forwarded-proto; match_upstream sets :scheme to the upstream's (plaintext)", async () => {
    expect(seen(await get(ports.a, "example.com", "X-Forwarded-Proto: http\r\n"))["x-forwarded-proto"]).toBe("https");
    expect(seen(await get(ports.b, "example.com"))["x-forwarded-proto"]).toBe("http");
    // A client's :scheme (an absolute-form target) is replaced by the upstream connection's on b.
    const absolute = await send(ports.b, `GET https://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n`);
    expect(absolute.status).toBe(200);
    const log = join(dir, "b.log");
    const deadline = Date.now() + 5000;
    let lines: string[] = [];
    while (Date.now() < deadline) {
      lines = existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : [];
      if (lines.length >= 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(lines.at(-1)).toMatch(/^http /);
  });

  test("strip_any_host_port: any port leaves the Host before routing; strip_matching_host_port only the listener's", async () => {
    const stripped = await get(ports.a, "example.com:1234");
    expect(seen(stripped)["host"]).toBe("example.com");
    expect(seen(await get(ports.b, `example.com:${ports.b}`))["host"]).toBe("example.com");
    expect((await get(ports.b, "example.com:1234")).status).toBe(404);
  });

  test("accept_http_10: served with an HTTP/1.0 status line, Host from default_host_for_http_10, then closed; refused (426) without it", async () => {
    const reply = await send(ports.a, "GET / HTTP/1.0\r\n\r\n");
    expect(reply.head.split("\r\n")[0]).toBe("HTTP/1.0 200 OK");
    expect(seen(reply)["host"]).toBe("example.com");
    expect(reply.closed).toBe(true);
    const refused = await send(ports.b, "GET / HTTP/1.0\r\n\r\n");
    expect(refused.status).toBe(426);
  });

  test("header_key_format.proper_case_words: response header names go out in Proper-Case", async () => {
    const { head } = await get(ports.a, "example.com");
    expect(head).toMatch(/\r\nX-Custom-Header: 1\r\n/);
    expect(head).toMatch(/\r\nContent-Type: application\/json\r\n/);
    expect(head).toMatch(/\r\nX-Envoy-Upstream-Service-Time: \d+\r\n/);
    expect(head).toMatch(/\r\nConnection: close(\r\n|$)/);
    expect((await get(ports.b, "example.com")).head).toMatch(/\r\nx-custom-header: 1\r\n/);
  });
});

describe.each(RUNTIMES)("an h2c upgrade on %s", (runtime) => {
  let echo: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    echo = await httpUpstream();
    port = await freePort();
    proxy = await ProxyProcess.start(runtime, httpProxyConfig({ listenPort: port, clusters: { echo: [echo.port] }, routes: [{ match: { prefix: "/" }, cluster: "echo" }] }));
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
  });

  test("served as HTTP/1.1 without its upgrade fields (as curl --http2 sends it), and a pipelined request after it too", async () => {
    const h2c = "GET /first HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, x-hop\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nX-Hop: 1\r\n\r\n";
    const { text } = await rawExchange(port, `${h2c}GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 3000);
    const responses = parseResponses(text);
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    const first = JSON.parse(responses[0]!.body) as { url: string; headers: Record<string, string> };
    expect(first.url).toBe("/first");
    expect(first.headers["upgrade"]).toBeUndefined();
    expect(first.headers["http2-settings"]).toBeUndefined();
    expect(first.headers["x-hop"]).toBeUndefined();
    expect((JSON.parse(responses[1]!.body) as { url: string }).url).toBe("/second");
  });
});
