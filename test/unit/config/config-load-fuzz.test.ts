/**
 * Fuzzing the config loader (issue #32, "Protections to add"): random YAML and JSON
 * trees built from the schema's own field names and values, and mutations of the
 * example configs and the test configs (tree edits, then text edits). Properties:
 *
 * - loadConfig never throws: it returns a valid config or problems;
 * - a rejection always has problems, and each one names a field path that starts at
 *   a key of the document (or `config`, the root) and says what is wrong;
 * - what it accepts, it accepts again: the document it read (keys in snake_case),
 *   written out as JSON, loads to the same bootstrap;
 * - what it accepts is kept as checked (core/config/checked-config-cache.ts) and read back
 *   as the same plain data: a start from the entry gets exactly what the check gave.
 *
 * A bounded run in CI; a longer one by hand with FC_NUM_RUNS, replay with FC_SEED
 * (see test/support/fuzz.ts).
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { parse as yamlParse, stringify as yamlStringify } from "yaml";
import { loadConfig, type ConfigFormat } from "../../../core/config/load.ts";
import { bootstrapSchema } from "../../../core/config/schema.ts";
import { httpProxyConfig, tcpProxyConfig } from "../../support/configs.ts";
import { fuzzParameters, fuzzTimeout } from "../../support/fuzz.ts";
import { plainDataDifference } from "../../support/plain-data.ts";
import { checkedConfigEntry, checkedConfigName, readCheckedConfig } from "../../../core/config/checked-config-cache.ts";

// ------------------------------------------------------------------ vocabulary

/**
 * Every field name and literal value the bootstrap schema knows, found by walking the
 * zod schema (objects' shapes, wrappers, unions, arrays, pipes, lazies).
 */
function schemaVocabulary(): { keys: string[]; literals: string[] } {
  const keys = new Set<string>();
  const literals = new Set<string>();
  const seen = new Set<unknown>();
  const visit = (node: unknown): void => {
    if (typeof node !== "object" || node === null || seen.has(node)) return;
    seen.add(node);
    const def = (node as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
    if (!def) return;
    const shape = def.shape as Record<string, unknown> | undefined;
    if (shape) {
      for (const [key, child] of Object.entries(shape)) {
        keys.add(key);
        visit(child);
      }
    }
    for (const value of (def.values as unknown[] | undefined) ?? []) if (typeof value === "string") literals.add(value);
    for (const value of Object.values((def.entries as Record<string, unknown> | undefined) ?? {})) if (typeof value === "string") literals.add(value);
    for (const field of ["innerType", "in", "out", "element", "schema", "left", "right", "valueType", "keyType", "catchall"]) visit(def[field]);
    for (const option of (def.options as unknown[] | undefined) ?? []) visit(option);
    if (typeof def.getter === "function") visit((def.getter as () => unknown)());
  };
  visit(bootstrapSchema);
  return { keys: [...keys].sort(), literals: [...literals].sort() };
}

const VOCABULARY = schemaVocabulary();

/** The example configs shipped in examples/ (inlined: a unit test reads no files, on any runtime). */
const EXAMPLES: object[] = [
  httpProxyConfig({ listenPort: 10000, clusters: { backend: [8080, 8081] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }),
  httpProxyConfig({
    listenPort: 10000,
    clusters: { a: [8080], b: [8081] },
    routes: [
      { match: { prefix: "/a" }, cluster: "a" },
      { match: { path: "/b" }, action: { route: { cluster: "b", timeout: "2s", prefix_rewrite: "/" } } },
      { match: { prefix: "/" }, action: { direct_response: { status: 404, body: { inline_string: "no" } } } },
    ],
    hcm: { stream_idle_timeout: "5s", common_http_protocol_options: { idle_timeout: "60s" }, max_request_headers_kb: 60 },
    clusterExtra: { per_connection_buffer_limit_bytes: 4096, circuit_breakers: { thresholds: [{ max_requests: 10, max_pending_requests: 5, max_connections: 4 }] } },
    listenerExtra: { per_connection_buffer_limit_bytes: 4096 },
  }),
  tcpProxyConfig({ listenPort: 10000, upstreamPorts: [8080], idleTimeout: "5s", bufferLimitBytes: 1024 }),
];

/** The example files' text, parsed at startup by the runtime's own reader where it has one. */
async function readExamples(): Promise<string[]> {
  const out: string[] = [];
  for (const name of ["default.yaml", "front-proxy.yaml", "tcp-proxy.yaml"]) {
    try {
      const fs = await import("node:fs/promises");
      out.push(await fs.readFile(new URL(`../../../examples/${name}`, import.meta.url), "utf8"));
    } catch {
      // (No node:fs: the inlined configs above still seed the fuzz.)
    }
  }
  return out;
}

// ------------------------------------------------------------------ trees

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const SCALAR: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom(...VOCABULARY.literals),
  fc.constantFrom("0.25s", "1s", "5s", "-1s", "1.5", "10ms", "1e9s", "s", "", "127.0.0.1", "::1", "0.0.0.0", "localhost", "256.0.0.1", "*", "/", "a.test", "%REQ(:PATH)%", "(a+)+", "[", "\u0000", "é"),
  fc.integer({ min: -2, max: 70000 }),
  fc.constantFrom(0, 1, -1, 65535, 65536, 0xffffffff, 2 ** 53, 1.5, Number.MAX_SAFE_INTEGER, 1e308),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 10 }),
);

