/**
 * Differences from Envoy found by a black-box audit (real sockets, every runtime), each
 * pinned against what Envoy's source does:
 * - a request path that is not origin-form (`OPTIONS *`) is answered 404 with no body and
 *   never routed, not even by a route that would match it (ActiveStream::decodeHeaders,
 *   `downstream_rq_non_relative_path`, details `absolute_path`);
 * - a path with a `#fragment` is refused with 400 and no body (maybeNormalizePath under the
 *   default runtime guard http_reject_path_with_fragment, `downstream_rq_failed_path_normalization`);
 * - with use_remote_address, only a request that arrives without x-forwarded-for may be
 *   internal (mutateRequestHeaders' allow_trusted_address_checks), and a trusted hop's
 *   x-forwarded-proto stands;
 * - without it, the client xff_num_trusted_hops from the right decides "internal" only when
 *   it is x-forwarded-for's leftmost entry (getLastAddressFromXFF's single_address_);
 * - the Router's suppress_envoy_headers (refused before) leaves out the router's x-envoy-* headers;
 * - a route's append_x_forwarded_host (refused before) keeps the replaced Host in x-forwarded-host;
 * - the HCM's skip_xff_append and append_x_forwarded_port (refused before);
 * - an external request loses only the x-envoy-* headers of cleanInternalHeaders' list (the
 *   decorator operation and downstream service cluster/node at the edge only); any other
 *   x-envoy-* header reaches the upstream;
 * - with use_remote_address, a loopback peer is appended to x-forwarded-for as the host's own
 *   address (the first non-loopback IPv4 interface address: Envoy's config.localAddress());
 * - a request's `te` goes on as "trailers" when it lists trailers, and is removed otherwise
 *   (sanitizeTEHeader), to HTTP/1 and HTTP/2 upstreams alike.
 */
