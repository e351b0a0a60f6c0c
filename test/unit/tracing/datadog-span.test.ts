/**
 * Envoy's Datadog span (core/tracing/datadog.ts) driven directly on the memory runtime:
 * Span::setSampled's manual decisions, the error tags, the `_dd.propagation_error` of an
 * x-datadog-tags that grew past its limit, `_dd.parent_id` from a W3C context, and a
 * finished span ignoring every later call (Envoy resets its dd-trace-cpp span at finish).
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { RequestHeaders } from "../../../core/http/message.ts";
import { Logger } from "../../../core/log.ts";
import { Server } from "../../../core/server.ts";
import { DatadogTracer } from "../../../core/tracing/datadog.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../../support/configs.ts";

async function tracer(): Promise<DatadogTracer> {
  const runtime = new MemoryRuntime({ seed: 7 });
  const config = httpProxyConfig({ listenPort: 10000, clusters: { datadog_agent: [8126] }, routes: [{ match: { prefix: "/" }, cluster: "datadog_agent" }] }) as object;
  const server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "off"));
  await server.start();
  return new DatadogTracer(server, { collectorCluster: "datadog_agent", collectorHostname: "datadog_agent", serviceName: "envoy" }, false);
}

const headers = (fields: Record<string, string> = {}) => {
  const h = new RequestHeaders();
  for (const [name, value] of Object.entries(fields)) h.set(name, value);
  return h;
};

const injected = (span: { injectContext(h: RequestHeaders): void }) => {
  const h = headers();
  span.injectContext(h);
  return h;
};

describe("Datadog span", () => {
  test("setSampled: true is USER_KEEP (2), false USER_DROP (-1), a manual decision over the extracted one", async () => {
    const t = await tracer();
    const kept = t.startDownstreamSpan(headers({ "x-datadog-trace-id": "5", "x-datadog-parent-id": "6", "x-datadog-sampling-priority": "0" }), "ingress", 0, true);
    kept.setSampled(true);
    expect(injected(kept).get("x-datadog-sampling-priority")).toBe("2");
    expect(injected(kept).get("x-datadog-tags")).toContain("_dd.p.dm=-4");
    const dropped = t.startDownstreamSpan(headers(), "ingress", 0, true);
    dropped.setSampled(false);
    expect(injected(dropped).get("x-datadog-sampling-priority")).toBe("-1");
  });

  test("a new trace's root span: its id the trace id's low 64 bits (tracer.cpp create_span); a joined trace's a span id of its own", async () => {
    const t = await tracer();
    const root = t.startDownstreamSpan(headers(), "ingress", 0, true);
    expect(root.data.spanId).toBe(root.segment.traceIdLow);
    expect(root.data.parentId).toBe(0n);
    expect(root.spawnChild("router", 0).data.spanId).not.toBe(root.segment.traceIdLow);
    const joined = t.startDownstreamSpan(headers({ "x-datadog-trace-id": "5", "x-datadog-parent-id": "6" }), "ingress", 0, true);
    expect(joined.data.spanId).not.toBe(5n);
    expect(joined.data.parentId).toBe(6n);
  });

  test("error.reason: the error flag and error.message (dd-trace-cpp's set_error_message), the tag kept too", async () => {
    const span = (await tracer()).startDownstreamSpan(headers(), "ingress", 0, true);
    span.setTag("error.reason", "boom");
    expect(span.data.error).toBe(true);
    expect(span.data.meta.get("error.message")).toBe("boom");
    expect(span.data.meta.get("error.reason")).toBe("boom");
  });

  test("x-datadog-tags grown past 512 bytes at injection: not written, the local root tagged _dd.propagation_error inject_max_size", async () => {
    const t = await tracer();
    // Read (under 512), then _dd.p.tid and _dd.p.dm are added: over 512 when injected.
    const tags = `_dd.p.x=${"v".repeat(500)}`;
    const span = t.startDownstreamSpan(headers({ "x-datadog-trace-id": "5", "x-datadog-parent-id": "6", "x-datadog-tags": tags, traceparent: "00-00000000000000010000000000000005-0000000000000006-01" }), "ingress", 0, true);
    expect(span.data.meta.get("_dd.propagation_error")).toBeUndefined();
    const out = injected(span);
    expect(out.get("x-datadog-tags")).toBeUndefined();
    expect(span.data.meta.get("_dd.propagation_error")).toBe("inject_max_size");
    // A child injecting tags the local root, not itself.
    const child = span.spawnChild("router", 0);
    injected(child);
    expect(child.data.meta.get("_dd.propagation_error")).toBeUndefined();
  });

  test("_dd.parent_id: a W3C context's tracestate dd=p:, 0000000000000000 without it; none for a Datadog-only context", async () => {
    const t = await tracer();
    const traceparent = "00-0000000000000000000000000000002a-00000000000000aa-01";
    expect(t.startDownstreamSpan(headers({ traceparent, tracestate: "dd=s:1;p:00000000000000bb" }), "ingress", 0, true).data.meta.get("_dd.parent_id")).toBe("00000000000000bb");
    expect(t.startDownstreamSpan(headers({ traceparent }), "ingress", 0, true).data.meta.get("_dd.parent_id")).toBe("0000000000000000");
    // Datadog headers of the same trace: the W3C context's parent (extraction_util.cpp merge).
    expect(t.startDownstreamSpan(headers({ "x-datadog-trace-id": "42", "x-datadog-parent-id": "7", traceparent, tracestate: "dd=p:00000000000000cc" }), "ingress", 0, true).data.meta.get("_dd.parent_id")).toBe("00000000000000cc");
    expect(t.startDownstreamSpan(headers({ "x-datadog-trace-id": "42", "x-datadog-parent-id": "7" }), "ingress", 0, true).data.meta.has("_dd.parent_id")).toBe(false);
    // Another trace's W3C context adds nothing.
    expect(t.startDownstreamSpan(headers({ "x-datadog-trace-id": "43", "x-datadog-parent-id": "7", traceparent, tracestate: "dd=p:00000000000000cc" }), "ingress", 0, true).data.meta.has("_dd.parent_id")).toBe(false);
  });

  test("a finished span ignores setOperation, setTag, setSampled and spawnChild (whose finish must not send the segment again)", async () => {
    const t = await tracer();
    const sent: number[] = [];
    const send = t.agent.send.bind(t.agent);
    t.agent.send = (spans) => {
      sent.push(spans.length);
      send(spans);
    };
    const span = t.startDownstreamSpan(headers(), "ingress", 0, true);
    span.finish();
    expect(sent).toEqual([1]);
    span.setOperation("late");
    span.setTag("late", "1");
    span.setSampled(false);
    expect(span.data.resource).toBe("ingress");
    expect(span.data.meta.has("late")).toBe(false);
    expect(span.data.metrics.get("_sampling_priority_v1")).toBe(1);
    expect(span.segment.decision!.priority).toBe(1);
    const child = span.spawnChild("late child", 0);
    child.setTag("k", "v");
    child.finish();
    expect(sent).toEqual([1]);
    expect(span.segment.spans).toHaveLength(1);
    expect(injected(child).get("x-datadog-trace-id")).toBeUndefined();
  });
});
