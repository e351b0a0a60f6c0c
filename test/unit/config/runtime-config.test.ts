/** layered_runtime: static layers flattened as Envoy's ProtoLayer does, admin layers, and the layers polyvoy refuses. */
import { describe, expect, test } from "vitest";
import type { Bootstrap } from "../../../core/config/bootstrap.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { yamlProblems as problems } from "./config-problems.ts";

function load(yaml: string): Bootstrap {
  return loadBootstrap(yaml, "yaml");
}

describe("layered_runtime", () => {
  test("a static layer's nested keys join with dots; numbers, bools and FractionalPercents keep Envoy's raw strings", () => {
    const bootstrap = load(`
layered_runtime:
  layers:
  - name: base
    static_layer:
      health_check:
        min_interval: 5
      routing.canary: 0.5
      enabled: true
      note: some text
      fault:
        http:
          abort:
            abort_percent: { numerator: 20, denominator: ten_thousand }
      empty: {}
  - name: admin
    admin_layer: {}
`);
    expect(bootstrap.layeredRuntime).toEqual({
      layers: [
        {
          kind: "static",
          name: "base",
          values: [
            ["health_check.min_interval", "5"],
            ["routing.canary", "0.5"],
            ["enabled", "true"],
            ["note", "some text"],
            // Struct keys are the user's: the denominator is kept as written.
            ["fault.http.abort.abort_percent", "{numerator: 20, denominator: ten_thousand}"],
            ["empty", "{}"],
          ],
        },
        { kind: "admin", name: "admin" },
      ],
    });
  });

  test("absent: no layers; present with none: one unnamed admin layer (Envoy's configuration_impl.cc)", () => {
    expect(load("admin: {}").layeredRuntime).toBeUndefined();
    expect(load("layered_runtime: {}").layeredRuntime).toEqual({ layers: [{ kind: "admin", name: "" }] });
    expect(load("layeredRuntime: { layers: [] }").layeredRuntime).toEqual({ layers: [{ kind: "admin", name: "" }] });
  });

  test("a disk layer: its directory, read at start-up", () => {
    expect(load("layered_runtime: { layers: [ { name: d, disk_layer: { symlink_root: /srv/runtime/current, subdirectory: envoy } } ] }").layeredRuntime).toEqual({
      layers: [{ kind: "disk", name: "d", symlinkRoot: "/srv/runtime/current", subdirectory: "envoy", appendServiceCluster: false }],
    });
    expect(problems("layered_runtime: { layers: [ { name: d, disk_layer: { symlink_root: /r, subdirectry: envoy } } ] }")[0]).toMatch(/disk_layer: `subdirectry` is not a field of envoy.config.bootstrap.v3.RuntimeLayer.DiskLayer; did you mean `subdirectory`\?/);
  });

  test("refusals: RTDS over ADS without ads_config, two admin layers, a duplicate name, a list or null value, no layer kind", () => {
    expect(problems("layered_runtime: { layers: [ { name: r, rtds_layer: { name: x, rtds_config: { ads: {} } } } ] }")).toEqual([
      "layered_runtime.layers[0].rtds_layer.rtds_config.ads: ADS must be configured to support an ADS config source (dynamic_resources.ads_config)",
    ]);
    expect(problems("layered_runtime: { layers: [ { name: a, admin_layer: {} }, { name: b, admin_layer: {} } ] }")).toEqual([
      "layered_runtime.layers: Too many admin layers specified in LayeredRuntime, at most one may be specified",
    ]);
    expect(problems("layered_runtime: { layers: [ { name: a, static_layer: {} }, { name: a, admin_layer: {} } ] }")).toEqual([
      "layered_runtime.layers[1].name: Duplicate layer name: a",
    ]);
    expect(problems("layered_runtime: { layers: [ { name: a, static_layer: { x: { y: [1, 2] }, z: null } } ] }")).toEqual([
      "layered_runtime.layers[0].static_layer.x.y: Invalid runtime entry value for x.y",
      "layered_runtime.layers[0].static_layer.z: Invalid runtime entry value for z",
    ]);
    expect(problems("layered_runtime: { layers: [ { name: a } ] }")).toEqual([
      "layered_runtime.layers[0]: must set one of static_layer, disk_layer, admin_layer, rtds_layer",
    ]);
    expect(problems("layered_runtime: { layers: [ { name: a, admin_layer: { foo: 1 } } ] }")[0]).toMatch(/admin_layer: `foo` is not a field/);
  });
});
