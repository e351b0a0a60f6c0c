/**
 * The grpc_stats filter (core/http/filters/grpc-stats-filter.ts) driven by hand on the
 * memory runtime, as Envoy's grpc_stats_filter_test.cc drives it: which stats each config
 * names (shared bucket by default, allowlist, all methods, dots replaced), message counts
 * across chunk boundaries, the upstream time, the filter state; and the config's refusals.
 * The frame counter (core/http/grpc-frame-inspector.ts) against whole and split frames.
 */
import { describe, expect, test } from "vitest";
import type { GrpcStatsConfig } from "../../../../core/config/bootstrap.ts";
import { loadBootstrap } from "../../../../core/config/load.ts";
import type { DecoderFilterCallbacks } from "../../../../core/http/filter.ts";
import { GRPC_STATS_FILTER_STATE, GrpcStatsFilter, GrpcStatsObject } from "../../../../core/http/filters/grpc-stats-filter.ts";
import { encodeGrpcFrame } from "../../../../core/http/grpc-frame.ts";
import { GrpcFrameInspector } from "../../../../core/http/grpc-frame-inspector.ts";
import { HeaderMap } from "../../../../core/http/header-map.ts";
import { RequestHeaders, ResponseHeaders } from "../../../../core/http/message.ts";
import type { RouteMatch } from "../../../../core/http/route/route-table.ts";
import { StreamInfo } from "../../../../core/http/stream-info.ts";
import type { ServerContext } from "../../../../core/server-context.ts";
import { Counter } from "../../../../core/stats/counter.ts";
import { StatsStore } from "../../../../core/stats/stats-store.ts";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";
import { problemsOf } from "../../config/config-problems.ts";

const DEFAULTS: GrpcStatsConfig = { emitFilterState: false, statsForAllMethods: false, enableUpstreamStats: false, replaceDotsInGrpcServiceName: false };
const message = (n: number) => encodeGrpcFrame(0, new Uint8Array(n));
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
};

/** One stream through a filter: the route sends it to `cluster` (one the cluster manager has only if it is "backend"). */
function stream(config: Partial<GrpcStatsConfig>, path = "/helloworld.Greeter/SayHello", cluster = "backend", stats = new StatsStore()) {
  const server = { stats, runtime: new MemoryRuntime({ seed: 1 }), clusterManager: { get: (name: string) => (name === "backend" ? {} : undefined) } } as unknown as ServerContext;
  const info = new StreamInfo(0);
  const route = {} as RouteMatch;
  info.routeClusterOf = route;
  info.routeCluster = cluster;
  const headers = new RequestHeaders();
  headers.method = "POST";
  headers.path = path;
  headers.set("content-type", "application/grpc");
  const filter = new GrpcStatsFilter({ ...DEFAULTS, ...config }, server);
  filter.setDecoderFilterCallbacks({ streamInfo: info, route, requestHeaders: headers } as unknown as DecoderFilterCallbacks);
  const counters = () => Object.fromEntries(stats.all().flatMap((c) => (c instanceof Counter && c.value > 0 ? [[c.name, c.value]] : [])));
  return { filter, headers, info, stats, counters };
}

/** A unary call: one message each way, the status in the trailers. */
function unary(s: ReturnType<typeof stream>, status = "0") {
  s.filter.decodeHeaders(s.headers, false);
  s.filter.decodeData(message(3), true);
  const response = new ResponseHeaders(200);
  response.set("content-type", "application/grpc");
  s.filter.encodeHeaders(response, false);
  s.filter.encodeData(message(4), false);
  const trailers = new HeaderMap();
  trailers.set("grpc-status", status);
  s.filter.encodeTrailers(trailers);
}

