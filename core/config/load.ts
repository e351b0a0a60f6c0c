/**
 * Envoy v3 bootstrap loading: text → tree → snake_case keys → schema → cross-checks.
 * Every problem found is reported (see errors.ts); nothing half-valid is returned.
 */
import { LineCounter, parseDocument } from "yaml";
import type * as z from "zod";
import type { Bootstrap, ListenerConfig, RouteConfiguration } from "./bootstrap.ts";
import { ConfigError, problemAt, type ConfigPath } from "./errors.ts";
import { bootstrapSchema, listenerSchema } from "./schema.ts";
import { formatAddress } from "../network/address.ts";
import type { ConfigFormat, LoadedConfig, ValidConfig } from "./config-source.ts";

export { formatFromPath, type ConfigFormat } from "./config-source.ts";

/** Parse, validate and default a bootstrap config. Throws ConfigError listing every problem. */
export function loadBootstrap(text: string, format: ConfigFormat): Bootstrap {
  return loadBootstrapDocument(text, format).bootstrap;
}

/**
 * loadBootstrap, also returning the document as read with its keys in snake_case
 * (the admin's /config_dump shows it).
 */
export function loadBootstrapDocument(text: string, format: ConfigFormat): ValidConfig {
  const parsed = format === "json" ? parseJson(text) : parseYaml(text);
  if (!parsed.ok) throw new ConfigError(parsed.problems);
  if (parsed.value === null || parsed.value === undefined) throw new ConfigError([problemAt([], "the document is empty")]);

  const problems: string[] = [];
  const tree = normalizeKeys(parsed.value, [], problems);
  const result = bootstrapSchema.safeParse(tree, { reportInput: true });
  if (!result.success) problems.push(...result.error.issues.flatMap(describeIssue));
  problems.push(...crossCheck(tree));
  if (!result.success || problems.length > 0) throw new ConfigError(problems);
  return { bootstrap: result.data, document: tree };
}

/** loadBootstrapDocument with its problems as a value (what a worker can post back). */
export function loadConfig(text: string, format: ConfigFormat): LoadedConfig {
  try {
    return loadBootstrapDocument(text, format);
  } catch (err) {
    if (err instanceof ConfigError) return { problems: err.problems };
    throw err;
  }
}

// ---- Text → tree -----------------------------------------------------------------

type Parsed = { ok: true; value: unknown } | { ok: false; problems: string[] };

function parseYaml(text: string): Parsed {
  const lineCounter = new LineCounter();
  // logLevel "silent": the library would otherwise print its warnings to the process's
  // stderr; they are problems here (an unknown tag is not silently read as a string).
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, logLevel: "silent" });
  if (doc.errors.length > 0 || doc.warnings.length > 0) {
    return {
      ok: false,
      problems: [...doc.errors, ...doc.warnings].map((e) => {
        // Envoy reads one document; the library's own wording points at its API.
        const message = e.code === "MULTIPLE_DOCS" ? "more than one YAML document (a config is a single document)" : e.message;
        return syntaxProblem("YAML", message, lineCounter.linePos(e.pos[0]));
      }),
    };
  }
  try {
    return { ok: true, value: doc.toJS() };
  } catch (err) {
    return { ok: false, problems: [problemAt([], `YAML error: ${oneLine(String((err as Error).message ?? err))}`)] };
  }
}

function parseJson(text: string): Parsed {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    if (text.trim() === "") return { ok: false, problems: [problemAt([], "JSON syntax error: the document is empty")] };
    // JSON.parse's wording and positions differ by engine (some give no position), so locate the error by reading the text as YAML's JSON schema, a
    // strict superset of JSON that reports line and column.
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { schema: "json", lineCounter, prettyErrors: false });
    const first = doc.errors[0];
    if (first) return { ok: false, problems: [syntaxProblem("JSON", first.message, lineCounter.linePos(first.pos[0]))] };
    return { ok: false, problems: [problemAt([], `JSON syntax error: ${oneLine(String((err as Error).message ?? err))}`)] };
  }
}

