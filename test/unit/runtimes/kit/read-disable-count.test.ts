import { describe, expect, test } from "vitest";
import { ReadDisableCount } from "../../../../runtimes/kit/read-disable-count.ts";

describe("ReadDisableCount", () => {
  test("starts enabled", () => {
    expect(new ReadDisableCount().disabled).toBe(false);
  });

  test("first disable pauses, last enable resumes", () => {
    const count = new ReadDisableCount();
    expect(count.apply(true)).toBe("pause");
    expect(count.disabled).toBe(true);
    expect(count.apply(false)).toBe("resume");
    expect(count.disabled).toBe(false);
  });

  test("nested disables need as many enables; only 0↔1 transitions are reported", () => {
    const count = new ReadDisableCount();
    expect([count.apply(true), count.apply(true), count.apply(true)]).toEqual(["pause", undefined, undefined]);
    expect(count.apply(false)).toBeUndefined();
    expect(count.apply(false)).toBeUndefined();
    expect(count.disabled).toBe(true);
    expect(count.apply(false)).toBe("resume");
    expect(count.disabled).toBe(false);
  });

  test("an unmatched enable is a no-op and does not go negative", () => {
    const count = new ReadDisableCount();
    expect(count.apply(false)).toBeUndefined();
    expect(count.apply(false)).toBeUndefined();
    expect(count.disabled).toBe(false);
    // Had the count gone negative, this disable would not be a transition.
    expect(count.apply(true)).toBe("pause");
    expect(count.apply(false)).toBe("resume");
    expect(count.apply(false)).toBeUndefined();
    expect(count.apply(true)).toBe("pause");
  });
});
