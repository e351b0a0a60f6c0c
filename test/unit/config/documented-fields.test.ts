/**
 * Every field polyvoy's config schemas accept is named in docs/configuration.md, the
 * configuration reference the README and every "not supported yet" refusal point to.
 * The fields are read from the schemas themselves: every zod schema exported by a
 * core/**\/*schema.ts module (and the registries of typed configs they export) is walked;
 * a field whose schema is a refusal (unsupported-field.ts: an unknown value with a check)
 * is not a supported field. A field counts as named when it appears as code in the page
 * (`field`, `parent.field`, `field[]`, `{field, …}` …).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const CORE = fileURLToPath(new URL("../../../core", import.meta.url));
const DOC = fileURLToPath(new URL("../../../docs/configuration.md", import.meta.url));

interface ZodLike {
  _zod: { def: Record<string, unknown> & { type: string; checks?: unknown[] } };
}

function isZod(value: unknown): value is ZodLike {
  return typeof value === "object" && value !== null && typeof (value as { _zod?: { def?: unknown } })._zod?.def === "object";
}

function schemaModules(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return schemaModules(path);
    return /schema\.ts$/.test(name) ? [path] : [];
  });
}

/** A refusal (unsupportedField): an unknown value, optional, with a check that fails on anything but the default. */
function isRefusal(schema: ZodLike): boolean {
  // unsupportedField's schema is built on first use, behind a z.lazy; its .optional() is outside the lazy.
  let def = schema._zod.def;
  let checks = def.checks?.length ?? 0;
  while (def.type === "lazy" || def.type === "optional") {
    def = def.type === "lazy" ? (def.getter as () => ZodLike)()._zod.def : (def.innerType as ZodLike)._zod.def;
    checks += def.checks?.length ?? 0;
  }
  return def.type === "unknown" && checks > 0;
}

/** Field name → where it was first seen (for the failure message). */
function acceptedFields(roots: readonly [string, unknown][]): Map<string, string> {
  const fields = new Map<string, string>();
  const seen = new Set<unknown>();
  const walk = (schema: unknown, at: string): void => {
    if (!isZod(schema) || seen.has(schema)) return;
    seen.add(schema);
    const def = schema._zod.def as Record<string, any>;
    switch (def.type) {
      case "object":
        for (const [key, field] of Object.entries(def.shape as Record<string, unknown>)) {
          if (isZod(field) && !isRefusal(field) && !fields.has(key)) fields.set(key, at);
          walk(field, `${at}.${key}`);
        }
        walk(def.catchall, `${at}.*`);
        return;
      case "lazy":
        return walk(def.getter(), at);
      case "optional":
      case "nullable":
      case "default":
      case "prefault":
      case "nonoptional":
      case "readonly":
      case "catch":
        return walk(def.innerType, at);
      case "pipe":
        walk(def.in, at);
        return walk(def.out, at);
      case "array":
        return walk(def.element, `${at}[]`);
      case "union":
        for (const option of def.options as unknown[]) walk(option, at);
        return;
      case "intersection":
        walk(def.left, at);
        return walk(def.right, at);
      case "record":
        return walk(def.valueType, `${at}.*`);
      case "tuple":
        for (const item of def.items as unknown[]) walk(item, at);
        return;
    }
  };
  // An export is a schema, or a registry holding schemas (a Map or an object, two levels deep).
  const scan = (value: unknown, at: string, depth: number): void => {
    if (isZod(value)) return walk(value, at);
    if (depth > 2 || typeof value !== "object" || value === null) return;
    const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
    for (const [key, item] of entries) scan(item, `${at}/${String(key)}`, depth + 1);
  };
  for (const [at, value] of roots) scan(value, at, 0);
  return fields;
}

function named(doc: string, field: string): boolean {
  const escaped = field.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return doc.includes(`\`${field}\``) || new RegExp(`[\`.{ ,\\[]${escaped}[\`.:, }\\[]`).test(doc);
}

describe("docs/configuration.md names every accepted field", async () => {
  const roots: [string, unknown][] = [];
  for (const file of schemaModules(CORE)) {
    const module = (await import(file)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(module)) roots.push([`${file.slice(CORE.length + 1)}:${name}`, value]);
  }
  const fields = acceptedFields(roots);
  const doc = readFileSync(DOC, "utf8");

  it("finds the schemas' fields (the walk reaches the bootstrap, clusters, routes and filters)", () => {
    expect(fields.size).toBeGreaterThan(600);
    for (const field of ["static_resources", "connect_timeout", "virtual_hosts", "retry_on", "http_filters", "stat_prefix", "tls_certificates"]) {
      expect(fields.has(field), field).toBe(true);
    }
    // Refused fields are not counted as supported.
    expect(fields.has("hds_config")).toBe(false);
  });

  it("every one of them is named in the page", () => {
    const missing = [...fields].filter(([field]) => field !== "@type" && !named(doc, field)).map(([field, at]) => `${field} (${at})`);
    expect(missing).toEqual([]);
  });
});
