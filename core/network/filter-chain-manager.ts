import type { CidrRangeConfig, FilterChainMatchConfig } from "../config/bootstrap.ts";
import type { SocketAddress } from "../port.ts";
import { CidrRange, parseIp } from "./cidr-range.ts";

/**
 * What a filter chain is chosen by (Envoy's `Network::ConnectionSocket` as the filter
 * chain manager reads it): the addresses, as the listener filters left them (a PROXY
 * protocol header restores the local and remote ones), and what the inspectors found.
 */
export interface ConnectionSocketInfo {
  readonly localAddress: SocketAddress | undefined;
  readonly remoteAddress: SocketAddress | undefined;
  /** The peer the socket is connected to, whatever a PROXY header says. */
  readonly directRemoteAddress: SocketAddress | undefined;
  /** SNI from the tls_inspector, lower case; "" when none. */
  readonly requestedServerName: string;
  /** The tls_inspector's JA3 hash; "" or absent when none. */
  readonly ja3Hash?: string;
  /** "tls" from the tls_inspector; "raw_buffer" otherwise (Envoy's default once listener filters are done). */
  readonly detectedTransportProtocol: string;
  /** ALPN from the tls_inspector, or the http_inspector's http/1.1, http/1.0 or h2c. */
  readonly requestedApplicationProtocols: readonly string[];
}

/** A chain as the manager is given it. */
export interface FilterChainEntry<C> {
  readonly name: string;
  readonly match: FilterChainMatchConfig | undefined;
  readonly chain: C;
}

/** A refused set of filter chains, with Envoy's message. */
export class FilterChainConfigError extends Error {}

const EMPTY_MATCH: FilterChainMatchConfig = {
  destinationPort: 0,
  prefixRanges: [],
  directSourcePrefixRanges: [],
  sourceType: "ANY",
  sourcePrefixRanges: [],
  sourcePorts: [],
  serverNames: [],
  transportProtocol: "",
  applicationProtocols: [],
};

/** Envoy's `fakeAddress()`: an address that is not IP matches only the catch-all ranges. */
const FAKE_ADDRESS = new Uint8Array([255, 255, 255, 255]);

/**
 * A table keyed by CIDR range, looked up by longest prefix (Envoy's LC tries, built by
 * `convertIPsToTries`). The key "" is the catch-all: 0.0.0.0/0 and ::/0.
 */
class CidrTable<T> {
  private readonly byKey = new Map<string, { ranges: CidrRange[]; data: T }>();
  private sorted: { range: CidrRange; data: T }[] | undefined;

  constructor(private readonly make: () => T) {}

  at(range: CidrRange | undefined): T {
    const key = range ? range.toString() : "";
    let entry = this.byKey.get(key);
    if (!entry) {
      entry = { ranges: range ? [range] : [CidrRange.ANY_V4, CidrRange.ANY_V6], data: this.make() };
      this.byKey.set(key, entry);
    }
    this.sorted = undefined;
    return entry.data;
  }

  /** The entry of the longest range holding `address`. */
  find(address: Uint8Array): T | undefined {
    this.sorted ??= [...this.byKey.values()]
      .flatMap((e) => e.ranges.map((range) => ({ range, data: e.data })))
      .sort((a, b) => b.range.length - a.range.length);
    for (const { range, data } of this.sorted) if (range.contains(address)) return data;
    return undefined;
  }
}

type SourcePorts<C> = Map<number, C>;
type SourceIps<C> = CidrTable<SourcePorts<C>>;
/** Indexed by source type: ANY, SAME_IP_OR_LOOPBACK, EXTERNAL. */
type SourceTypes<C> = [SourceIps<C> | undefined, SourceIps<C> | undefined, SourceIps<C> | undefined];
type DirectSourceIps<C> = CidrTable<SourceTypes<C>>;
type ApplicationProtocols<C> = Map<string, DirectSourceIps<C>>;
type TransportProtocols<C> = Map<string, ApplicationProtocols<C>>;
type ServerNames<C> = Map<string, TransportProtocols<C>>;
type DestinationIps<C> = CidrTable<ServerNames<C>>;

