import { describe, expect, test } from "vitest";
import { MAX_READ, MIN_READ, ReadSizer, SHRINK_AFTER } from "../../../../runtimes/deno/read-sizer.ts";

describe("ReadSizer (the Deno adapter's read buffer size)", () => {
  test("starts small, so an idle connection's pending read pins little", () => {
    expect(new ReadSizer().size).toBe(MIN_READ);
  });

  test("a filled buffer doubles; the message's short tail does not halve it again", () => {
    // A ~300-byte response: 256 bytes fill the first buffer, 45 follow.
    const sizer = new ReadSizer();
    sizer.onRead(256);
    expect(sizer.size).toBe(512);
    sizer.onRead(45);
    expect(sizer.size).toBe(512);
    // the next response fits in one read
    sizer.onRead(301);
    expect(sizer.size).toBe(512);
  });

  test(`halves only after ${SHRINK_AFTER} small reads in a row, and never below ${MIN_READ}`, () => {
    const sizer = new ReadSizer();
    sizer.onRead(256);
    sizer.onRead(512);
    expect(sizer.size).toBe(1024);
    for (let i = 1; i < SHRINK_AFTER; i++) sizer.onRead(10);
    expect(sizer.size).toBe(1024);
    sizer.onRead(700); // a read that is not small starts the run again
    for (let i = 1; i < SHRINK_AFTER; i++) sizer.onRead(10);
    expect(sizer.size).toBe(1024);
    sizer.onRead(10);
    expect(sizer.size).toBe(512);
    for (let i = 0; i < 10 * SHRINK_AFTER; i++) sizer.onRead(1);
    expect(sizer.size).toBe(MIN_READ);
  });

  test(`grows to ${MAX_READ} in a bulk transfer and stays there`, () => {
    const sizer = new ReadSizer();
    while (sizer.size < MAX_READ) sizer.onRead(sizer.size);
    expect(sizer.size).toBe(MAX_READ);
    sizer.onRead(MAX_READ);
    expect(sizer.size).toBe(MAX_READ);
  });
});
