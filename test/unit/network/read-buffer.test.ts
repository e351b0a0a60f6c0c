import { describe, expect, test } from "vitest";
import { ReadBuffer } from "../../../core/network/read-buffer.ts";
import { bytes, text } from "../../support/fake-socket.ts";

function chunks(buffer: ReadBuffer): string[] {
  const out: string[] = [];
  for (let i = 0; i < buffer.chunkCount; i++) out.push(text(buffer.chunkAt(i)));
  return out;
}

describe("ReadBuffer", () => {
  test("keeps chunks as read, oldest first; empty chunks are skipped", () => {
    const buffer = new ReadBuffer();
    expect(buffer.chunkCount).toBe(0);
    buffer.add(bytes("ab"));
    buffer.add(new Uint8Array(0));
    buffer.add(bytes("cde"));
    buffer.add(bytes("f"));
    expect(chunks(buffer)).toEqual(["ab", "cde", "f"]);
    expect(buffer.length).toBe(6);
    expect(text(buffer.toBytes())).toBe("abcdef");
  });

  test("one chunk is handed back without a copy", () => {
    const buffer = new ReadBuffer();
    const chunk = bytes("only");
    buffer.add(chunk);
    expect(buffer.toBytes()).toBe(chunk);
    expect(buffer.chunkAt(0)).toBe(chunk);
  });

  test("drain drops bytes across chunk boundaries, keeping the rest", () => {
    const buffer = new ReadBuffer();
    for (const piece of ["abc", "de", "fgh", "i"]) buffer.add(bytes(piece));
    buffer.drain(1);
    expect(chunks(buffer)).toEqual(["bc", "de", "fgh", "i"]);
    buffer.drain(4);
    expect(chunks(buffer)).toEqual(["fgh", "i"]);
    expect(buffer.length).toBe(4);
    buffer.drain(3);
    expect(chunks(buffer)).toEqual(["i"]);
    buffer.add(bytes("jk"));
    expect(chunks(buffer)).toEqual(["i", "jk"]);
    buffer.drain(100);
    expect(buffer.chunkCount).toBe(0);
    expect(buffer.length).toBe(0);
    expect(buffer.toBytes().byteLength).toBe(0);
  });

  test("drainAll empties it, and it fills again", () => {
    const buffer = new ReadBuffer();
    buffer.add(bytes("a"));
    buffer.add(bytes("b"));
    buffer.drainAll();
    expect(buffer.chunkCount).toBe(0);
    expect(buffer.length).toBe(0);
    buffer.add(bytes("c"));
    expect(chunks(buffer)).toEqual(["c"]);
  });
});
