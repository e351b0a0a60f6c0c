/**
 * What follows a cleared route cache, on the memory runtime (Envoy's
 * ActiveStream::refreshCachedRoute → setRoute in source/common/http/conn_manager_impl.cc, and
 * the router's route_ taken once in Filter::decodeHeaders, source/common/router/router.cc):
 * the new route's max_stream_duration and idle_timeout replace the first route's; the router
 * counts no_route and sets a match_upstream scheme from the route it forwards on; a clear
 * after the router started changes nothing the router does.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import type { HttpMessage } from "./support/http-wire.ts";
import { startProxy } from "./support/proxy.ts";
import { H2Client } from "./support/h2-client.ts";
import { ROUTER } from "./support/filter-proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryHttpServer;
const seen: HttpMessage[] = [];

const lua = (code: string) => ({ name: "envoy.filters.http.lua", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", default_source_code: { inline_string: code } } });

/** A request's x-reroute replaces its path (a header change: Lua clears the route cache). */
const REROUTE = lua(`function envoy_on_request(h)
  local to = h:headers():get("x-reroute")
  if to then h:headers():replace(":path", to) end
end`);

/** Paths under /hang never get an answer from the upstream; others get 200. */
async function setup(routes: object[], options: { filters?: object[]; hcm?: Record<string, unknown>; clusters?: Record<string, number[]> } = {}): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  seen.length = 0;
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (req, res) => {
    seen.push(req);
    if (!req.path.startsWith("/hang")) res.respond(200, "ok");
  });
  const config = httpProxyConfig({
    listenPort: PROXY,
    clusters: { backend: [UPSTREAM], ...options.clusters },
    routes: routes as never,
    hcm: { http_filters: [...(options.filters ?? [REROUTE]), ROUTER], ...options.hcm },
  });
  server = await startProxy(runtime, config);
}

afterEach(() => upstream?.close());