const SOURCE_TYPE_INDEX = { ANY: 0, SAME_IP_OR_LOOPBACK: 1, EXTERNAL: 2 } as const;

/**
 * Chooses a connection's filter chain by filter_chain_match, exactly as Envoy's
 * `FilterChainManagerImpl` (source/common/listener_manager/filter_chain_manager_impl.cc):
 * the match fields form a tree in the order destination port, destination IP, server
 * name, transport protocol, application protocols, direct source IP, source type, source
 * IP, source port. At each level the most specific entry that matches is taken (an exact
 * port, the longest prefix, an exact then the longest `*.` wildcard server name, …), else
 * the entry that does not constrain that field — and once a level has chosen, there is no
 * going back to try a less specific branch: a connection that then fails a later level
 * gets the default_filter_chain, or none. Only source type falls back: a connection that
 * is local (or external) takes SAME_IP_OR_LOOPBACK (or EXTERNAL) chains when there are
 * any, and ANY chains only when there are none.
 */
export class FilterChainManager<C> {
  private readonly destinationPorts = new Map<number, DestinationIps<C>>();
  /** One chain with no match and no default: every connection gets it (no lookup). */
  private readonly only: C | undefined;

  /** Throws FilterChainConfigError with Envoy's message when two chains have the same match. */
  constructor(
    listenerAddress: string,
    chains: readonly FilterChainEntry<C>[],
    private readonly defaultChain: C | undefined,
  ) {
    const seen = new Map<string, string>();
    for (const entry of chains) {
      const match = entry.match ?? EMPTY_MATCH;
      const key = matchKey(match);
      const earlier = seen.get(key);
      if (earlier !== undefined) {
        throw new FilterChainConfigError(
          `error adding listener '${listenerAddress}': filter chain '${entry.name}' has the same matching rules defined as '${earlier}'. duplicate matcher is: ${matchJson(match)}`,
        );
      }
      seen.set(key, entry.name);
      this.add(listenerAddress, match, entry.chain);
    }
    this.only = chains.length === 1 && chains[0]!.match === undefined && defaultChain === undefined ? chains[0]!.chain : undefined;
  }

  /** The chain for this connection: the matching one, else the default chain, else undefined (the connection is closed). */
  findFilterChain(socket: ConnectionSocketInfo): C | undefined {
    if (this.only !== undefined) return this.only;
    const port = socket.localAddress?.port ?? 0;
    // An entry for the exact port decides: if nothing under it matches, the default
    // chain is taken, not the chains of port 0.
    const exact = port !== 0 ? this.destinationPorts.get(port) : undefined;
    if (exact !== undefined) return this.findForDestinationIp(exact, socket) ?? this.defaultChain;
    const any = this.destinationPorts.get(0);
    return (any !== undefined ? this.findForDestinationIp(any, socket) : undefined) ?? this.defaultChain;
  }

  private findForDestinationIp(table: DestinationIps<C>, socket: ConnectionSocketInfo): C | undefined {
    const serverNames = table.find(ipBytes(socket.localAddress));
    return serverNames && this.findForServerName(serverNames, socket);
  }

  private findForServerName(map: ServerNames<C>, socket: ConnectionSocketInfo): C | undefined {
    const name = socket.requestedServerName;
    const exact = map.get(name);
    if (exact !== undefined) return this.findForTransportProtocol(exact, socket);
    // ".example.com" then ".com" for "www.example.com": the longest wildcard first.
    let at = name.indexOf(".", 1);
    while (at !== -1 && at < name.length - 1) {
      const wildcard = map.get(name.slice(at));
      if (wildcard !== undefined) return this.findForTransportProtocol(wildcard, socket);
      at = name.indexOf(".", at + 1);
    }
    const any = map.get("");
    return any && this.findForTransportProtocol(any, socket);
  }

