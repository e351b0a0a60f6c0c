import { afterEach, describe, expect, test } from "vitest";
import { allocBytes, useSlabs } from "../../core/util/byte-slab.ts";

describe("allocBytes (small arrays from shared slabs)", () => {
  afterEach(() => useSlabs(true));

  test("arrays are zero-filled, of the size asked, and never share bytes", () => {
    const arrays = Array.from({ length: 200 }, (_, i) => allocBytes(1 + (i % 300))); // spans several slabs
    arrays.forEach((a, i) => {
      expect(a.byteLength).toBe(1 + (i % 300));
      expect(a.every((b) => b === 0)).toBe(true);
      a.fill(i % 256);
    });
    arrays.forEach((a, i) => expect(a.every((b) => b === i % 256)).toBe(true));
  });

  test("large arrays and, with slabs off, every array get a buffer of their own", () => {
    const big = allocBytes(64 * 1024);
    expect(big.byteOffset).toBe(0);
    expect(big.buffer.byteLength).toBe(64 * 1024);
    useSlabs(false);
    const small = allocBytes(10);
    expect(small.byteOffset).toBe(0);
    expect(small.buffer.byteLength).toBe(10);
    useSlabs(true);
    expect(allocBytes(10).buffer.byteLength).toBeGreaterThan(10);
  });
});
