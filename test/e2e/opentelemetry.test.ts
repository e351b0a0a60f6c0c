/**
 * The OpenTelemetry tracer (envoy.tracers.opentelemetry) on every runtime: a real
 * @grpc/grpc-js server stands in for the OTLP collector (TraceService/Export registered
 * with raw Buffer serializers, the request read with a schema-less protobuf reader), a
 * node:http upstream behind polyvoy. The upstream gets a traceparent whose ids are those of
 * the exported span; a request's own traceparent is joined (its trace id, its span the
 * parent, its tracestate carried); an unsampled one exports nothing; spawn_upstream_span
 * adds a CLIENT child; a 503 is an ERROR status; tracing.opentelemetry.* stats; with
 * http_service the spans come as an OTLP/HTTP protobuf POST to a node:http collector.
 * Envoy's dash0 example (test/fixtures/envoy-examples/dash0) served as written, its
 * service-1 and dash0-collector hosts at 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as grpcJs from "@grpc/grpc-js";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { freePort } from "../support/net-helpers.ts";
import { adminStats } from "../support/tls-probe.ts";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { localize } from "../support/envoy-examples.ts";
import { decodeFields, hex, one, sub, subs, text, type Fields } from "../support/protobuf-fields.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const OTEL_TYPE = "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig";
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceState: string;
  name: string;
  kind: number;
  start: bigint;
  end: bigint;
  attributes: Record<string, string>;
  status: number;
  serviceName: string;
}

/** ExportTraceServiceRequest → its spans, with their resource's service.name (opentelemetry-proto field numbers, as core/tracing/otlp.ts). */
function spansOf(request: Uint8Array): Span[] {
  return subs(decodeFields(request), 1).flatMap((resourceSpans) => {
    const resource = Object.fromEntries(subs(sub(resourceSpans, 1), 1).map((kv) => [text(one(kv, 1)), text(one(sub(kv, 2), 1))]));
    return subs(resourceSpans, 2).flatMap((scopeSpans) =>
      subs(scopeSpans, 2).map((s: Fields): Span => ({
        traceId: hex(one(s, 1)),
        spanId: hex(one(s, 2)),
        traceState: text(one(s, 3)),
        parentSpanId: hex(one(s, 4)),
        name: text(one(s, 5)),
        kind: Number(one(s, 6) ?? 0n),
        start: (one(s, 7) as bigint | undefined) ?? 0n,
        end: (one(s, 8) as bigint | undefined) ?? 0n,
        attributes: Object.fromEntries(subs(s, 9).map((kv) => [text(one(kv, 1)), text(one(sub(kv, 2), 1))])),
        status: Number(one(sub(s, 15), 3) ?? 0n),
        serviceName: resource["service.name"] ?? "",
      })),
    );
  });
}

/** An OTLP/gRPC collector: every Export request's bytes. */
async function startCollector(): Promise<{ port: number; requests: Uint8Array[]; metadata: grpcJs.Metadata[]; close(): void }> {
  const requests: Uint8Array[] = [];
  const metadata: grpcJs.Metadata[] = [];
  const raw = (b: Buffer) => b;
  const server = new grpcJs.Server();
  const definition = {
    Export: { path: "/opentelemetry.proto.collector.trace.v1.TraceService/Export", requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
  };
  server.addService(definition as unknown as grpcJs.ServiceDefinition, {
    Export: (call: grpcJs.ServerUnaryCall<Buffer, Buffer>, callback: grpcJs.sendUnaryData<Buffer>) => {
      requests.push(new Uint8Array(call.request));
      metadata.push(call.metadata);
      // ExportTraceServiceResponse with no partial_success: empty.
      callback(null, Buffer.alloc(0));
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpcJs.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, requests, metadata, close: () => server.forceShutdown() };
}

function hcm(statPrefix: string, otel: Record<string, unknown>, routes: object[], extra: Record<string, unknown> = {}): object {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      stat_prefix: statPrefix,
      tracing: { provider: { name: "envoy.tracers.opentelemetry", typed_config: { "@type": OTEL_TYPE, ...otel } }, ...extra },
      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes }] },
      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
    },
  };
}

