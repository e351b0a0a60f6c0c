/**
 * The route table as a client meets it, on every runtime: virtual hosts by
 * :authority in Envoy's domain order, routes in order by path, prefix, regex,
 * headers and query parameters, and header additions/removals at three levels.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const answer = (text: string) => ({ direct_response: { status: 200, body: { inline_string: text } } });

describe.each(RUNTIMES)("route table on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  const agent = new Agent();

  /** GET `path` with `host` (and extra headers); returns the body. */
  async function get(host: string, path: string, headers: Record<string, string> = {}): Promise<string> {
    const res = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: agent, headers: { host, ...headers } });
    return res.statusCode === 404 ? "404" : res.body.text();
  }

  beforeAll(async () => {
    upstream = await httpUpstream((req, res) => {
      res.setHeader("x-remove-me", "upstream");
      res.end(JSON.stringify(req.headers));
    });
    port = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { up: [upstream.port] },
        routes: [],
        virtualHosts: [
          { name: "exact", domains: ["api.example.com"], routes: [{ match: { prefix: "/" }, ...answer("exact") }] },
          { name: "suffix", domains: ["*.example.com"], routes: [{ match: { prefix: "/" }, ...answer("suffix") }] },
          { name: "prefix", domains: ["shop.*"], routes: [{ match: { prefix: "/" }, ...answer("prefix") }] },
          {
            name: "catchall",
            domains: ["*"],
            request_headers_to_add: [{ header: { key: "x-level", value: "vhost" }, append_action: "APPEND_IF_EXISTS_OR_ADD" }],
            response_headers_to_remove: ["x-remove-me"],
            routes: [
              { match: { path: "/exact" }, ...answer("path") },
              { match: { prefix: "/CaSe", case_sensitive: false }, ...answer("case-insensitive") },
              { match: { safe_regex: { regex: "/items/[0-9]+" } }, ...answer("regex") },
              { match: { prefix: "/h", headers: [{ name: "x-beta", string_match: { exact: "yes" } }] }, ...answer("header") },
              { match: { prefix: "/h", headers: [{ name: "x-beta", present_match: true, invert_match: true }] }, ...answer("no-header") },
              { match: { prefix: "/q", query_parameters: [{ name: "debug", string_match: { exact: "1" } }] }, ...answer("query") },
              {
                match: { prefix: "/up" },
                route: { cluster: "up" },
                request_headers_to_add: [{ header: { key: "x-level", value: "route" }, append_action: "APPEND_IF_EXISTS_OR_ADD" }],
                request_headers_to_remove: ["x-secret"],
                response_headers_to_add: [{ header: { key: "x-route", value: "up" } }],
              },
              { match: { prefix: "/" }, ...answer("fallback") },
            ],
          },
        ],
        hcm: {},
      }),
    );
  });

  afterAll(async () => {
    await agent.close();
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  test("virtual hosts: exact, then *.suffix, then prefix.*, then *", async () => {
    expect(await get("api.example.com", "/")).toBe("exact");
    expect(await get("www.example.com", "/")).toBe("suffix");
    expect(await get("shop.other.org", "/")).toBe("prefix");
    expect(await get("unknown.org", "/")).toBe("fallback");
  });

  test("routes: path, case-insensitive prefix, regex, headers, query parameters, first match wins", async () => {
    expect(await get("a", "/exact")).toBe("path");
    expect(await get("a", "/exact/more")).toBe("fallback");
    expect(await get("a", "/case/x")).toBe("case-insensitive");
    expect(await get("a", "/items/42")).toBe("regex");
    expect(await get("a", "/items/42x")).toBe("fallback");
    expect(await get("a", "/h", { "x-beta": "yes" })).toBe("header");
    expect(await get("a", "/h", { "x-beta": "no" })).toBe("fallback");
    expect(await get("a", "/h")).toBe("no-header");
    expect(await get("a", "/q?debug=1")).toBe("query");
    expect(await get("a", "/q?debug=2")).toBe("fallback");
  });

  test("request and response header mutations at route and virtual host level", async () => {
    const res = await request(`http://127.0.0.1:${port}/up`, { dispatcher: agent, headers: { "x-secret": "s" } });
    const seen = (await res.body.json()) as Record<string, string>;
    expect(seen["x-secret"]).toBeUndefined();
    // Route level first, then the virtual host's: both appended, in that order.
    expect(seen["x-level"]).toBe("route, vhost");
    expect(res.headers["x-route"]).toBe("up");
    expect(res.headers["x-remove-me"]).toBeUndefined();
  });
});

describe.each(RUNTIMES)("use_remote_address on %s", (runtime) => {
  test("x-forwarded-for gets the client's address; the trusted hop decides internal or external", async () => {
    const upstream = await httpUpstream();
    const port = await freePort();
    const proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { up: [upstream.port] },
        routes: [{ match: { prefix: "/" }, cluster: "up" }],
        hcm: { use_remote_address: true, xff_num_trusted_hops: 1 },
      }),
    );
    const agent = new Agent();
    try {
      const seen = async (headers: Record<string, string>) => {
        const res = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent, headers });
        return ((await res.body.json()) as { headers: Record<string, string> }).headers;
      };
      // One trusted hop: the client is the entry before our peer (127.0.0.1), here a public address.
      const external = await seen({ "x-forwarded-for": "203.0.113.7", "x-envoy-retry-on": "5xx", "x-request-id": "keep?" });
      // Our loopback peer is appended as the host's own address (Envoy's config.localAddress()).
      expect(external["x-forwarded-for"]).toMatch(/^203\.0\.113\.7, \d+\.\d+\.\d+\.\d+$/);
      expect(external["x-envoy-external-address"]).toBe("203.0.113.7");
      expect(external["x-envoy-internal"]).toBeUndefined();
      expect(external["x-envoy-retry-on"]).toBeUndefined();
      expect(external["x-request-id"]).not.toBe("keep?"); // regenerated for external requests
      // Internal only with no x-forwarded-for on arrival (Envoy's allow_trusted_address_checks):
      // the peer, 127.0.0.1, is then the client. A trusted hop naming 10.1.2.3 is not enough.
      const forwarded = await seen({ "x-forwarded-for": "10.1.2.3", "x-envoy-retry-on": "5xx" });
      expect(forwarded["x-envoy-internal"]).toBeUndefined();
      expect(forwarded["x-envoy-external-address"]).toBe("10.1.2.3");
      expect(forwarded["x-envoy-retry-on"]).toBeUndefined();
      const internal = await seen({ "x-request-id": "keep-me" });
      expect(internal["x-envoy-internal"]).toBe("true");
      expect(internal["x-request-id"]).toBe("keep-me");
      expect(internal["x-forwarded-proto"]).toBe("http");
    } finally {
      await agent.close();
      await proxy.stop("SIGKILL");
      await upstream.close();
    }
  });
});
