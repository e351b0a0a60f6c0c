/**
 * envoy.stat_sinks.metrics_service on every runtime over real sockets: the proxy streams
 * its stats every 0.3 s to test/support's @grpc/grpc-js MetricsService
 * (StreamMetrics, client-streaming) through an HTTP/2 static cluster. A proxied request's
 * cluster.backend.upstream_rq_total arrives, as deltas (report_counters_as_deltas) that add
 * up to the requests made; the stream's first message alone carries the node; after the
 * server restarts on the same port, a new stream opens and carries the node again; at
 * shutdown the last flush goes out and the stream ends.
 */
import { createServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { request } from "undici";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { MetricsServiceServer, metricValue } from "../support/metrics-service-server.ts";
import { freePort } from "../support/net-helpers.ts";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { eventually } from "../support/xds-resources.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const RQ_TOTAL = "cluster.backend.upstream_rq_total";

describe.each(RUNTIMES)("metrics_service stats sink on %s", (runtime) => {
  let upstream: HttpUpstream;
  let metrics: MetricsServiceServer;
  let proxy: ProxyProcess;
  let httpPort = 0;

  const get = async (): Promise<void> => {
    const res = await request(`http://127.0.0.1:${httpPort}/`);
    expect(res.statusCode).toBe(200);
    await res.body.text();
  };
  /** The sum of the deltas of `name` sent so far (on every stream). */
  const sent = (name: string): number => metrics.messages.reduce((sum, { message }) => sum + (metricValue(message, name) ?? 0), 0);

  beforeAll(async () => {
    upstream = await httpUpstream();
    metrics = new MetricsServiceServer();
    await metrics.start();
    httpPort = await freePort();
    const config = httpProxyConfig({ listenPort: httpPort, clusters: { backend: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as { static_resources: { clusters: object[] } };
    config.static_resources.clusters.push({
      name: "metrics_service",
      type: "STATIC",
      connect_timeout: "0.25s",
      typed_extension_protocol_options: {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", explicit_http_config: { http2_protocol_options: {} } },
      },
      load_assignment: { cluster_name: "metrics_service", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: metrics.port } } } }] }] },
    });
    proxy = await ProxyProcess.start(runtime, {
      ...config,
      node: { id: "e2e-node", cluster: "e2e-fleet" },
      stats_flush_interval: "0.3s",
      stats_sinks: [
        {
          name: "envoy.stat_sinks.metrics_service",
          typed_config: {
            "@type": "type.googleapis.com/envoy.config.metrics.v3.MetricsServiceConfig",
            grpc_service: { envoy_grpc: { cluster_name: "metrics_service" } },
            transport_api_version: "V3",
            report_counters_as_deltas: true,
          },
        },
      ],
    });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await Promise.all([metrics?.stop(), upstream?.close()]);
  });

  test("a proxied request's upstream_rq_total arrives as deltas that add up; the node in the stream's first message only", async () => {
    await get();
    expect(await eventually(async () => sent(RQ_TOTAL), (n) => n >= 1, 10_000)).toBe(1);
    await get();
    await get();
    expect(await eventually(async () => sent(RQ_TOTAL), (n) => n >= 3, 10_000)).toBe(3);
    // A used counter with nothing new is still sent, as 0.
    const count = metrics.messages.length;
    await eventually(async () => metrics.messages.length, (n) => n >= count + 2, 10_000);
    expect(metricValue(metrics.messages.at(-1)!.message, RQ_TOTAL)).toBe(0);
    expect(sent(RQ_TOTAL)).toBe(3);

    const first = metrics.messages.filter((m) => m.stream === 1);
    expect(first[0]!.message.identifier?.node).toMatchObject({ id: "e2e-node", cluster: "e2e-fleet", user_agent_name: "polyvoy" });
    expect(first.slice(1).every((m) => m.message.identifier === undefined)).toBe(true);
    expect(metrics.opened).toBe(1);
    // Every family carries a timestamp of now; gauges and histograms are there too.
    const last = metrics.messages.at(-1)!.message.envoy_metrics!;
    expect(Math.abs(last[0]!.metric![0]!.timestamp_ms! - Date.now())).toBeLessThan(60_000);
    expect(last.find((f) => f.name === "server.live")).toMatchObject({ type: "GAUGE", metric: [{ gauge: { value: 1 } }] });
    expect(last.filter((f) => f.name === "cluster.backend.upstream_rq_time").map((f) => f.type)).toEqual(["SUMMARY", "HISTOGRAM"]);
  });

  test("after the server restarts on the same port, the next flushes open a new stream whose first message carries the node", async () => {
    const port = metrics.port;
    await metrics.stop();
    const before = metrics.messages.length;
    // Flushes while it is down go nowhere (the connection is refused); none is queued for later.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(metrics.messages.length).toBe(before);
    await metrics.start(port);
    await get();
    const next = await eventually(async () => metrics.messages.find((m) => m.stream === 2), (m) => m !== undefined, 15_000);
    expect(next!.message.identifier?.node?.id).toBe("e2e-node");
    // Exactly the one request made since: no delta lost or sent twice across the restart.
    expect(await eventually(async () => sent(RQ_TOTAL), (n) => n >= 4, 10_000)).toBe(4);
    expect(metrics.messages.filter((m) => m.stream === 2).slice(1).every((m) => m.message.identifier === undefined)).toBe(true);
  });

  // What this checks: the final flush arrives and the call's stream ends, once, with no new
  // stream. grpc-js shows a half-close and a reset alike here (both 'end', then 'cancelled'
  // once the call is over), so the test below, on a raw HTTP/2 server, tells them apart.
  test("at shutdown the final flush goes out and the server sees the stream end", async () => {
    await get();
    const before = metrics.messages.length;
    const last = metrics.opened;
    const exited = await proxy.stop("SIGTERM");
    expect(exited.code).toBe(0);
    expect(await eventually(async () => metrics.ended.has(last), (ended) => ended, 5000)).toBe(true);
    expect(metrics.opened).toBe(last);
    expect(metrics.messages.length).toBeGreaterThan(before);
    expect(sent(RQ_TOTAL)).toBe(5);
  });
});

