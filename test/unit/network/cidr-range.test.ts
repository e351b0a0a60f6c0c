/** CidrRange lists (Envoy's IpList): IPv4, IPv6, mapped IPv4, prefix edges. */
import { describe, expect, test } from "vitest";
import { IpList, parseIp } from "../../../core/network/cidr-range.ts";
import type { HttpConnectionManagerConfig } from "../../../core/config/bootstrap.ts";
import type { ConfigError } from "../../../core/config/errors.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { httpProxyConfig } from "../../support/configs.ts";

describe("IpList", () => {
  test("IPv4 and IPv6 ranges; the other version never matches; ::ffff:a.b.c.d is IPv4", () => {
    const list = new IpList([
      { addressPrefix: "203.0.113.0", prefixLen: 24 },
      { addressPrefix: "2001:db8::", prefixLen: 32 },
      { addressPrefix: "10.1.2.3", prefixLen: 32 },
    ]);
    expect(list.contains("203.0.113.77")).toBe(true);
    expect(list.contains("203.0.114.1")).toBe(false);
    expect(list.contains("::ffff:203.0.113.9")).toBe(true);
    expect(list.contains("2001:db8:ffff::1")).toBe(true);
    expect(list.contains("2001:db9::1")).toBe(false);
    expect(list.contains("10.1.2.3")).toBe(true);
    expect(list.contains("10.1.2.4")).toBe(false);
    expect(list.contains("not an ip")).toBe(false);
    expect(new IpList([{ addressPrefix: "0.0.0.0", prefixLen: 0 }]).contains("8.8.8.8")).toBe(true);
    expect(new IpList([{ addressPrefix: "10.0.0.0", prefixLen: 9 }]).contains("10.127.0.1")).toBe(true);
    expect(new IpList([{ addressPrefix: "10.0.0.0", prefixLen: 9 }]).contains("10.128.0.1")).toBe(false);
  });

  test("parseIp: literals only", () => {
    expect(parseIp("1.2.3.4")).toEqual(new Uint8Array([1, 2, 3, 4]));
    expect(parseIp("::1")).toEqual(new Uint8Array([...new Array(15).fill(0), 1]));
    expect(parseIp("1.2.3")).toBeUndefined();
    expect(parseIp("256.1.1.1")).toBeUndefined();
    expect(parseIp("1::2::3")).toBeUndefined();
    expect(parseIp("1:2:3:4:5:6:7:8:9")).toBeUndefined();
  });
});

describe("internal_address_config (HCM)", () => {
  const hcmWith = (internal: unknown) =>
    JSON.stringify(
      httpProxyConfig({ listenPort: 10000, clusters: { b: [8080] }, routes: [{ match: { prefix: "/" }, cluster: "b" }], hcm: { internal_address_config: internal } }),
    );
  const hcm = (internal: unknown) => (loadBootstrap(hcmWith(internal), "json").listeners[0]!.filterChains[0]!.filters[0]!.config as HttpConnectionManagerConfig);
  const problems = (internal: unknown): string[] => {
    try {
      loadBootstrap(hcmWith(internal), "json");
    } catch (err) {
      return (err as ConfigError).problems;
    }
    return [];
  };

  test("cidr_ranges (prefix_len a number or UInt32Value); none or empty keeps the default test; unix_sockets accepted", () => {
    expect(hcm({ cidr_ranges: [{ address_prefix: "10.0.0.0", prefix_len: 8 }, { address_prefix: "fd00::", prefix_len: { value: 8 } }] }).internalCidrRanges).toEqual([
      { addressPrefix: "10.0.0.0", prefixLen: 8 },
      { addressPrefix: "fd00::", prefixLen: 8 },
    ]);
    expect(hcm({ unix_sockets: true }).internalCidrRanges).toBeUndefined();
    expect(hcm(undefined).internalCidrRanges).toBeUndefined();
  });

  test("a malformed address or a prefix longer than the address is refused", () => {
    expect(problems({ cidr_ranges: [{ address_prefix: "10.0.0", prefix_len: 8 }] })[0]).toMatch(/internal_address_config\.cidr_ranges\[0\]\.address_prefix: malformed IP address: 10\.0\.0$/);
    expect(problems({ cidr_ranges: [{ address_prefix: "10.0.0.0", prefix_len: 33 }] })[0]).toMatch(/internal_address_config\.cidr_ranges\[0\]\.prefix_len: must be at most 32 for 10\.0\.0\.0$/);
  });
});