function syntaxProblem(language: string, message: string, at: { line: number; col: number }): string {
  return problemAt([], `${language} syntax error at line ${at.line}, column ${at.col}: ${oneLine(message)}`);
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

// ---- Keys ------------------------------------------------------------------------

/**
 * proto3 JSON accepts each field by its proto name (`port_value`) or its JSON name
 * (`portValue`); Envoy does too, so rewrite lowerCamelCase keys to snake_case. Other
 * keys ("@type", typos with capitals) are left alone for the schema to judge. Paths in
 * problems therefore use the snake_case names.
 * (When a map field with user-chosen keys is supported, it must be exempted here.)
 */
function normalizeKeys(value: unknown, path: ConfigPath, problems: string[]): unknown {
  if (Array.isArray(value)) return value.map((item, i) => normalizeKeys(item, [...path, i], problems));
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  const givenAs = new Map<string, string>();
  for (const [key, child] of Object.entries(value)) {
    const name = /^[a-z][a-zA-Z0-9]*$/.test(key) ? key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : key;
    const earlier = givenAs.get(name);
    if (earlier !== undefined) {
      problems.push(problemAt([...path, name], `field given twice, as "${earlier}" and "${key}"`));
      continue;
    }
    givenAs.set(name, key);
    // Maps whose keys are the user's own (a JSON access-log format's output field names)
    // are kept as written.
    // Defined, not assigned: a "__proto__" key assigned would set out's prototype, hiding
    // its fields from the strict schema's unknown-key check while lookups still find them.
    Object.defineProperty(out, name, {
      value: USER_KEYED_MAPS.has(name) ? child : normalizeKeys(child, [...path, name], problems),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** Fields holding maps keyed by user-chosen names, exempt from camelCase → snake_case. */
const USER_KEYED_MAPS = new Set(["json_format", "typed_json_format"]);

// ---- Zod issues → problem lines ----------------------------------------------------

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const at = issue.path;
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => problemAt([...at, key], "unknown or unsupported field"));
    case "invalid_type":
      if (issue.input === undefined) return [problemAt(at, "missing required field")];
      if (issue.expected === "int" && typeof issue.input === "number") return [problemAt(at, `expected an integer, got ${issue.input}`)];
      return [problemAt(at, `expected ${issue.expected}, got ${typeName(issue.input)}`)];
    case "invalid_value":
      return [problemAt(at, `unsupported value ${JSON.stringify(issue.input)} (supported: ${issue.values.map(String).join(", ")})`)];
    case "too_small":
      if (issue.origin === "array") return [problemAt(at, `must have at least ${issue.minimum} item${issue.minimum === 1 ? "" : "s"}`)];
      if (issue.origin === "string") return [problemAt(at, "must not be empty")];
      return [problemAt(at, `must be ${issue.inclusive ? ">=" : ">"} ${issue.minimum}`)];
    case "too_big":
      return [problemAt(at, `must be ${issue.inclusive ? "<=" : "<"} ${issue.maximum}`)];
    default:
      return [problemAt(at, oneLine(issue.message))];
  }
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

// ---- Cross-checks ------------------------------------------------------------------

/**
 * Checks across objects, which Envoy makes when it adds listeners and clusters:
 * unique names, one listener per address, and tcp_proxy and route clusters that exist.
 * They run on the raw tree so that they are reported along with schema problems:
 * clusters count by name even when otherwise invalid (so a broken cluster does not
 * also read as missing), and each listener that is valid on its own is checked.
 */
function crossCheck(tree: unknown): string[] {
  const problems: string[] = [];
  const resources = field(tree, "static_resources");

  const clusterNames = new Set<string>();
  items(field(resources, "clusters")).forEach((raw, i) => {
    const name = field(raw, "name");
    if (typeof name !== "string") return;
    // Envoy: "cluster manager: duplicate cluster '<name>'"
    if (clusterNames.has(name)) problems.push(problemAt(["static_resources", "clusters", i, "name"], `duplicate cluster name "${name}"`));
    clusterNames.add(name);
  });

  const byName = new Map<string, { named: boolean }>();
  const byAddress = new Map<string, ListenerConfig>();
  items(field(resources, "listeners")).forEach((raw, i) => {
    const parsed = listenerSchema.safeParse(raw);
    if (!parsed.success) return;
    const listener = parsed.data;
    const at: ConfigPath = ["static_resources", "listeners", i];
    const named = typeof field(raw, "name") === "string";

    // Two unnamed listeners share a default name only if they share an address,
    // which is reported below; say it once.
    const earlier = byName.get(listener.name);
    if (earlier !== undefined && (named || earlier.named)) {
      problems.push(problemAt([...at, "name"], `duplicate listener name "${listener.name}"`));
    } else if (earlier === undefined) {
      byName.set(listener.name, { named });
    }

    // Port 0 asks for any free port, so it never collides.
    const key = formatAddress(listener.address);
    const holder = byAddress.get(key);
    if (listener.address.port !== 0 && holder !== undefined) {
      problems.push(problemAt([...at, "address"], `duplicate listener address ${key} (already used by listener "${holder.name}")`));
    } else if (holder === undefined) {
      byAddress.set(key, listener);
    }

    listener.filterChains.forEach((chain, c) => {
      chain.filters.forEach((filter, f) => {
        const typedConfig = [...at, "filter_chains", c, "filters", f, "typed_config"];
        if (filter.type === "envoy.filters.network.tcp_proxy" && !clusterNames.has(filter.config.cluster)) {
          problems.push(problemAt([...typedConfig, "cluster"], `no cluster named "${filter.config.cluster}" is defined`));
        }
        if (filter.type === "envoy.filters.network.http_connection_manager") {
          problems.push(...checkRouteClusters(filter.config.routeConfig, [...typedConfig, "route_config"], clusterNames));
        }
      });
    });
  });
  return problems;
}

/**
 * Envoy validates the clusters of a static route_config when it loads (validate_clusters
 * defaults to true there): "route: unknown cluster 'x'".
 */
function checkRouteClusters(routeConfig: RouteConfiguration, at: ConfigPath, clusterNames: Set<string>): string[] {
  const problems: string[] = [];
  const missing = (path: ConfigPath, name: string) => {
    if (!clusterNames.has(name)) problems.push(problemAt(path, `no cluster named "${name}" is defined`));
  };
  routeConfig.virtualHosts.forEach((vhost, v) => {
    vhost.routes.forEach((route, r) => {
      if (route.action.type !== "route") return;
      const action = route.action.route;
      const path = [...at, "virtual_hosts", v, "routes", r, "route"];
      if (action.cluster !== undefined) missing([...path, "cluster"], action.cluster);
      action.weightedClusters?.forEach((weighted, w) => missing([...path, "weighted_clusters", "clusters", w, "name"], weighted.name));
      // Envoy: "route: unknown shadow cluster 'x'" (a cluster_header mirror is resolved per request).
      action.requestMirrorPolicies?.forEach((m, i) => m.cluster !== undefined && missing([...path, "request_mirror_policies", i, "cluster"], m.cluster));
    });
    vhost.requestMirrorPolicies?.forEach((m, i) => m.cluster !== undefined && missing([...at, "virtual_hosts", v, "request_mirror_policies", i, "cluster"], m.cluster));
  });
  return problems;
}

function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
}

function items(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
