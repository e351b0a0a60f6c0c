/**
 * On Bun the config is validated in a Worker that ends (runtimes/bun/bun-config.ts), so
 * zod's weak collections never live in the proxy's heap. What comes back must be what
 * validating in process gives: the bootstrap and document by structured clone, or every
 * problem. Bun only (node and deno validate in process; their e2e tests cover that path).
 */
import { describe, expect, test } from "vitest";
import { readFileSync } from "node:fs";
import { loadConfig } from "../../../../core/config/load.ts";

const onBun = typeof (globalThis as { Bun?: unknown }).Bun === "object";

describe.skipIf(!onBun)("loadConfigInWorker (Bun)", () => {
  test("a valid config comes back equal to the one validated in process", async () => {
    const { loadConfigInWorker } = await import("../../../../runtimes/bun/bun-config.ts");
    const text = readFileSync(new URL("../../../../examples/default.yaml", import.meta.url), "utf8");
    const inWorker = await loadConfigInWorker(text, "yaml");
    expect("bootstrap" in inWorker).toBe(true);
    // Strict: a class instance that structured clone turned into a plain object would differ.
    expect(inWorker).toStrictEqual(loadConfig(text, "yaml"));
  });

  test("a bad config comes back as its problems, as in process", async () => {
    const { loadConfigInWorker } = await import("../../../../runtimes/bun/bun-config.ts");
    const text = '{"static_resources": {"listeners": [{"name": "x", "address": {"socket_address": {"address": "127.0.0.1", "port_value": "no"}}}]}}';
    const inWorker = await loadConfigInWorker(text, "json");
    expect(inWorker).toStrictEqual(loadConfig(text, "json"));
    expect("problems" in inWorker && inWorker.problems.some((p) => p.includes("port_value"))).toBe(true);
  });
});

describe("loadConfig", () => {
  test("returns problems instead of throwing them", () => {
    const loaded = loadConfig("static_resources: {listeners: 1}", "yaml");
    expect("problems" in loaded && loaded.problems.length > 0).toBe(true);
  });
});