/** A key: a schema field (snake_case, sometimes camelCase), or not. */
const KEY: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...VOCABULARY.keys) },
  { weight: 2, arbitrary: fc.constantFrom(...VOCABULARY.keys).map((k) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())) },
  { weight: 1, arbitrary: fc.constantFrom("@type", "typed_config", "__proto__", "constructor", "toString", "", " ", "a.b", "x[0]", "A_B", "camelCase") },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);

const TREE: fc.Arbitrary<Json> = fc.letrec<{ tree: Json }>((tie) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    SCALAR,
    fc.array(tie("tree"), { maxLength: 3 }),
    fc.dictionary(KEY, tie("tree"), { maxKeys: 5 }),
  ),
})).tree;

/** One edit of a tree at a path picked by `at` (a fraction walking down the tree). */
type Edit = { op: "delete" | "replace" | "rename" | "insert" | "duplicate" | "wrap"; at: number[]; key: string; value: Json };

const EDIT: fc.Arbitrary<Edit> = fc.record({
  op: fc.constantFrom("delete", "replace", "rename", "insert", "duplicate", "wrap"),
  at: fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { minLength: 1, maxLength: 10 }),
  key: KEY,
  value: fc.oneof(SCALAR, TREE),
});

function clone(value: Json): Json {
  return value === null || typeof value !== "object" ? value : (JSON.parse(JSON.stringify(value)) as Json);
}

/** Applies an edit at a node chosen by walking `edit.at` down the tree (stopping anywhere). */
function applyEdit(root: Json, edit: Edit): Json {
  const tree = clone(root);
  let parent: Json = tree;
  for (const fraction of edit.at) {
    if (parent === null || typeof parent !== "object") break;
    const keys = Array.isArray(parent) ? parent.map((_, i) => i) : Object.keys(parent);
    if (keys.length === 0) break;
    const key = keys[Math.floor(fraction * keys.length)]!;
    const child = (parent as Record<string | number, Json>)[key]!;
    // Edit here with probability ~1/3, or when there is nowhere deeper to go.
    if (child === null || typeof child !== "object" || fraction * 3 % 1 < 0.34) {
      editAt(parent, key, edit);
      return tree;
    }
    parent = child;
  }
  if (parent !== null && typeof parent === "object" && !Array.isArray(parent)) parent[edit.key] = edit.value;
  return tree;
}

function editAt(parent: Json[] | { [key: string]: Json }, key: string | number, edit: Edit): void {
  const p = parent as Record<string | number, Json>;
  switch (edit.op) {
    case "delete":
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete p[key];
      break;
    case "replace":
      p[key] = edit.value;
      break;
    case "rename":
      if (Array.isArray(parent)) p[key] = edit.value;
      else {
        p[edit.key] = p[key]!;
        if (edit.key !== key) delete p[key];
      }
      break;
    case "insert":
      if (Array.isArray(parent)) parent.splice(key as number, 0, edit.value);
      else p[edit.key] = edit.value;
      break;
    case "duplicate":
      if (Array.isArray(parent)) parent.splice(key as number, 0, clone(p[key]!));
      else p[edit.key] = clone(p[key]!);
      break;
    case "wrap":
      p[key] = edit.at.length % 2 === 0 ? [p[key]!] : { [edit.key]: p[key]! };
      break;
  }
}