  private findForTransportProtocol(map: TransportProtocols<C>, socket: ConnectionSocketInfo): C | undefined {
    const protocols = map.get(socket.detectedTransportProtocol) ?? map.get("");
    return protocols && this.findForApplicationProtocols(protocols, socket);
  }

  private findForApplicationProtocols(map: ApplicationProtocols<C>, socket: ConnectionSocketInfo): C | undefined {
    for (const protocol of socket.requestedApplicationProtocols) {
      const found = map.get(protocol);
      if (found !== undefined) return this.findForDirectSourceIp(found, socket);
    }
    const any = map.get("");
    return any && this.findForDirectSourceIp(any, socket);
  }

  private findForDirectSourceIp(table: DirectSourceIps<C>, socket: ConnectionSocketInfo): C | undefined {
    const types = table.find(ipBytes(socket.directRemoteAddress));
    return types && this.findForSourceType(types, socket);
  }

  private findForSourceType(types: SourceTypes<C>, socket: ConnectionSocketInfo): C | undefined {
    const local = types[SOURCE_TYPE_INDEX.SAME_IP_OR_LOOPBACK];
    const external = types[SOURCE_TYPE_INDEX.EXTERNAL];
    if (local !== undefined || external !== undefined) {
      const chosen = isSameIpOrLoopback(socket) ? local : external;
      if (chosen !== undefined) return this.findForSourceIpAndPort(chosen, socket);
    }
    const any = types[SOURCE_TYPE_INDEX.ANY];
    return any && this.findForSourceIpAndPort(any, socket);
  }

  private findForSourceIpAndPort(table: SourceIps<C>, socket: ConnectionSocketInfo): C | undefined {
    const ports = table.find(ipBytes(socket.remoteAddress));
    if (ports === undefined) return undefined;
    const port = socket.remoteAddress?.port ?? 0;
    return ports.get(port) ?? (port !== 0 ? ports.get(0) : undefined);
  }

  // ---- building the tree (Envoy's addFilterChainFor*) ----

  private add(listenerAddress: string, match: FilterChainMatchConfig, chain: C): void {
    let destinationIps = this.destinationPorts.get(match.destinationPort);
    if (destinationIps === undefined) {
      destinationIps = new CidrTable(() => new Map());
      this.destinationPorts.set(match.destinationPort, destinationIps);
    }
    // Envoy lower-cases them (addFilterChainForServerNames); SNI is compared in lower case.
    const serverNames = match.serverNames.map((name) => (name.startsWith("*.") ? name.slice(1) : name).toLowerCase());
    for (const destination of orAny(ranges(match.prefixRanges))) {
      const byServerName = destinationIps.at(destination);
      for (const serverName of orAny(serverNames)) {
        const byTransport = getOrMake(byServerName, serverName ?? "", () => new Map<string, ApplicationProtocols<C>>());
        const byApplication = getOrMake(byTransport, match.transportProtocol, () => new Map<string, DirectSourceIps<C>>());
        for (const application of orAny(match.applicationProtocols)) {
          const byDirectSource = getOrMake(byApplication, application ?? "", () => new CidrTable<SourceTypes<C>>(() => [undefined, undefined, undefined]));
          for (const directSource of orAny(ranges(match.directSourcePrefixRanges))) {
            const types = byDirectSource.at(directSource);
            const index = SOURCE_TYPE_INDEX[match.sourceType];
            const bySourceIp = (types[index] ??= new CidrTable(() => new Map()));
            for (const source of orAny(ranges(match.sourcePrefixRanges))) {
              const byPort = bySourceIp.at(source);
              for (const port of orAny(match.sourcePorts)) {
                if (byPort.has(port ?? 0)) {
                  // Some other chain's repeated fields overlap this one's.
                  throw new FilterChainConfigError(`error adding listener '${listenerAddress}': multiple filter chains with overlapping matching rules are defined`);
                }
                byPort.set(port ?? 0, chain);
              }
            }
          }
        }
      }
    }
  }
}

