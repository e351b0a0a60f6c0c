import { describe, expect, test } from "vitest";
import { WriteBatch } from "../../../core/network/write-batch.ts";
import { arenaBytes, arenaTake, arenaUsed, resetArena } from "../../../core/event/event-arena.ts";
import type { ByteEncoder } from "../../../core/network/byte-sink.ts";
import { bytes, text } from "../../support/fake-socket.ts";

describe("WriteBatch (one event's writes of a connection)", () => {
  test("hundreds of thousands of pieces in one event are taken whole (no spread into a call)", () => {
    // A chunked body of 1-byte chunks, held while the upstream connected, is written in
    // one event: spreading the pieces into push() overflowed the stack and ended the process.
    const batch = new WriteBatch();
    const n = 300_000;
    for (let i = 0; i < n; i++) batch.push(bytes("x"));
    const all = batch.takeAll();
    expect(all.length).toBe(n);
    expect(batch.count).toBe(0);
  });

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

  test.each([1, 2, 3, 5])("takeInto copies %i pieces in order into a longer buffer from an offset, says how many bytes, and empties the batch", (n) => {
    const batch = new WriteBatch();
    const pieces = Array.from({ length: n }, (_, i) => `piece ${i};`);
    for (const piece of pieces) batch.push(bytes(piece));
    const target = new Uint8Array(100).fill(46);
    const length = batch.takeInto(target, 3);
    expect(length).toBe(pieces.join("").length);
    expect(text(target.subarray(3, 3 + length))).toBe(pieces.join(""));
    expect(target[2]).toBe(46);
    expect(target[3 + length]).toBe(46);
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

  describe("a run in the event arena (sockets that copy what they keep)", () => {
    /** An encoder of `text`, counting how often it was asked to encode. */
    const encoder = (content: string): ByteEncoder & { calls: number } => ({
      byteLength: content.length,
      calls: 0,
      encodeInto(out, at) {
        this.calls++;
        out.set(bytes(content), at);
      },
    });
    const run = (batch: WriteBatch) => text(arenaBytes().subarray(batch.runAt, batch.runAt + batch.runBytes));

    test("a head is encoded into the arena and small pieces behind it join it there: one piece, no array", () => {
      resetArena();
      const batch = new WriteBatch();
      expect(batch.encodeIntoRun(encoder("HTTP/1.1 200 OK\r\n\r\n"))).toBe(true);
      expect(batch.copyOntoRun(bytes("body"))).toBe(true);
      expect(batch.encodeIntoRun(encoder("0\r\n\r\n"))).toBe(true);
      expect(batch.count).toBe(1);
      expect(batch.bytes).toBe(28);
      expect(batch.runAt).toBe(0);
      expect(run(batch)).toBe("HTTP/1.1 200 OK\r\n\r\nbody0\r\n\r\n");
      expect(arenaUsed()).toBe(28);
      batch.takeRun();
      expect(batch.count).toBe(0);
      expect(batch.bytes).toBe(0);
      expect(batch.runBytes).toBe(0);
    });

    test("a run only grows while it ends where the arena's free space starts: another batch's bytes behind it end it", () => {
      resetArena();
      const a = new WriteBatch();
      const b = new WriteBatch();
      expect(a.encodeIntoRun(encoder("a-head|"))).toBe(true);
      expect(b.encodeIntoRun(encoder("b-head|"))).toBe(true);
      expect(b.runAt).toBe(7);
      const late = encoder("a-late|");
      expect(a.encodeIntoRun(late)).toBe(false);
      expect(late.calls).toBe(0);
      expect(a.copyOntoRun(bytes("a-body"))).toBe(false);
      expect(b.copyOntoRun(bytes("b-body"))).toBe(true);
      expect([run(a), run(b)]).toEqual(["a-head|", "b-head|b-body"]);
    });

    test("nothing joins a run once a piece is queued behind it, and a batch that starts with a piece has no run: the order stays", () => {
      resetArena();
      const batch = new WriteBatch();
      batch.encodeIntoRun(encoder("head|"));
      batch.push(bytes("big body|"));
      expect(batch.encodeIntoRun(encoder("next head|"))).toBe(false);
      expect(batch.copyOntoRun(bytes("x"))).toBe(false);
      batch.push(bytes("next head|"));
      expect(batch.count).toBe(3);
      const target = new Uint8Array(64);
      expect(text(target.subarray(0, batch.takeInto(target, 0)))).toBe("head|big body|next head|");

      const plain = new WriteBatch();
      plain.push(bytes("piece|"));
      expect(plain.encodeIntoRun(encoder("head|"))).toBe(false);
      expect(plain.copyOntoRun(bytes("x"))).toBe(false);
    });

    test("past the arena's end nothing is taken, and what was there stays", () => {
      resetArena();
      const batch = new WriteBatch();
      const filler = arenaTake(arenaBytes().byteLength - 4);
      expect(filler).toBe(0);
      expect(batch.encodeIntoRun(encoder("12345"))).toBe(false);
      expect(batch.encodeIntoRun(encoder("1234"))).toBe(true);
      expect(batch.copyOntoRun(bytes("5"))).toBe(false);
      expect(arenaTake(1)).toBe(-1);
      expect(run(batch)).toBe("1234");
      resetArena();
      expect(arenaTake(1)).toBe(0);
    });

    test("joined or taken whole, a run comes first, before the pieces behind it", () => {
      resetArena();
      const batch = new WriteBatch();
      batch.encodeIntoRun(encoder("head|"));
      batch.push(bytes("body"));
      expect(text(batch.takeJoined())).toBe("head|body");
      batch.encodeIntoRun(encoder("again|"));
      batch.push(bytes("body"));
      expect(batch.takeAll().map(text)).toEqual(["again|", "body"]);
      expect(batch.count).toBe(0);
    });
  });
});