const counter = (name: string) => (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;
const hang = (prefix: string, route: object) => ({ match: { prefix }, action: { route: { cluster: "backend", ...route } } });

/** Send a request; the client, to look at after advancing the clock. */
function send(path: string, headers: Record<string, string>): MemoryHttpClient {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", path, { headers });
  return client;
}

describe("a route resolved again re-arms the stream's timeouts (refreshDurationTimeout, refreshIdleTimeout)", () => {
  test("the new route's max_stream_duration replaces the HCM's: 504 at the new route's time", async () => {
    await setup([hang("/hang-short", { max_stream_duration: { max_stream_duration: "0.5s" } }), hang("/", {})], { hcm: { common_http_protocol_options: { max_stream_duration: "30s" } } });
    const client = send("/hang-long", { "x-reroute": "/hang-short" });
    runtime.advance(450);
    expect(client.responses).toHaveLength(0);
    runtime.advance(100);
    expect(client.responses[0]?.status).toBe(504);
    expect(client.responses[0]?.text()).toBe("downstream duration timeout");
    expect(counter("http.ingress_http.downstream_rq_max_duration_reached")).toBe(1);
  });

  test("a new route with max_stream_duration 0 has no limit: the first route's is disabled", async () => {
    await setup([hang("/hang-free", { max_stream_duration: { max_stream_duration: "0s" } }), hang("/", { max_stream_duration: { max_stream_duration: "0.3s" } })]);
    const client = send("/hang", { "x-reroute": "/hang-free" });
    runtime.advance(5_000);
    expect(client.responses).toHaveLength(0);
    expect(counter("http.ingress_http.downstream_rq_max_duration_reached")).toBe(0);
  });

  test("the new route's grpc_timeout_header_max: the request's grpc-timeout is the duration and goes upstream", async () => {
    await setup([hang("/hang-grpc", { max_stream_duration: { grpc_timeout_header_max: "0s", grpc_timeout_header_offset: "0.1s" } }), hang("/", {})]);
    const client = send("/hang", { "x-reroute": "/hang-grpc", "content-type": "application/grpc", "grpc-timeout": "400m" });
    runtime.advance(10);
    expect(seen[0]?.get("grpc-timeout")).toBe("300m");
    runtime.advance(280);
    expect(client.responses).toHaveLength(0);
    runtime.advance(20);
    expect(client.responses[0]?.status).toBe(200);
    expect(client.responses[0]?.get("grpc-status")).toBe("4");
  });

  test("a duration already spent when the route is resolved again fires at once", async () => {
    // The script waits for the body before it reroutes: the route is resolved again 600 ms in.
    await setup([hang("/hang-short", { max_stream_duration: { max_stream_duration: "0.5s" } }), hang("/", {})], {
      filters: [
        lua(`function envoy_on_request(h)
          h:body()
          h:headers():replace(":path", "/hang-short")
        end`),
      ],
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.parser.expectResponseTo("POST");
    client.send("POST /hang HTTP/1.1\r\nhost: example.com\r\ncontent-length: 2\r\n\r\n");
    runtime.advance(600);
    expect(client.responses).toHaveLength(0);
    client.send("ok");
    runtime.advance(1);
    expect(client.responses[0]?.status).toBe(504);
    expect(client.responses[0]?.text()).toBe("downstream duration timeout");
  });

  test("the new route's idle_timeout replaces the HCM's stream_idle_timeout", async () => {
    await setup([hang("/hang-idle", { idle_timeout: "0.4s" }), hang("/", {})], { hcm: { stream_idle_timeout: "30s" } });
    const client = send("/hang", { "x-reroute": "/hang-idle" });
    runtime.advance(350);
    expect(client.responses).toHaveLength(0);
    runtime.advance(100);
    expect(client.responses[0]?.status).toBe(504);
    expect(client.responses[0]?.text()).toBe("stream timeout");
    expect(counter("http.ingress_http.downstream_rq_idle_timeout")).toBe(1);
  });

  test("a new route with idle_timeout 0 disables the first route's; one without keeps it", async () => {
    await setup([hang("/hang-none", { idle_timeout: "0s" }), hang("/hang-unset", {}), hang("/", { idle_timeout: "0.3s" })]);
    const none = send("/hang", { "x-reroute": "/hang-none" });
    const unset = send("/hang", { "x-reroute": "/hang-unset" });
    runtime.advance(350);
    expect(unset.responses[0]?.status).toBe(504);
    runtime.advance(5_000);
    expect(none.responses).toHaveLength(0);
  });
});

describe("a route resolved again later, or without its own limit", () => {
  test("a new route's idle_timeout waits for the next stream event: a filter that waited first does not find it spent", async () => {
    // The script waits 600 ms on an httpCall, then reroutes to a route with idle_timeout 0.4 s:
    // Envoy's refreshIdleTimeout only stores it, and resetIdleTimer runs at the next event.
    const pending: { respond(status: number, body: string): void }[] = [];
    await setup([hang("/hang-idle", { idle_timeout: "0.4s" }), hang("/", {})], {
      hcm: { stream_idle_timeout: "30s" },
      filters: [
        lua(`function envoy_on_request(h)
          h:httpCall("backend", {[":method"]="GET", [":path"]="/slow", [":authority"]="x"}, "", 5000)
          h:headers():replace(":path", "/hang-idle")
        end`),
      ],
    });
    upstream.close();
    upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (req, res) => {
      seen.push(req);
      if (req.path === "/slow") pending.push(res);
    });
    const client = send("/start", {});
    runtime.advance(600);
    expect(pending).toHaveLength(1);
    pending[0]!.respond(200, "ok");
    runtime.advance(5);
    expect(seen.map((r) => r.path)).toEqual(["/slow", "/hang-idle"]);
    expect(client.responses).toHaveLength(0);
    runtime.advance(5_000);
    expect(client.responses).toHaveLength(0);
    expect(counter("http.ingress_http.downstream_rq_idle_timeout")).toBe(0);
  });

  for (const hcmMax of [undefined, "1s"]) {
    test(`a new route without max_stream_duration falls back to the HCM's (${hcmMax ?? "none"})`, async () => {
      await setup([hang("/hang-plain", {}), hang("/", { max_stream_duration: { max_stream_duration: "0.3s" } })], {
        hcm: hcmMax ? { common_http_protocol_options: { max_stream_duration: hcmMax } } : {},
      });
      const client = send("/hang", { "x-reroute": "/hang-plain" });
      runtime.advance(500);
      expect(client.responses).toHaveLength(0);
      runtime.advance(600);
      expect(client.responses.map((r) => r.status)).toEqual(hcmMax ? [504] : []);
    });
  }
});

describe("an internally redirected HTTP/2 stream keeps its start (Envoy's setFromForRecreateStream)", () => {
  test("max_stream_duration counts from the first pass, not from the newest stream on the connection", async () => {
    const pending: { respond(status: number, body: string, headers?: Record<string, string>): void }[] = [];
    runtime = new MemoryRuntime({ seed: 1 });
    upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (req, res) => {
      if (req.path === "/redir") pending.push(res);
      else if (!req.path.startsWith("/hang")) res.respond(200, "ok");
    });
    server = await startProxy(
      runtime,
      httpProxyConfig({
        listenPort: PROXY,
        clusters: { backend: [UPSTREAM] },
        routes: [hang("/redir", { internal_redirect_policy: {} }), hang("/hang", { max_stream_duration: { max_stream_duration: "1s" } }), hang("/", {})] as never,
        hcm: { codec_type: "HTTP2" },
      }),
    );
    const client = new H2Client(runtime, PROXY);
    const first = client.request([":path", "/redir"]);
    runtime.advance(700);
    client.request([":path", "/other"]);
    runtime.advance(100);
    expect(pending).toHaveLength(1);
    pending[0]!.respond(302, "", { location: "http://example.com/hang" });
    runtime.advance(250); // 1,050 ms since the first pass began
    expect(first.headers).toHaveLength(1);
  });
});

describe("what the router decides from the route it forwards on", () => {
  test("no_route is counted by the router: not for a request a filter routed, but for one a filter un-routed", async () => {
    await setup([{ match: { prefix: "/known" }, action: { route: { cluster: "backend" } } }]);
    const routed = send("/nowhere", { "x-reroute": "/known" });
    runtime.advance(10);
    expect(routed.responses[0]?.status).toBe(200);
    expect(counter("http.ingress_http.no_route")).toBe(0);
    const lost = send("/known", { "x-reroute": "/nowhere" });
    runtime.advance(10);
    expect(lost.responses[0]?.status).toBe(404);
    expect(counter("http.ingress_http.no_route")).toBe(1);
  });

  test("scheme_header_transformation.match_upstream: the scheme of the cluster the request is rerouted to", async () => {
    await setup(
      [
        { name: "plain", match: { prefix: "/plain" }, action: { route: { cluster: "backend" } } },
        { name: "tls", match: { prefix: "/" }, action: { route: { cluster: "secure" } } },
      ],
      {
        clusters: { secure: [UPSTREAM + 1] },
        hcm: {
          scheme_header_transformation: { match_upstream: true },
          access_log: [
            {
              name: "envoy.access_loggers.file",
              typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: "/dev/stdout", log_format: { text_format_source: { inline_string: "%ROUTE_NAME% %REQ(:SCHEME)%\n" } } },
            },
          ],
        },
      },
    );
    // The first route's cluster as one with a TLS transport socket (the memory runtime has no
    // TLS to build one with; the router reads only this): the request is rerouted to a plaintext one.
    const secure = server.clusterManager.get("secure")!;
    (secure.config as { transportSocket?: unknown }).transportSocket = { name: "envoy.transport_sockets.tls" };
    const client = send("/x", { "x-reroute": "/plain" });
    runtime.advance(10);
    expect(client.responses[0]?.status).toBe(200);
    await runtime.settle(1000);
    expect(runtime.stdoutText).toBe("plain http\n");
  });
});

