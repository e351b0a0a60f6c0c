/**
 * The Datadog tracer's context on requests (core/tracing/datadog-propagation.ts), as
 * dd-trace-cpp's default styles read and write it: Datadog headers, then W3C tracecontext.
 */
import { describe, expect, test } from "vitest";
import { DatadogExtractError, extractDatadogContext, injectDatadogContext } from "../../../core/tracing/datadog-propagation.ts";
import { RequestHeaders } from "../../../core/http/message.ts";

const headers = (fields: Record<string, string>) => {
  const h = new RequestHeaders();
  for (const [name, value] of Object.entries(fields)) h.set(name, value);
  return h;
};
const extract = (fields: Record<string, string>) => {
  const tags = new Map<string, string>();
  return { context: extractDatadogContext(headers(fields), tags), tags: Object.fromEntries(tags) };
};

describe("Datadog extraction", () => {
  test("none: no context", () => {
    expect(extract({}).context).toBeUndefined();
  });

  test("x-datadog-*: ids in decimal, priority, origin, the _dd.p.* tags (_dd.p.tid the trace id's high half)", () => {
    const { context, tags } = extract({ "x-datadog-trace-id": " 18446744073709551615 ", "x-datadog-parent-id": "42", "x-datadog-sampling-priority": "-1", "x-datadog-origin": "rum", "x-datadog-tags": "_dd.p.tid=640cfd8d00000000,_dd.p.dm=-3,foo=bar" });
    expect(context).toMatchObject({ traceIdLow: (1n << 64n) - 1n, traceIdHigh: 0x640cfd8d00000000n, parentId: 42n, samplingPriority: -1, origin: "rum" });
    expect(context!.traceTags).toEqual([["_dd.p.tid", "640cfd8d00000000"], ["_dd.p.dm", "-3"]]);
    expect(tags).toEqual({});
  });

  test("malformed Datadog ids and priorities are errors (Envoy starts a new trace)", () => {
    for (const bad of <Record<string, string>[]>[{ "x-datadog-trace-id": "12a", "x-datadog-parent-id": "1" }, { "x-datadog-trace-id": "18446744073709551616", "x-datadog-parent-id": "1" }, { "x-datadog-trace-id": "1", "x-datadog-parent-id": "-1" }, { "x-datadog-trace-id": "1", "x-datadog-parent-id": "1", "x-datadog-sampling-priority": "keep" }]) {
      expect(() => extract(bad)).toThrow(DatadogExtractError);
    }
    // std::from_chars takes no '+' (parse_util.cpp parse_int): dd-trace-cpp refuses "+1".
    expect(() => extract({ "x-datadog-trace-id": "1", "x-datadog-parent-id": "1", "x-datadog-sampling-priority": "+1" })).toThrow(DatadogExtractError);
    expect(extract({ "x-datadog-trace-id": "1", "x-datadog-parent-id": "1", "x-datadog-sampling-priority": " -1 " }).context!.samplingPriority).toBe(-1);
    // No parent and no origin; a zero trace id.
    expect(() => extract({ "x-datadog-trace-id": "7" })).toThrow(/neither a parent span ID nor an origin/);
    expect(extract({ "x-datadog-trace-id": "7", "x-datadog-origin": "synthetics" }).context).toMatchObject({ traceIdLow: 7n, parentId: undefined });
    expect(() => extract({ "x-datadog-trace-id": "0", "x-datadog-parent-id": "1" })).toThrow(/Zero trace ID/);
  });

  test("malformed x-datadog-tags: a propagation error tag, the context kept", () => {
    expect(extract({ "x-datadog-trace-id": "1", "x-datadog-parent-id": "2", "x-datadog-tags": "novalue" }).tags).toEqual({ "_dd.propagation_error": "decoding_error" });
    expect(extract({ "x-datadog-trace-id": "1", "x-datadog-parent-id": "2", "x-datadog-tags": `_dd.p.x=${"a".repeat(600)}` }).tags).toEqual({ "_dd.propagation_error": "extract_max_size" });
    const tid = extract({ "x-datadog-trace-id": "1", "x-datadog-parent-id": "2", "x-datadog-tags": "_dd.p.tid=xyz" });
    expect(tid.tags).toEqual({ "_dd.propagation_error": "malformed_tid xyz" });
    expect(tid.context!.traceIdHigh).toBe(0n);
  });

  test("W3C: traceparent's ids and flag, tracestate's dd= member (s, o, t.*), the others carried on", () => {
    const { context } = extract({ traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "congo=t61rcWkgMzE, dd=s:2;o:syn~thetics;t.dm:-4;x:y" });
    expect(context).toMatchObject({ traceIdHigh: 0x4bf92f3577b34da6n, traceIdLow: 0xa3ce929d0e0e4736n, parentId: 0x00f067aa0ba902b7n, samplingPriority: 2, origin: "syn=thetics", additionalW3cTracestate: "congo=t61rcWkgMzE", additionalDatadogW3cTracestate: "x:y" });
    expect(context!.traceTags).toEqual([["_dd.p.dm", "-4"]]);
    // s:+2 is no priority (from_chars): traceparent's flag stays.
    expect(extract({ traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "dd=s:+2" }).context!.samplingPriority).toBe(1);
    expect(extract({ traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "dd=s:2" }).context!.samplingPriority).toBe(2);
    // traceparent's unsampled flag wins over an inconsistent s:.
    expect(extract({ traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", tracestate: "dd=s:2" }).context!.samplingPriority).toBe(0);
  });

  test("a malformed traceparent tags the span and yields no context", () => {
    for (const [value, error] of [
      ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "malformed_traceparent"],
      ["00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "malformed_traceparent"],
      ["ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "invalid_version"],
      ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", "malformed_traceparent"],
      ["00-00000000000000000000000000000000-00f067aa0ba902b7-01", "trace_id_zero"],
      ["00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "parent_id_zero"],
    ] as const) {
      const { context, tags } = extract({ traceparent: value });
      expect(context).toBeUndefined();
      expect(tags).toEqual({ "_dd.w3c_extraction_error": error });
    }
  });

  test("Datadog first; a W3C context of the same trace gives its tracestate and its parent", () => {
    const { context } = extract({ "x-datadog-trace-id": String(0xa3ce929d0e0e4736n), "x-datadog-parent-id": "5", "x-datadog-sampling-priority": "1", traceparent: "00-0000000000000000a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "dd=s:1,other=x" });
    expect(context).toMatchObject({ parentId: 0x00f067aa0ba902b7n, additionalW3cTracestate: "other=x" });
    const other = extract({ "x-datadog-trace-id": "9", "x-datadog-parent-id": "5", traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" });
    expect(other.context).toMatchObject({ traceIdLow: 9n, parentId: 5n, additionalW3cTracestate: undefined });
  });
});

describe("Datadog injection", () => {
  test("both styles: decimal ids, priority, origin, x-datadog-tags; traceparent and tracestate's dd= member", () => {
    const h = new RequestHeaders();
    const fits = injectDatadogContext(h, { traceIdHigh: 0x640cfd8d00000000n, traceIdLow: 255n, spanId: 16n, samplingPriority: 2, origin: "a=b;c", traceTags: [["_dd.p.tid", "640cfd8d00000000"], ["_dd.p.dm", "-4"]], additionalW3cTracestate: "congo=1", additionalDatadogW3cTracestate: "x:y" });
    expect(fits).toBe(true);
    expect(h.get("x-datadog-trace-id")).toBe("255");
    expect(h.get("x-datadog-parent-id")).toBe("16");
    expect(h.get("x-datadog-sampling-priority")).toBe("2");
    expect(h.get("x-datadog-origin")).toBe("a=b;c");
    expect(h.get("x-datadog-tags")).toBe("_dd.p.tid=640cfd8d00000000,_dd.p.dm=-4");
    expect(h.get("traceparent")).toBe("00-640cfd8d0000000000000000000000ff-0000000000000010-01");
    expect(h.get("tracestate")).toBe("dd=s:2;p:0000000000000010;o:a~b_c;t.dm:-4;x:y,congo=1");
  });

  test("a dropped trace: flag 00; x-datadog-tags past 512 bytes is left out (inject_max_size)", () => {
    const h = new RequestHeaders();
    const fits = injectDatadogContext(h, { traceIdHigh: 0n, traceIdLow: 1n, spanId: 2n, samplingPriority: -1, origin: undefined, traceTags: [["_dd.p.big", "v".repeat(600)]], additionalW3cTracestate: undefined, additionalDatadogW3cTracestate: undefined });
    expect(fits).toBe(false);
    expect(h.get("x-datadog-tags")).toBeUndefined();
    expect(h.get("x-datadog-origin")).toBeUndefined();
    expect(h.get("traceparent")).toBe("00-00000000000000000000000000000001-0000000000000002-00");
    // tracestate's dd= member is cut at a ';' to at most 256 bytes.
    expect(h.get("tracestate")).toBe("dd=s:-1;p:0000000000000002");
  });
});
