/** tracing.provider envoy.tracers.zipkin: its ZipkinConfig fields, Envoy's errors, the node's LocalInfo. */
import { describe, expect, test } from "vitest";
import { httpProxyConfig } from "../../support/configs.ts";
import { problems, tracingOf } from "../../support/hcm-tracing-config.ts";

const TYPE = "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig";
const doc = (zipkin: Record<string, unknown>, tracing: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  ...(httpProxyConfig({ listenPort: 1, clusters: { b: [2], zipkin: [3] }, routes: [{ match: { prefix: "/" }, cluster: "b" }], hcm: { tracing: { ...tracing, provider: { name: "envoy.tracers.zipkin", typed_config: { "@type": TYPE, ...zipkin } } } } }) as object),
  ...extra,
});
const AT = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.tracing.provider.typed_config";
const VALID = { collector_cluster: "zipkin", collector_endpoint: "/api/v2/spans", collector_endpoint_version: "HTTP_JSON" };

describe("zipkin tracer config", () => {
  test("the fields and Envoy's defaults (the node's cluster, id and zone are read from the server when spans are made)", () => {
    const tracing = tracingOf(doc(VALID, {}, { node: { id: "n1", cluster: "front", locality: { zone: "z1" } } }));
    expect(tracing.zipkin).toEqual({
      collectorCluster: "zipkin",
      collectorEndpoint: "/api/v2/spans",
      collectorHostname: "zipkin",
      traceId128bit: false,
      sharedSpanContext: true,
      splitSpansForRequest: false,
    });
    const set = tracingOf(doc({ ...VALID, collector_hostname: "collector.example", trace_id_128bit: true, shared_span_context: false, split_spans_for_request: true }, { spawn_upstream_span: true, max_path_tag_length: 10 })).zipkin!;
    expect(set).toMatchObject({ collectorHostname: "collector.example", traceId128bit: true, sharedSpanContext: false, splitSpansForRequest: true });
    expect(tracingOf(doc(VALID, { spawn_upstream_span: { value: true }, max_path_tag_length: { value: 10 } }))).toMatchObject({ spawnUpstreamSpan: true, maxPathTagLength: 10 });
  });

  test("Envoy's errors: unknown cluster, missing cluster or endpoint, the endpoint versions", () => {
    expect(problems(doc({ ...VALID, collector_cluster: "nope" }))).toEqual([`${AT}.collector_cluster: envoy.tracers.zipkin: unknown cluster 'nope'`]);
    expect(problems(doc({ ...VALID, collector_cluster: undefined }))[0]).toBe(`${AT}.collector_cluster: Either collector_cluster or collector_service must be specified`);
    expect(problems(doc({ ...VALID, collector_endpoint: undefined }))[0]).toBe(`${AT}.collector_endpoint: collector_endpoint must be specified when using collector_cluster`);
    expect(problems(doc({ ...VALID, collector_endpoint_version: undefined }))[0]).toMatch(/collector_endpoint_version: hidden_envoy_deprecated_HTTP_JSON_V1 has been deprecated/);
    expect(problems(doc({ ...VALID, collector_endpoint_version: "HTTP_PROTO" }))[0]).toMatch(/collector_endpoint_version: collector_endpoint_version HTTP_PROTO is not supported by polyvoy/);
    expect(problems(doc({ ...VALID, collector_endpoint_version: "GRPC" }))[0]).toMatch(/GRPC is not implemented by Envoy's zipkin tracer either/);
    expect(problems(doc({ ...VALID, collector_endpoint_version: 1 }))).toEqual([]);
  });

  test("fields polyvoy does not take are refused by name", () => {
    expect(problems(doc({ ...VALID, collector_service: { http_uri: { uri: "http://x/api", cluster: "zipkin", timeout: "1s" } } }))[0]).toMatch(/collector_service/);
    expect(problems(doc({ ...VALID, trace_context_option: "USE_B3_WITH_W3C_PROPAGATION" }))[0]).toMatch(/trace_context_option/);
    expect(problems(doc(VALID, { verbose: true }))[0]).toMatch(/verbose .* not supported by polyvoy's zipkin tracer yet/);
  });
});
