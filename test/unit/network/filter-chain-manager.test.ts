/**
 * Filter chain selection (core/network/filter-chain-manager.ts) against Envoy's
 * FilterChainManagerImpl: the order of the match fields, most specific first at each
 * level, no going back once a level chose, source type's fallback, default_filter_chain,
 * and the refusal of identical matches.
 */
import { describe, expect, test } from "vitest";
import type { FilterChainMatchConfig } from "../../../core/config/bootstrap.ts";
import { FilterChainConfigError, FilterChainManager, type ConnectionSocketInfo } from "../../../core/network/filter-chain-manager.ts";

type Match = Partial<Omit<FilterChainMatchConfig, "prefixRanges" | "sourcePrefixRanges" | "directSourcePrefixRanges">> & {
  prefixRanges?: string[];
  sourcePrefixRanges?: string[];
  directSourcePrefixRanges?: string[];
};

const cidrs = (list: string[] | undefined) =>
  (list ?? []).map((c) => {
    const [addressPrefix, len] = c.split("/");
    return { addressPrefix: addressPrefix!, prefixLen: Number(len) };
  });

function match(m: Match): FilterChainMatchConfig {
  return {
    destinationPort: m.destinationPort ?? 0,
    prefixRanges: cidrs(m.prefixRanges),
    directSourcePrefixRanges: cidrs(m.directSourcePrefixRanges),
    sourceType: m.sourceType ?? "ANY",
    sourcePrefixRanges: cidrs(m.sourcePrefixRanges),
    sourcePorts: m.sourcePorts ?? [],
    serverNames: m.serverNames ?? [],
    transportProtocol: m.transportProtocol ?? "",
    applicationProtocols: m.applicationProtocols ?? [],
  };
}

function manager(chains: Record<string, Match | undefined>, fallback?: string): FilterChainManager<string> {
  return new FilterChainManager(
    "127.0.0.1:10000",
    Object.entries(chains).map(([name, m]) => ({ name, match: m && match(m), chain: name })),
    fallback,
  );
}

interface Socket {
  local?: string;
  remote?: string;
  direct?: string;
  sni?: string;
  transport?: string;
  alpn?: string[];
}

function socket(s: Socket): ConnectionSocketInfo {
  const address = (text: string | undefined) => {
    if (text === undefined) return undefined;
    const at = text.lastIndexOf(":");
    const host = text.slice(0, at).replace(/^\[|\]$/g, "");
    return { address: host, port: Number(text.slice(at + 1)), family: host.includes(":") ? (6 as const) : (4 as const) };
  };
  const remote = address(s.remote ?? "10.0.0.1:40000");
  return {
    localAddress: address(s.local ?? "127.0.0.1:10000"),
    remoteAddress: remote,
    directRemoteAddress: address(s.direct) ?? remote,
    requestedServerName: s.sni ?? "",
    detectedTransportProtocol: s.transport ?? "raw_buffer",
    requestedApplicationProtocols: s.alpn ?? [],
  };
}