/**
 * A metrics server that takes the stream and never answers (a raw HTTP/2 server: no
 * response, no trailers): at SIGTERM the proxy half-closes the call, waits 1 s for the
 * server to end it, then resets it and exits — not after the shutdown's 5 s grace period.
 */
describe.each(RUNTIMES)("metrics_service stats sink on %s: a server that never ends the call", (runtime) => {
  test("SIGTERM: half-close, then a reset after 1 s; the proxy exits well within the grace period", async () => {
    const events: { what: string; at: number }[] = [];
    const server = createServer();
    server.on("stream", (stream) => {
      events.push({ what: "stream", at: Date.now() });
      stream.on("data", () => {});
      stream.on("end", () => events.push({ what: "half-close", at: Date.now() }));
      stream.on("close", () => events.push({ what: `close ${stream.rstCode}`, at: Date.now() }));
      stream.on("error", () => {});
    });
    server.on("sessionError", () => {});
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const adminPort = await freePort();
    let proxy: ProxyProcess | undefined;
    try {
      proxy = await ProxyProcess.start(runtime, {
        admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
        node: { id: "e2e-node", cluster: "e2e-fleet" },
        stats_flush_interval: "0.3s",
        static_resources: {
          clusters: [
            {
              name: "metrics_service",
              type: "STATIC",
              typed_extension_protocol_options: {
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", explicit_http_config: { http2_protocol_options: {} } },
              },
              load_assignment: { cluster_name: "metrics_service", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
            },
          ],
        },
        stats_sinks: [
          {
            name: "envoy.stat_sinks.metrics_service",
            typed_config: { "@type": "type.googleapis.com/envoy.config.metrics.v3.MetricsServiceConfig", grpc_service: { envoy_grpc: { cluster_name: "metrics_service" } }, transport_api_version: "V3" },
          },
        ],
      });
      await eventually(async () => events.length, (n) => n >= 1, 10_000);
      const start = Date.now();
      const exited = await proxy.stop("SIGTERM");
      const took = Date.now() - start;
      expect(exited.code).toBe(0);
      // 1 s for the server's answer, then the reset; before, the whole 5 s grace period.
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(2500);
      await eventually(async () => events.some((e) => e.what.startsWith("close")), (closed) => closed, 5000);
      const halfClose = events.find((e) => e.what === "half-close");
      const close = events.find((e) => e.what.startsWith("close"))!;
      expect(halfClose).toBeDefined();
      // RST_STREAM CANCEL (8), about 1 s after the half-close.
      expect(close.what).toBe("close 8");
      expect(close.at - halfClose!.at).toBeGreaterThanOrEqual(900);
    } finally {
      await proxy?.stop("SIGKILL");
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Sessions the proxy left open end with it; the close waits for none of them.
        setTimeout(resolve, 1000);
      });
    }
  });
});
