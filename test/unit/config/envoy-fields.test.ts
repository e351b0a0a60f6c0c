/**
 * core/config/envoy-fields.ts is generated from Envoy's .proto files in the pinned
 * @grpc/grpc-js-xds (scripts/gen-envoy-fields.mjs); it must be exactly what the generator
 * writes from them now.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { ENVOY_PROTOS_SOURCE } from "../../../core/config/envoy-fields.ts";
import { envoyEnumValues, envoyMessage } from "../../../core/config/envoy-messages.ts";
// @ts-expect-error: a plain .mjs script, without types
import { generate, OUTPUT } from "../../../scripts/gen-envoy-fields.mjs";

const ROOT = join(import.meta.dirname, "../../..");

describe("Envoy's field lists", () => {
  test("are up to date with the generator and the pinned protos (run node scripts/gen-envoy-fields.mjs)", () => {
    const version = JSON.parse(readFileSync(join(ROOT, "node_modules/@grpc/grpc-js-xds/package.json"), "utf8")).version;
    expect(ENVOY_PROTOS_SOURCE).toBe(`@grpc/grpc-js-xds@${version}`);
    expect(readFileSync(OUTPUT, "utf8")).toBe(generate());
  });

  test("hold what the config reaches, with field types", () => {
    const cluster = envoyMessage("envoy.config.cluster.v3.Cluster")!;
    expect(cluster.fields.get("connect_timeout")).toEqual({ name: "connect_timeout", type: undefined, map: false, repeated: false });
    expect(cluster.fields.get("lb_policy")?.type).toBe("envoy.config.cluster.v3.Cluster.LbPolicy");
    expect(cluster.fields.get("typed_extension_protocol_options")).toEqual({ name: "typed_extension_protocol_options", type: "google.protobuf.Any", map: true, repeated: false });
    expect(cluster.fields.get("health_checks")).toEqual({ name: "health_checks", type: "envoy.config.core.v3.HealthCheck", map: false, repeated: true });
    expect(envoyEnumValues("envoy.config.cluster.v3.Cluster.DiscoveryType")).toEqual(["STATIC", "STRICT_DNS", "LOGICAL_DNS", "EDS", "ORIGINAL_DST"]);
    expect(envoyMessage("envoy.config.bootstrap.v3.Bootstrap")!.fields.get("static_resources")?.type).toBe("envoy.config.bootstrap.v3.Bootstrap.StaticResources");
    expect(envoyMessage("envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager")!.fields.has("stat_prefix")).toBe(true);
    expect(envoyMessage("no.such.Message")).toBeUndefined();
  });
});