import * as http2 from "node:http2";
import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { parseResponses, rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

/** A regex route that matches any path, `*` included: only the HCM's check keeps `OPTIONS *` from it. */
const ROUTES = [
  { match: { prefix: "/xfh" }, action: { route: { cluster: "echo", host_rewrite_literal: "backend.internal", append_x_forwarded_host: true } } },
  { match: { prefix: "/rw/" }, action: { route: { cluster: "echo", prefix_rewrite: "/" } } },
  { match: { safe_regex: { regex: ".*" } }, cluster: "echo" },
];

/** The host's first non-loopback IPv4 address (node:os lists them as Envoy's getifaddrs walk does, by interface). */
const HOST_IPV4 = Object.values(networkInterfaces())
  .flatMap((list) => list ?? [])
  .find((i) => i.family === "IPv4" && !i.address.startsWith("127."))?.address;

describe.each(RUNTIMES)("Envoy's request checks and internal/external rules on %s", (runtime) => {
  let echo: HttpUpstream;
  let edge: ProxyProcess;
  let inner: ProxyProcess;
  let quiet: ProxyProcess;
  const ports = { edge: 0, inner: 0, quiet: 0, admin: 0 };

  beforeAll(async () => {
    echo = await httpUpstream();
    [ports.edge, ports.inner, ports.quiet, ports.admin] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    edge = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports.admin } } },
      ...httpProxyConfig({ listenPort: ports.edge, clusters: { echo: [echo.port] }, routes: ROUTES, hcm: { use_remote_address: true, xff_num_trusted_hops: 1 } }),
    });
    inner = await ProxyProcess.start(runtime, httpProxyConfig({ listenPort: ports.inner, clusters: { echo: [echo.port] }, routes: ROUTES, hcm: { xff_num_trusted_hops: 1 } }));
    const router = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", suppress_envoy_headers: true } };
    quiet = await ProxyProcess.start(runtime, httpProxyConfig({ listenPort: ports.quiet, clusters: { echo: [echo.port] }, routes: ROUTES, hcm: { http_filters: [router], use_remote_address: true, skip_xff_append: true, append_x_forwarded_port: true } }));
  });

  afterAll(async () => {
    await edge?.stop("SIGKILL");
    await inner?.stop("SIGKILL");
    await quiet?.stop("SIGKILL");
    await echo?.close();
  });

  async function exchange(head: string) {
    const before = echo.requests.length;
    const { text } = await rawExchange(ports.edge, head, 2000);
    const [response] = parseResponses(text);
    expect(response, JSON.stringify(text)).toBeDefined();
    return { ...response!, forwarded: echo.requests.length - before };
  }

  test("OPTIONS *: 404 with no body, not routed", async () => {
    const res = await exchange("OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    expect(res.status).toBe(404);
    expect(res.body).toBe("");
    expect(res.headers["content-length"]).toBe("0");
    expect(res.forwarded).toBe(0);
  });

  test("a #fragment in the path: 400 with no body, not forwarded", async () => {
    const res = await exchange("GET /a#frag HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    expect(res.status).toBe(400);
    expect(res.body).toBe("");
    expect(res.forwarded).toBe(0);
    // A '#' escaped as %23 is no fragment: it goes on as is.
    const escaped = await exchange("GET /a%23frag HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    expect(escaped.status).toBe(200);
    expect(echo.requests.at(-1)!.url).toBe("/a%23frag");
  });

  test("stats: downstream_rq_non_relative_path and downstream_rq_failed_path_normalization", async () => {
    const text = await (await request(`http://127.0.0.1:${ports.admin}/stats?filter=non_relative_path|failed_path_normalization`)).body.text();
    expect(text).toMatch(/^http\.ingress_http\.downstream_rq_non_relative_path: [1-9]/m);
    expect(text).toMatch(/^http\.ingress_http\.downstream_rq_failed_path_normalization: [1-9]/m);
  });

  async function seen(port: number, headers: Record<string, string>, path = "/"): Promise<Record<string, string>> {
    const res = await request(`http://127.0.0.1:${port}${path}`, { headers });
    expect(res.statusCode).toBe(200);
    return ((await res.body.json()) as { headers: Record<string, string> }).headers;
  }

  test("use_remote_address: a request that came with x-forwarded-for is external, even from a loopback peer naming an internal client", async () => {
    const forwarded = await seen(ports.edge, { "x-forwarded-for": "10.0.0.1", "x-envoy-ip-tags": "t", "x-forwarded-proto": "https" });
    expect(forwarded["x-envoy-internal"]).toBeUndefined();
    expect(forwarded["x-envoy-external-address"]).toBe("10.0.0.1");
    expect(forwarded["x-envoy-ip-tags"]).toBeUndefined();
    // One trusted hop: its x-forwarded-proto is kept.
    expect(forwarded["x-forwarded-proto"]).toBe("https");
    const direct = await seen(ports.edge, { "x-envoy-ip-tags": "t" });
    expect(direct["x-envoy-internal"]).toBe("true");
    expect(direct["x-envoy-ip-tags"]).toBe("t");
    expect(direct["x-forwarded-proto"]).toBe("http");
    // An empty x-forwarded-for came all the same: external (Envoy tests for the header).
    const empty = await seen(ports.edge, { "x-forwarded-for": "", "x-envoy-ip-tags": "t" });
    expect(empty["x-envoy-internal"]).toBeUndefined();
    expect(empty["x-envoy-ip-tags"]).toBeUndefined();
    // A trusted entry that is no IP address names no client: the peer is (getLastAddressFromXFF).
    const garbage = await seen(ports.edge, { "x-forwarded-for": "not-an-ip" });
    expect(garbage["x-envoy-external-address"]).toBe("127.0.0.1");
  });

  test("without use_remote_address, one trusted hop: internal when the client is x-forwarded-for's leftmost entry", async () => {
    const internal = await seen(ports.inner, { "x-forwarded-for": "10.0.0.1, 192.0.2.1", "x-envoy-ip-tags": "t" });
    expect(internal["x-envoy-internal"]).toBe("true");
    expect(internal["x-envoy-ip-tags"]).toBe("t");
    const longer = await seen(ports.inner, { "x-forwarded-for": "10.0.0.2, 10.0.0.1, 192.0.2.1", "x-envoy-ip-tags": "t" });
    expect(longer["x-envoy-internal"]).toBeUndefined();
    expect(longer["x-envoy-ip-tags"]).toBeUndefined();
    // A single address is the trusted hop itself: no client to judge, external.
    const single = await seen(ports.inner, { "x-forwarded-for": "10.0.0.1", "x-envoy-ip-tags": "t" });
    expect(single["x-envoy-internal"]).toBeUndefined();
  });

  test("the Router's suppress_envoy_headers: no x-envoy-expected-rq-timeout-ms upstream, no x-envoy-upstream-service-time downstream", async () => {
    const loud = await request(`http://127.0.0.1:${ports.inner}/`);
    const loudSeen = ((await loud.body.json()) as { headers: Record<string, string> }).headers;
    expect(loudSeen["x-envoy-expected-rq-timeout-ms"]).toBe("15000");
    expect(loud.headers["x-envoy-upstream-service-time"]).toBeDefined();
    const res = await request(`http://127.0.0.1:${ports.quiet}/`);
    const seenUp = ((await res.body.json()) as { headers: Record<string, string> }).headers;
    expect(res.statusCode).toBe(200);
    expect(seenUp["x-envoy-expected-rq-timeout-ms"]).toBeUndefined();
    expect(res.headers["x-envoy-upstream-service-time"]).toBeUndefined();
    // The HCM's own headers stay (Envoy: the option is the router's only).
    expect(seenUp["x-request-id"]).toBeDefined();
    // A path rewrite: x-envoy-original-path only without the option (finalizeRequestHeaders' insert_envoy_original_path).
    const loudRw = ((await (await request(`http://127.0.0.1:${ports.inner}/rw/x`)).body.json()) as { headers: Record<string, string> }).headers;
    expect(loudRw["x-envoy-original-path"]).toBe("/rw/x");
    const quietRw = ((await (await request(`http://127.0.0.1:${ports.quiet}/rw/x`)).body.json()) as { headers: Record<string, string> }).headers;
    expect(quietRw["x-envoy-original-path"]).toBeUndefined();
  });

  test("append_x_forwarded_host: a host rewrite appends the Host it replaces to x-forwarded-host, once", async () => {
    const first = await seen(ports.inner, { host: "shop.example" }, "/xfh");
    expect(first["host"]).toBe("backend.internal");
    expect(first["x-forwarded-host"]).toBe("shop.example");
    const appended = await seen(ports.inner, { host: "shop.example", "x-forwarded-host": "edge.example" }, "/xfh");
    expect(appended["x-forwarded-host"]).toBe("edge.example,shop.example");
    // Already the last value (Envoy's append_xfh_idempotent): not appended again.
    const same = await seen(ports.inner, { host: "shop.example", "x-forwarded-host": "shop.example" }, "/xfh");
    expect(same["x-forwarded-host"]).toBe("shop.example");
  });

  test("skip_xff_append: x-forwarded-for is left as it came; append_x_forwarded_port: x-forwarded-port is the listener's", async () => {
    const none = await seen(ports.quiet, {});
    expect(none["x-forwarded-for"]).toBeUndefined();
    expect(none["x-forwarded-port"]).toBe(String(ports.quiet));
    // No trusted hop: a client's x-forwarded-port is overwritten, as x-forwarded-proto is.
    const forwarded = await seen(ports.quiet, { "x-forwarded-for": "192.0.2.7", "x-forwarded-port": "1" });
    expect(forwarded["x-forwarded-for"]).toBe("192.0.2.7");
    expect(forwarded["x-forwarded-port"]).toBe(String(ports.quiet));
    expect(forwarded["x-envoy-external-address"]).toBe("127.0.0.1");
    // Without the options nothing of the kind is added.
    expect((await seen(ports.edge, {}))["x-forwarded-port"]).toBeUndefined();
  });

  // Without such an address the proxy appends 127.0.0.1, as it did before: nothing to tell apart.
  test.skipIf(HOST_IPV4 === undefined)("use_remote_address: a loopback peer goes into x-forwarded-for as the host's first non-loopback IPv4 address", async () => {
    const local = HOST_IPV4!;
    const direct = await seen(ports.edge, {});
    expect(direct["x-forwarded-for"]).toBe(local);
    expect(direct["x-envoy-internal"]).toBe("true");
    const forwarded = await seen(ports.edge, { "x-forwarded-for": "192.0.2.9" });
    expect(forwarded["x-forwarded-for"]).toBe(`192.0.2.9, ${local}`);
    // The client address stays the peer's (or the trusted hop's): only what is appended changes.
    expect(forwarded["x-envoy-external-address"]).toBe("192.0.2.9");
  });

  test("an external request keeps x-envoy-* headers outside cleanInternalHeaders' list", async () => {
    const sent = {
      "x-forwarded-for": "192.0.2.9",
      "x-envoy-foo": "bar",
      "x-envoy-retry-on": "5xx",
      "x-envoy-downstream-service-cluster": "front",
      "x-envoy-internal": "true",
    };
    // At the edge: the downstream service cluster goes too.
    const edgeSeen = await seen(ports.edge, sent);
    expect(edgeSeen["x-envoy-foo"]).toBe("bar");
    expect(edgeSeen["x-envoy-retry-on"]).toBeUndefined();
    expect(edgeSeen["x-envoy-downstream-service-cluster"]).toBeUndefined();
    expect(edgeSeen["x-envoy-internal"]).toBeUndefined();
    expect(edgeSeen["x-envoy-external-address"]).toBe("192.0.2.9");
    // Behind another proxy (no use_remote_address), external: only the steering headers go.
    const innerSeen = await seen(ports.inner, { ...sent, "x-forwarded-for": "192.0.2.8, 192.0.2.9, 10.0.0.1" });
    expect(innerSeen["x-envoy-foo"]).toBe("bar");
    expect(innerSeen["x-envoy-retry-on"]).toBeUndefined();
    expect(innerSeen["x-envoy-downstream-service-cluster"]).toBe("front");
    expect(innerSeen["x-envoy-internal"]).toBeUndefined();
  });
});

describe.each(RUNTIMES)("te as Envoy's sanitizeTEHeader on %s", (runtime) => {
  let echo: HttpUpstream;
  let h2: http2.Http2Server;
  let proxy: ProxyProcess;
  let port = 0;
  /** What the HTTP/2 upstream got, by :path. */
  const h2Seen = new Map<string, http2.IncomingHttpHeaders>();

  beforeAll(async () => {
    echo = await httpUpstream();
    h2 = http2.createServer();
    h2.on("stream", (stream, headers) => {
      h2Seen.set(String(headers[":path"]), headers);
      stream.respond({ ":status": 200 });
      stream.end("ok");
    });
    await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
    const h2Port = (h2.address() as { port: number }).port;
    port = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [echo.port], h2: [h2Port] },
      routes: [
        { match: { prefix: "/h2" }, cluster: "h2" },
        { match: { prefix: "/" }, cluster: "echo" },
      ],
    }) as { static_resources: { clusters: Record<string, unknown>[] } };
    config.static_resources.clusters[1]!.typed_extension_protocol_options = {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        explicit_http_config: { http2_protocol_options: {} },
      },
    };
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
    await new Promise<void>((resolve) => (h2 ? h2.close(() => resolve()) : resolve()));
  });

  /** The te each upstream saw for an HTTP/1 request carrying `head` (extra header lines). */
  async function viaHttp1(head: string, tag: string): Promise<{ h1: string | undefined; h2: string | undefined }> {
    for (const path of [`/${tag}`, `/h2/${tag}`]) {
      const { text } = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: a\r\n${head}Connection: close\r\n\r\n`, 2000);
      expect(parseResponses(text)[0]?.status, JSON.stringify(text)).toBe(200);
    }
    const h1 = echo.requests.find((r) => r.url === `/${tag}`)!.headers.te;
    return { h1: h1 as string | undefined, h2: h2Seen.get(`/h2/${tag}`)?.te as string | undefined };
  }

  test("HTTP/1 client: a te listing trailers goes on as 'trailers'; one without is removed", async () => {
    expect(await viaHttp1("TE: trailers, gzip\r\n", "mixed")).toEqual({ h1: "trailers", h2: "trailers" });
    expect(await viaHttp1("TE: gzip;q=0.5 ,  trailers\r\n", "last")).toEqual({ h1: "trailers", h2: "trailers" });
    expect(await viaHttp1("TE: gzip, deflate\r\n", "none")).toEqual({ h1: undefined, h2: undefined });
    expect(await viaHttp1("TE: trailers\r\n", "plain")).toEqual({ h1: "trailers", h2: "trailers" });
    // Named by Connection (as RFC 9110 §10.1.4 asks of a sender), it is sanitized all the same.
    const nominated = await rawExchange(port, "GET /nominated HTTP/1.1\r\nHost: a\r\nTE: gzip, trailers\r\nConnection: te, close\r\n\r\n", 2000);
    expect(parseResponses(nominated.text)[0]?.status).toBe(200);
    expect(echo.requests.find((r) => r.url === "/nominated")!.headers.te).toBe("trailers");
  });

  test("HTTP/2 client: te: trailers reaches HTTP/1 and HTTP/2 upstreams", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      for (const path of ["/from-h2", "/h2/from-h2"]) {
        const status = await new Promise<number>((resolve, reject) => {
          const stream = session.request({ ":path": path, te: "trailers" });
          let code = 0;
          stream.on("response", (h) => (code = Number(h[":status"])));
          stream.on("error", reject);
          stream.resume();
          stream.on("end", () => resolve(code));
        });
        expect(status).toBe(200);
      }
    } finally {
      session.close();
    }
    expect(echo.requests.find((r) => r.url === "/from-h2")!.headers.te).toBe("trailers");
    expect(h2Seen.get("/h2/from-h2")?.te).toBe("trailers");
  });
});