describe("which stats a request is counted in", () => {
  test("by default (stats_for_all_methods false) every method in the shared cluster.<c>.grpc.*", () => {
    const s = stream({});
    unary(s);
    expect(s.counters()).toEqual({
      "cluster.backend.grpc.0": 1,
      "cluster.backend.grpc.success": 1,
      "cluster.backend.grpc.total": 1,
      "cluster.backend.grpc.request_message_count": 1,
      "cluster.backend.grpc.response_message_count": 1,
    });
  });

  test("stats_for_all_methods: the service and method name them; a failure counts its status and failure", () => {
    const s = stream({ statsForAllMethods: true });
    unary(s, "5");
    expect(s.counters()).toEqual({
      "cluster.backend.grpc.helloworld.Greeter.SayHello.5": 1,
      "cluster.backend.grpc.helloworld.Greeter.SayHello.failure": 1,
      "cluster.backend.grpc.helloworld.Greeter.SayHello.total": 1,
      "cluster.backend.grpc.helloworld.Greeter.SayHello.request_message_count": 1,
      "cluster.backend.grpc.helloworld.Greeter.SayHello.response_message_count": 1,
    });
  });

  test("replace_dots_in_grpc_service_name: the service's dots become underscores", () => {
    const s = stream({ statsForAllMethods: true, replaceDotsInGrpcServiceName: true });
    unary(s);
    expect(s.counters()["cluster.backend.grpc.helloworld_Greeter.SayHello.success"]).toBe(1);
  });

  test("the allowlist: a listed method by its names, any other in the shared stats", () => {
    const allowlist = [{ service: "helloworld.Greeter", methods: ["SayHello"] }];
    const listed = stream({ allowlist });
    unary(listed);
    expect(listed.counters()["cluster.backend.grpc.helloworld.Greeter.SayHello.total"]).toBe(1);
    const other = stream({ allowlist }, "/helloworld.Greeter/SayGoodbye");
    unary(other);
    expect(other.counters()).toMatchObject({ "cluster.backend.grpc.total": 1, "cluster.backend.grpc.success": 1 });
    expect(Object.keys(other.counters()).some((name) => name.includes("SayGoodbye"))).toBe(false);
  });

  test("a query is ignored and empty segments skipped (Envoy's resolveServiceAndMethod)", () => {
    const s = stream({ statsForAllMethods: true }, "//svc//m?x=1");
    unary(s);
    expect(s.counters()["cluster.backend.grpc.svc.m.total"]).toBe(1);
  });

  test("nothing for a path that is no method, a cluster polyvoy does not have, or a request that is not gRPC", () => {
    const noMethod = stream({ statsForAllMethods: true }, "/only-one");
    unary(noMethod);
    // Not counted in the default mode's shared bucket either (grpc_stats_filter.cc: no request names).
    const noMethodShared = stream({}, "/only-one");
    unary(noMethodShared);
    const noCluster = stream({}, "/a/b", "missing");
    unary(noCluster);
    const notGrpc = stream({});
    notGrpc.headers.set("content-type", "application/json");
    unary(notGrpc);
    for (const s of [noMethod, noMethodShared, noCluster, notGrpc]) expect(s.counters()).toEqual({});
  });

  test("a trailers-only answer is counted from its headers", () => {
    const s = stream({});
    s.filter.decodeHeaders(s.headers, true);
    const response = new ResponseHeaders(200);
    response.set("content-type", "application/grpc");
    response.set("grpc-status", "14");
    s.filter.encodeHeaders(response, true);
    expect(s.counters()).toEqual({ "cluster.backend.grpc.14": 1, "cluster.backend.grpc.failure": 1, "cluster.backend.grpc.total": 1 });
  });
});

describe("message counts", () => {
  test("streaming: each message counted as it begins, whatever the chunking; a response that is not gRPC is not read", () => {
    const s = stream({ statsForAllMethods: true });
    s.filter.decodeHeaders(s.headers, false);
    const body = concat(message(0), message(10), message(2));
    s.filter.decodeData(body.subarray(0, 3), false);
    s.filter.decodeData(body.subarray(3, 9), false);
    s.filter.decodeData(body.subarray(9), true);
    expect(s.counters()["cluster.backend.grpc.helloworld.Greeter.SayHello.request_message_count"]).toBe(3);
    const html = new ResponseHeaders(503);
    html.set("content-type", "text/html");
    s.filter.encodeHeaders(html, false);
    s.filter.encodeData(message(1), true);
    expect(s.counters()["cluster.backend.grpc.helloworld.Greeter.SayHello.response_message_count"]).toBeUndefined();
  });

  test("emit_filter_state: the counts in envoy.filters.http.grpc_stats, text form request,response", () => {
    const s = stream({ emitFilterState: true });
    s.filter.decodeHeaders(s.headers, false);
    expect(s.info.filterState?.get(GRPC_STATS_FILTER_STATE)).toBeUndefined();
    s.filter.decodeData(concat(message(1), message(1)), true);
    const response = new ResponseHeaders(200);
    response.set("content-type", "application/grpc+proto");
    s.filter.encodeHeaders(response, false);
    s.filter.encodeData(concat(message(1), message(1), message(1)), false);
    const state = s.info.filterState?.get(GRPC_STATS_FILTER_STATE) as GrpcStatsObject;
    expect(state).toBeInstanceOf(GrpcStatsObject);
    expect(state.serializeAsString()).toBe("2,3");
  });

  test("without emit_filter_state no filter state is written", () => {
    const s = stream({});
    unary(s);
    expect(s.info.filterState?.get(GRPC_STATS_FILTER_STATE)).toBeUndefined();
  });
});

