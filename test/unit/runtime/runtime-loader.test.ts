/** The runtime's values as Envoy's SnapshotImpl reads them, its layering, and /runtime and /runtime_modify. */
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { runtimeAsJson, runtimeModify } from "../../../core/admin/runtime-handler.ts";
import { createEntry, MAX_FRACTION_TEXT, mayBeFraction } from "../../../core/runtime/runtime-entry.ts";
import { RuntimeLoader } from "../../../core/runtime/runtime-loader.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

const random = (value: number) => ({ random: () => value });

describe("runtime entries (SnapshotImpl::resolveEntryType)", () => {
  test("integers are also bools; doubles floor to uints; negatives are doubles only; true/false any case", () => {
    expect(createEntry("5")).toEqual({ raw: "5", bool: true, uint: 5, double: 5 });
    expect(createEntry("0")).toEqual({ raw: "0", bool: false, uint: 0, double: 0 });
    expect(createEntry(" 3.7 ")).toEqual({ raw: " 3.7 ", uint: 3, double: 3.7 });
    expect(createEntry("-2")).toEqual({ raw: "-2", double: -2 });
    expect(createEntry("TRUE")).toEqual({ raw: "TRUE", bool: true });
    expect(createEntry("hello")).toEqual({ raw: "hello" });
    expect(createEntry("")).toEqual({ raw: "" });
  });

  test("a FractionalPercent in YAML or JSON; its denominator by name in any case or by number; anything else is no fraction", () => {
    expect(createEntry("{numerator: 5, denominator: TEN_THOUSAND}").fraction).toEqual({ numerator: 5, denominator: 10_000 });
    expect(createEntry('{"numerator": 7}').fraction).toEqual({ numerator: 7, denominator: 100 });
    expect(createEntry("numerator: 1\ndenominator: million").fraction).toEqual({ numerator: 1, denominator: 1_000_000 });
    expect(createEntry("{numerator: 1, denominator: 2}").fraction).toEqual({ numerator: 1, denominator: 1_000_000 });
    expect(createEntry("{numerator: 1, extra: 2}").fraction).toBeUndefined();
    expect(createEntry("{numerator: -1}").fraction).toBeUndefined();
    expect(createEntry("{numerator: 1, denominator: THOUSAND}").fraction).toBeUndefined();
  });

  test("a value longer than MAX_FRACTION_TEXT is a plain string, not read as YAML (20,000 nested braces aborted node)", () => {
    const padded = "{numerator: 5}" + " ".repeat(MAX_FRACTION_TEXT);
    expect(createEntry(padded)).toEqual({ raw: padded });
    expect(createEntry(padded.slice(0, MAX_FRACTION_TEXT)).fraction).toEqual({ numerator: 5, denominator: 100 });
    const deep = "{".repeat(20_000);
    for (let i = 0; i < 3; i++) expect(createEntry(deep)).toEqual({ raw: deep });
  });

  test("text no FractionalPercent could be (nested complex keys, anchors, several mappings) is a plain string without going through yaml (`? ? ? …` of 512 characters took seconds)", () => {
    for (const raw of ["? ".repeat(512), "- ".repeat(512), "{a: {b: 1}}", "a: 1\nb: 2\nc: 3", "{a: 1, b: 2, c: 3}", "&x {numerator: 1}", "[1]"]) {
      expect(mayBeFraction(raw), raw).toBe(false);
      expect(createEntry(raw), raw).toEqual({ raw });
    }
    for (const raw of ['{"numerator": 7}', "numerator: 1\ndenominator: million", ' { "numerator" : 3 , "denominator" : "TEN_THOUSAND" } ']) expect(mayBeFraction(raw), raw).toBe(true);
    expect(createEntry(' { "numerator" : 3 , "denominator" : "TEN_THOUSAND" } ').fraction).toEqual({ numerator: 3, denominator: 10_000 });
  });

  test("a value YAML refuses is no fraction, never an error: bad syntax, a tag that fails, an alias without its anchor or too many, a merge key of no map", () => {
    const noFraction = [
      "{numerator: 5",
      "numerator: 5\n---\nnumerator: 6",
      "%YAML 1.1\n---\n!!set {numerator: 1}",
      "numerator: *missing",
      `a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [${"*a, ".repeat(10)}*a]\nc: &c [${"*b, ".repeat(10)}*b]\nnumerator: 1`,
      "%YAML 1.1\n---\n<<: 5\n",
    ];
    for (const raw of noFraction) expect(createEntry(raw), raw).toEqual({ raw });
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(..."{}[]:,&*!<>%-#'\"\n numeratordenominator15"), maxLength: 60 }), (raw) => {
        const entry = createEntry(raw);
        expect(entry.raw).toBe(raw);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("RuntimeLoader", () => {
  const layered = (source = random(0.5), store?: StatsStore) =>
    new RuntimeLoader(
      source,
      {
        layers: [
          { kind: "static", name: "base", values: [["a", "1"], ["b", "base"], ["pct", "{numerator: 30}"]] },
          { kind: "static", name: "override", values: [["b", "over"]] },
          { kind: "admin", name: "admin" },
        ],
      },
      store,
    );

  test("later layers override earlier ones; an admin override applies at once and '' removes it", () => {
    const runtime = layered();
    expect(runtime.get("b")).toBe("over");
    expect(runtime.getInteger("a", 9)).toBe(1);
    expect(runtime.getInteger("b", 9)).toBe(9);
    expect(runtime.getInteger("missing", 9)).toBe(9);
    expect(runtime.getBoolean("a", false)).toBe(true);
    runtime.mergeValues(new Map([["a", "7"], ["c", "x"]]));
    expect(runtime.getInteger("a", 9)).toBe(7);
    runtime.mergeValues(new Map([["a", ""]]));
    expect(runtime.getInteger("a", 9)).toBe(1);
    expect(runtime.get("c")).toBe("x");
  });

  test("featureEnabled: the key's fraction, an integer as a percentage (over 100: always), else the default", () => {
    const at = (draw: number) => layered(random(draw));
    const tenPercent = { numerator: 10, denominator: 100 };
    expect(at(0.25).featureEnabled(tenPercent)).toBe(false);
    expect(at(0.25).featureEnabled({ ...tenPercent, runtimeKey: "pct" })).toBe(true);
    expect(at(0.35).featureEnabled({ ...tenPercent, runtimeKey: "pct" })).toBe(false);
    // An explicit key wins over the percent's own.
    expect(at(0.25).featureEnabled(tenPercent, "pct")).toBe(true);
    const runtime = at(0.999);
    runtime.mergeValues(new Map([["int", "101"]]));
    expect(runtime.featureEnabled(tenPercent, "int")).toBe(true);
    runtime.mergeValues(new Map([["int", "0"]]));
    expect(runtime.featureEnabled({ numerator: 100, denominator: 100 }, "int")).toBe(false);
    // Not a number nor a fraction: the default applies.
    runtime.mergeValues(new Map([["int", "sometimes"]]));
    expect(runtime.featureEnabled({ numerator: 100, denominator: 100 }, "int")).toBe(true);
  });

  test("no admin layer: mergeValues is refused with Envoy's text", () => {
    const runtime = new RuntimeLoader(random(0), { layers: [{ kind: "static", name: "base", values: [] }] });
    expect(() => runtime.mergeValues(new Map([["a", "1"]]))).toThrow("No admin layer specified");
    expect(new RuntimeLoader(random(0)).hasAdminLayer).toBe(false);
  });

  test("runtime.* stats: layers, keys, admin overrides, loads", () => {
    const store = new StatsStore();
    const runtime = layered(random(0), store);
    const value = (name: string) => (store.get(name) as { value: number }).value;
    expect(value("runtime.num_layers")).toBe(3);
    expect(value("runtime.num_keys")).toBe(3);
    expect(value("runtime.admin_overrides_active")).toBe(0);
    expect(value("runtime.load_success")).toBe(1);
    runtime.mergeValues(new Map([["new", "1"]]));
    expect(value("runtime.num_keys")).toBe(4);
    expect(value("runtime.admin_overrides_active")).toBe(1);
    expect(value("runtime.load_success")).toBe(2);
    runtime.mergeValues(new Map([["new", ""]]));
    expect(value("runtime.admin_overrides_active")).toBe(0);
  });
});

describe("/runtime and /runtime_modify (Envoy's RuntimeHandler)", () => {
  test("GET /runtime: layer names, then every key sorted with its value per layer and the final value; 4-space JSON", () => {
    const runtime = new RuntimeLoader(random(0), {
      layers: [
        { kind: "static", name: "layer1", values: [["string_key", "foo"], ["int_key", "1"], ["other_key", "bar"]] },
        { kind: "admin", name: "layer2" },
      ],
    });
    runtime.mergeValues(new Map([["string_key", "override"], ["extra_key", "bar"]]));
    expect(runtimeAsJson(runtime)).toBe(`{
    "layers": [
        "layer1",
        "layer2"
    ],
    "entries": {
        "extra_key": {
            "layer_values": [
                "",
                "bar"
            ],
            "final_value": "bar"
        },
        "int_key": {
            "layer_values": [
                "1",
                ""
            ],
            "final_value": "1"
        },
        "other_key": {
            "layer_values": [
                "bar",
                ""
            ],
            "final_value": "bar"
        },
        "string_key": {
            "layer_values": [
                "foo",
                "override"
            ],
            "final_value": "override"
        }
    }
}`);
  });

  test("POST /runtime_modify: query parameters, else form parameters; none: 400 with the usage; no admin layer: 503", () => {
    const runtime = new RuntimeLoader(random(0), { layers: [{ kind: "admin", name: "admin" }] });
    const request = (query: [string, string][], form?: [string, string][]) => ({ method: "POST", path: "/runtime_modify", query: new Map(query), ...(form && { form: new Map(form) }) });
    expect(runtimeModify(runtime, request([["a", "1"]]))).toMatchObject({ status: 200, body: "OK\n" });
    expect(runtimeModify(runtime, request([], [["b", "2"]]))).toMatchObject({ status: 200 });
    expect([runtime.get("a"), runtime.get("b")]).toEqual(["1", "2"]);
    expect(runtimeModify(runtime, request([]))).toMatchObject({ status: 400, body: expect.stringMatching(/^usage: \/runtime_modify\?key1=value1/) });
    const none = new RuntimeLoader(random(0));
    expect(runtimeModify(none, request([["a", "1"]]))).toMatchObject({ status: 503, body: "No admin layer specified" });
  });
});

describe("disk layers (Envoy's DiskLayer), read once from the memory runtime's files", () => {
  // The fault-injection example's runtime files, as its enable_abort_fault_injection.sh writes them.
  const files = {
    "/srv/runtime/current/envoy/fault/http/abort/abort_percent": "100\n",
    "/srv/runtime/current/envoy/fault/http/abort/http_status": "503\n",
    "/srv/runtime/current/envoy/commented": "# a placeholder\n\n  spaced  \n",
    "/srv/runtime/current/envoy/multi": "a\n#skip\nb \n",
    "/srv/runtime/current/envoy/edge/cluster-a/only_here": "1",
  };
  const disk = (subdirectory = "envoy", appendServiceCluster = false) => ({ kind: "disk" as const, name: "disk", symlinkRoot: "/srv/runtime/current", subdirectory, appendServiceCluster });

  test("each file a key named by its path, '/' as '.'; comment lines dropped, the last line right-trimmed; later layers win", async () => {
    const store = new StatsStore();
    const loader = new RuntimeLoader(random(0.5), { layers: [disk(), { kind: "static", name: "over", values: [["fault.http.abort.http_status", "502"]] }] }, store);
    expect(loader.get("fault.http.abort.abort_percent")).toBeUndefined(); // not read yet
    await loader.loadDiskLayers(new MemoryRuntime({ files }), "");
    expect(loader.get("fault.http.abort.abort_percent")).toBe("100");
    expect(loader.getInteger("fault.http.abort.abort_percent", 0)).toBe(100);
    expect(loader.get("fault.http.abort.http_status")).toBe("502");
    expect(loader.get("commented")).toBe("  spaced");
    expect(loader.get("multi")).toBe("a\nb");
    expect(loader.get("edge.cluster-a.only_here")).toBe("1");
    expect(loader.getLayers().map((l) => l.name)).toEqual(["disk", "over"]);
    const value = (name: string) => (store.get(name) as { value: number }).value;
    expect(value("runtime.num_layers")).toBe(2);
    expect(value("runtime.load_success")).toBe(2);
  });

  test("append_service_cluster reads <root>/<subdirectory>/<node.cluster>", async () => {
    const loader = new RuntimeLoader(random(0.5), { layers: [disk("envoy/edge", true)] });
    await loader.loadDiskLayers(new MemoryRuntime({ files }), "cluster-a");
    expect(loader.get("only_here")).toBe("1");
  });

  test("a directory that does not exist is no layer (and no error), as in Envoy", async () => {
    const store = new StatsStore();
    const loader = new RuntimeLoader(random(0.5), { layers: [disk("missing")] }, store);
    await loader.loadDiskLayers(new MemoryRuntime({ files }), "");
    expect(loader.getLayers()).toEqual([]);
    expect((store.get("runtime.load_error") as { value: number }).value).toBe(0);
    expect((store.get("runtime.num_layers") as { value: number }).value).toBe(0);
  });

  test("a tree deeper than 16 levels is left out and counted in runtime.load_error", async () => {
    const deep = `/srv/runtime/current/envoy/${Array.from({ length: 17 }, (_, i) => `d${i}`).join("/")}/key`;
    const store = new StatsStore();
    const errors: string[] = [];
    const loader = new RuntimeLoader(random(0.5), { layers: [disk()] }, store);
    await loader.loadDiskLayers(new MemoryRuntime({ files: { ...files, [deep]: "1" } }), "", (layer, message) => errors.push(`${layer}: ${message}`));
    expect(errors).toEqual(["disk: Walk recursion depth exceeded 16"]);
    expect(loader.get("fault.http.abort.abort_percent")).toBeUndefined();
    expect((store.get("runtime.load_error") as { value: number }).value).toBe(1);
  });
});
