import { describe, expect, test } from "vitest";
import { WriteQueue } from "../../../../runtimes/kit/write-queue.ts";

const chunk = (...values: number[]): Uint8Array => Uint8Array.from(values);
const arr = (data: Uint8Array | undefined): number[] | undefined => (data ? Array.from(data) : undefined);

/** Drains the queue chunk by chunk (consuming each peeked chunk whole) and returns all bytes. */
function drain(queue: WriteQueue): number[] {
  const out: number[] = [];
  for (let head = queue.peek(); head; head = queue.peek()) {
    out.push(...head);
    queue.consume(head.byteLength);
  }
  return out;
}

describe("WriteQueue", () => {
  test("starts empty", () => {
    const queue = new WriteQueue();
    expect(queue.isEmpty).toBe(true);
    expect(queue.bytes).toBe(0);
    expect(queue.peek()).toBeUndefined();
  });

  test("push keeps FIFO order and counts bytes", () => {
    const queue = new WriteQueue();
    queue.push(chunk(1, 2, 3));
    queue.push(chunk(4, 5));
    expect(queue.isEmpty).toBe(false);
    expect(queue.bytes).toBe(5);
    expect(arr(queue.peek())).toEqual([1, 2, 3]);
  });

  test("empty chunks are ignored", () => {
    const queue = new WriteQueue();
    queue.push(new Uint8Array(0));
    expect(queue.isEmpty).toBe(true);
    expect(queue.peek()).toBeUndefined();
    queue.push(chunk(7));
    queue.push(new Uint8Array(0));
    queue.push(chunk(8));
    expect(queue.bytes).toBe(2);
    queue.consume(1);
    expect(arr(queue.peek())).toEqual([8]); // no empty chunk in between
  });

  test("partial consume leaves the rest of the head chunk", () => {
    const queue = new WriteQueue();
    queue.push(chunk(1, 2, 3, 4));
    queue.push(chunk(5));
    queue.consume(3);
    expect(queue.bytes).toBe(2);
    expect(arr(queue.peek())).toEqual([4]);
    queue.consume(1);
    expect(arr(queue.peek())).toEqual([5]);
    expect(queue.bytes).toBe(1);
  });

  test("consume across chunk boundaries", () => {
    const queue = new WriteQueue();
    queue.push(chunk(1, 2));
    queue.push(chunk(3, 4, 5));
    queue.push(chunk(6, 7));
    queue.consume(4); // all of the first, two of the second
    expect(queue.bytes).toBe(3);
    expect(arr(queue.peek())).toEqual([5]);
    expect(drain(queue)).toEqual([5, 6, 7]);
    expect(queue.isEmpty).toBe(true);
  });

  test("consuming exactly everything empties the queue, which is reusable", () => {
    const queue = new WriteQueue();
    queue.push(chunk(1, 2));
    queue.push(chunk(3));
    queue.consume(3);
    expect(queue.isEmpty).toBe(true);
    expect(queue.bytes).toBe(0);
    expect(queue.peek()).toBeUndefined();
    queue.push(chunk(9));
    expect(arr(queue.peek())).toEqual([9]);
    expect(queue.bytes).toBe(1);
  });

  test("partial consume does not copy or alter the caller's bytes", () => {
    const queue = new WriteQueue();
    const data = chunk(1, 2, 3);
    queue.push(data);
    queue.consume(1);
    const head = queue.peek()!;
    expect(head.buffer).toBe(data.buffer);
    expect(Array.from(data)).toEqual([1, 2, 3]);
  });

  test("order survives compaction after many consumes", () => {
    const queue = new WriteQueue();
    const total = 300;
    for (let i = 0; i < total; i++) queue.push(chunk(i % 256));
    // Consume one at a time while pushing more, so the head index passes the compaction threshold many times.
    const seen: number[] = [];
    for (let i = 0; i < 200; i++) {
      seen.push(queue.peek()![0]!);
      queue.consume(1);
      if (i % 3 === 0) queue.push(chunk((total + i) % 256));
    }
    expect(queue.bytes).toBe(total - 200 + 67);
    seen.push(...drain(queue));
    const expected: number[] = [];
    for (let i = 0; i < total; i++) expected.push(i % 256);
    for (let i = 0; i < 200; i += 3) expected.push((total + i) % 256);
    expect(seen).toEqual(expected);
  });

  test("multi-chunk consumes past the compaction threshold keep order and counts", () => {
    const queue = new WriteQueue();
    for (let i = 0; i < 150; i++) queue.push(chunk(i, i));
    queue.consume(2 * 100 + 1); // 100 whole chunks and half of the next
    expect(queue.bytes).toBe(99);
    expect(arr(queue.peek())).toEqual([100]);
    queue.consume(1);
    expect(arr(queue.peek())).toEqual([101, 101]);
    expect(drain(queue).length).toBe(98);
  });

  test("clear drops everything", () => {
    const queue = new WriteQueue();
    queue.push(chunk(1, 2));
    queue.push(chunk(3));
    queue.consume(1);
    queue.clear();
    expect(queue.isEmpty).toBe(true);
    expect(queue.bytes).toBe(0);
    expect(queue.peek()).toBeUndefined();
    queue.push(chunk(4));
    expect(arr(queue.peek())).toEqual([4]);
    expect(queue.bytes).toBe(1);
  });
});
