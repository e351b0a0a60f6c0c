/**
 * core/config/lazy-schema.ts: a module-scope schema is built when a config is first checked
 * against it, not when its module loads; releaseSchemas() forgets what was built (as
 * validateConfig does after each check), and the next check builds it again, to the same
 * result and the same problem lines. That every stand-in declares its presence truly:
 * lazy-schema-presence.test.ts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import * as z from "../../../core/config/schema-kit/index.ts";
import { lazySchema, releaseSchemas } from "../../../core/config/lazy-schema.ts";
import { validateConfig } from "../../../core/config/validate-config.ts";

test("a lazy schema is built on its first parse, once, and again after releaseSchemas()", () => {
  let builds = 0;
  const schema = lazySchema(() => {
    builds++;
    return z.strictObject({ port: z.number().int().min(1) });
  });
  // Used inside another schema: still not built.
  const holder = z.strictObject({ inner: schema.optional() });
  expect(builds).toBe(0);
  expect(holder.safeParse({ inner: { port: 1 } }).success).toBe(true);
  expect(schema.safeParse({ port: 2 }).success).toBe(true);
  expect(builds).toBe(1);
  releaseSchemas();
  expect(builds).toBe(1);
  const again = holder.safeParse({ inner: { port: 0 } });
  expect(builds).toBe(2);
  expect(again.success).toBe(false);
  expect(again.error?.issues.map((issue) => issue.path)).toEqual([["inner", "port"]]);
});

test("a schema made while another is built is not one releaseSchemas() forgets on its own (it goes with its holder)", () => {
  let inner = 0;
  const outer = lazySchema(() =>
    z.strictObject({
      field: lazySchema(() => {
        inner++;
        return z.string();
      }),
    }),
  );
  expect(outer.safeParse({ field: "a" }).success).toBe(true);
  expect(outer.safeParse({ field: "b" }).success).toBe(true);
  expect(inner).toBe(1);
  releaseSchemas();
  expect(outer.safeParse({ field: 1 }).success).toBe(false);
  expect(inner).toBe(2);
});

test("validateConfig gives the same config and the same problem lines when it checks again after releasing its schemas", async () => {
  const example = readFileSync(join(import.meta.dirname, "../../../examples/default.yaml"), "utf8");
  const first = await validateConfig(example, "yaml");
  expect("problems" in first).toBe(false);
  expect(await validateConfig(example, "yaml")).toEqual(first);

  const broken = JSON.stringify({
    static_resources: {
      listeners: [{ name: "l", address: { socket_address: { address: "127.0.0.1", port_value: 1 } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy", typed_config: { stat_prefix: "t", cluster: "c", max_downstream_connection_duration: "5s" } }] }] }],
      clusters: [{ name: "c", type: "STATIC", lb_policy: "CLUSTER_PROVIDED", load_assignment: { cluster_name: "c", endpoints: [] } }],
    },
  });
  const problems = await validateConfig(broken, "json");
  expect("problems" in problems && problems.problems.length).toBeGreaterThan(0);
  expect(await validateConfig(broken, "json")).toEqual(problems);
});

test("a field a value does not set costs no build: the stand-in says whether it may be absent", () => {
  let builds = 0;
  const required = lazySchema(() => {
    builds++;
    return z.strictObject({ port: z.number() });
  });
  const holder = z.strictObject({ inner: required.optional(), name: z.string() });
  expect(holder.safeParse({ name: "a" }).success).toBe(true);
  expect(builds).toBe(0);
  // Absent and not optional: refused as before, still without building it.
  const strict = z.strictObject({ inner: lazySchema(() => z.strictObject({})) });
  expect(strict.safeParse({}).error?.issues.map((issue) => [issue.code, issue.path])).toEqual([["invalid_type", ["inner"]]]);
  expect(holder.safeParse({ name: "a", inner: { port: 1 } }).success).toBe(true);
  expect(builds).toBe(1);
});

test("a declared presence that the built schema does not have is refused when it is built", () => {
  const wrong = lazySchema(() => z.string().optional());
  expect(() => z.strictObject({ field: wrong }).safeParse({ field: "x" })).toThrow(/declared "required" for a schema whose optin\/optout are optional\/optional/);
  const right = lazySchema(() => z.string().optional(), "optional");
  expect(z.strictObject({ field: right }).safeParse({}).success).toBe(true);
  expect(z.strictObject({ field: right }).safeParse({ field: "x" }).data).toEqual({ field: "x" });
  const defaulted = lazySchema(() => z.string().default("d"), "defaulted");
  expect(z.strictObject({ field: defaulted }).safeParse({}).data).toEqual({ field: "d" });
});

test("a builder that throws is tried again on the next use, not left half-made", () => {
  let calls = 0;
  const flaky = lazySchema(() => {
    if (++calls === 1) throw new Error("first build fails");
    return z.number();
  });
  const holder = z.strictObject({ n: flaky });
  expect(() => holder.safeParse({ n: 1 })).toThrow("first build fails");
  expect(holder.safeParse({ n: 1 }).success).toBe(true);
  expect(holder.safeParse({ n: "x" }).success).toBe(false);
  expect(calls).toBe(2);
});
