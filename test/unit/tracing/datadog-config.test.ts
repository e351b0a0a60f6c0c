/** tracing.provider envoy.tracers.datadog: its DatadogConfig fields, Envoy's defaults and errors, remote_config refused. */
import { describe, expect, test } from "vitest";
import { httpProxyConfig } from "../../support/configs.ts";
import { problems, tracingOf } from "../../support/hcm-tracing-config.ts";
import { protoToJson } from "../../../core/config/xds/proto-to-json.ts";
import { ProtoWriter } from "../../../core/util/protobuf-wire.ts";

const TYPE = "type.googleapis.com/envoy.config.trace.v3.DatadogConfig";
const doc = (datadog: Record<string, unknown>) =>
  httpProxyConfig({ listenPort: 1, clusters: { b: [2], dd: [3] }, routes: [{ match: { prefix: "/" }, cluster: "b" }], hcm: { tracing: { provider: { name: "envoy.tracers.datadog", typed_config: { "@type": TYPE, ...datadog } } } } }) as object;
const AT = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.tracing.provider.typed_config";

describe("datadog tracer config", () => {
  test("defaults: service \"envoy\", the Agent requests' Host the cluster's name (config.cc)", () => {
    expect(tracingOf(doc({ collector_cluster: "dd" })).datadog).toEqual({ collectorCluster: "dd", collectorHostname: "dd", serviceName: "envoy" });
    expect(tracingOf(doc({ collector_cluster: "dd", service_name: "front", collector_hostname: "agent.example" })).datadog).toEqual({ collectorCluster: "dd", collectorHostname: "agent.example", serviceName: "front" });
  });

  test("collector_cluster is required and must name a cluster; remote_config is refused by name", () => {
    expect(problems(doc({}))).toEqual([`${AT}.collector_cluster: value length must be at least 1 characters: the Datadog Agent's cluster`]);
    expect(problems(doc({ collector_cluster: "nope" }))).toEqual([`${AT}.collector_cluster: envoy.tracers.datadog: unknown cluster 'nope'`]);
    expect(problems(doc({ collector_cluster: "dd", remote_config: { polling_interval: "5s" } }))[0]).toMatch(/remote_config .* is not supported by polyvoy's datadog tracer/);
    expect(problems(doc({ collector_cluster: "dd", unknown_field: 1 }))[0]).toMatch(/unknown_field/);
  });

  test("over xDS: a binary DatadogConfig (datadog.proto: fields 1–4) reads as its YAML does, remote_config refused the same", () => {
    const bytes = new ProtoWriter().string(1, "dd").string(2, "svc").string(3, "agent.example").finish();
    const json = protoToJson("envoy.config.trace.v3.DatadogConfig", bytes);
    expect(json).toEqual({ collector_cluster: "dd", service_name: "svc", collector_hostname: "agent.example" });
    expect(tracingOf(doc(json)).datadog).toEqual({ collectorCluster: "dd", collectorHostname: "agent.example", serviceName: "svc" });
    const remote = protoToJson("envoy.config.trace.v3.DatadogConfig", new ProtoWriter().string(1, "dd").message(4, (w) => w.message(1, (d) => d.uint(1, 5))).finish());
    expect(remote).toEqual({ collector_cluster: "dd", remote_config: { polling_interval: "5s" } });
    expect(problems(doc(remote))[0]).toMatch(/remote_config .* is not supported/);
  });
});
