/**
 * createBunRuntime's option for scheduled eden collections (runtimes/bun/eden-collections.ts)
 * is checked as the environment variable is (test/e2e/bun-eden-collections.test.ts). Bun
 * only: the adapter imports `bun:jsc`, which node and deno do not have.
 */
import { describe, expect, test } from "vitest";

const onBun = typeof (globalThis as { Bun?: unknown }).Bun === "object";

describe.skipIf(!onBun)("createBunRuntime({ readsPerEdenCollection })", () => {
  test.each([-1, 2.5, Number.NaN])("%s is refused, naming the option", async (reads) => {
    const { createBunRuntime } = await import("../../runtimes/bun/bun-runtime.ts");
    expect(() => createBunRuntime({ readsPerEdenCollection: reads })).toThrow(
      `readsPerEdenCollection must be a whole number of reads (0 turns scheduled collections off), not "${reads}"`,
    );
  });

  test("0 and whole numbers are taken", async () => {
    const { createBunRuntime } = await import("../../runtimes/bun/bun-runtime.ts");
    expect(createBunRuntime({ readsPerEdenCollection: 0 }).name).toBe("bun");
    expect(createBunRuntime({ readsPerEdenCollection: 4000 }).name).toBe("bun");
  });
});
