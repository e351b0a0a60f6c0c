/** Config for the HCM protections of issue #32: Envoy's field names, defaults, and errors naming the field. */
import { describe, expect, test } from "vitest";
import type { HttpConnectionManagerConfig } from "../../../core/config/bootstrap.ts";
import { ConfigError } from "../../../core/config/errors.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { httpProxyConfig } from "../../support/configs.ts";

function clusterProblems(clusterExtra: Record<string, unknown>): string[] {
  try {
    loadBootstrap(JSON.stringify(httpProxyConfig({ listenPort: 10000, clusters: { b: [1] }, routes: [{ match: { prefix: "/" }, cluster: "b" }], clusterExtra })), "json");
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("config loaded but should have been rejected");
}

function hcmConfig(hcm: Record<string, unknown>): HttpConnectionManagerConfig {
  const bootstrap = loadBootstrap(JSON.stringify(httpProxyConfig({ listenPort: 10000, clusters: { b: [1] }, routes: [{ match: { prefix: "/" }, cluster: "b" }], hcm })), "json");
  const filter = bootstrap.listeners[0]!.filterChains[0]!.filters[0]!;
  if (filter.type !== "envoy.filters.network.http_connection_manager") throw new Error("not an HCM");
  return filter.config;
}

function problems(hcm: Record<string, unknown>): string[] {
  try {
    hcmConfig(hcm);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("config loaded but should have been rejected");
}

describe("path rules", () => {
  test("defaults: no rule, nothing to do per request", () => {
    const config = hcmConfig({ path_with_escaped_slashes_action: "IMPLEMENTATION_SPECIFIC_DEFAULT", normalize_path: false, merge_slashes: false });
    expect(config.pathNormalization).toBeUndefined();
    expect(config.headersWithUnderscoresAction).toBeUndefined();
    expect(hcmConfig({ common_http_protocol_options: { max_requests_per_connection: 0 } }).maxRequestsPerConnection).toBeUndefined();
  });

  test("set", () => {
    expect(hcmConfig({ normalize_path: true }).pathNormalization).toEqual({ normalizePath: true, mergeSlashes: false, escapedSlashesAction: "KEEP_UNCHANGED" });
    expect(hcmConfig({ merge_slashes: true, path_with_escaped_slashes_action: "UNESCAPE_AND_REDIRECT" }).pathNormalization).toEqual({
      normalizePath: false,
      mergeSlashes: true,
      escapedSlashesAction: "UNESCAPE_AND_REDIRECT",
    });
    expect(hcmConfig({ common_http_protocol_options: { headers_with_underscores_action: "DROP_HEADER" } }).headersWithUnderscoresAction).toBe("DROP_HEADER");
    expect(hcmConfig({ common_http_protocol_options: { max_requests_per_connection: 5 } }).maxRequestsPerConnection).toBe(5);
    expect(hcmConfig({ common_http_protocol_options: { max_stream_duration: "1.5s" } }).maxStreamDurationMs).toBe(1500);
    expect(hcmConfig({ common_http_protocol_options: { max_stream_duration: "0s" } }).maxStreamDurationMs).toBeUndefined();
    expect(hcmConfig({ common_http_protocol_options: { max_connection_duration: "60s" } }).maxConnectionDurationMs).toBe(60_000);
  });

  test("bad values name the field", () => {
    expect(problems({ path_with_escaped_slashes_action: "DROP" }).join("\n")).toMatch(/path_with_escaped_slashes_action/);
    expect(problems({ normalize_path: "yes" }).join("\n")).toMatch(/normalize_path/);
    expect(problems({ common_http_protocol_options: { headers_with_underscores_action: "IGNORE" } }).join("\n")).toMatch(
      /common_http_protocol_options\.headers_with_underscores_action/,
    );
    expect(problems({ common_http_protocol_options: { max_stream_duration: "soon" } }).join("\n")).toMatch(/common_http_protocol_options\.max_stream_duration/);
    expect(problems({ common_http_protocol_options: { max_requests_per_connection: -1 } }).join("\n")).toMatch(
      /common_http_protocol_options\.max_requests_per_connection/,
    );
  });
});

describe("cluster max_requests_per_connection", () => {
  const typed = (options: Record<string, unknown>) => ({
    typed_extension_protocol_options: {
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        ...options,
      },
    },
  });

  test("both the typed option and the legacy field: Envoy's error", () => {
    const both = { ...typed({ common_http_protocol_options: { max_requests_per_connection: 1 }, explicit_http_config: { http_protocol_options: {} } }), max_requests_per_connection: 2 };
    expect(clusterProblems(both).join("\n")).toMatch(/max_requests_per_connection: Only one of max_requests_per_connection from Cluster or HttpProtocolOptions/);
  });

  test("unsupported parts of HttpProtocolOptions name the field", () => {
    expect(clusterProblems(typed({ common_http_protocol_options: { max_requests_per_connection: 1 } })).join("\n")).toMatch(/explicit_http_config/);
    expect(
      clusterProblems(typed({ common_http_protocol_options: { max_headers_count: 10 }, explicit_http_config: { http_protocol_options: {} } })).join("\n"),
    ).toMatch(/common_http_protocol_options: `max_headers_count` is an Envoy field/);
    expect(clusterProblems(typed({ explicit_http2_config: {}, explicit_http_config: { http_protocol_options: {} } })).join("\n")).toMatch(/explicit_http2_config/);
    // Upstream HTTP/1 trailers: true passes them on; false and unset drop them, as Envoy's codec.
    const withTrailers = (enable: boolean) => {
      const extra = typed({ explicit_http_config: { http_protocol_options: { enable_trailers: enable } } });
      return loadBootstrap(JSON.stringify(httpProxyConfig({ listenPort: 10000, clusters: { b: [1] }, routes: [{ match: { prefix: "/" }, cluster: "b" }], clusterExtra: extra })), "json").clusters[0]!;
    };
    expect(withTrailers(true).http1EnableTrailers).toBe(true);
    expect(withTrailers(false).http1EnableTrailers).toBeUndefined();
    // keepalive PINGs go upstream too, and connection_idle_interval's PING before a stream on an idle connection
    const keepalive = typed({ explicit_http_config: { http2_protocol_options: { connection_keepalive: { interval: "10s", timeout: "1s" } } } });
    const cluster = loadBootstrap(JSON.stringify(httpProxyConfig({ listenPort: 10000, clusters: { b: [1] }, routes: [{ match: { prefix: "/" }, cluster: "b" }], clusterExtra: keepalive })), "json").clusters[0]!;
    expect(cluster.http2?.connectionKeepalive).toEqual({ intervalMs: 10_000, timeoutMs: 1000, intervalJitterPercent: 15 });
    const idle = typed({ explicit_http_config: { http2_protocol_options: { connection_keepalive: { timeout: "1s", connection_idle_interval: "5s" } } } });
    const idleCluster = loadBootstrap(JSON.stringify(httpProxyConfig({ listenPort: 10000, clusters: { b: [1] }, routes: [{ match: { prefix: "/" }, cluster: "b" }], clusterExtra: idle })), "json").clusters[0]!;
    expect(idleCluster.http2?.connectionKeepalive?.connectionIdleIntervalMs).toBe(5000);
    expect(clusterProblems({ typed_extension_protocol_options: { "envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions": {} } }).join("\n")).toMatch(
      /typed_extension_protocol_options/,
    );
  });
});
