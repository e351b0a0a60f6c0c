/**
 * The SkyWalking tracer (envoy.tracers.skywalking) on every runtime: a real @grpc/grpc-js
 * server stands in for SkyWalking's OAP (TraceSegmentReportService/collect, a client stream,
 * registered with raw Buffer serializers; each SegmentObject read with protobufjs from the
 * hand-written Tracing.proto subset), a node:http upstream behind polyvoy. With the
 * router's start_child_span a request's segment holds its ENTRY span and an EXIT span per
 * upstream request, whose context the upstream gets as `sw8`; a request's own sw8 is joined
 * (its trace id, every span's ref); without a child span nothing is propagated (cpp2sky
 * writes sw8 only from an EXIT span); tracing.skywalking.* stats; backend_token as the
 * stream's `authentication`. Envoy's SkyWalking front proxy
 * (test/fixtures/envoy-examples/skywalking) served as written, envoy-1 and skywalking-oap at
 * 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as grpcJs from "@grpc/grpc-js";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { freePort } from "../support/net-helpers.ts";
import { adminStats } from "../support/tls-probe.ts";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { localize } from "../support/envoy-examples.ts";
import { decodeSegment, type DecodedSegment } from "../support/skywalking-segments.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const SW_TYPE = "type.googleapis.com/envoy.config.trace.v3.SkyWalkingConfig";

/** An OAP stand-in: every SegmentObject from every collect stream, and each stream's metadata. */
async function startOap(at = 0): Promise<{ port: number; segments: DecodedSegment[]; metadata: grpcJs.Metadata[]; close(): void }> {
  const segments: DecodedSegment[] = [];
  const metadata: grpcJs.Metadata[] = [];
  const raw = (b: Buffer) => b;
  const server = new grpcJs.Server();
  const definition = {
    collect: { path: "/skywalking.v3.TraceSegmentReportService/collect", requestStream: true, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
  };
  server.addService(definition as unknown as grpcJs.ServiceDefinition, {
    collect: (call: grpcJs.ServerReadableStream<Buffer, Buffer>, callback: grpcJs.sendUnaryData<Buffer>) => {
      metadata.push(call.metadata);
      call.on("data", (message: Buffer) => segments.push(decodeSegment(new Uint8Array(message))));
      // Commands with none: empty.
      call.on("end", () => callback(null, Buffer.alloc(0)));
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${at}`, grpcJs.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port, segments, metadata, close: () => server.forceShutdown() };
}

function hcm(statPrefix: string, client: Record<string, unknown>, startChildSpan: boolean): object {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      stat_prefix: statPrefix,
      tracing: { provider: { name: "envoy.tracers.skywalking", typed_config: { "@type": SW_TYPE, grpc_service: { envoy_grpc: { cluster_name: "skywalking" }, timeout: "0.250s" }, client_config: client } } },
      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "backend" }, decorator: { operation: "routeToBackend" } }] }] },
      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", ...(startChildSpan ? { start_child_span: true } : {}) } }],
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

/** An sw8 header's eight fields, the texts decoded (as a SkyWalking agent reads them). */
function sw8(value: string) {
  const fields = value.split("-");
  const text = (f: string) => Buffer.from(f, "base64").toString("utf8");
  return { sample: fields[0], traceId: text(fields[1]!), segmentId: text(fields[2]!), spanId: Number(fields[3]), service: text(fields[4]!), instance: text(fields[5]!), endpoint: text(fields[6]!), target: text(fields[7]!), count: fields.length };
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe.each(RUNTIMES)("skywalking tracer on %s", (runtime) => {
  let upstream: HttpUpstream;
  let oap: Awaited<ReturnType<typeof startOap>>;
  let proxy: ProxyProcess;
  let childPort: number;
  let plainPort: number;
  let adminPort: number;
  const segmentOf = async (traceSegmentId: string | ((s: DecodedSegment) => boolean)): Promise<DecodedSegment> => {
    const match = typeof traceSegmentId === "string" ? (s: DecodedSegment) => s.traceSegmentId === traceSegmentId : traceSegmentId;
    for (let i = 0; i < 200; i++) {
      const found = oap.segments.find(match);
      if (found !== undefined) return found;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`no such segment among ${JSON.stringify(oap.segments)}\n${proxy.stderr.slice(-2000)}`);
  };

  beforeAll(async () => {
    upstream = await httpUpstream();
    oap = await startOap();
    [childPort, plainPort, adminPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const config = {
      node: { id: "proxy-1", cluster: "front-proxy", locality: { zone: "zone-a" } },
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      static_resources: {
        listeners: [
          { name: "child", address: { socket_address: { address: "127.0.0.1", port_value: childPort } }, filter_chains: [{ filters: [hcm("child", { service_name: "sw-front", instance_name: "sw-front-1", backend_token: "t0k3n" }, true)] }] },
          // No names: the node's cluster and id.
          { name: "plain", address: { socket_address: { address: "127.0.0.1", port_value: plainPort } }, filter_chains: [{ filters: [hcm("plain", {}, false)] }] },
        ],
        clusters: [cluster("backend", upstream.port), cluster("skywalking", oap.port, true)],
      },
    };
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop();
    await upstream?.close();
    oap?.close();
  });

  test("start_child_span: an ENTRY and an EXIT span in one segment; the EXIT span's context upstream as sw8", async () => {
    const res = await fetch(`http://127.0.0.1:${childPort}/items?x=1`, { headers: { "user-agent": "sw-test" } });
    expect(res.status).toBe(200);
    const header = upstream.requests.at(-1)!.headers["sw8"] as string;
    const seen = sw8(header);
    expect(seen).toMatchObject({ sample: "1", count: 8, spanId: 1, service: "sw-front", instance: "sw-front-1", endpoint: "/items?x=1", target: `127.0.0.1:${upstream.port}` });
    const segment = await segmentOf(seen.segmentId);
    expect(segment).toMatchObject({ traceId: seen.traceId, service: "sw-front", serviceInstance: "sw-front-1" });
    // New UUIDs as the trace and segment ids (cpp2sky's random.uuid()).
    expect(seen.traceId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const [entry, exit] = segment.spans;
    expect(segment.spans).toHaveLength(2);
    expect(entry).toMatchObject({ spanId: 0, parentSpanId: -1, spanType: "Entry", operationName: "/items?x=1", componentId: 9000, isError: false, refs: [], peer: "127.0.0.1", spanLayer: "Unknown" });
    expect(exit).toMatchObject({ spanId: 1, parentSpanId: 0, spanType: "Exit", operationName: "/items?x=1", componentId: 9000, peer: `127.0.0.1:${upstream.port}` });
    const tags = Object.fromEntries(entry!.tags.map((t) => [t.key, t.value]));
    expect(tags).toMatchObject({ node_id: "proxy-1", zone: "zone-a", url: `http://127.0.0.1:${childPort}/items?x=1`, status_code: "200", "http.method": "GET", user_agent: "sw-test", component: "proxy", upstream_cluster: "backend" });
    expect(Object.fromEntries(exit!.tags.map((t) => [t.key, t.value]))).toMatchObject({ upstream_cluster: "backend", status_code: "200", component: "proxy" });
    expect(entry!.endTime).toBeGreaterThanOrEqual(entry!.startTime);
    expect(entry!.startTime).toBeGreaterThan(Date.now() - 60_000);
    // TraceSegmentReporter::onCreateInitialMetadata: backend_token as `authentication`.
    expect(oap.metadata.some((m) => m.get("authentication")[0] === "t0k3n")).toBe(true);
  });

  test("a request's sw8 is joined: its trace id, every span's CrossProcess ref; the upstream gets the same trace", async () => {
    const parent = ["1", b64("trace-abc"), b64("segment-xyz"), "4", b64("upstream-svc"), b64("upstream-inst"), b64("/front"), b64("10.0.0.9:80")].join("-");
    expect((await fetch(`http://127.0.0.1:${childPort}/joined`, { headers: { sw8: parent } })).status).toBe(200);
    const seen = sw8(upstream.requests.at(-1)!.headers["sw8"] as string);
    expect(seen.traceId).toBe("trace-abc");
    const segment = await segmentOf(seen.segmentId);
    const ref = { refType: "CrossProcess", traceId: "trace-abc", parentTraceSegmentId: "segment-xyz", parentSpanId: 4, parentService: "upstream-svc", parentServiceInstance: "upstream-inst", parentEndpoint: "/front", networkAddressUsedAtPeer: "10.0.0.9:80" };
    expect(segment.traceId).toBe("trace-abc");
    expect(segment.spans.map((s) => s.refs)).toEqual([[ref], [ref]]);
  });

  test("without a child span nothing goes upstream; the segment has the ENTRY span alone, named by the node", async () => {
    expect((await fetch(`http://127.0.0.1:${plainPort}/plain-only`)).status).toBe(200);
    expect(upstream.requests.at(-1)!.headers["sw8"]).toBeUndefined();
    const segment = await segmentOf((s) => s.spans[0]?.operationName === "/plain-only");
    expect(segment).toMatchObject({ service: "front-proxy", serviceInstance: "proxy-1" });
    expect(segment.spans.map((s) => s.spanType)).toEqual(["Entry"]);
  });

  test("a malformed sw8 starts a new trace when the request is traced (Envoy logs it at warn), with no ref", async () => {
    expect((await fetch(`http://127.0.0.1:${childPort}/malformed`, { headers: { sw8: "1-only-three" } })).status).toBe(200);
    const seen = sw8(upstream.requests.at(-1)!.headers["sw8"] as string);
    expect(seen.traceId).not.toBe("only");
    const segment = await segmentOf(seen.segmentId);
    expect(segment.spans[0]!.refs).toEqual([]);
  });

  test("stats: tracing.skywalking.segments_sent counts every segment on the stream", async () => {
    const before = oap.segments.length;
    for (let i = 0; i < 200 && oap.segments.length < 4; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    const stats = await adminStats(adminPort);
    expect(stats.get("tracing.skywalking.segments_sent")).toBeGreaterThanOrEqual(Math.max(before, 4));
    expect(stats.get("tracing.skywalking.segments_dropped")).toBe(0);
    expect(stats.has("tracing.skywalking.cache_flushed")).toBe(true);
    expect(stats.has("tracing.skywalking.segments_flushed")).toBe(true);
  });

  test("Envoy's SkyWalking front proxy served as written: /trace/1's segment from envoy-proxy-front with its EXIT span, sw8 to envoy-1", async () => {
    const front = await startOap();
    const envoy1 = await httpUpstream();
    try {
      const { config, port } = await localize("skywalking/envoy-front-proxy.yaml", { "envoy-1": envoy1.port, "skywalking-oap": front.port });
      const example = await ProxyProcess.start(runtime, config);
      try {
        expect((await fetch(`http://127.0.0.1:${port(10000)}/trace/1`)).status).toBe(200);
        const seen = sw8(envoy1.requests.at(-1)!.headers["sw8"] as string);
        expect(seen).toMatchObject({ service: "envoy-proxy-front", instance: "envoy-proxy-front", endpoint: "/trace/1", spanId: 1, target: `127.0.0.1:${envoy1.port}` });
        for (let i = 0; i < 200 && front.segments.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
        expect(front.segments).toHaveLength(1);
        expect(front.segments[0]).toMatchObject({ traceId: seen.traceId, traceSegmentId: seen.segmentId, service: "envoy-proxy-front" });
        expect(front.segments[0]!.spans.map((s) => [s.spanType, s.operationName])).toEqual([["Entry", "/trace/1"], ["Exit", "/trace/1"]]);
      } catch (err) {
        throw new Error(`${String(err)}\n${example.stderr.slice(-3000)}`);
      } finally {
        await example.stop();
      }
    } finally {
      front.close();
      await envoy1.close();
    }
  });

  test("a collector that is down: segments wait in a cache of max_cache_size (the excess dropped), and are flushed once the stream is up again", async () => {
    const oapPort = await freePort();
    const service = await httpUpstream();
    const [port, admin] = await Promise.all([freePort(), freePort()]);
    const config = {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: admin } } },
      static_resources: {
        listeners: [{ name: "down", address: { socket_address: { address: "127.0.0.1", port_value: port } }, filter_chains: [{ filters: [hcm("down", { service_name: "sw-down", max_cache_size: 2 }, true)] }] }],
        clusters: [cluster("backend", service.port), cluster("skywalking", oapPort, true)],
      },
    };
    const example = await ProxyProcess.start(runtime, config);
    let late: Awaited<ReturnType<typeof startOap>> | undefined;
    try {
      // The first request opens the stream, which fails at once (nothing listens).
      expect((await fetch(`http://127.0.0.1:${port}/down-0`)).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (let i = 1; i <= 5; i++) expect((await fetch(`http://127.0.0.1:${port}/down-${i}`)).status).toBe(200);
      let stats = await adminStats(admin);
      expect(stats.get("tracing.skywalking.segments_dropped")).toBeGreaterThanOrEqual(1);
      late = await startOap(oapPort);
      // The back-off's retries (500 ms doubling, jittered) reach it; the cache goes out on the new stream.
      for (let i = 0; i < 300 && late.segments.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(late.segments.length).toBeGreaterThanOrEqual(1);
      expect(late.segments.length).toBeLessThanOrEqual(2);
      expect(late.segments.every((s) => s.service === "sw-down" && /^\/down-[1-5]$/.test(s.spans[0]!.operationName))).toBe(true);
      stats = await adminStats(admin);
      // The cache waits for a connected stream (Envoy flushes it on one that may yet fail: its establishNewStream's TODO): all of it arrives.
      expect(late.segments.length).toBe(2);
      expect(stats.get("tracing.skywalking.segments_flushed")).toBe(2);
      expect(stats.get("tracing.skywalking.cache_flushed")).toBeGreaterThanOrEqual(1);
      // And new segments go straight out on it.
      expect((await fetch(`http://127.0.0.1:${port}/up`)).status).toBe(200);
      for (let i = 0; i < 200 && !late.segments.some((s) => s.spans[0]!.operationName === "/up"); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(late.segments.some((s) => s.spans[0]!.operationName === "/up")).toBe(true);
    } catch (err) {
      const all = await adminStats(admin);
      throw new Error(`${String(err)}\n${[...all].filter(([k]) => k.includes("skywalking") || k.includes("cluster.skywalking.upstream_cx") || k.includes("cluster.skywalking.upstream_rq")).join(" ")}\n${example.stderr.slice(-3000)}`);
    } finally {
      await example.stop();
      late?.close();
      await service.close();
    }
  });
});
