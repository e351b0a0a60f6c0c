/**
 * createBunRuntime's option for scheduled eden collections (runtimes/bun/eden-collections.ts)
 * is checked as the environment variable is (test/e2e/bun-eden-collections.test.ts). Bun
 * only: the adapter imports `bun:jsc`, which node and deno do not have.
 */
import { describe, expect, test } from "vitest";

const onBun = typeof (globalThis as { Bun?: unknown }).Bun === "object";

describe.skipIf(!onBun)("createBunRuntime({ readsPerEdenCollection })", () => {
  test.each([-1, 2.5, Number.NaN])("%s is refused, naming the option", async (reads) => {
    const { createBunRuntime } = await import("../../../../runtimes/bun/bun-runtime.ts");
    expect(() => createBunRuntime({ readsPerEdenCollection: reads })).toThrow(
      `readsPerEdenCollection must be a whole number of reads (0 turns scheduled collections off), not "${reads}"`,
    );
  });

  test("0 and whole numbers are taken", async () => {
    const { createBunRuntime } = await import("../../../../runtimes/bun/bun-runtime.ts");
    expect(createBunRuntime({ readsPerEdenCollection: 0 }).name).toBe("bun");
    expect(createBunRuntime({ readsPerEdenCollection: 4000 }).name).toBe("bun");
  });
});

describe.skipIf(!onBun)("scheduled eden collections (EdenCollections)", () => {
  /** Wait until `done()` or 5 s pass, allocating meanwhile (so a collection can come). */
  async function until(done: () => boolean): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  test("the count of reads starts again after any collection, so one JavaScriptCore ran itself is not followed by ours", async () => {
    const { EdenCollections } = await import("../../../../runtimes/bun/eden-collections.ts");
    const collections = new EdenCollections(1000);
    for (let i = 0; i < 900; i++) collections.onRead();
    expect(collections.readsSinceCollection).toBe(900);
    // A collection not ours (Bun.gc: a full one, which frees young objects too).
    (globalThis as unknown as { Bun: { gc(sync: boolean): void } }).Bun.gc(true);
    await until(() => collections.readsSinceCollection === 0);
    expect(collections.readsSinceCollection).toBe(0);
    for (let i = 0; i < 500; i++) collections.onRead();
    expect(collections.readsSinceCollection).toBe(500);
  });

  test("at the set number of reads one collection runs, after the current task, and the count starts again", async () => {
    const { EdenCollections } = await import("../../../../runtimes/bun/eden-collections.ts");
    const collections = new EdenCollections(100);
    for (let i = 0; i < 150; i++) collections.onRead();
    expect(collections.readsSinceCollection).toBe(150);
    await new Promise((r) => setImmediate(r));
    expect(collections.readsSinceCollection).toBe(0);
  });
});
