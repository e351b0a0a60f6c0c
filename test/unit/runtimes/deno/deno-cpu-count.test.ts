import { describe, expect, test } from "vitest";
import { countCpuList } from "../../../../runtimes/deno/deno-cpu-count.ts";

describe("the deno adapter's CPU list (/sys/devices/system/cpu/online)", () => {
  test("counts single CPUs and ranges, as Linux writes them", () => {
    expect(countCpuList("0\n")).toBe(1);
    expect(countCpuList("0-1\n")).toBe(2);
    expect(countCpuList("0-3,6,8-9\n")).toBe(7);
  });

  test("anything else is not a count (the caller falls back to node:os)", () => {
    for (const text of ["", "\n", "a", "0-", "3-1", "0,,1", "-1", "0 1"]) expect(countCpuList(text)).toBeUndefined();
  });
});
