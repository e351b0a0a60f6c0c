import { afterEach, describe, expect, test } from "vitest";
import { allocBytes, bodyBytes, useSlabs } from "../../../core/util/byte-slab.ts";

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

describe("bodyBytes (a body piece out of a read chunk)", () => {
  afterEach(() => useSlabs(true));
  const chunk = () => Uint8Array.from({ length: 4096 }, (_, i) => i % 251);

  test("with slabs on (V8), a view into the chunk: no copy", () => {
    const c = chunk();
    const piece = bodyBytes(c, 100, 164);
    expect(piece.buffer).toBe(c.buffer);
    expect(piece.byteOffset).toBe(100);
    expect([...piece]).toEqual([...c.subarray(100, 164)]);
  });

  test("with slabs off (JavaScriptCore), a small piece is a copy of its own and a large one still a view", () => {
    useSlabs(false);
    const c = chunk();
    const small = bodyBytes(c, 100, 164);
    expect(small.buffer).not.toBe(c.buffer);
    expect([...small]).toEqual([...c.subarray(100, 164)]);
    c[100] = 7; // the copy does not follow later writes to the chunk
    expect(small[0]).toBe(100 % 251);
    const large = bodyBytes(c, 0, 3000);
    expect(large.buffer).toBe(c.buffer);
    expect(large.byteLength).toBe(3000);
  });

  test("with slabs off, a chunk whose own slice is a view (Node's and Bun's Buffer) still gives a copy", () => {
    useSlabs(false);
    const c = chunk();
    Object.defineProperty(c, "slice", { value: (start?: number, end?: number) => c.subarray(start, end) });
    expect(c.slice(100, 164).buffer).toBe(c.buffer); // the chunk's own slice is a view
    const small = bodyBytes(c, 100, 164);
    expect(small.buffer).not.toBe(c.buffer);
    expect([...small]).toEqual([...c.subarray(100, 164)]);
  });
});
