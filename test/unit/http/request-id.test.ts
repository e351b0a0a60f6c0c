import { describe, expect, test } from "vitest";
import { uuid4 } from "../../../core/http/headers-util.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

describe("uuid4 (x-request-id)", () => {
  test("RFC 9562 version 4 form, and no repeats over several random pools", () => {
    const runtime = new MemoryRuntime();
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const id = uuid4(runtime);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(2000);
  });

  test("its bytes come from the runtime it is given: a fresh runtime with the same seed gives the same ids", () => {
    const a = new MemoryRuntime({ seed: 3 });
    const first = [uuid4(a), uuid4(a)];
    const b = new MemoryRuntime({ seed: 3 });
    expect([uuid4(b), uuid4(b)]).toEqual(first);
  });
});