describe("filter chain selection, as Envoy's FilterChainManagerImpl", () => {
  const cases: [string, Record<string, Match | undefined>, string | undefined, Socket, string | undefined][] = [
    // destination_port
    ["an exact port before port 0", { any: {}, port: { destinationPort: 10000 } }, undefined, {}, "port"],
    ["another port falls to port 0", { any: {}, port: { destinationPort: 9999 } }, undefined, {}, "any"],
    ["an exact port whose subtree fails does not fall back to port 0: the default chain", { any: {}, port: { destinationPort: 10000, serverNames: ["a.com"] } }, "dflt", {}, "dflt"],
    // prefix_ranges: the longest prefix
    ["the longest destination prefix wins", { wide: { prefixRanges: ["127.0.0.0/8"] }, narrow: { prefixRanges: ["127.0.0.1/32"] }, any: {} }, undefined, {}, "narrow"],
    ["a destination prefix before no prefix", { wide: { prefixRanges: ["127.0.0.0/8"] }, any: {} }, undefined, {}, "wide"],
    ["a destination outside every prefix takes the catch-all", { other: { prefixRanges: ["10.0.0.0/8"] }, any: {} }, undefined, {}, "any"],
    ["IPv6 destination prefixes", { v6: { prefixRanges: ["::1/128"] }, v4: { prefixRanges: ["0.0.0.0/0"] } }, undefined, { local: "[::1]:10000" }, "v6"],
    // server_names
    ["an exact server name first", { exact: { serverNames: ["www.example.com"] }, wild: { serverNames: ["*.example.com"] }, any: {} }, undefined, { sni: "www.example.com", transport: "tls" }, "exact"],
    ["the longest wildcard next", { com: { serverNames: ["*.com"] }, wild: { serverNames: ["*.example.com"] }, any: {} }, undefined, { sni: "a.www.example.com" }, "wild"],
    ["a wildcard does not match its own bare domain", { wild: { serverNames: ["*.example.com"] }, any: {} }, undefined, { sni: "example.com" }, "any"],
    ["server names are lower-cased in config (sni arrives lower case)", { exact: { serverNames: ["www.example.com"] } }, undefined, { sni: "www.example.com" }, "exact"],
    ["no SNI takes the chain without server_names", { named: { serverNames: ["a.com"] }, any: {} }, undefined, {}, "any"],
    ["a server name matched but its transport not: no going back to the catch-all name", { named: { serverNames: ["a.com"], transportProtocol: "tls" }, any: {} }, undefined, { sni: "a.com", transport: "raw_buffer" }, undefined],
    // transport_protocol
    ["transport_protocol tls", { tls: { transportProtocol: "tls" }, raw: { transportProtocol: "raw_buffer" } }, undefined, { transport: "tls" }, "tls"],
    ["transport_protocol raw_buffer", { tls: { transportProtocol: "tls" }, raw: { transportProtocol: "raw_buffer" } }, undefined, {}, "raw"],
    // application_protocols: the first of the client's that has a chain
    ["ALPN in the client's order", { h2: { applicationProtocols: ["h2"] }, h1: { applicationProtocols: ["http/1.1"] } }, undefined, { alpn: ["http/1.1", "h2"] }, "h1"],
    ["no ALPN match takes the chain without application_protocols", { h2: { applicationProtocols: ["h2"] }, any: {} }, undefined, { alpn: ["x"] }, "any"],
    // direct_source_prefix_ranges
    ["direct source prefix", { lb: { directSourcePrefixRanges: ["10.0.0.0/8"] }, any: {} }, undefined, { remote: "192.0.2.1:1", direct: "10.1.1.1:2" }, "lb"],
    // source_type
    ["SAME_IP_OR_LOOPBACK for a loopback peer", { local: { sourceType: "SAME_IP_OR_LOOPBACK" }, ext: { sourceType: "EXTERNAL" } }, undefined, { remote: "127.0.0.1:5" }, "local"],
    ["SAME_IP_OR_LOOPBACK for a peer on the local address", { local: { sourceType: "SAME_IP_OR_LOOPBACK" }, ext: { sourceType: "EXTERNAL" } }, undefined, { local: "192.0.2.9:10000", remote: "192.0.2.9:5" }, "local"],
    ["EXTERNAL otherwise", { local: { sourceType: "SAME_IP_OR_LOOPBACK" }, ext: { sourceType: "EXTERNAL" } }, undefined, {}, "ext"],
    ["source type falls back to ANY when its own type has no chain", { local: { sourceType: "SAME_IP_OR_LOOPBACK" }, any: {} }, undefined, {}, "any"],
    ["…but not when its own type has one that then fails", { ext: { sourceType: "EXTERNAL", sourcePorts: [1] }, any: {} }, "dflt", {}, "dflt"],
    // source_prefix_ranges and source_ports
    ["the longest source prefix", { wide: { sourcePrefixRanges: ["10.0.0.0/8"] }, narrow: { sourcePrefixRanges: ["10.0.0.0/24"] } }, undefined, {}, "narrow"],
    ["a PROXY-restored source is what source ranges see", { proxied: { sourcePrefixRanges: ["192.0.2.0/24"] }, any: {} }, undefined, { remote: "192.0.2.7:1", direct: "10.0.0.1:2" }, "proxied"],
    ["an exact source port before any port", { port: { sourcePorts: [40000] }, any: {} }, undefined, {}, "port"],
    ["a source port that has no chain under its prefix", { port: { sourcePrefixRanges: ["10.0.0.0/8"], sourcePorts: [1] }, any: {} }, "dflt", {}, "dflt"],
    // default and none
    ["nothing matches: the default chain", { a: { serverNames: ["a.com"] } }, "dflt", { sni: "b.com" }, "dflt"],
    ["nothing matches, no default: none (the connection is closed)", { a: { serverNames: ["a.com"] } }, undefined, { sni: "b.com" }, undefined],
    ["one chain without a match takes everything", { only: undefined }, undefined, { sni: "z", transport: "tls" }, "only"],
  ];

  test.each(cases)("%s", (_name, chains, fallback, s, expected) => {
    expect(manager(chains, fallback).findFilterChain(socket(s))).toBe(expected);
  });
});

describe("refused sets of chains, with Envoy's messages", () => {
  test("two chains with the same match", () => {
    expect(() => manager({ a: { serverNames: ["x.com"] }, b: { serverNames: ["x.com"] } })).toThrow(
      new FilterChainConfigError(`error adding listener '127.0.0.1:10000': filter chain 'b' has the same matching rules defined as 'a'. duplicate matcher is: {"server_names":["x.com"]}`),
    );
    // Printed as Envoy's MessageUtil::getJsonStringFromMessage does: proto field names.
    expect(() => manager({ a: { destinationPort: 443, sourcePrefixRanges: ["10.0.0.0/8"] }, b: { destinationPort: 443, sourcePrefixRanges: ["10.0.0.0/8"] } })).toThrow(
      `duplicate matcher is: {"destination_port":443,"source_prefix_ranges":[{"address_prefix":"10.0.0.0","prefix_len":8}]}`,
    );
  });

  test("server names that differ only in case overlap (Envoy compares the protos, then lower-cases them for the tree); a mixed-case name matches the SNI", () => {
    expect(() => manager({ a: { serverNames: ["*.FOO.test"] }, b: { serverNames: ["*.foo.test"] } })).toThrow(
      "error adding listener '127.0.0.1:10000': multiple filter chains with overlapping matching rules are defined",
    );
    expect(manager({ upper: { serverNames: ["*.Example.COM"] } }).findFilterChain(socket({ sni: "a.example.com" }))).toBe("upper");
  });

  test("two chains without a match", () => {
    expect(() => manager({ a: undefined, b: {} })).toThrow("filter chain 'b' has the same matching rules defined as 'a'");
  });

  test("overlapping repeated fields", () => {
    expect(() => manager({ a: { serverNames: ["x.com", "y.com"] }, b: { serverNames: ["y.com"] } })).toThrow(
      "error adding listener '127.0.0.1:10000': multiple filter chains with overlapping matching rules are defined",
    );
  });

  test("different matches that share a prefix are fine", () => {
    expect(() => manager({ a: { serverNames: ["x.com"] }, b: { serverNames: ["x.com"], transportProtocol: "tls" } })).not.toThrow();
  });
});
