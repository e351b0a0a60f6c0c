/**
 * The router filter's own stats (core/http/filters/router-stats.ts) on the memory runtime:
 * Envoy's ALL_ROUTER_STATS under `http.<stat_prefix>.`, made with the chain's router (at 0
 * before any request), and each counted where Envoy's router.cc counts it.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { Bootstrap, ForwardAction } from "../../../../core/config/bootstrap.ts";
import { loadBootstrap } from "../../../../core/config/load.ts";
import { Logger } from "../../../../core/log.ts";
import { Server } from "../../../../core/server.ts";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig, type HttpRoute } from "../../../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamHandler } from "../../../memory/support/http-peers.ts";

const PROXY = 10000;
const A = 8080;
const ROUTER_STATS = [
  "no_cluster",
  "no_route",
  "passthrough_internal_redirect_bad_location",
  "passthrough_internal_redirect_no_route",
  "passthrough_internal_redirect_predicate",
  "passthrough_internal_redirect_too_many_redirects",
  "passthrough_internal_redirect_unsafe_scheme",
  "rq_direct_response",
  "rq_redirect",
  "rq_reset_after_downstream_response_started",
  "rq_total",
];

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryHttpServer | undefined;

afterEach(() => {
  upstream?.close();
  upstream = undefined;
});

async function setup(options: { handler?: UpstreamHandler; routes?: HttpRoute[]; hcm?: Record<string, unknown>; edit?: (bootstrap: Bootstrap) => void } = {}): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  upstream = await MemoryHttpServer.listen(runtime, A, options.handler ?? ((req, res) => res.respond(200, req.path)));
  const config = httpProxyConfig({ listenPort: PROXY, clusters: { a: [A] }, routes: options.routes ?? [{ match: { prefix: "/" }, cluster: "a" }], hcm: options.hcm });
  const bootstrap = loadBootstrap(JSON.stringify(config), "json");
  options.edit?.(bootstrap);
  server = new Server(runtime, bootstrap, new Logger(runtime, "warn"));
  await server.start();
}

/** The router's counters, by their Envoy name (undefined: not in the store). */
function routerCounters(): Record<string, number | undefined> {
  return Object.fromEntries(ROUTER_STATS.map((name) => [name, (server.stats.get(`http.ingress_http.${name}`) as { value: number } | undefined)?.value]));
}

function counter(name: string): number | undefined {
  return routerCounters()[name];
}

function exchange(path: string, options: { headers?: Record<string, string>; ms?: number } = {}): MemoryHttpClient {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", path, options);
  runtime.advance(options.ms ?? 5);
  return client;
}