describe("a grpc-status the upstream writes as any text", () => {
  test.each([
    ["the status first", ["upstream_rq_time", "0"]],
    ["the status after a normal answer", ["0", "upstream_rq_time"]],
  ])("a status named as the prefix's histogram neither throws nor gets a counter (%s)", (_, statuses) => {
    // Envoy keeps each kind of stat apart; one store here: `upstream_rq_time` as a counter
    // would collide with the histogram and throw out of the filter chain (the process's end).
    const s = stream({ enableUpstreamStats: true });
    for (const status of statuses) {
      const one = stream({ enableUpstreamStats: true }, undefined, undefined, s.stats);
      one.info.lastUpstreamTxByteSent = 1;
      one.info.lastUpstreamRxByteReceived = 2;
      unary(one, status);
    }
    expect(s.counters()).toEqual({
      "cluster.backend.grpc.0": 1,
      "cluster.backend.grpc.success": 1,
      "cluster.backend.grpc.failure": 1,
      "cluster.backend.grpc.total": 2,
      "cluster.backend.grpc.request_message_count": 2,
      "cluster.backend.grpc.response_message_count": 2,
    });
    expect(s.stats.histogram("cluster.backend.grpc.upstream_rq_time").count).toBe(2);
  });

  test("a numeric status outside 0–16 still gets its own counter, as in Envoy", () => {
    const s = stream({});
    unary(s, "99");
    expect(s.counters()["cluster.backend.grpc.99"]).toBe(1);
  });
});

describe("upstream_rq_time", () => {
  test("with enable_upstream_stats: the request's end sent to the response's end received, in ms", () => {
    const s = stream({ statsForAllMethods: true, enableUpstreamStats: true });
    s.info.lastUpstreamTxByteSent = 100;
    s.info.lastUpstreamRxByteReceived = 142.7;
    unary(s);
    const histogram = s.stats.histogram("cluster.backend.grpc.helloworld.Greeter.SayHello.upstream_rq_time");
    expect([histogram.count, histogram.sum]).toEqual([1, 42]);
  });

  test("not without it, nor for an answer that never went upstream", () => {
    const off = stream({ enableUpstreamStats: false });
    off.info.lastUpstreamTxByteSent = 100;
    off.info.lastUpstreamRxByteReceived = 142;
    unary(off);
    const local = stream({ enableUpstreamStats: true });
    unary(local);
    for (const s of [off, local]) expect(s.stats.all().filter((h) => h.name.endsWith("upstream_rq_time"))).toEqual([]);
  });
});

test("GrpcFrameInspector: frames counted at their first byte, bodies skipped, a 2^31-byte length read unsigned", () => {
  const inspector = new GrpcFrameInspector();
  expect(inspector.inspect(concat(message(2), message(0), new Uint8Array([1])))).toBe(3);
  // The third frame's header continues: length 0x80000000, its body never all here.
  expect(inspector.inspect(new Uint8Array([0x80, 0, 0, 0, 9, 9, 9]))).toBe(0);
  expect(inspector.frameCount).toBe(3);
});

describe("config", () => {
  const withFilter = (typed: Record<string, unknown>) => ({
    static_resources: {
      listeners: [
        {
          name: "l",
          address: { socket_address: { address: "127.0.0.1", port_value: 1 } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    stat_prefix: "s",
                    route_config: {},
                    http_filters: [
                      { name: "envoy.filters.http.grpc_stats", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig", ...typed } },
                      { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    },
  });
  const load = (typed: Record<string, unknown>) => loadBootstrap(JSON.stringify(withFilter(typed)), "json");
  const filterConfig = (typed: Record<string, unknown>) => {
    const listener = load(typed).listeners[0]!;
    const hcm = listener.filterChains[0]!.filters[0]!.config as { httpFilters: { config: unknown }[] };
    return hcm.httpFilters[0]!.config;
  };
  const at = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config";

  test("Envoy's defaults; a BoolValue written either way; the allowlist as services and methods", () => {
    expect(filterConfig({})).toEqual(DEFAULTS);
    expect(filterConfig({ stats_for_all_methods: { value: true }, enable_upstream_stats: true, replace_dots_in_grpc_service_name: true, emit_filter_state: true })).toEqual({
      emitFilterState: true,
      statsForAllMethods: true,
      enableUpstreamStats: true,
      replaceDotsInGrpcServiceName: true,
    });
    expect(filterConfig({ individual_method_stats_allowlist: { services: [{ name: "s", method_names: ["a", "b"] }] } })).toEqual({ ...DEFAULTS, allowlist: [{ service: "s", methods: ["a", "b"] }] });
  });

  test("refused: both of the oneof, a service without a name or methods, an unknown field", () => {
    expect(problemsOf(() => load({ stats_for_all_methods: true, individual_method_stats_allowlist: {} }))).toEqual([
      `${at}: must set only one of individual_method_stats_allowlist, stats_for_all_methods (got individual_method_stats_allowlist, stats_for_all_methods)`,
    ]);
    expect(problemsOf(() => load({ individual_method_stats_allowlist: { services: [{ name: "", method_names: [] }] } })).length).toBe(2);
    expect(problemsOf(() => load({ stats_for_all_methodz: true }))[0]).toContain("stats_for_all_methodz");
  });
});
