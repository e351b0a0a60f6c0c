/**
 * The Datadog tracer (envoy.tracers.datadog) on every runtime, through Envoy's
 * datadog-tracing sandbox config (test/fixtures/envoy-examples/datadog-tracing) served as
 * written — its STRICT_DNS `http` and `dd-agent` endpoints at local servers — plus an admin
 * address for the stats. A node:http server stands in for the Datadog Agent and decodes the
 * MessagePack of /v0.4/traces; the upstream sees the injected x-datadog-* and W3C headers.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { httpUpstream, type HttpUpstream, type SeenRequest } from "../support/http-upstream.ts";
import { localize } from "../support/envoy-examples.ts";
import { freePort } from "../support/net-helpers.ts";
import { adminStats } from "../support/tls-probe.ts";
import { decodeTraces, type DecodedDatadogSpan } from "../support/msgpack-decode.ts";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

describe.each(RUNTIMES)("datadog tracer on %s", (runtime) => {
  let upstream: HttpUpstream;
  let agent: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;
  const spans = (): DecodedDatadogSpan[] => agent.requests.flatMap((r) => decodeTraces(new Uint8Array(r.body)).flat());
  /** The span of that id, once the Agent got it (a flush every 2 s). */
  const spanOf = async (id: bigint): Promise<DecodedDatadogSpan> => {
    for (let i = 0; i < 200; i++) {
      const found = spans().find((s) => s.span_id === id);
      if (found !== undefined) return found;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`no span ${id} among ${agent.requests.length} reports\n${proxy.stderr.slice(-2000)}`);
  };

  beforeAll(async () => {
    upstream = await httpUpstream();
    // The Agent answers 200 with its sampling rates (dd-trace-cpp reads rate_by_service).
    agent = await httpUpstream((_, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ rate_by_service: { "service:,env:": 1 } }));
    });
    adminPort = await freePort();
    const example = await localize("datadog-tracing/envoy.yaml", { http: upstream.port, "dd-agent": agent.port }, (config) => {
      config.admin = { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } };
    });
    port = example.port(1337);
    proxy = await ProxyProcess.start(runtime, example.config);
  });

  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([upstream?.close(), agent?.close()]);
  });

  test("a new trace: x-datadog-* and traceparent/tracestate upstream; an envoy.proxy span as MessagePack to the Agent's /v0.4/traces", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/dd/items?x=1`, { headers: { "user-agent": "dd-test" } });
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1)!.headers;
    expect(seen["x-datadog-trace-id"]).toMatch(/^[0-9]+$/);
    expect(seen["x-datadog-parent-id"]).toMatch(/^[0-9]+$/);
    expect(seen["x-datadog-sampling-priority"]).toBe("1");
    expect(seen["x-datadog-tags"]).toMatch(/^_dd\.p\.tid=[0-9a-f]{16},_dd\.p\.dm=-0$/);
    const traceId = BigInt(seen["x-datadog-trace-id"] as string);
    const spanId = BigInt(seen["x-datadog-parent-id"] as string);
    const tid = (seen["x-datadog-tags"] as string).slice("_dd.p.tid=".length, "_dd.p.tid=".length + 16);
    expect(seen["traceparent"]).toBe(`00-${tid}${traceId.toString(16).padStart(16, "0")}-${spanId.toString(16).padStart(16, "0")}-01`);
    expect(seen["tracestate"]).toBe(`dd=s:1;p:${spanId.toString(16).padStart(16, "0")};t.dm:-0`);
    const span = await spanOf(spanId);
    expect(span).toMatchObject({ service: "envoy-demo", name: "envoy.proxy", resource: `egress 127.0.0.1:${port}`, trace_id: traceId, parent_id: 0n, error: 0n, type: "web" });
    expect(span.duration).toBeGreaterThan(0n);
    // The start: now, in ns since the epoch.
    expect(Number(span.start / 1_000_000n)).toBeGreaterThan(Date.now() - 60_000);
    expect(span.meta).toMatchObject({
      "http.url": `http://127.0.0.1:${port}/dd/items?x=1`,
      "http.method": "GET",
      "http.status_code": "200",
      "guid:x-request-id": seen["x-request-id"],
      user_agent: "dd-test",
      component: "proxy",
      upstream_cluster: "service1",
      "_dd.p.tid": tid,
      "_dd.p.dm": "-0",
      language: "cpp",
    });
    expect(span.meta["runtime-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(span.metrics).toMatchObject({ _sampling_priority_v1: 1, "_dd.agent_psr": 1 });
    // dd-trace-cpp's request: POST /v0.4/traces, its headers, the Host the collector cluster's name.
    const report = agent.requests.find((r) => decodeTraces(new Uint8Array(r.body)).flat().some((s) => s.span_id === spanId)) as SeenRequest;
    expect(report.method).toBe("POST");
    expect(report.url).toBe("/v0.4/traces");
    expect(report.headers).toMatchObject({ host: "datadog_agent", "content-type": "application/msgpack", "datadog-meta-lang": "cpp" });
    expect(report.headers["datadog-meta-tracer-version"]).toBeDefined();
    expect(Number(report.headers["x-datadog-trace-count"])).toBe(decodeTraces(new Uint8Array(report.body)).length);
  });

  test("a request's Datadog context is joined: its trace id, its span the parent, its sampling priority kept", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/joined`, {
      headers: { "x-datadog-trace-id": "1234567890123", "x-datadog-parent-id": "987654321", "x-datadog-sampling-priority": "2", "x-datadog-origin": "synthetics", "x-datadog-tags": "_dd.p.dm=-4,other=x" },
    });
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1)!.headers;
    expect(seen["x-datadog-trace-id"]).toBe("1234567890123");
    expect(seen["x-datadog-parent-id"]).not.toBe("987654321");
    expect(seen["x-datadog-sampling-priority"]).toBe("2");
    expect(seen["x-datadog-origin"]).toBe("synthetics");
    expect(seen["x-datadog-tags"]).toBe("_dd.p.dm=-4");
    const span = await spanOf(BigInt(seen["x-datadog-parent-id"] as string));
    expect(span).toMatchObject({ trace_id: 1234567890123n, parent_id: 987654321n, resource: `egress 127.0.0.1:${port}` });
    expect(span.metrics._sampling_priority_v1).toBe(2);
    expect(span.meta).toMatchObject({ "_dd.origin": "synthetics", "_dd.p.dm": "-4" });
  });

  test("a W3C traceparent is joined when no Datadog headers came", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const res = await fetch(`http://127.0.0.1:${port}/w3c`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate: "dd=s:2;o:rum,other=1" } });
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1)!.headers;
    expect(seen["x-datadog-trace-id"]).toBe(BigInt("0xa3ce929d0e0e4736").toString());
    expect(seen["x-datadog-sampling-priority"]).toBe("2");
    expect(seen["traceparent"]).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(seen["tracestate"]).toMatch(/^dd=s:2;p:[0-9a-f]{16};o:rum,other=1$/);
    const span = await spanOf(BigInt(seen["x-datadog-parent-id"] as string));
    expect(span.parent_id).toBe(0x00f067aa0ba902b7n);
  });

  test("a malformed x-datadog-trace-id: logged, and a new trace begins", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/malformed`, { headers: { "x-datadog-trace-id": "not-a-number", "x-datadog-parent-id": "1" } });
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1)!.headers;
    expect(seen["x-datadog-trace-id"]).toMatch(/^[0-9]+$/);
    expect(seen["x-datadog-sampling-priority"]).toBe("1");
    const span = await spanOf(BigInt(seen["x-datadog-parent-id"] as string));
    expect(span.parent_id).toBe(0n);
  });

  test("stats: tracing.datadog.reports_sent counts the Agent's 200s", async () => {
    for (let i = 0; i < 100 && agent.requests.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    const stats = await adminStats(adminPort);
    expect(stats.get("tracing.datadog.reports_sent")).toBeGreaterThanOrEqual(1);
    expect(stats.get("tracing.datadog.reports_failed")).toBe(0);
    expect(stats.get("tracing.datadog.reports_dropped")).toBe(0);
  });

  test("once the Agent answered, a new trace is decided by its rate_by_service (mechanism AGENT_RATE: _dd.p.dm=-1, _dd.agent_psr the rate)", async () => {
    // Each worker's sampler takes the answers to its own reports: ask until one has had one.
    let seen: Record<string, string | string[] | undefined> = {};
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/rated`);
      expect(res.status).toBe(200);
      seen = upstream.requests.at(-1)!.headers;
      if (String(seen["x-datadog-tags"]).endsWith("_dd.p.dm=-1")) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(seen["x-datadog-tags"]).toMatch(/^_dd\.p\.tid=[0-9a-f]{16},_dd\.p\.dm=-1$/);
    expect(seen["x-datadog-sampling-priority"]).toBe("1");
    const span = await spanOf(BigInt(seen["x-datadog-parent-id"] as string));
    expect(span.metrics).toMatchObject({ _sampling_priority_v1: 1, "_dd.agent_psr": 1 });
    expect(span.meta["_dd.p.dm"]).toBe("-1");
  });

  test("at shutdown what is held goes out at once, before the 2 s flush (dd-trace-cpp's agent flushes when destroyed)", async () => {
    const own = await httpUpstream((_, res) => res.end("{}"));
    const { config, port: examplePort } = await localize("datadog-tracing/envoy.yaml", { http: upstream.port, "dd-agent": own.port });
    const example = await ProxyProcess.start(runtime, config);
    try {
      expect((await fetch(`http://127.0.0.1:${examplePort(1337)}/bye`)).status).toBe(200);
      const spanId = BigInt(upstream.requests.at(-1)!.headers["x-datadog-parent-id"] as string);
      expect(own.requests).toHaveLength(0);
      await example.stop();
      const sent = own.requests.flatMap((r) => decodeTraces(new Uint8Array(r.body)).flat());
      expect(sent.map((s) => s.span_id)).toContain(spanId);
    } catch (err) {
      throw new Error(`${String(err)}\n${example.stderr.slice(-2000)}`);
    } finally {
      await example.stop();
      await own.close();
    }
  });
});
