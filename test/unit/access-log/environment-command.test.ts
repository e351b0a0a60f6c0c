/**
 * %ENVIRONMENT(NAME)% / %ENVIRONMENT(NAME):Z% (Envoy's EnvironmentFormatter,
 * stream_info_formatter.cc): the variable read once through the port when the config is
 * checked, its first Z bytes, "-" (a string, also in typed JSON and with omit_empty_values)
 * when unset; in access logs and header values alike.
 */
import { describe, expect, test } from "vitest";
import { validateConfig } from "../../../core/config/validate-config.ts";
import type { DataSourceReader } from "../../../core/config/data-source-files.ts";
import type { ValidConfig } from "../../../core/config/config-source.ts";
import type { AccessLogConfig, HeaderValueOption } from "../../../core/config/bootstrap.ts";
import { compileFormat } from "../../../core/access-log/format.ts";
import type { AccessLogContext } from "../../../core/access-log/context.ts";
import { httpProxyConfig } from "../../support/configs.ts";

const ENV: Record<string, string> = { POD: "pod-7", PCT: "50%", WIDE: "héllo" };
const reader: DataSourceReader = {
  readTextFile: async () => "",
  environmentVariable: (name) => ENV[name],
};

const FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";

function config(logFormat: object, headerValue = "%ENVIRONMENT(POD)%"): string {
  const base = httpProxyConfig({ listenPort: 10000, clusters: { backend: [8080] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as any;
  const hcm = base.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.access_log = [{ name: "envoy.access_loggers.file", typed_config: { "@type": FILE_LOG, path: "/dev/null", log_format: logFormat } }];
  hcm.route_config.request_headers_to_add = [{ header: { key: "x-pod", value: headerValue } }];
  return JSON.stringify(base);
}

function valid(loaded: Awaited<ReturnType<typeof validateConfig>>): ValidConfig {
  if ("problems" in loaded) throw new Error(loaded.problems.join("\n"));
  return loaded;
}

function hcmOf(loaded: ValidConfig): { accessLog: AccessLogConfig[]; routeConfig: { requestHeadersToAdd: HeaderValueOption[] } } {
  return (loaded.bootstrap.listeners[0]!.filterChains[0]!.filters[0] as any).config;
}

const ctx = { startWallClock: 0, responseCode: 200, responseFlags: [], bytesReceived: 0, bytesSent: 0, requestHeader: () => undefined, responseHeader: () => undefined, responseTrailer: () => undefined } as unknown as AccessLogContext;

describe("%ENVIRONMENT(NAME):Z%", () => {
  test("a text access log: the value, its first Z bytes, a literal %, and - when unset (also with omit_empty_values)", async () => {
    const loaded = valid(await validateConfig(config({ text_format: "%ENVIRONMENT(POD)% %ENVIRONMENT(POD):3% %ENVIRONMENT(PCT)% %ENVIRONMENT(NOPE)% %RESPONSE_CODE% %ENVIRONMENT(WIDE):2%\n", omit_empty_values: true }), "json", undefined, reader));
    const line = compileFormat(hcmOf(loaded).accessLog[0]!.format).format(ctx);
    // "é" is two bytes: two bytes of "héllo" are "h" and the first of "é".
    expect(line).toBe("pod-7 pod 50% - 200 h\xc3\n");
    expect(loaded.readsData).toEqual(expect.arrayContaining(["environment variable POD", "environment variable NOPE"]));
  });

  test("typed JSON: a string, and \"-\" (not null) when unset", async () => {
    const loaded = valid(await validateConfig(config({ json_format: { pod: "%ENVIRONMENT(POD)%", nope: "%ENVIRONMENT(NOPE)%", code: "%RESPONSE_CODE%" }, omit_empty_values: true }), "json", undefined, reader));
    expect(compileFormat(hcmOf(loaded).accessLog[0]!.format).format(ctx)).toBe('{"pod":"pod-7","nope":"-","code":200}\n');
  });

  test("a request header value is the variable's value; one with other commands keeps them", async () => {
    const plain = valid(await validateConfig(config({ text_format: "x\n" }), "json", undefined, reader));
    expect(hcmOf(plain).routeConfig.requestHeadersToAdd[0]).toMatchObject({ key: "x-pod", value: "pod-7" });
    expect(hcmOf(plain).routeConfig.requestHeadersToAdd[0]!.formatted).toBeUndefined();
    const mixed = valid(await validateConfig(config({ text_format: "x\n" }, "%ENVIRONMENT(PCT)%/%PROTOCOL%"), "json", undefined, reader));
    expect(hcmOf(mixed).routeConfig.requestHeadersToAdd[0]).toMatchObject({ value: "50%%/%PROTOCOL%", formatted: true });
  });

  test("the OpenTelemetry access log's body and attributes, and a tracing custom tag's value: formats too", async () => {
    const base = JSON.parse(config({ text_format: "x\n" }));
    const hcm = base.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    hcm.access_log = [{
      name: "envoy.access_loggers.open_telemetry",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig",
        common_config: { log_name: "l", transport_api_version: "V3", grpc_service: { envoy_grpc: { cluster_name: "backend" } } },
        body: { string_value: "body %ENVIRONMENT(POD)%" },
        attributes: { values: [{ key: "pod", value: { string_value: "%ENVIRONMENT(POD):3%" } }] },
      },
    }];
    hcm.tracing = {
      provider: { name: "envoy.tracers.zipkin", typed_config: { "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig", collector_cluster: "backend", collector_endpoint: "/api/v2/spans", collector_endpoint_version: "HTTP_JSON" } },
      custom_tags: [{ tag: "pod", value: "on %ENVIRONMENT(POD)%" }],
    };
    const loaded = valid(await validateConfig(JSON.stringify(base), "json", undefined, reader));
    const text = JSON.stringify((loaded.bootstrap.listeners[0]!.filterChains[0]!.filters[0] as any).config);
    expect(text).toContain("body pod-7");
    expect(text).toContain('"pod"');
    expect(text).toContain("on pod-7");
    expect(text).not.toContain("ENVIRONMENT");
  });

  test("ENVIRONMENT without a name is a config error", async () => {
    const loaded = await validateConfig(config({ text_format: "%ENVIRONMENT()%\n" }), "json", undefined, reader);
    expect("problems" in loaded && loaded.problems.join("\n")).toMatch(/ENVIRONMENT requires parameters/);
  });
});