describe("RouterStats: Envoy's ALL_ROUTER_STATS", () => {
  test("made with the chain's router: every counter in /stats at 0 before any request", async () => {
    await setup();
    expect(routerCounters()).toEqual(Object.fromEntries(ROUTER_STATS.map((name) => [name, 0])));
  });

  test("rq_total: each request the router decodes; not one a filter before it answered", async () => {
    await setup({
      hcm: {
        http_filters: [
          {
            name: "envoy.filters.http.fault",
            typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault", abort: { header_abort: {}, percentage: { numerator: 100 } } },
          },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    });
    const through = [exchange("/one"), exchange("/two")];
    const aborted = exchange("/three", { headers: { "x-envoy-fault-abort-request": "429" } });
    expect(through.map((c) => c.responses.map((r) => r.status))).toEqual([[200], [200]]);
    expect(aborted.responses.map((r) => r.status)).toEqual([429]);
    expect(counter("rq_total")).toBe(2);
  });

  test("no_route: a request no route matches (and rq_total)", async () => {
    await setup({ routes: [{ match: { prefix: "/only" }, cluster: "a" }] });
    expect(exchange("/elsewhere").responses.map((r) => r.status)).toEqual([404]);
    expect([counter("no_route"), counter("rq_total")]).toEqual([1, 1]);
  });

  test("no_cluster: a route whose cluster is not there (the 503 cluster_not_found)", async () => {
    // Config validation refuses an unknown cluster: the loaded config is changed behind it,
    // as a cluster removed at run time would be.
    await setup({
      edit: (bootstrap) => {
        const hcm = bootstrap.listeners[0]!.filterChains[0]!.filters[0]! as unknown as {
          config: { routeConfig: { virtualHosts: { routes: { action: { route: ForwardAction } }[] }[] } };
        };
        hcm.config.routeConfig.virtualHosts[0]!.routes[0]!.action.route.cluster = "gone";
      },
    });
    expect(exchange("/x").responses.map((r) => r.status)).toEqual([503]);
    expect([counter("no_cluster"), counter("no_route"), counter("rq_total")]).toEqual([1, 0, 1]);
  });

  test("rq_direct_response: a direct_response route, and a redirect route (Envoy's redirect is a direct response entry: rq_redirect stays 0)", async () => {
    await setup({
      routes: [
        { match: { prefix: "/tea" }, action: { direct_response: { status: 418, body: { inline_string: "teapot" } } } },
        { match: { prefix: "/old" }, action: { redirect: { path_redirect: "/new" } } },
        { match: { prefix: "/" }, cluster: "a" },
      ],
    });
    expect(exchange("/tea").responses.map((r) => r.status)).toEqual([418]);
    expect(exchange("/old").responses.map((r) => r.status)).toEqual([301]);
    expect(exchange("/up").responses.map((r) => r.status)).toEqual([200]);
    expect([counter("rq_direct_response"), counter("rq_redirect"), counter("rq_total")]).toEqual([2, 0, 3]);
  });

  test("rq_reset_after_downstream_response_started: a gRPC call reset after its response headers went downstream, before its trailers", async () => {
    const cut: UpstreamHandler = (_req, res) => {
      res.writeHead(200, { "content-type": "application/grpc" });
      res.write("abc");
      runtime.setTimeout(() => res.reset(), 1);
    };
    await setup({ handler: cut });
    const grpc = exchange("/svc/Method", { headers: { "content-type": "application/grpc" } });
    expect(grpc.parser.current?.status).toBe(200);
    expect(counter("rq_reset_after_downstream_response_started")).toBe(1);
  });

  test("rq_reset_after_downstream_response_started: a gRPC call whose response goes quiet past per_try_idle_timeout (onPerTryTimeoutCommon charges it too)", async () => {
    await setup({
      handler: (_req, res) => {
        res.writeHead(200, { "content-type": "application/grpc" });
        res.write("abc");
      },
      routes: [{ match: { prefix: "/" }, action: { route: { cluster: "a", retry_policy: { retry_on: "reset", per_try_idle_timeout: "0.2s" } } } }],
    });
    const grpc = exchange("/svc/Method", { headers: { "content-type": "application/grpc" }, ms: 300 });
    expect([grpc.parser.current?.status, grpc.ended]).toEqual([200, true]);
    expect(server.stats.get("cluster.a.upstream_rq_per_try_idle_timeout")).toMatchObject({ value: 1 });
    expect(counter("rq_reset_after_downstream_response_started")).toBe(1);
  });

  test("rq_reset_after_downstream_response_started: not for a plain HTTP response cut short, nor a gRPC one reset before its headers (as Envoy's chargeUpstreamAbort)", async () => {
    await setup({
      handler: (req, res) => {
        if (req.path === "/plain") {
          res.writeHead(200, { "content-length": "10" });
          res.write("abc");
        }
        runtime.setTimeout(() => res.reset(), 1);
      },
    });
    const plain = exchange("/plain");
    const grpc = exchange("/svc/Method", { headers: { "content-type": "application/grpc" } });
    expect([plain.parser.current?.status, plain.parser.bodyReceived]).toEqual([200, 3]);
    // The local reply to a gRPC call is trailers-only: 200 with grpc-status UNAVAILABLE (Envoy's sendLocalReply).
    expect(grpc.responses.map((r) => [r.status, r.get("grpc-status")])).toEqual([[200, "14"]]);
    expect([counter("rq_reset_after_downstream_response_started"), counter("rq_total")]).toEqual([0, 2]);
  });
});