const cluster = (name: string, port: number, http2 = false) => ({
  name,
  type: "STATIC",
  connect_timeout: "1s",
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
  ...(http2
    ? { typed_extension_protocol_options: { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", explicit_http_config: { http2_protocol_options: {} } } } }
    : {}),
});

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

describe.each(RUNTIMES)("opentelemetry tracer on %s", (runtime) => {
  let upstream: HttpUpstream;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let proxy: ProxyProcess;
  let plainPort: number;
  let spawnPort: number;
  let adminPort: number;
  let httpPort: number;
  let httpCollector: HttpUpstream;
  const spans = (): Span[] => collector.requests.flatMap(spansOf);
  const spanOf = async (id: string): Promise<Span> => {
    for (let i = 0; i < 200; i++) {
      const found = spans().find((s) => s.spanId === id);
      if (found !== undefined) return found;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`no span ${id} among ${JSON.stringify(spans(), (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))}\n${proxy.stderr.slice(-2000)}`);
  };

  beforeAll(async () => {
    upstream = await httpUpstream();
    collector = await startCollector();
    httpCollector = await httpUpstream((_, res) => res.end());
    const dead = await freePort();
    [plainPort, spawnPort, adminPort, httpPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const httpExporter = {
      http_service: { http_uri: { uri: "http://otlp.example:4318/v1/traces", cluster: "otlp-http", timeout: "1s" }, request_headers_to_add: [{ header: { key: "Authorization", value: "Bearer t1" } }] },
      service_name: "otel-http",
    };
    const exporter = { grpc_service: { envoy_grpc: { cluster_name: "otel" }, timeout: "1s", initial_metadata: [{ key: "x-api-key", value: "k1" }] } };
    const config = {
      node: { id: "proxy-1", cluster: "front-proxy", locality: { zone: "zone-a" } },
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      // Every span is exported as it is finished.
      layered_runtime: { layers: [{ name: "static", static_layer: { "tracing.opentelemetry.min_flush_spans": 1 } }] },
      static_resources: {
        listeners: [
          {
            name: "plain",
            address: { socket_address: { address: "127.0.0.1", port_value: plainPort } },
            filter_chains: [
              {
                filters: [
                  hcm(
                    "plain",
                    { ...exporter, service_name: "otel-e2e" },
                    [
                      { match: { prefix: "/dead" }, route: { cluster: "dead" } },
                      { match: { prefix: "/" }, route: { cluster: "backend" }, decorator: { operation: "routeToService1" }, metadata: { filter_metadata: { app: { owner: { team: "edge", oncall: true } } } } },
                    ],
                    {
                      custom_tags: [
                        { tag: "deployment", literal: { value: "e2e" } },
                        { tag: "region", environment: { name: "POLYVOY_E2E_REGION", default_value: "unset" } },
                        { tag: "tenant", request_header: { name: "x-tenant", default_value: "none" } },
                        { tag: "owner", metadata: { kind: { route: {} }, metadata_key: { key: "app", path: [{ key: "owner" }] }, default_value: "nobody" } },
                        { tag: "request_line", value: "%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE%" },
                      ],
                    },
                  ),
                ],
              },
            ],
          },
          { name: "spawn", address: { socket_address: { address: "127.0.0.1", port_value: spawnPort } }, filter_chains: [{ filters: [hcm("spawn", exporter, [{ match: { prefix: "/" }, route: { cluster: "backend" } }], { spawn_upstream_span: true })] }] },
          { name: "http", address: { socket_address: { address: "127.0.0.1", port_value: httpPort } }, filter_chains: [{ filters: [hcm("http", httpExporter, [{ match: { prefix: "/" }, route: { cluster: "backend" } }])] }] },
        ],
        clusters: [cluster("backend", upstream.port), cluster("dead", dead), cluster("otel", collector.port, true), cluster("otlp-http", httpCollector.port)],
      },
    };
    proxy = await ProxyProcess.start(runtime, config, undefined, [], { POLYVOY_E2E_REGION: `region-${runtime}` });
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([upstream?.close(), httpCollector?.close()]);
    collector?.close();
  });

  test("a new trace: traceparent upstream, a SERVER span with its ids, the decorator's name and Envoy's tags, exported over OTLP/gRPC", async () => {
    const res = await fetch(`http://127.0.0.1:${plainPort}/items?x=1`, { headers: { "user-agent": "otel-test" } });
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1)!.headers;
    const [, traceId, spanId, flags] = TRACEPARENT.exec(seen["traceparent"] as string)!;
    expect(flags).toBe("01");
    const span = await spanOf(spanId!);
    expect(span).toMatchObject({ traceId, parentSpanId: "", name: "routeToService1", kind: 2, status: 0, serviceName: "otel-e2e", traceState: "" });
    expect(span.end).toBeGreaterThanOrEqual(span.start);
    // Within a minute of now, in ns.
    expect(Number(span.start / 1_000_000n)).toBeGreaterThan(Date.now() - 60_000);
    expect(span.attributes).toMatchObject({
      node_id: "proxy-1",
      zone: "zone-a",
      "guid:x-request-id": seen["x-request-id"],
      "http.url": `http://127.0.0.1:${plainPort}/items?x=1`,
      "http.method": "GET",
      "http.status_code": "200",
      user_agent: "otel-test",
      component: "proxy",
      upstream_cluster: "backend",
      // custom_tags: the environment as the proxy was started with, the header's default, the route's metadata struct as JSON, a format.
      deployment: "e2e",
      region: `region-${runtime}`,
      tenant: "none",
      owner: '{"oncall":true,"team":"edge"}',
      request_line: "GET /items?x=1 200",
    });
    const withKey = collector.metadata.find((m) => m.get("x-api-key")[0] === "k1");
    expect(withKey).toBeDefined();
    // OpenTelemetryGrpcTraceExporter::onCreateInitialMetadata: the OTLP exporter's user agent.
    expect(String(withKey!.get("user-agent")[0])).toMatch(/^OTel-OTLP-Exporter-Envoy\/\d/);
  });

  test("a request's traceparent is joined: its trace id, a new span id, its span the parent, its tracestate carried", async () => {
    const res = await fetch(`http://127.0.0.1:${plainPort}/join`, { headers: { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: "congo=t61rcWkgMzE" } });
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1)!.headers;
    const [, traceId, spanId] = TRACEPARENT.exec(seen["traceparent"] as string)!;
    expect(traceId).toBe(TRACE);
    expect(spanId).not.toBe(PARENT);
    expect(seen["tracestate"]).toBe("congo=t61rcWkgMzE");
    const span = await spanOf(spanId!);
    expect(span).toMatchObject({ traceId: TRACE, parentSpanId: PARENT, traceState: "congo=t61rcWkgMzE", kind: 2 });
  });

  test("an unsampled traceparent goes on with flag 00 and exports nothing; a malformed one gets no span and is passed on as it came", async () => {
    const before = spans().length;
    await (await fetch(`http://127.0.0.1:${plainPort}/unsampled`, { headers: { traceparent: `00-${TRACE}-${PARENT}-00` } })).text();
    const [, traceId, , flags] = TRACEPARENT.exec(upstream.requests.at(-1)!.headers["traceparent"] as string)!;
    expect([traceId, flags]).toEqual([TRACE, "00"]);
    await (await fetch(`http://127.0.0.1:${plainPort}/malformed`, { headers: { traceparent: `00-${"0".repeat(32)}-${PARENT}-01` } })).text();
    expect(upstream.requests.at(-1)!.headers["traceparent"]).toBe(`00-${"0".repeat(32)}-${PARENT}-01`);
    // A sampled request after them: its span is exported, and nothing came from the two.
    await (await fetch(`http://127.0.0.1:${plainPort}/after`)).text();
    const [, , afterId] = TRACEPARENT.exec(upstream.requests.at(-1)!.headers["traceparent"] as string)!;
    await spanOf(afterId!);
    expect(spans().length).toBe(before + 1);
  });

  test("spawn_upstream_span: the request's SERVER span and a CLIENT child whose ids go upstream", async () => {
    await (await fetch(`http://127.0.0.1:${spawnPort}/spawn`)).text();
    const [, traceId, childId] = TRACEPARENT.exec(upstream.requests.at(-1)!.headers["traceparent"] as string)!;
    const child = await spanOf(childId!);
    expect(child).toMatchObject({ traceId, kind: 3, name: "router backend egress" });
    const parent = await spanOf(child.parentSpanId);
    expect(parent).toMatchObject({ traceId, kind: 2, name: "ingress", parentSpanId: "", serviceName: "unknown_service:envoy" });
  });

  test("a 503 (no upstream) is an ERROR status; tracing.opentelemetry.spans_sent and timer_flushed are counted", async () => {
    // "Acmé" as the UTF-8 bytes a client sends (fetch writes each char of a header value as one byte).
    const res = await fetch(`http://127.0.0.1:${plainPort}/dead`, { headers: { traceparent: `00-${TRACE}-${PARENT}-01`, "x-tenant": "Acm\u00c3\u00a9" } });
    expect(res.status).toBe(503);
    let span: Span | undefined;
    for (let i = 0; i < 200 && span === undefined; i++) {
      span = spans().find((s) => s.attributes["http.url"]?.endsWith("/dead"));
      if (span === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // custom_tags: the request's header (its UTF-8 bytes as text, encoded once: Envoy's too); a route without metadata gives the default.
    expect(span).toMatchObject({ traceId: TRACE, status: 2, attributes: { "http.status_code": "503", error: "true", tenant: "Acmé", owner: "nobody" } });
    const stats = await adminStats(adminPort);
    expect(stats.get("tracing.opentelemetry.spans_sent")).toBe(spans().length);
    expect(stats.has("tracing.opentelemetry.timer_flushed")).toBe(true);
  });

  test("http_service: a protobuf POST to the URI's path and host, with the OTLP user agent and the configured header", async () => {
    await (await fetch(`http://127.0.0.1:${httpPort}/over-http`)).text();
    const [, traceId, spanId] = TRACEPARENT.exec(upstream.requests.at(-1)!.headers["traceparent"] as string)!;
    let found: Span | undefined;
    for (let i = 0; i < 200 && found === undefined; i++) {
      found = httpCollector.requests.flatMap((r) => spansOf(new Uint8Array(r.body))).find((s) => s.spanId === spanId);
      if (found === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(found).toMatchObject({ traceId, kind: 2, name: "ingress", serviceName: "otel-http" });
    const post = httpCollector.requests[0]!;
    expect(post.method).toBe("POST");
    expect(post.url).toBe("/v1/traces");
    expect(post.headers).toMatchObject({ host: "otlp.example:4318", "content-type": "application/x-protobuf", authorization: "Bearer t1" });
    expect(post.headers["user-agent"]).toMatch(/^OTel-OTLP-Exporter-Envoy\//);
  });

  test("Envoy's dash0 example: five requests make one Export (min_flush_spans) of SERVER spans named routeToService1, service.name envoy-dash0-demo, with the traceparent ids the service saw", async () => {
    const dash0 = await startCollector();
    const service = await httpUpstream();
    try {
      const { config, port } = await localize("dash0/envoy.yaml", { "service-1": service.port, "dash0-collector": dash0.port });
      const example = await ProxyProcess.start(runtime, config);
      try {
        for (let i = 0; i < 5; i++) expect((await fetch(`http://127.0.0.1:${port(10000)}/r${i}`)).status).toBe(200);
        for (let i = 0; i < 200 && dash0.requests.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
        expect(dash0.requests).toHaveLength(1);
        const exported = spansOf(dash0.requests[0]!);
        const seen = service.requests.map((r) => TRACEPARENT.exec(r.headers["traceparent"] as string)!.slice(1, 3).join("-"));
        expect(exported.map((s) => `${s.traceId}-${s.spanId}`).sort()).toEqual(seen.sort());
        for (const span of exported) expect(span).toMatchObject({ name: "routeToService1", kind: 2, serviceName: "envoy-dash0-demo", attributes: { upstream_cluster: "service_cluster1", "http.status_code": "200" } });
      } catch (err) {
        throw new Error(`${String(err)}\n${example.stderr.slice(-3000)}`);
      } finally {
        await example.stop();
      }
    } finally {
      dash0.close();
      await service.close();
    }
  });
});
