import { describe, expect, test } from "vitest";
import { uuid4 } from "../../core/http/headers-util.ts";

describe("uuid4 (x-request-id)", () => {
  test("RFC 9562 version 4 form, and no repeats over several random pools", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const id = uuid4();
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(2000);
  });
});