function orAny<T>(values: readonly T[]): readonly (T | undefined)[] {
  return values.length === 0 ? [undefined] : values;
}

function ranges(configs: readonly CidrRangeConfig[]): CidrRange[] {
  // The schema validated them.
  return configs.map((c) => CidrRange.create(c.addressPrefix, c.prefixLen)!);
}

function getOrMake<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

function ipBytes(address: SocketAddress | undefined): Uint8Array {
  return (address && unmappedIp(address.address)) ?? FAKE_ADDRESS;
}

/**
 * An address's bytes, an IPv4-mapped IPv6 address (::ffff:a.b.c.d, how a dual-stack
 * socket reports an IPv4 peer) as the IPv4 address it carries: Envoy's
 * Address::addressFromSockAddr makes such an address IPv4 on a socket that is not v6only.
 */
function unmappedIp(text: string): Uint8Array | undefined {
  const bytes = parseIp(text);
  if (bytes === undefined || bytes.length !== 16 || bytes[10] !== 0xff || bytes[11] !== 0xff) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes;
  return bytes.subarray(12);
}

/** Envoy's `Network::Utility::isSameIpOrLoopback`: the peer is a loopback address or the local address itself. */
function isSameIpOrLoopback(socket: ConnectionSocketInfo): boolean {
  const remote = socket.remoteAddress;
  if (remote === undefined) return false;
  // A Unix socket's peer is on this host (isSameIpOrLoopback: Address::Type::Pipe is true).
  if (remote.family === "unix") return true;
  const bytes = unmappedIp(remote.address);
  if (bytes === undefined) return false;
  if (bytes.length === 4 ? bytes[0] === 127 : bytes.every((b, i) => b === (i === 15 ? 1 : 0))) return true;
  const local = socket.localAddress && unmappedIp(socket.localAddress.address);
  return local !== undefined && local.length === bytes.length && local.every((b, i) => b === bytes[i]);
}

/** Two matches compare equal when every field does, repeated fields in order (as protobuf's message equality). */
function matchKey(match: FilterChainMatchConfig): string {
  return JSON.stringify([
    match.destinationPort,
    match.prefixRanges.map(cidrKey),
    match.directSourcePrefixRanges.map(cidrKey),
    match.sourceType,
    match.sourcePrefixRanges.map(cidrKey),
    match.sourcePorts,
    match.serverNames,
    match.transportProtocol,
    match.applicationProtocols,
  ]);
}

function cidrKey(c: CidrRangeConfig): string {
  return `${c.addressPrefix}/${c.prefixLen}`;
}

/**
 * The match as proto JSON, what Envoy prints after "duplicate matcher is:"
 * (MessageUtil::getJsonStringFromMessage: proto field names, fields at their default left out).
 */
function matchJson(match: FilterChainMatchConfig): string {
  const json: Record<string, unknown> = {};
  const cidrs = (list: CidrRangeConfig[]) => list.map((c) => ({ address_prefix: c.addressPrefix, prefix_len: c.prefixLen }));
  if (match.destinationPort !== 0) json.destination_port = match.destinationPort;
  if (match.prefixRanges.length) json.prefix_ranges = cidrs(match.prefixRanges);
  if (match.directSourcePrefixRanges.length) json.direct_source_prefix_ranges = cidrs(match.directSourcePrefixRanges);
  if (match.sourceType !== "ANY") json.source_type = match.sourceType;
  if (match.sourcePrefixRanges.length) json.source_prefix_ranges = cidrs(match.sourcePrefixRanges);
  if (match.sourcePorts.length) json.source_ports = match.sourcePorts;
  if (match.serverNames.length) json.server_names = match.serverNames;
  if (match.transportProtocol !== "") json.transport_protocol = match.transportProtocol;
  if (match.applicationProtocols.length) json.application_protocols = match.applicationProtocols;
  return JSON.stringify(json);
}