/** A text edit of the serialized document (YAML and JSON syntax errors, odd scalars). */
const TEXT_EDIT = fc.record({
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  op: fc.constantFrom("truncate", "insert", "delete"),
  text: fc.constantFrom(":", "- ", "\n", "  ", "\t", "{", "}", "[", "]", "\"", "'", "#", "&a ", "*a", "!!binary ", "---\n", "? ", "|\n", "<<: *a\n", "\u0000", ","),
});

function applyTextEdit(text: string, edit: { at: number; op: string; text: string }): string {
  const at = Math.floor(edit.at * text.length);
  if (edit.op === "truncate") return text.slice(0, at);
  if (edit.op === "delete") return text.slice(0, at) + text.slice(at + 1);
  return text.slice(0, at) + edit.text + text.slice(at);
}

function serialize(tree: Json, format: ConfigFormat, flow: boolean): string {
  if (format === "json") return JSON.stringify(tree, null, flow ? 0 : 2) ?? "null";
  return yamlStringify(tree, { collectionStyle: flow ? "flow" : "any" });
}

// ------------------------------------------------------------------ properties

/** The top-level keys a problem's path may start at, as the loader names them (snake_case). */
function topKeys(tree: unknown): Set<string> {
  const keys = new Set(["config"]);
  // A root array's items are named by index.
  if (Array.isArray(tree)) tree.forEach((_, i) => keys.add(`[${i}]`));
  if (tree !== null && typeof tree === "object" && !Array.isArray(tree)) {
    for (const key of Object.keys(tree)) {
      keys.add(key);
      keys.add(`[${JSON.stringify(key)}]`);
      keys.add(/^[a-z][a-zA-Z0-9]*$/.test(key) ? key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : key);
    }
  }
  return keys;
}

/** Checks loadConfig's answer for one text; returns what is wrong. */
function checkLoad(text: string, format: ConfigFormat, tree: unknown): string[] {
  let result: ReturnType<typeof loadConfig>;
  try {
    result = loadConfig(text, format);
  } catch (err) {
    return [`threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`];
  }
  if ("problems" in result) {
    if (result.problems.length === 0) return ["rejected with no problem"];
    const heads = topKeys(tree);
    const out: string[] = [];
    for (const problem of result.problems) {
      if (typeof problem !== "string" || problem.includes("\n")) {
        out.push(`a problem that is not one line: ${JSON.stringify(problem)}`);
        continue;
      }
      // `path: message`, the path starting at a key of the document (or `config`).
      const named = [...heads].some((head) => problem.startsWith(`${head}: `) || problem.startsWith(`${head}.`) || problem.startsWith(`${head}[`));
      const message = problem.slice(problem.lastIndexOf(": ") + 2);
      if (!named) out.push(`a problem naming no field path: ${JSON.stringify(problem)}`);
      else if (message.trim() === "" || message === "undefined") out.push(`a problem with no message: ${JSON.stringify(problem)}`);
    }
    return out;
  }
  // Accepted: kept as checked, it reads back as the same data.
  const entries = new Map<string, string>();
  const store = { location: "memory", read: (name: string) => entries.get(name), write: (name: string, data: string) => void entries.set(name, data) };
  const entry = checkedConfigEntry(format, text, result, false);
  if (entry === undefined) return ["accepted, but not plain data (it could not be kept as checked)"];
  store.write(checkedConfigName(format, text), entry);
  const kept = readCheckedConfig(store, format, text);
  if (kept === undefined) return ["accepted and kept as checked, but not read back"];
  const difference = plainDataDifference({ bootstrap: result.bootstrap, document: result.document }, { bootstrap: kept.config.bootstrap, document: kept.config.document });
  if (difference !== undefined) return [`kept as checked, read back different at ${difference}`];
  // Accepted: the document as read loads again, to the same bootstrap.
  const again = loadConfig(JSON.stringify(result.document), "json");
  if ("problems" in again) return [`accepted, but its own document is rejected: ${again.problems.join("; ")}`];
  try {
    expect(again.bootstrap).toEqual(result.bootstrap);
  } catch {
    return ["accepted, but its own document loads to another bootstrap"];
  }
  return [];
}

/** The tree a text edit left, when it still parses (its keys are what problems may name). */
function reparse(text: string, fallback: Json): unknown {
  try {
    return yamlParse(text, { logLevel: "silent" });
  } catch {
    return fallback;
  }
}

const RUNS = 300;
/** A mutated example is a whole config, validated twice: fewer of them. */
const MUTATED_RUNS = 150;

const seeds: Json[] = [...EXAMPLES.map((e) => e as Json), ...(await readExamples()).map((t) => yamlParse(t) as Json)];

