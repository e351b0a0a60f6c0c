/**
 * The OpenTelemetry tracer's pieces: W3C traceparent parsing as Envoy's
 * SpanContextExtractor does it, and the OTLP ExportTraceServiceRequest as otlp.ts encodes
 * it, read back with a schema-less protobuf reader (field numbers from opentelemetry-proto).
 */
import { describe, expect, test } from "vitest";
import { RequestHeaders } from "../../../core/http/message.ts";
import { encodeExportRequest, SpanKind, StatusCode, type OtlpSpan } from "../../../core/tracing/otlp.ts";
import { extractTraceContext, injectTraceContext } from "../../../core/tracing/traceparent.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { decodeFields, hex, one, sub, subs, text, type Fields } from "../../support/protobuf-fields.ts";

function headers(entries: Record<string, string>): RequestHeaders {
  const h = new RequestHeaders();
  for (const [k, v] of Object.entries(entries)) h.set(k, v);
  return h;
}

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

describe("traceparent", () => {
  test("a valid header: ids lowercased, the sampled bit, tracestate carried", () => {
    const ctx = extractTraceContext(headers({ traceparent: `00-${TRACE.toUpperCase()}-${PARENT}-03`, tracestate: "congo=t61rcWkgMzE" }));
    expect(ctx).toEqual({ version: "00", traceId: TRACE, parentId: PARENT, sampled: true, tracestate: "congo=t61rcWkgMzE" });
    expect(extractTraceContext(headers({ traceparent: `00-${TRACE}-${PARENT}-00` })).sampled).toBe(false);
  });

  test.each([
    [`00-${TRACE}-${PARENT}-011`, "Invalid traceparent header length"],
    [`00-${TRACE}-${PARENT}-0`, "Invalid traceparent header length"],
    [`00_${TRACE}-${PARENT}-01`, "Invalid traceparent hyphenation"],
    [`000${TRACE}-${PARENT}-01`.slice(0, 55).padEnd(55, "-"), "Invalid traceparent hyphenation"],
    [`00-${TRACE.slice(0, 31)}-${PARENT}0-01`, "Invalid traceparent field sizes"],
    [`0g-${TRACE}-${PARENT}-01`, "Invalid header hex"],
    [`00-${"0".repeat(32)}-${PARENT}-01`, "Invalid trace id"],
    [`00-${TRACE}-${"0".repeat(16)}-01`, "Invalid parent id"],
  ])("%s is refused: %s", (value, reason) => {
    expect(() => extractTraceContext(headers({ traceparent: value }))).toThrow(reason);
  });

  test("several tracestate headers are joined with \",\" (span_context_extractor.cc), and injected joined", () => {
    const h = headers({ traceparent: `00-${TRACE}-${PARENT}-01` });
    h.add("tracestate", "congo=t61rcWkgMzE");
    h.add("tracestate", "rojo=00f067aa0ba902b7");
    const ctx = extractTraceContext(h);
    expect(ctx.tracestate).toBe("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    injectTraceContext(h, TRACE, "a1b2c3d4e5f60718", true, ctx.tracestate);
    expect(h.count("tracestate")).toBe(1);
    expect(h.get("tracestate")).toBe("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  });

  test("injected: version 00, the span's ids, its flag, tracestate", () => {
    const h = new RequestHeaders();
    injectTraceContext(h, TRACE, "a1b2c3d4e5f60718", false, "");
    expect(h.get("traceparent")).toBe(`00-${TRACE}-a1b2c3d4e5f60718-00`);
    expect(h.get("tracestate")).toBe("");
    injectTraceContext(h, TRACE, "a1b2c3d4e5f60718", true, "x=1");
    expect(h.get("traceparent")).toBe(`00-${TRACE}-a1b2c3d4e5f60718-01`);
    expect(extractTraceContext(h)).toMatchObject({ traceId: TRACE, parentId: "a1b2c3d4e5f60718", sampled: true, tracestate: "x=1" });
  });
});

const decode = decodeFields;
const msg = sub;
const all = subs;
/** KeyValue { key = 1, value = 2: AnyValue { string_value = 1 } } as [key, value]. */
const kv = (f: Fields): [string, string] => [text(one(f, 1)), text(one(msg(f, 2), 1) ?? new Uint8Array())];

describe("OTLP ExportTraceServiceRequest", () => {
  test("resource service.name, one ScopeSpans, each span's fields", () => {
    const span: OtlpSpan = {
      traceId: TRACE,
      spanId: "a1b2c3d4e5f60718",
      parentSpanId: PARENT,
      traceState: "congo=t61rcWkgMzE",
      name: "routeToService1",
      kind: SpanKind.Server,
      startTimeUnixNano: 1_700_000_000_123_456_000n,
      endTimeUnixNano: 1_700_000_000_223_456_000n,
      attributes: new Map([["http.status_code", "503"], ["zone", ""]]),
      status: StatusCode.Error,
    };
    const root: OtlpSpan = { ...span, spanId: "0102030405060708", parentSpanId: "", traceState: "", kind: SpanKind.Client, attributes: new Map(), status: StatusCode.Unset };
    const request = decode(encodeExportRequest(new Map([["service.name", "envoy-dash0-demo"]]), [span, root]));
    const resourceSpans = all(request, 1);
    expect(resourceSpans).toHaveLength(1);
    const resource = msg(resourceSpans[0]!, 1);
    expect(all(resource, 1).map(kv)).toEqual([["service.name", "envoy-dash0-demo"]]);
    const scopeSpans = all(resourceSpans[0]!, 2);
    expect(scopeSpans).toHaveLength(1);
    const [first, second] = all(scopeSpans[0]!, 2);
    expect(hex(one(first!, 1))).toBe(TRACE);
    expect(hex(one(first!, 2))).toBe("a1b2c3d4e5f60718");
    expect(text(one(first!, 3))).toBe("congo=t61rcWkgMzE");
    expect(hex(one(first!, 4))).toBe(PARENT);
    expect(text(one(first!, 5))).toBe("routeToService1");
    expect(one(first!, 6)).toBe(2n);
    expect(one(first!, 7)).toBe(1_700_000_000_123_456_000n);
    expect(one(first!, 8)).toBe(1_700_000_000_223_456_000n);
    expect(all(first!, 9).map(kv)).toEqual([["http.status_code", "503"], ["zone", ""]]);
    expect(one(msg(first!, 15), 3)).toBe(2n);
    // A root span has no parent_span_id, no trace_state, no status; CLIENT is 3.
    expect(second!.has(4)).toBe(false);
    expect(second!.has(3)).toBe(false);
    expect(second!.has(15)).toBe(false);
    expect(one(second!, 6)).toBe(3n);
  });
});

describe("OpenTelemetryConfig", () => {
  const withProvider = (typed: Record<string, unknown>) =>
    JSON.stringify({
      static_resources: {
        listeners: [{ address: { socket_address: { address: "127.0.0.1", port_value: 1 } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          stat_prefix: "p",
          tracing: { provider: { name: "envoy.tracers.opentelemetry", typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig", ...typed } } },
          route_config: { virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }] }] },
          http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
        } }] }] }],
      },
      node: { id: "n1", locality: { zone: "z1" } },
    });
  const tracing = (typed: Record<string, unknown>) => {
    const bootstrap = loadBootstrap(withProvider(typed), "json");
    const filter = bootstrap.listeners[0]!.filterChains[0]!.filters[0]!;
    return filter.type === "envoy.filters.network.http_connection_manager" ? filter.config.tracing?.opentelemetry : undefined;
  };

  test("defaults: no exporter, unknown_service:envoy", () => {
    expect(tracing({})).toEqual({ timeoutMs: 0, serviceName: "unknown_service:envoy", alwaysOnSampler: false });
  });

  test("grpc_service with its timeout; service_name; the always_on sampler", () => {
    expect(
      tracing({
        grpc_service: { envoy_grpc: { cluster_name: "c" }, timeout: "0.250s" },
        service_name: "svc",
        sampler: { name: "envoy.tracers.opentelemetry.samplers.always_on", typed_config: { "@type": "type.googleapis.com/envoy.extensions.tracers.opentelemetry.samplers.v3.AlwaysOnSamplerConfig" } },
      }),
    ).toEqual({ grpcService: { clusterName: "c", authority: "", initialMetadata: [] }, timeoutMs: 250, serviceName: "svc", alwaysOnSampler: true });
  });

  test("a sampler without typed_config is refused, as Envoy's TypedExtensionConfig requires it", () => {
    expect(() => tracing({ sampler: { name: "envoy.tracers.opentelemetry.samplers.always_on" } })).toThrow(
      /tracing\.provider\.typed_config\.sampler\.typed_config: value is required: a sampler's typed_config, e\.g\. \{"@type": "type\.googleapis\.com\/envoy\.extensions\.tracers\.opentelemetry\.samplers\.v3\.AlwaysOnSamplerConfig"\}/,
    );
  });
});
