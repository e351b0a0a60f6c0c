import { describe, expect, test } from "vitest";
import type { ResolvedAddress } from "../../../core/port.ts";
import { FixedBackOffStrategy, JitteredExponentialBackOffStrategy } from "../../../core/upstream/backoff-strategy.ts";
import { selectFamily } from "../../../core/upstream/dns-resolve-target.ts";

const v4a: ResolvedAddress = { address: "10.0.0.1", family: 4 };
const v4b: ResolvedAddress = { address: "10.0.0.2", family: 4 };
const v6a: ResolvedAddress = { address: "fd00::1", family: 6 };
const answer = [v4a, v6a, v4b];

describe("dns_lookup_family on one getaddrinfo answer (Envoy's GetAddrInfoDnsResolver::processResponse)", () => {
  test("ONLY families filter; AUTO prefers IPv6, V4_PREFERRED IPv4, each falling back; ALL is IPv6 then IPv4", () => {
    expect(selectFamily(answer, "V4_ONLY")).toEqual([v4a, v4b]);
    expect(selectFamily(answer, "V6_ONLY")).toEqual([v6a]);
    expect(selectFamily(answer, "AUTO")).toEqual([v6a]);
    expect(selectFamily([v4a, v4b], "AUTO")).toEqual([v4a, v4b]);
    expect(selectFamily(answer, "V4_PREFERRED")).toEqual([v4a, v4b]);
    expect(selectFamily([v6a], "V4_PREFERRED")).toEqual([v6a]);
    expect(selectFamily(answer, "ALL")).toEqual([v6a, v4a, v4b]);
    expect(selectFamily([], "ALL")).toEqual([]);
  });
});

describe("back-off strategies (Envoy's backoff_strategy.cc)", () => {
  test("fixed: the refresh rate every time", () => {
    const fixed = new FixedBackOffStrategy(5000);
    expect([fixed.nextBackOffMs(), fixed.nextBackOffMs()]).toEqual([5000, 5000]);
  });

  test("jittered exponential: random in [0, interval), the interval doubling to the max, reset to the base", () => {
    // A random just below 1 shows each interval's top.
    const top = new JitteredExponentialBackOffStrategy(1000, 5000, () => 0.9999);
    expect([1, 2, 3, 4, 5].map(() => top.nextBackOffMs())).toEqual([999, 1999, 3999, 4999, 4999]);
    top.reset();
    expect(top.nextBackOffMs()).toBe(999);
    const bottom = new JitteredExponentialBackOffStrategy(1000, 10_000, () => 0);
    expect(bottom.nextBackOffMs()).toBe(0);
  });
});