describe("the router keeps the route it started with (Envoy's route_)", () => {
  test("a filter clearing the cache while the body streams: the router's response headers are its route's", async () => {
    await setup(
      [
        { name: "b", match: { prefix: "/", dynamic_metadata: [{ filter: "test", path: [{ key: "k" }], value: { string_match: { exact: "v" } } }] }, action: { route: { cluster: "backend" }, response_headers_to_add: [{ header: { key: "x-route", value: "b" } }] } },
        { name: "a", match: { prefix: "/" }, action: { route: { cluster: "backend" }, response_headers_to_add: [{ header: { key: "x-route", value: "a" } }] } },
      ],
      {
        filters: [
          lua(`function envoy_on_request(h)
            for chunk in h:bodyChunks() do
              h:streamInfo():dynamicMetadata():set("test", "k", "v")
              h:clearRouteCache()
            end
          end
          function envoy_on_response(h) h:headers():add("x-route-name", h:streamInfo():routeName()) end`),
        ],
      },
    );
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("POST", "/", { body: "hello" });
    runtime.advance(10);
    const response = client.responses[0]!;
    expect(response.status).toBe(200);
    expect(response.get("x-route")).toBe("a");
    // The Lua filter on the response looks up its per-route code (Envoy's getPerLuaCodeSetup
    // in source/extensions/filters/http/lua/lua_filter.h calls route() in encodeHeaders too): the cleared cache is resolved again there, as in Envoy, and the stream
    // info's route name follows — only the router kept its route.
    expect(response.get("x-route-name")).toBe("b");
    expect(seen).toHaveLength(1);
  });
});
