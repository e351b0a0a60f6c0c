/** core/util/lazy-module.ts: one import for any number of callers, a failed load tried again, no use before the load. */
import { describe, expect, test } from "vitest";
import { LazyModule } from "../../../core/util/lazy-module.ts";

describe("LazyModule", () => {
  test("imports once for callers that ask at the same time and later; `loaded` and get() only once it is in", async () => {
    let imports = 0;
    const lazy = new LazyModule(async () => ({ n: ++imports }), "the test code");
    expect(lazy.loaded).toBeUndefined();
    expect(() => lazy.get()).toThrow("internal error: the test code is used before it was loaded");
    const [a, b] = await Promise.all([lazy.load(), lazy.load()]);
    expect(a).toBe(b);
    expect(await lazy.load()).toBe(a);
    expect(imports).toBe(1);
    expect(lazy.loaded).toBe(a);
    expect(lazy.get()).toBe(a);
  });

  test("a failed load says what failed and is not kept: the next load imports again", async () => {
    let attempt = 0;
    const lazy = new LazyModule(async () => {
      if (++attempt === 1) throw new Error("no such file");
      return { attempt };
    }, "the HTTP/2 code");
    await expect(lazy.load()).rejects.toThrow("cannot load the HTTP/2 code: no such file");
    expect(lazy.loaded).toBeUndefined();
    expect(await lazy.load()).toEqual({ attempt: 2 });
  });

  test("loadAll loads every LazyModule made so far", async () => {
    const lazy = new LazyModule(async () => ({ x: 1 }), "more test code");
    await LazyModule.loadAll();
    expect(lazy.loaded).toEqual({ x: 1 });
  });
});