describe("config loader fuzz", () => {
  test("the seeds are valid configs (so mutations start from something that loads)", () => {
    for (const seed of seeds) expect(loadConfig(JSON.stringify(seed), "json")).not.toHaveProperty("problems");
  });

  test(
    "random trees from the schema's field names: a valid config or problems, each naming a field path",
    () => {
      fc.assert(
        fc.property(TREE, fc.constantFrom<ConfigFormat>("yaml", "json"), fc.boolean(), (tree, format, flow) => {
          expect(checkLoad(serialize(tree, format, flow), format, tree)).toEqual([]);
        }),
        fuzzParameters(RUNS),
      );
    },
    fuzzTimeout(RUNS, 20_000),
  );

  test(
    "mutated example configs (tree edits, then text edits): a valid config or problems, each naming a field path",
    () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...seeds),
          fc.array(EDIT, { minLength: 1, maxLength: 4 }),
          fc.array(TEXT_EDIT, { maxLength: 2 }),
          fc.constantFrom<ConfigFormat>("yaml", "json"),
          fc.boolean(),
          (seed, edits, textEdits, format, flow) => {
            const tree = edits.reduce(applyEdit, seed);
            const text = textEdits.reduce(applyTextEdit, serialize(tree, format, flow));
            expect(checkLoad(text, format, textEdits.length ? reparse(text, tree) : tree)).toEqual([]);
          },
        ),
        fuzzParameters(MUTATED_RUNS),
      );
    },
    fuzzTimeout(MUTATED_RUNS, 20_000),
  );
});

describe("config loader fuzz findings (regressions)", () => {
  // Found by the fuzz: normalizeKeys (load.ts) assigned each key to a plain object, so a
  // "__proto__" key set that object's prototype: its fields were then invisible to the
  // strict schema's unknown-key check yet read by the schema and the cross-checks — an
  // admin listener given under "__proto__" was started — and /config_dump showed `{}`.
  test.each([
    ["json", '{"__proto__": {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9901}}}}}'],
    ["yaml", "__proto__:\n  admin:\n    address:\n      socket_address: { address: 127.0.0.1, port_value: 9901 }\n"],
  ] as const)("a __proto__ key is an unknown field, not a way in (%s)", (format, text) => {
    expect(loadConfig(text, format)).toEqual({ problems: ["config: `__proto__` is not a field of envoy.config.bootstrap.v3.Bootstrap"] });
  });

  test("a __proto__ key deeper down is named with its path", () => {
    const config = httpProxyConfig({ listenPort: 10000, clusters: { backend: [8080] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as {
      static_resources: { clusters: Record<string, unknown>[] };
    };
    const text = JSON.stringify(config).replace('"name":"backend","type":"STATIC"', '"name":"backend","__proto__":{"type":"STATIC"}');
    expect(loadConfig(text, "json")).toEqual({ problems: ["static_resources.clusters[0]: `__proto__` is not a field of envoy.config.cluster.v3.Cluster"] });
  });
});

describe("config loader fuzz findings: YAML oddities are problems, on one line", () => {
  // Found by the fuzz: a YAML complex key (`? {a: 1}`) is stringified over several lines,
  // and the problem naming it broke the one-problem-per-line promise (errors.ts); and the
  // yaml library printed its warnings (unknown tags, complex keys) to the process's stderr
  // while the value was read anyway (an unknown tag as a plain string).
  test("a complex key is named on one line", () => {
    const long = Array.from({ length: 12 }, (_, i) => `field_${i}: value_${i}`).join(", ");
    const result = loadConfig(`? { ${long} }\n: x\n`, "yaml");
    expect(result).toEqual({ problems: [expect.stringMatching(/^config: "\{\\n {2}field_0: value_0,.*… is not a field of envoy\.config\.bootstrap\.v3\.Bootstrap$/)] });
  });

  test("a key with a line break is quoted in the path", () => {
    expect(loadConfig('{"admin": {"a\\nb": 1}}', "json")).toEqual({ problems: ['admin: "a\\nb" is not a field of envoy.config.bootstrap.v3.Admin'] });
  });

  test("an unknown tag is a problem with its line, not a string", () => {
    const result = loadConfig("admin:\n  address: !custom x\n", "yaml");
    expect(result).toEqual({ problems: [expect.stringMatching(/^config: YAML syntax error at line 2, column 12: .*Unresolved tag: !custom/)] });
  });
});
