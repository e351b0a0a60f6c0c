/**
 * envoy.stat_sinks.open_telemetry on every runtime over real sockets: the proxy exports its
 * stats every 0.3 s to test/support's @grpc/grpc-js OTLP collector
 * (opentelemetry.proto.collector.metrics.v1.MetricsService/Export, unary) through an HTTP/2
 * static cluster. A proxied request's upstream_rq_total arrives under its tag-extracted name
 * with envoy.cluster_name as an attribute, as deltas that add up across flushes, each point
 * starting where the previous one ended; gauges and histograms come too, under Envoy's
 * resource. Exports the collector fails are dropped, not sent again; the final flush at
 * SIGTERM goes out before the process exits. A collector that never answers (a node:http2
 * server), with grpc_service.timeout 0s, still gets every flush: each export has polyvoy's
 * 10 s deadline, and once 4 are in flight the oldest is cancelled. With two worker
 * processes one merged flush is exported, the requests of both counted once.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { request } from "undici";
import * as grpc from "@grpc/grpc-js";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { findMetric, intValue, OtlpMetricsServer, type ExportRequestObject } from "../support/otlp-metrics-server.ts";
import { freePort } from "../support/net-helpers.ts";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { eventually } from "../support/xds-resources.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const RQ_TOTAL = "cluster.upstream_rq_total";
const SINK_TYPE = "type.googleapis.com/envoy.extensions.stat_sinks.open_telemetry.v3.SinkConfig";

function configWith(upstreamPort: number, collectorPort: number, listenPort: number, flushInterval = "0.3s", timeout = "2s"): Record<string, unknown> {
  const config = httpProxyConfig({ listenPort, clusters: { backend: [upstreamPort] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as { static_resources: { clusters: object[] } };
  config.static_resources.clusters.push({
    name: "otel",
    type: "STATIC",
    connect_timeout: "0.25s",
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", explicit_http_config: { http2_protocol_options: {} } },
    },
    load_assignment: { cluster_name: "otel", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: collectorPort } } } }] }] },
  });
  return {
    ...config,
    stats_flush_interval: flushInterval,
    stats_sinks: [{ name: "envoy.stat_sinks.open_telemetry", typed_config: { "@type": SINK_TYPE, grpc_service: { envoy_grpc: { cluster_name: "otel" }, timeout }, report_counters_as_deltas: true } }],
  };
}

describe.each(RUNTIMES)("open_telemetry stats sink on %s", (runtime) => {
  let upstream: HttpUpstream;
  let collector: OtlpMetricsServer;
  let proxy: ProxyProcess;
  let httpPort = 0;

  const get = async (): Promise<void> => {
    const res = await request(`http://127.0.0.1:${httpPort}/`);
    expect(res.statusCode).toBe(200);
    await res.body.text();
  };
  const backendRq = (r: ExportRequestObject): number => intValue(findMetric(r, RQ_TOTAL, "envoy.cluster_name", "backend")) ?? 0;
  /** The sum of the backend's upstream_rq_total deltas the collector took. */
  const sent = (): number => collector.requests.reduce((sum, r) => sum + backendRq(r), 0);

  beforeAll(async () => {
    upstream = await httpUpstream();
    collector = new OtlpMetricsServer();
    await collector.start();
    httpPort = await freePort();
    proxy = await ProxyProcess.start(runtime, configWith(upstream.port, collector.port, httpPort));
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await Promise.all([collector?.stop(), upstream?.close()]);
  });

  test("upstream_rq_total arrives as deltas that add up across flushes, tagged, each point starting where the last ended; gauges, histograms, Envoy's resource", async () => {
    await get();
    expect(await eventually(async () => sent(), (n) => n >= 1, 10_000)).toBe(1);
    await get();
    await get();
    expect(await eventually(async () => sent(), (n) => n >= 3, 10_000)).toBe(3);
    // Two more flushes: the counter is still sent, at 0, and the total stays.
    const count = collector.requests.length;
    await eventually(async () => collector.requests.length, (n) => n >= count + 2, 10_000);
    const [previous, last] = collector.requests.slice(-2) as [ExportRequestObject, ExportRequestObject];
    expect(backendRq(last)).toBe(0);
    expect(sent()).toBe(3);

    const sum = findMetric(last, RQ_TOTAL, "envoy.cluster_name", "backend")!.sum!;
    expect(sum).toMatchObject({ aggregation_temporality: "AGGREGATION_TEMPORALITY_DELTA", is_monotonic: true });
    const point = sum.data_points![0]!;
    expect(point.start_time_unix_nano).toBe(findMetric(previous, RQ_TOTAL, "envoy.cluster_name", "backend")!.sum!.data_points![0]!.time_unix_nano);
    expect(Math.abs(Number(BigInt(point.time_unix_nano!) / 1_000_000n) - Date.now())).toBeLessThan(60_000);

    expect(last.resource_metrics).toHaveLength(1);
    expect(last.resource_metrics![0]!.resource!.attributes!.map((a) => a.key)).toEqual(["telemetry.sdk.language", "telemetry.sdk.name", "telemetry.sdk.version"]);
    expect(findMetric(last, "server.live")!.gauge!.data_points![0]!.as_int).toBe("1");
    const histogram = findMetric(last, "cluster.upstream_rq_time", "envoy.cluster_name", "backend")!.histogram!;
    expect(histogram.aggregation_temporality).toBe("AGGREGATION_TEMPORALITY_CUMULATIVE");
    expect(histogram.data_points![0]!.count).toBe("3");
    expect(histogram.data_points![0]!.bucket_counts).toHaveLength(histogram.data_points![0]!.explicit_bounds!.length + 1);
  });

  test("exports the collector fails are dropped, not sent again; later ones carry only their own deltas", async () => {
    collector.answer = { code: grpc.status.UNAVAILABLE, details: "not now" };
    const failedFrom = collector.requests.length;
    await get();
    await eventually(async () => collector.requests.slice(failedFrom).reduce((n, r) => n + backendRq(r), 0), (n) => n >= 1, 10_000);
    collector.answer = undefined;
    const okFrom = collector.requests.length;
    await get();
    await get();
    expect(await eventually(async () => collector.requests.slice(okFrom).reduce((n, r) => n + backendRq(r), 0), (n) => n >= 2, 10_000)).toBe(2);
    // Each flush's request went once: the failed one's delta is not in any later request.
    expect(sent()).toBe(6);
  });

  // The final flush's request reaches the collector; whether the proxy waited for its answer
  // (idle()) is not visible here: the unit test checks that.
  test("at shutdown the final flush is exported", async () => {
    await get();
    const exited = await proxy.stop("SIGTERM");
    expect(exited.code).toBe(0);
    expect(sent()).toBe(7);
  });
});

