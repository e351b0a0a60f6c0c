/** The HCM's trace decision without a tracer: `tracing` config, the x-request-id mark, runtime keys, stats. */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../../core/config/load.ts";
import type { ConfigError } from "../../../../core/config/errors.ts";
import type { HttpConnectionManagerConfig } from "../../../../core/config/bootstrap.ts";
import { hcmTracing } from "../../../../core/config/tracing-schema.ts";
import type { TracingConfig } from "../../../../core/config/bootstrap.ts";
import { mutateTracingRequestHeader, TraceReason, TracingStats } from "../../../../core/http/conn-manager/tracing-decision.ts";
import { RequestHeaders } from "../../../../core/http/message.ts";
import { RuntimeLoader } from "../../../../core/runtime/runtime-loader.ts";
import { StatsStore } from "../../../../core/stats/stats-store.ts";
import { httpProxyConfig } from "../../../support/configs.ts";

// 0x00000065 = 101: 101 % 10000 = 101.
const ID = "00000065-0000-4000-8000-000000000000";
const request = (fields: Record<string, string>) => {
  const headers = new RequestHeaders();
  for (const [name, value] of Object.entries(fields)) headers.set(name, value);
  return headers;
};
const config = (fields: Record<string, unknown> = {}): TracingConfig => hcmTracing.parse(fields);
const runtime = (values: [string, string][] = []) => {
  const loader = new RuntimeLoader({ random: () => 0.5 }, { layers: [{ kind: "admin", name: "admin" }] });
  if (values.length > 0) loader.mergeValues(new Map(values));
  return loader;
};

describe("tracing: the trace decision in x-request-id", () => {
  test("config: Envoy's defaults (100 %), random_sampling out of 10 000; span-only fields accepted", () => {
    expect(config()).toEqual({
      clientSampling: { numerator: 100, denominator: 100, runtimeKey: "tracing.client_enabled" },
      randomSampling: { numerator: 10_000, denominator: 10_000, runtimeKey: "tracing.random_sampling" },
      overallSampling: { numerator: 100, denominator: 100, runtimeKey: "tracing.global_enabled" },
      operationName: "ingress",
      spawnUpstreamSpan: false,
      maxPathTagLength: 256,
    });
    expect(config({ random_sampling: { value: 1.25 }, verbose: true, custom_tags: [{ tag: "a", literal: { value: "b" } }], max_path_tag_length: 64 }).randomSampling.numerator).toBe(125);
  });

  test("a provider polyvoy lacks is refused by name, in the HCM and in the bootstrap; a known one in the bootstrap is sent to the HCM", () => {
    const problems = (doc: object): string[] => {
      try {
        loadBootstrap(JSON.stringify(doc), "json");
      } catch (err) {
        return (err as ConfigError).problems;
      }
      return [];
    };
    const hcm = (tracing: object) => httpProxyConfig({ listenPort: 1, clusters: { b: [2] }, routes: [{ match: { prefix: "/" }, cluster: "b" }], hcm: { tracing } });
    expect(problems(hcm({ provider: { name: "envoy.tracers.xray", typed_config: {} } }))[0]).toMatch(/\.tracing\.provider: envoy\.tracers\.xray is an Envoy tracer that polyvoy does not support yet \(polyvoy has envoy\.tracers\.zipkin/);
    expect(problems({ tracing: { http: { name: "envoy.tracers.opentelemetry" } } })).toEqual([
      "tracing.http: envoy.tracers.opentelemetry is taken by polyvoy only in the HCM's tracing.provider (the bootstrap's tracing.http is deprecated in Envoy): move it there",
    ]);
    const loaded = loadBootstrap(JSON.stringify(hcm({ random_sampling: { value: 10 } })), "json");
    expect((loaded.listeners[0]!.filterChains[0]!.filters[0]!.config as HttpConnectionManagerConfig).tracing?.randomSampling.numerator).toBe(1000);
  });

  test("sampled: the id's 15th character becomes 'a'; outside random_sampling it is left alone", () => {
    const headers = request({ "x-request-id": ID });
    expect(mutateTracingRequestHeader(headers, config(), runtime())).toBe(TraceReason.Sampling);
    expect(headers.get("x-request-id")).toBe("00000065-0000-a000-8000-000000000000");
    // 1 % of 10 000 = 100: 101 is outside.
    const outside = request({ "x-request-id": ID });
    expect(mutateTracingRequestHeader(outside, config({ random_sampling: { value: 1 } }), runtime())).toBe(TraceReason.NotTraceable);
    expect(outside.get("x-request-id")).toBe(ID);
  });

  test("x-envoy-force-trace: '9'; x-client-trace-id: 'b'; an id already marked keeps its reason; overall_sampling unmarks ('4')", () => {
    const forced = request({ "x-request-id": ID, "x-envoy-force-trace": "1" });
    expect(mutateTracingRequestHeader(forced, config({ random_sampling: { value: 0 } }), runtime())).toBe(TraceReason.ServiceForced);
    expect(forced.get("x-request-id")![14]).toBe("9");
    const client = request({ "x-request-id": ID, "x-client-trace-id": "x" });
    expect(mutateTracingRequestHeader(client, config(), runtime())).toBe(TraceReason.ClientForced);
    expect(client.get("x-request-id")![14]).toBe("b");
    expect(mutateTracingRequestHeader(request({ "x-request-id": "00000065-0000-9000-8000-000000000000" }), config({ random_sampling: { value: 0 } }), runtime())).toBe(TraceReason.ServiceForced);
    const capped = request({ "x-request-id": ID });
    expect(mutateTracingRequestHeader(capped, config({ overall_sampling: { value: 1 } }), runtime())).toBe(TraceReason.NotTraceable);
    expect(capped.get("x-request-id")![14]).toBe("4");
    // No id, or not hex: never traced.
    expect(mutateTracingRequestHeader(request({}), config(), runtime())).toBe(TraceReason.NotTraceable);
    expect(mutateTracingRequestHeader(request({ "x-request-id": "zzzzzzzz" }), config(), runtime())).toBe(TraceReason.NotTraceable);
  });

  test("runtime keys: tracing.random_sampling (out of 10 000) and tracing.global_enabled override the config", () => {
    const headers = () => request({ "x-request-id": ID });
    expect(mutateTracingRequestHeader(headers(), config(), runtime([["tracing.random_sampling", "{numerator: 100, denominator: TEN_THOUSAND}"]]))).toBe(TraceReason.NotTraceable);
    expect(mutateTracingRequestHeader(headers(), config(), runtime([["tracing.global_enabled", "0"]]))).toBe(TraceReason.NotTraceable);
    expect(mutateTracingRequestHeader(headers(), config({ random_sampling: { value: 0 } }), runtime([["tracing.random_sampling", "{numerator: 102, denominator: TEN_THOUSAND}"]]))).toBe(TraceReason.Sampling);
  });

  test("stats: each decision counts under http.<prefix>.tracing.*", () => {
    const store = new StatsStore();
    const stats = new TracingStats(store, "in");
    stats.charge(TraceReason.Sampling);
    stats.charge(TraceReason.NotTraceable);
    stats.charge(TraceReason.ServiceForced);
    stats.charge(TraceReason.ClientForced);
    expect(store.all().map((s) => [s.name, (s as { value: number }).value])).toEqual([
      ["http.in.tracing.client_enabled", 1],
      ["http.in.tracing.health_check", 0],
      ["http.in.tracing.not_traceable", 1],
      ["http.in.tracing.random_sampling", 1],
      ["http.in.tracing.service_forced", 1],
    ]);
  });
});
