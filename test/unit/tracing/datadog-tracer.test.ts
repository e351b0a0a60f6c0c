/**
 * The Datadog tracer (core/tracing/datadog.ts, datadog-agent.ts) on the memory runtime: a
 * trace segment's spans (the request's and the router's start_child_span child) go to the
 * Agent together once both are finished, on the 2 s flush; Envoy's sampling decision mapped
 * as Envoy's tracer maps it (not traced: USER_DROP, still sent); Envoy's error tags.
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { Logger } from "../../../core/log.ts";
import { Server } from "../../../core/server.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "../../memory/support/http-peers.ts";
import { decodeTraces } from "../../support/msgpack-decode.ts";
import { settleAsyncClient } from "../../support/settle-async-client.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const AGENT = 8126;

let runtime: MemoryRuntime;
let peers: MemoryHttpServer[] = [];

afterEach(() => {
  for (const peer of peers) peer.close();
  peers = [];
});

async function setup(tracing: Record<string, unknown>, router: Record<string, unknown> = {}, upstreamStatus = 200): Promise<{ upstream: MemoryHttpServer; agent: MemoryHttpServer }> {
  runtime = new MemoryRuntime({ seed: 7 });
  const upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (_, res) => res.respond(upstreamStatus, "ok"));
  const agent = await MemoryHttpServer.listen(runtime, AGENT, (_, res) => res.respond(200, "{}"));
  peers.push(upstream, agent);
  const config = httpProxyConfig({
    listenPort: PROXY,
    clusters: { backend: [UPSTREAM], datadog_agent: [AGENT] },
    routes: [{ match: { prefix: "/" }, cluster: "backend" }],
    hcm: {
      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router", ...router } }],
      tracing: { ...tracing, provider: { name: "envoy.tracers.datadog", typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.DatadogConfig", collector_cluster: "datadog_agent", collector_hostname: "agent.example" } } },
    },
  }) as object;
  const server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
  await server.start();
  return { upstream, agent };
}

const settle = (): Promise<void> => settleAsyncClient(runtime);

async function request(path: string): Promise<void> {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", path);
  runtime.advance(1);
  await settle();
}

describe("datadog tracer", () => {
  test("a segment's spans go out together on the 2 s flush: the request's and its start_child_span child, one trace", async () => {
    const { upstream, agent } = await setup({}, { start_child_span: true });
    await request("/a");
    expect(agent.requests).toHaveLength(0);
    runtime.advance(1500);
    await settle();
    expect(agent.requests).toHaveLength(0);
    runtime.advance(500);
    await settle();
    expect(agent.requests).toHaveLength(1);
    const post = agent.requests[0]!;
    expect(post.get(":path") ?? post.path).toBe("/v0.4/traces");
    expect(post.get("host") ?? post.get(":authority")).toBe("agent.example");
    expect(post.get("x-datadog-trace-count")).toBe("1");
    const chunks = decodeTraces(post.body);
    expect(chunks).toHaveLength(1);
    // The local root carries the trace-level tags.
    const rootSpan = chunks[0]!.find((s) => s.parent_id === 0n)!;
    const childSpan = chunks[0]!.find((s) => s.parent_id !== 0n)!;
    expect(rootSpan).toMatchObject({ service: "envoy", name: "envoy.proxy", resource: "ingress", type: "web" });
    expect(childSpan).toMatchObject({ name: "envoy.proxy", resource: "router backend egress", parent_id: rootSpan.span_id, trace_id: rootSpan.trace_id });
    expect(rootSpan.metrics).toMatchObject({ _sampling_priority_v1: 1 });
    expect(childSpan.metrics._sampling_priority_v1).toBeUndefined();
    expect(upstream.requests[0]!.get("x-datadog-parent-id")).toBe(childSpan.span_id.toString());
  });

  test("a request the HCM does not trace: USER_DROP (-1) upstream and on the span, which is still sent", async () => {
    const { upstream, agent } = await setup({ overall_sampling: { value: 0 } });
    await request("/dropped");
    expect(upstream.requests[0]!.get("x-datadog-sampling-priority")).toBe("-1");
    expect(upstream.requests[0]!.get("x-datadog-tags")).toMatch(/^_dd\.p\.tid=[0-9a-f]{16}$/);
    runtime.advance(2000);
    await settle();
    const [span] = decodeTraces(agent.requests[0]!.body)[0]!;
    expect(span!.metrics._sampling_priority_v1).toBe(-1);
    expect(span!.meta["_dd.p.dm"]).toBeUndefined();
    expect(span!.metrics["_dd.agent_psr"]).toBeUndefined();
  });

  test("a 5xx: Envoy's error tag is the span's error flag", async () => {
    const { agent } = await setup({}, {}, 503);
    await request("/fail");
    runtime.advance(2000);
    await settle();
    const [span] = decodeTraces(agent.requests[0]!.body)[0]!;
    expect(span!.error).toBe(1n);
    expect(span!.meta["http.status_code"]).toBe("503");
    expect(span!.meta.error).toBeUndefined();
  });

  test("the HCM's custom_tags go in every span's meta, the start_child_span child's too", async () => {
    const { agent } = await setup({ custom_tags: [{ tag: "team", literal: { value: "edge" } }, { tag: "path", request_header: { name: ":path" } }] }, { start_child_span: true });
    await request("/tagged");
    runtime.advance(2000);
    await settle();
    const spans = decodeTraces(agent.requests[0]!.body)[0]!;
    expect(spans).toHaveLength(2);
    for (const span of spans) expect(span.meta).toMatchObject({ team: "edge", path: "/tagged" });
  });
});
