/**
 * A Produce request's acks read from the first bytes of its frame
 * (core/network/kafka/kafka-produce-acks.ts), or undefined when they do not hold it.
 */
import { describe, expect, test } from "vitest";
import { REQUEST_READ_SIZE, produceAcks } from "../../../../core/network/kafka/kafka-produce-acks.ts";

/** A Produce request frame without its size: header with client_id `clientId`, then `rest`. */
function produce(apiVersion: number, rest: number[], clientId = "producer-1"): Uint8Array {
  const id = [...clientId].map((c) => c.charCodeAt(0));
  const out = new Uint8Array(10 + id.length + rest.length);
  const view = new DataView(out.buffer);
  view.setInt16(0, 0);
  view.setInt16(2, apiVersion);
  view.setInt32(4, 7);
  view.setInt16(8, id.length);
  out.set(id, 10);
  out.set(rest, 10 + id.length);
  return out;
}

const acks = (apiVersion: number, frame: Uint8Array, held = frame.byteLength) => produceAcks(apiVersion, 11, frame.byteLength, frame.subarray(0, held));

describe("produceAcks", () => {
  test("v0–v2: right after the header", () => {
    expect(acks(0, produce(0, [0, 0, 0, 0, 0x75, 0x30]))).toBe(0);
    expect(acks(2, produce(2, [0xff, 0xff, 0, 0, 0x75, 0x30]))).toBe(-1);
  });

  test("v3–v8: after an INT16-length transactional_id, null or not", () => {
    expect(acks(3, produce(3, [0xff, 0xff, 0, 1]))).toBe(1);
    expect(acks(8, produce(8, [0, 3, 0x61, 0x62, 0x63, 0, 0]))).toBe(0);
  });

  test("v9+: after the header's tagged fields and a compact transactional_id", () => {
    // No tagged fields, null transactional_id.
    expect(acks(9, produce(9, [0, 0, 0, 0]))).toBe(0);
    // Two tagged fields (tag 1 of 2 bytes, tag 300 — a 2-byte varint — of 1 byte), "ab".
    expect(acks(11, produce(11, [2, 1, 2, 9, 9, 0xac, 0x02, 1, 9, 3, 0x61, 0x62, 0xff, 0xff]))).toBe(-1);
  });

  test("undefined when the bytes held end before acks, or the version's layout is unknown", () => {
    const frame = produce(3, [0, 3, 0x61, 0x62, 0x63, 0, 0]);
    expect(acks(3, frame, frame.byteLength - 1)).toBeUndefined();
    expect(acks(9, produce(9, [0, 0]))).toBeUndefined();
    expect(acks(0, produce(0, [0, 0], "c".repeat(REQUEST_READ_SIZE)), REQUEST_READ_SIZE)).toBeUndefined();
    expect(acks(12, produce(12, [0, 0, 0, 0]))).toBeUndefined();
    // A varint running past the bytes held.
    expect(acks(9, produce(9, [0x80, 0x80]))).toBeUndefined();
  });
});
