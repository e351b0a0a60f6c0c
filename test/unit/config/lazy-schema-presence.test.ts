/**
 * Every stand-in of the config schemas declares its presence truly (core/config/lazy-schema.ts).
 * A stand-in declared "required" whose schema has a default, used under `.optional()`, is
 * never built when its field is absent, so the default is silently dropped: only building
 * each one finds it. The stand-ins are enumerated by lazy-schema.ts itself (every one made
 * at module scope, and every one made while building those), not by walking exports,
 * which misses the ones used only inside transforms. Its own file: the other lazy-schema
 * tests make stand-ins with wrong declarations on purpose.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import * as z from "../../../core/config/schema-kit/index.ts";
import { checkEveryStandIn, lazySchema } from "../../../core/config/lazy-schema.ts";

const core = join(import.meta.dirname, "../../../core");
const schemaModules = readdirSync(core, { recursive: true, encoding: "utf8" })
  .filter((file) => file.endsWith(".ts") && readFileSync(join(core, file), "utf8").includes("lazySchema("))
  .sort();

test("every stand-in of the config schemas, nested ones and those used only in transforms, declares its presence truly", async () => {
  expect(schemaModules.length).toBeGreaterThan(30);
  for (const file of schemaModules) await import(join(core, file));
  const { built, wrong } = checkEveryStandIn();
  expect(wrong).toEqual([]);
  // 320 at module scope and 156 nested in them when this was written.
  expect(built).toBeGreaterThan(450);
});

test("a wrong declaration is found though nothing reaches its stand-in, nested or not", () => {
  // Whatever stand-ins this file has made so far (all true when the test above passes).
  const before = checkEveryStandIn().wrong;
  // Unreachable from any export: a transform's own stand-in, like retry-policy-schema.ts's.
  const hidden = lazySchema(() => z.string().default("x"));
  const outer = lazySchema(() => z.strictObject({ inner: lazySchema(() => z.number().optional(), "defaulted") }));
  const holder = z.strictObject({ f: hidden.optional() });
  // What the wrong declaration does: the default is dropped, and nothing is built to say so.
  expect(holder.parse({})).toEqual({});
  const wrong = checkEveryStandIn().wrong.filter((line) => !before.includes(line));
  expect(wrong).toHaveLength(2);
  expect(wrong[0]).toMatch(/^lazySchema declared "required" for a schema whose optin\/optout are defaulted\/undefined: .*default\("x"\)/);
  expect(wrong[1]).toMatch(/^lazySchema declared "defaulted" for a schema whose optin\/optout are optional\/optional: .*number\(\)\.optional\(\)/);
  void outer;
});
