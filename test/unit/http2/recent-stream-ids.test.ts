import { describe, expect, test } from "vitest";
import { RecentStreamIds } from "../../../core/http2/recent-stream-ids.ts";

describe("RecentStreamIds", () => {
  test("keeps the last `capacity` ids added, forgets older ones", () => {
    const ids = new RecentStreamIds(1024);
    expect(ids.has(1)).toBe(false);
    for (let id = 1; id <= 1500; id++) ids.add(id);
    expect([ids.has(476), ids.has(477), ids.has(1000), ids.has(1500), ids.has(1501)]).toEqual([false, true, true, true, false]);
  });

  test("before it is full: only what was added", () => {
    const ids = new RecentStreamIds(4);
    ids.add(3);
    ids.add(5);
    expect([ids.has(1), ids.has(3), ids.has(5), ids.has(7)]).toEqual([false, true, true, false]);
  });
});
