/**
 * The SkyWalking tracer's pieces: the `sw8` header as cpp2sky parses and writes it
 * (propagation_impl.cc, tracing_context_impl.cc's encodeSpan), the config as Envoy's Driver
 * reads it, and the SegmentObject skywalking-segment.ts encodes, read back with protobufjs
 * from the hand-written Tracing.proto subset (test/support/protos/skywalking).
 */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { encodeSegmentObject, SpanType } from "../../../core/tracing/skywalking-segment.ts";
import { encodeSw8, parseSw8 } from "../../../core/tracing/sw8.ts";
import { decodeSegment } from "../../support/skywalking-segments.ts";

const b64 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));
const CONTEXT = {
  traceId: "a3f1c0de-0000-4000-8000-000000000001",
  segmentId: "5e9d0000-1111-4000-8000-000000000002",
  spanId: 3,
  service: "envoy-proxy-front",
  instance: "envoy-proxy-front",
  endpoint: "/trace/1",
  targetAddress: "127.0.0.1:10000",
};
const HEADER = ["1", CONTEXT.traceId, CONTEXT.segmentId].map((v, i) => (i === 0 ? v : b64(v))).join("-") + `-3-${[CONTEXT.service, CONTEXT.instance, CONTEXT.endpoint, CONTEXT.targetAddress].map(b64).join("-")}`;

describe("sw8", () => {
  test("written as cpp2sky's encodeSpan: 1, base64 texts, the span id in decimal; read back the same", () => {
    expect(encodeSw8(CONTEXT)).toBe(HEADER);
    expect(parseSw8(HEADER)).toEqual(CONTEXT);
  });

  test("UTF-8 texts, and the sample flag 0 read as any other context (cpp2sky samples them all)", () => {
    const value = encodeSw8({ ...CONTEXT, service: "サービス" }).replace(/^1-/, "0-");
    expect(parseSw8(value).service).toBe("サービス");
  });

  test("base64 without padding is read too (decodeWithoutPadding)", () => {
    const unpadded = HEADER.split("-").map((f) => f.replace(/=+$/, "")).join("-");
    expect(parseSw8(unpadded)).toEqual(CONTEXT);
  });

  test("a text field that is not base64 is read as \"\" (cpp2sky's strict decoder), not as zero bytes", () => {
    const fields = HEADER.split("-");
    fields[1] = "!!!!";
    fields[4] = "@@";
    const parsed = parseSw8(fields.join("-"));
    expect(parsed.traceId).toBe("");
    expect(parsed.service).toBe("");
  });

  test("the span id as std::stoi reads it: its leading integer", () => {
    expect(parseSw8(HEADER.replace("-3-", "-12abc-")).spanId).toBe(12);
    expect(parseSw8(HEADER.replace("-3-", "- 7-")).spanId).toBe(7);
  });

  test.each([
    [HEADER.split("-").slice(0, 7).join("-"), "It must have 8 fields"],
    [`${HEADER}-eHg=`, "It must have 8 fields"],
    [HEADER.replace(/^1-/, "2-"), "sample field must be 0 or 1"],
    [HEADER.replace("-3-", "-x-"), "stoi"],
    [HEADER.replace("-3-", "-99999999999-"), "stoi"],
  ])("%s is refused: %s", (value, reason) => {
    expect(() => parseSw8(value)).toThrow(reason);
  });
});

