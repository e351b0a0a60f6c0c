import { describe, expect, test } from "vitest";
import { byteStringBytes, murmurHash2, uint64ToHex, xxHash64, xxHash64Text } from "../../../core/util/hash.ts";

// Expected values from Envoy's test/common/common/hash_test.cc.
describe("hashes as Envoy computes them", () => {
  test("xxHash64, seed 0", () => {
    expect(xxHash64Text("foo")).toBe(3728699739546630719n);
    expect(xxHash64Text("bar")).toBe(5234164152756840025n);
    expect(xxHash64Text("foo\nbar")).toBe(8917841378505826757n);
    expect(xxHash64Text("lyft")).toBe(4400747396090729504n);
    expect(xxHash64Text("")).toBe(17241709254077376921n);
  });

  test("xxHash64 over several values chains them, each hash the next one's seed (HashUtil::xxHash64 of a span)", () => {
    expect(xxHash64(byteStringBytes("bar"), xxHash64Text("foo"))).toBe(17745830980996999794n);
  });

  test("xxHash64 of inputs of 32 bytes and more (the striped loop)", () => {
    // Stable across the four lanes and the tail: a 100-byte input hashes the same every time and differs from 99 bytes.
    const a = xxHash64Text("a".repeat(100));
    expect(xxHash64Text("a".repeat(100))).toBe(a);
    expect(xxHash64Text("a".repeat(99))).not.toBe(a);
  });

  test("MurmurHash2 64-bit, libstdc++'s seed", () => {
    expect(murmurHash2(byteStringBytes("foo"))).toBe(9631199822919835226n);
    expect(murmurHash2(byteStringBytes("bar"))).toBe(11474628671133349555n);
    expect(murmurHash2(byteStringBytes("foo\nbar"))).toBe(16306510975912980159n);
    expect(murmurHash2(byteStringBytes("lyft"))).toBe(12847078931730529320n);
    expect(murmurHash2(byteStringBytes(""))).toBe(6142509188972423790n);
  });

  test("uint64ToHex pads to 16 digits", () => {
    expect(uint64ToHex(255n)).toBe("00000000000000ff");
  });
});
