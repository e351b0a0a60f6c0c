/**
 * Envoy's own example configs (test/fixtures/envoy-examples, from envoyproxy/envoy's
 * examples/ — see the README there), each loaded as `--mode validate` loads it: those whose
 * features polyvoy has validate unchanged; for each other one, its first config error line
 * is pinned, so that a feature added (or a message that regresses) shows here.
 * test/e2e/envoy-examples.test.ts serves requests through some of them.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, test } from "vitest";
import { loadConfig } from "../../../core/config/load.ts";
// Checks regexes synchronously: the RE2 engine loaded up front (core/config/regex-engine.ts).
import "../../../core/config/regex-engine-static.ts";

const FIXTURES = join(import.meta.dirname, "../../fixtures/envoy-examples");

/** Each example config and its first problem (undefined: it validates). */
const EXPECTED: [string, string | undefined][] = [
  ["brotli/envoy.yaml", undefined],
  ["cache/envoy.yaml", undefined],
  ["cache-mirror/envoy-backend.yaml", undefined],
  ["cache-mirror/envoy.yaml", undefined],
  ["configs/proxy_connect.yaml", undefined],
  ["configs/terminate_http1_connect.yaml", undefined],
  ["cors/backend/envoy.yaml", undefined],
  ["cors/frontend/envoy.yaml", undefined],
  ["csrf/crosssite/envoy.yaml", undefined],
  ["csrf/samesite/envoy.yaml", undefined],
  ["dash0/envoy.yaml", undefined],
  ["double-proxy/envoy-backend.yaml", undefined],
  ["double-proxy/envoy-frontend.yaml", undefined],
  ["dynamic-config-cp/envoy.yaml", undefined],
  ["dynamic-config-fs/envoy.yaml", undefined],
  ["ext_authz/config/grpc-service/v3.yaml", undefined],
  ["ext_authz/config/http-service.yaml", undefined],
  ["ext_authz/config/opa-service/v3.yaml", undefined],
  ["ext_proc/config/envoy.yaml", undefined],
  ["fault-injection/envoy.yaml", undefined],
  ["front-proxy/envoy.yaml", undefined],
  ["golang-http/envoy.yaml", "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0]: envoy.filters.http.golang (Go plugins) is an Envoy HTTP filter that polyvoy does not have (polyvoy's: docs/configuration.md)"],
  ["datadog-tracing/envoy.yaml", undefined],
  ["grpc-bridge/client/envoy-proxy.yaml", undefined],
  ["gzip/gzip-envoy.yaml", undefined],
  ["jaeger-tracing/envoy.yaml", undefined],
  ["load-reporting-service/envoy.yaml", undefined],
  ["local_ratelimit/envoy.yaml", undefined],
  ["locality-load-balancing/envoy-proxy.yaml", undefined],
  ["lua/envoy.yaml", undefined],
  ["lua-cluster-specifier/envoy.yaml", undefined],
  ["kafka/envoy.yaml", undefined],
  ["mysql/envoy.yaml", undefined],
  ["opentelemetry/envoy-2.yaml", undefined],
  ["opentelemetry/envoy-front-proxy.yaml", undefined],
  ["rbac/envoy.yaml", undefined],
  ["redis/envoy.yaml", undefined],
  ["route-mirror/envoy.yaml", undefined],
  ["single-page-app/envoy.yml", undefined],
  ["tls-inspector/envoy.yaml", undefined],
  ["tls-sni/envoy-client.yaml", undefined],
  ["tls-sni/envoy.yaml", undefined],
  ["tls/envoy-http-https.yaml", undefined],
  ["skywalking/envoy-1.yaml", undefined],
  ["skywalking/envoy-2.yaml", undefined],
  ["skywalking/envoy-front-proxy.yaml", undefined],
  ["tls/envoy-https-http.yaml", undefined],
  ["tls/envoy-https-passthrough.yaml", undefined],
  ["udp/envoy.yaml", undefined],
  ["websocket/envoy-ws-route.yaml", undefined],
  ["websocket/envoy-ws.yaml", undefined],
  ["websocket/envoy-wss-passthrough.yaml", undefined],
  ["websocket/envoy-wss-ws.yaml", undefined],
  ["websocket/envoy-wss.yaml", undefined],
  ["zipkin/envoy-front-proxy.yaml", undefined],
];

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return name.endsWith(".yaml") || name.endsWith(".yml") ? [relative(FIXTURES, path)] : [];
  });
}

describe("Envoy's example configs", () => {
  test("every fixture is listed here", () => {
    expect(yamlFiles(FIXTURES).sort()).toEqual(EXPECTED.map(([file]) => file).sort());
  });

  test.each(EXPECTED)("%s", (file, firstProblem) => {
    const result = loadConfig(readFileSync(join(FIXTURES, file), "utf8"), "yaml");
    expect("problems" in result ? result.problems[0] : undefined).toBe(firstProblem);
  });
});