describe("SegmentObject", () => {
  test("the segment's ids and names, each span's fields, the request's context as every span's CrossProcess ref", () => {
    const bytes = encodeSegmentObject({
      traceId: CONTEXT.traceId,
      segmentId: "seg-2",
      service: "envoy-proxy-1",
      instance: "envoy-proxy-1-1",
      parent: CONTEXT,
      spans: [
        { spanId: 0, parentSpanId: -1, startTime: 1_767_225_600_123, endTime: 1_767_225_600_456, operationName: "/trace/1", peer: "10.0.0.7", spanType: SpanType.Entry, spanLayer: 0, componentId: 9000, isError: true, tags: [["url", "http://x/trace/1"], ["error", "true"], ["error", "true"]] },
        { spanId: 1, parentSpanId: 0, startTime: 1_767_225_600_200, endTime: 1_767_225_600_400, operationName: "/trace/1", peer: "127.0.0.1:8080", spanType: SpanType.Exit, spanLayer: 3, componentId: 9000, isError: false, tags: [] },
      ],
    });
    const segment = decodeSegment(bytes);
    expect(segment).toMatchObject({ traceId: CONTEXT.traceId, traceSegmentId: "seg-2", service: "envoy-proxy-1", serviceInstance: "envoy-proxy-1-1" });
    const ref = { refType: "CrossProcess", traceId: CONTEXT.traceId, parentTraceSegmentId: CONTEXT.segmentId, parentSpanId: 3, parentService: CONTEXT.service, parentServiceInstance: CONTEXT.instance, parentEndpoint: "/trace/1", networkAddressUsedAtPeer: "127.0.0.1:10000" };
    expect(segment.spans[0]).toEqual({
      spanId: 0,
      parentSpanId: -1,
      startTime: 1_767_225_600_123,
      endTime: 1_767_225_600_456,
      refs: [ref],
      operationName: "/trace/1",
      peer: "10.0.0.7",
      spanType: "Entry",
      spanLayer: "Unknown",
      componentId: 9000,
      isError: true,
      tags: [{ key: "url", value: "http://x/trace/1" }, { key: "error", value: "true" }, { key: "error", value: "true" }],
      skipAnalysis: false,
    });
    expect(segment.spans[1]).toMatchObject({ spanId: 1, parentSpanId: 0, spanType: "Exit", spanLayer: "Http", peer: "127.0.0.1:8080", refs: [ref], isError: false });
  });

  test("without a parent context no refs", () => {
    const segment = decodeSegment(encodeSegmentObject({ traceId: "t", segmentId: "s", service: "a", instance: "b", parent: undefined, spans: [{ spanId: 0, parentSpanId: -1, startTime: 1, endTime: 2, operationName: "/", peer: "", spanType: SpanType.Entry, spanLayer: 0, componentId: 9000, isError: false, tags: [] }] }));
    expect(segment.spans[0]!.refs).toEqual([]);
  });
});

describe("SkyWalkingConfig", () => {
  const bootstrap = (typed: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      ...extra,
      static_resources: {
        listeners: [
          {
            address: { socket_address: { address: "127.0.0.1", port_value: 10000 } },
            filter_chains: [
              {
                filters: [
                  {
                    name: "envoy.filters.network.http_connection_manager",
                    typed_config: {
                      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                      stat_prefix: "in",
                      tracing: { provider: { name: "envoy.tracers.skywalking", typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.SkyWalkingConfig", ...typed } } },
                      route_config: { virtual_hosts: [{ name: "a", domains: ["*"], routes: [] }] },
                      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                    },
                  },
                ],
              },
            ],
          },
        ],
        clusters: [],
      },
    });
  const tracingOf = (json: string) => {
    const filter = loadBootstrap(json, "json").listeners[0]!.filterChains[0]!.filters[0]!;
    return filter.type === "envoy.filters.network.http_connection_manager" ? filter.config.tracing?.skywalking : undefined;
  };

  test("client_config as given; max_cache_size 1024 when unset", () => {
    expect(tracingOf(bootstrap({ grpc_service: { envoy_grpc: { cluster_name: "skywalking" }, timeout: "0.250s" }, client_config: { service_name: "s", instance_name: "i", backend_token: "tok", max_cache_size: 7 } }))).toEqual({
      grpcService: { clusterName: "skywalking", authority: "", initialMetadata: [] },
      serviceName: "s",
      instanceName: "i",
      backendToken: "tok",
      maxCacheSize: 7,
    });
    expect(tracingOf(bootstrap({ grpc_service: { envoy_grpc: { cluster_name: "skywalking" } } }))).toMatchObject({ serviceName: "", instanceName: "", backendToken: "", maxCacheSize: 1024 });
  });

  test("grpc_service is required; a stream's retry_policy and unknown client_config fields are refused", () => {
    expect(() => loadBootstrap(bootstrap({}), "json")).toThrow("grpc_service: value is required");
    expect(() => loadBootstrap(bootstrap({ grpc_service: { envoy_grpc: { cluster_name: "s" }, retry_policy: {} } }), "json")).toThrow("retry_policy");
    expect(() => loadBootstrap(bootstrap({ grpc_service: { envoy_grpc: { cluster_name: "s" } }, client_config: { nope: 1 } }), "json")).toThrow("nope");
  });
});
