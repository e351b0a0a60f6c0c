/**
 * Every filter registered lazily (core/extensions.ts) loads: its import() paths and export
 * names are right, and its modules' top level runs on this runtime. Without this a broken
 * loader would fail only when a config names its filter.
 */
import { describe, expect, test } from "vitest";
import "../../core/extensions.ts";
import { lazyHttpFilterLoaders } from "../../core/http/filters/http-filter-registry.ts";
import { lazyNetworkFilterLoaders } from "../../core/network/network-filter-registry.ts";

describe("lazily registered filters", () => {
  test("every network filter loader resolves to a factory", async () => {
    const loaders = lazyNetworkFilterLoaders();
    expect(loaders.size).toBeGreaterThanOrEqual(5);
    for (const [type, load] of loaders) {
      expect(typeof (await load()), type).toBe("function");
    }
  });

  test("every HTTP filter loader resolves to a factory", async () => {
    const loaders = lazyHttpFilterLoaders();
    expect(loaders.size).toBeGreaterThanOrEqual(16);
    for (const [type, load] of loaders) {
      const factory = await load();
      expect(["decoder", "encoder", "dual"], type).toContain(factory.kind);
      expect(typeof factory.create, type).toBe("function");
    }
  });
});
