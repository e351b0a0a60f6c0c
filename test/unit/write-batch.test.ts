import { describe, expect, test } from "vitest";
import { WriteBatch } from "../../core/network/write-batch.ts";
import { bytes, text } from "./fake-socket.ts";

describe("WriteBatch (one event's writes of a connection)", () => {
  test("one piece is handed back as it is, with no copy", () => {
    const batch = new WriteBatch();
    const piece = bytes("head");
    batch.push(piece);
    expect(batch.count).toBe(1);
    expect(batch.bytes).toBe(4);
    expect(batch.takeJoined()).toBe(piece);
    expect(batch.count).toBe(0);
    expect(batch.bytes).toBe(0);
  });

  test.each([2, 3, 7])("%i pieces are joined in order into one buffer, and the batch is empty after", (n) => {
    const batch = new WriteBatch();
    const pieces = Array.from({ length: n }, (_, i) => `p${i};`);
    for (const piece of pieces) batch.push(bytes(piece));
    expect(batch.count).toBe(n);
    expect(batch.bytes).toBe(pieces.join("").length);
    expect(text(batch.takeJoined())).toBe(pieces.join(""));
    expect(batch.count).toBe(0);
    batch.push(bytes("next"));
    expect(text(batch.takeJoined())).toBe("next");
  });

  test.each([1, 2, 3, 5])("takeInto copies %i pieces in order to the start of a longer buffer, says how many bytes, and empties the batch", (n) => {
    const batch = new WriteBatch();
    const pieces = Array.from({ length: n }, (_, i) => `piece ${i};`);
    for (const piece of pieces) batch.push(bytes(piece));
    const target = new Uint8Array(100).fill(46);
    const length = batch.takeInto(target);
    expect(length).toBe(pieces.join("").length);
    expect(text(target.subarray(0, length))).toBe(pieces.join(""));
    expect(target[length]).toBe(46);
    expect(batch.count).toBe(0);
    expect(batch.bytes).toBe(0);
  });

  test.each([1, 2, 3, 5])("takeAll hands back %i pieces in order, as they are", (n) => {
    const batch = new WriteBatch();
    const pieces = Array.from({ length: n }, (_, i) => bytes(`piece ${i}`));
    for (const piece of pieces) batch.push(piece);
    const all = batch.takeAll();
    expect(all).toHaveLength(n);
    all.forEach((piece, i) => expect(piece).toBe(pieces[i]));
    expect(batch.count).toBe(0);
    expect(batch.takeAll()).toEqual([]);
  });

  test("clear drops what was queued", () => {
    const batch = new WriteBatch();
    batch.push(bytes("a"));
    batch.push(bytes("b"));
    batch.push(bytes("c"));
    batch.clear();
    expect(batch.count).toBe(0);
    expect(batch.bytes).toBe(0);
    batch.push(bytes("d"));
    expect(text(batch.takeJoined())).toBe("d");
  });
});