describe.each(RUNTIMES)("open_telemetry stats sink on %s: a collector that never answers", (runtime) => {
  let collector: http2.Http2Server;
  let proxy: ProxyProcess | undefined;
  /** Each Export call the collector got: its grpc-timeout, and the RST_STREAM code once the proxy ended it. */
  const streams: { timeout: string | undefined; closedWith?: number }[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();

  beforeAll(async () => {
    collector = http2.createServer();
    collector.on("session", (session) => {
      sessions.add(session);
      session.on("close", () => sessions.delete(session));
    });
    collector.on("stream", (stream, headers) => {
      const seen: (typeof streams)[number] = { timeout: headers["grpc-timeout"] as string | undefined };
      streams.push(seen);
      stream.on("error", () => {});
      stream.on("close", () => (seen.closedWith = stream.rstCode));
      stream.resume();
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    // Open sessions keep close() waiting: the proxy is gone, end them.
    for (const session of sessions) session.destroy();
    await new Promise<void>((resolve) => collector.close(() => resolve()));
  });

  test("with grpc_service.timeout 0s each export has the 10 s deadline, and past 4 in flight the oldest is cancelled (one warning) so every flush still goes", async () => {
    const upstream = await httpUpstream();
    try {
      const port = (collector.address() as AddressInfo).port;
      proxy = await ProxyProcess.start(runtime, configWith(upstream.port, port, await freePort(), "0.2s", "0s"));
      // Before: 4 streams, then every flush held for good.
      expect(await eventually(async () => streams.length, (n) => n >= 8, 15_000)).toBeGreaterThanOrEqual(8);
      expect(streams[0]!.timeout).toBe("10000m");
      // The first export was cancelled by the proxy (RST_STREAM CANCEL), not answered or timed out.
      await eventually(async () => streams[0]!.closedWith, (code) => code !== undefined, 5_000);
      expect(streams[0]!.closedWith).toBe(http2.constants.NGHTTP2_CANCEL);
      expect(proxy.stderr.match(/exports to cluster 'otel' in flight, the oldest cancelled/g)).toHaveLength(1);
    } finally {
      await proxy?.stop("SIGKILL");
      proxy = undefined;
      await upstream.close();
    }
  });
});

describe.each(RUNTIMES)("open_telemetry stats sink on %s: worker processes", (runtime) => {
  // The supervisor's merged flush goes out through one worker's sinks (core/stats/merged-flush.ts):
  // the requests of both workers add up once, the histogram's delta points count each request once.
  test("--concurrency 2: the requests of both workers exported once, histogram deltas included", { timeout: 180_000 }, async () => {
    const upstream = await httpUpstream();
    const collector = new OtlpMetricsServer();
    await collector.start();
    const listen = await freePort();
    const config = configWith(upstream.port, collector.port, listen) as { stats_sinks: { typed_config: Record<string, unknown> }[] };
    config.stats_sinks[0]!.typed_config.report_histograms_as_deltas = true;
    let proxy: ProxyProcess | undefined;
    try {
      proxy = await ProxyProcess.start(runtime, config, 0, ["--concurrency", "2"]);
      await proxy.waitForLog(/all 2 workers started/, 1, 90_000);
      const REQUESTS = 20;
      for (let i = 0; i < REQUESTS; i++) {
        // A connection of its own each: the kernel or the cluster primary places each on a worker.
        const res = await request(`http://127.0.0.1:${listen}/`, { reset: true });
        expect(res.statusCode).toBe(200);
        await res.body.text();
      }
      const rq = (): number => collector.requests.reduce((sum, r) => sum + (intValue(findMetric(r, RQ_TOTAL, "envoy.cluster_name", "backend")) ?? 0), 0);
      expect(await eventually(async () => rq(), (n) => n >= REQUESTS, 20_000)).toBe(REQUESTS);
      const count = collector.requests.length;
      await eventually(async () => collector.requests.length, (n) => n >= count + 3, 20_000);
      expect(rq()).toBe(REQUESTS);
      const samples = collector.requests.reduce((sum, r) => {
        const metric = findMetric(r, "cluster.upstream_rq_time", "envoy.cluster_name", "backend") as { histogram?: { data_points?: { count?: string | number }[] } } | undefined;
        return sum + Number(metric?.histogram?.data_points?.[0]?.count ?? 0);
      }, 0);
      expect(samples).toBe(REQUESTS);
    } finally {
      await proxy?.stop("SIGKILL");
      await Promise.all([collector.stop(), upstream.close()]);
    }
  });
});
