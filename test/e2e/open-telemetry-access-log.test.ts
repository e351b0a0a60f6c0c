/**
 * envoy.access_loggers.open_telemetry on every runtime: Envoy's examples/opentelemetry
 * envoy-2.yaml served as written but for where things are (test/support/envoy-examples.ts),
 * its collector a real @grpc/grpc-js OTLP LogsService (test/support/otlp-logs-server.ts).
 * A traced request's LogRecord carries the sandbox's body and attributes, the request's
 * trace id and the proxy's span id; the resource its built-in labels (the node) and
 * service.name; the collector's answers count in logs_written. A tcp_proxy listener added
 * beside it logs a connection with a kvlist/array body and disable_builtin_labels.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { connect, freePort, readAll } from "../support/net-helpers.ts";
import { adminStats } from "../support/tls-probe.ts";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { localize, type Json } from "../support/envoy-examples.ts";
import { attributesOf, OtlpLogsServer, plain, type LogRecordObject } from "../support/otlp-logs-server.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const OTEL = "type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig";
const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const PARENT_SPAN = "b7ad6b7169203331";

async function waitFor<T>(what: string, get: () => T | undefined): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = get();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.each(RUNTIMES)("OpenTelemetry access log on %s", (runtime) => {
  let service: HttpUpstream;
  let collector: OtlpLogsServer;
  let proxy: ProxyProcess;
  let httpPort: number;
  let tcpPort: number;
  let adminPort: number;

  /** The records exported so far whose resource has `key` = `value`. */
  const recordsOf = (key: string, value: string): LogRecordObject[] =>
    collector.requests.flatMap((r) => (r.resource_logs ?? []).filter((rl) => attributesOf(rl.resource?.attributes)[key] === value).flatMap((rl) => (rl.scope_logs ?? []).flatMap((s) => s.log_records ?? [])));

  beforeAll(async () => {
    service = await httpUpstream((_req, res) => res.end("Hello from behind Envoy (service 2)!\n"));
    collector = new OtlpLogsServer();
    await collector.start();
    tcpPort = await freePort();
    adminPort = await freePort();
    const { config, port } = await localize("opentelemetry/envoy-2.yaml", { "service-2": service.port, opentelemetry: collector.port }, (c: Json) => {
      c.node = { id: "node-e2e", cluster: "front", locality: { zone: "z1" } };
      c.admin = { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } };
      c.static_resources.listeners.push({
        name: "tcp",
        address: { socket_address: { address: "127.0.0.1", port_value: tcpPort } },
        filter_chains: [
          {
            filters: [
              {
                name: "envoy.filters.network.tcp_proxy",
                typed_config: {
                  "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                  stat_prefix: "tcp",
                  cluster: "service_cluster2",
                  access_log: [
                    {
                      name: "envoy.access_loggers.open_telemetry",
                      typed_config: {
                        "@type": OTEL,
                        common_config: { log_name: "tcp-log", transport_api_version: "V3", grpc_service: { envoy_grpc: { cluster_name: "opentelemetry_collector" } }, buffer_flush_interval: "0.1s" },
                        disable_builtin_labels: true,
                        resource_attributes: { values: [{ key: "service.name", value: { string_value: "tcp-envoy" } }, { key: "replicas", value: { int_value: 3 } }] },
                        body: { kvlist_value: { values: [{ key: "received", value: { string_value: "%BYTES_RECEIVED%" } }, { key: "list", value: { array_value: { values: [{ string_value: "%UPSTREAM_CLUSTER%" }, { string_value: "%REQ(:METHOD)%" }] } } }] } },
                        attributes: { values: [{ key: "type", value: { string_value: "%ACCESS_LOG_TYPE%" } }] },
                        stat_prefix: "tcp.",
                      },
                    },
                  ],
                },
              },
            ],
          },
        ],
      });
    });
    httpPort = port(10000);
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop();
    await collector?.stop();
    await service?.close();
  });

  test("the sandbox's record: body, attributes, the trace, the resource", async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/trace/2`, { headers: { traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` } });
    expect(await res.text()).toBe("Hello from behind Envoy (service 2)!\n");
    const [record] = await waitFor("the HTTP record", () => {
      const records = recordsOf("service.name", "envoy-2");
      return records.length > 0 ? records : undefined;
    });
    expect(plain(record!.body)).toBe("GET /trace/2");
    expect(attributesOf(record!.attributes)).toEqual({ "url.path": "/trace/2", "http.request.method": "GET", "http.response.status_code": "200" });
    expect(record!.trace_id!.toString("hex")).toBe(TRACE_ID);
    expect(record!.span_id!.toString("hex")).toMatch(/^[0-9a-f]{16}$/);
    expect(record!.span_id!.toString("hex")).not.toBe(PARENT_SPAN);
    expect(BigInt(record!.time_unix_nano!)).toBeGreaterThan(1_600_000_000n * 1_000_000_000n);
    const request = collector.requests.find((r) => attributesOf(r.resource_logs?.[0]?.resource?.attributes)["service.name"] === "envoy-2")!;
    expect(request.resource_logs).toHaveLength(1);
    expect(request.resource_logs![0]!.resource!.attributes!.map((a) => a.key)).toEqual(["log_name", "zone_name", "cluster_name", "node_name", "service.name"]);
    expect(attributesOf(request.resource_logs![0]!.resource!.attributes)).toEqual({ log_name: "otel_envoy_accesslog", zone_name: "z1", cluster_name: "front", node_name: "node-e2e", "service.name": "envoy-2" });
  }, 30_000);

  test("a request without a trace context: the proxy's own trace; every export counted in logs_written or logs_dropped", async () => {
    const before = recordsOf("service.name", "envoy-2").length;
    const res = await fetch(`http://127.0.0.1:${httpPort}/plain`);
    await res.text();
    const records = await waitFor("the second record", () => {
      const all = recordsOf("service.name", "envoy-2");
      return all.length > before ? all : undefined;
    });
    const record = records.at(-1)!;
    expect(plain(record.body)).toBe("GET /plain");
    // The tracer samples every request here (no sampler): a trace of the proxy's own.
    expect(record.trace_id!.toString("hex")).toMatch(/^[0-9a-f]{32}$/);
    expect(record.trace_id!.toString("hex")).not.toBe(TRACE_ID);
    // Each export is answered: the sandbox's grpc_service.timeout (250 ms) is no deadline, as in
    // Envoy, so a slow cold first export is still written.
    const counted = async () => {
      const stats = await adminStats(adminPort);
      return [stats.get("access_logs.open_telemetry_access_log.logs_written") ?? 0, stats.get("access_logs.open_telemetry_access_log.logs_dropped") ?? 0] as const;
    };
    let [written, dropped] = await counted();
    for (let i = 0; i < 100 && written + dropped < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      [written, dropped] = await counted();
    }
    expect([written, dropped]).toEqual([2, 0]);
  }, 30_000);

  test("a tcp_proxy connection: a kvlist/array body, disable_builtin_labels, its stat_prefix", async () => {
    const socket = await connect(tcpPort);
    socket.end("GET / HTTP/1.0\r\n\r\n");
    expect((await readAll(socket)).toString()).toContain("Hello from behind Envoy (service 2)!");
    const [record] = await waitFor("the TCP record", () => {
      const records = recordsOf("service.name", "tcp-envoy");
      return records.length > 0 ? records : undefined;
    });
    expect(plain(record!.body)).toEqual({ received: "18", list: ["service_cluster2", "-"] });
    expect(attributesOf(record!.attributes)).toEqual({ type: "TcpConnectionEnd" });
    expect(record!.trace_id).toBeUndefined();
    const request = collector.requests.find((r) => attributesOf(r.resource_logs?.[0]?.resource?.attributes)["service.name"] === "tcp-envoy")!;
    expect(attributesOf(request.resource_logs![0]!.resource!.attributes)).toEqual({ "service.name": "tcp-envoy", replicas: 3 });
    const counted = async () => {
      const stats = await adminStats(adminPort);
      return (stats.get("access_logs.open_telemetry_access_log.tcp.logs_written") ?? 0) + (stats.get("access_logs.open_telemetry_access_log.tcp.logs_dropped") ?? 0);
    };
    let total = await counted();
    for (let i = 0; i < 100 && total < 1; i++) {
      await new Promise((r) => setTimeout(r, 50));
      total = await counted();
    }
    // Its own stat_prefix ("tcp."), apart from the HTTP logger's.
    expect(total).toBe(1);
  }, 30_000);
});
