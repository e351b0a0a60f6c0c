import type { OriginalDstConfig } from "../config/bootstrap.ts";
import type { Timer, Timers } from "../event/timers.ts";
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from "../network/cidr-range.ts";
import type { ComponentLogger, Logger } from "../log.ts";
import type { Counter } from "../stats/counter.ts";
import type { StatsScope } from "../stats/stats-store.ts";
import { Host } from "./host.ts";
import type { PrioritySet } from "./host-set.ts";
import type { DynamicMetadata, LoadBalancer, LoadBalancerContext } from "./load-balancer.ts";

/**
 * The most hosts an ORIGINAL_DST cluster holds at once. Envoy has no limit but the cleanup;
 * here a client naming a new `ip:port` in every request within one cleanup_interval must
 * not grow the host map (and a pool per host) without end. When full, the hosts with no
 * connection and no request go at once; if every host is in use, a new destination gets no
 * host (503 "no healthy upstream"), counted in `original_dst_host_overflow`.
 */
export const MAX_ORIGINAL_DST_HOSTS = 4096;

/** An IP and port parsed from `ip:port` / `[ipv6]:port`: the IP in canonical text. */
interface Destination {
  readonly address: string;
  readonly port: number;
}

/**
 * Envoy's Network::Utility::parseInternetAddressAndPortNoThrow (v6only false): `a.b.c.d:port`
 * or `[ipv6]:port`, the port a decimal number up to 65535. Anything else: undefined.
 */
export function parseIpAndPort(text: string): Destination | undefined {
  let ip: string;
  let portText: string;
  if (text.startsWith("[")) {
    const close = text.indexOf("]:");
    if (close < 0) return undefined;
    ip = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) return undefined;
    ip = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535) return undefined;
  if (text.startsWith("[")) {
    const v6 = parseIpv6(ip);
    return v6 && { address: formatIpv6(v6), port };
  }
  const v4 = parseIpv4(ip);
  return v4 && { address: formatIpv4(v4), port };
}

/** One destination's host, and whether a pick chose it since the last cleanup (Envoy's HostsForAddress::used_). */
interface HostEntry {
  readonly host: Host;
  used: boolean;
}

/** The string at `path` in `metadata[namespace]`, the first element of a list there (Envoy's metadataOverrideHost). */
function metadataString(metadata: DynamicMetadata | undefined, key: { namespace: string; path: readonly string[] }): string | undefined {
  let value: unknown = metadata?.[key.namespace];
  for (const segment of key.path) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  if (Array.isArray(value) && value.length > 0) value = value[0];
  return typeof value === "string" ? value : undefined;
}

/**
 * An ORIGINAL_DST cluster's load balancer and hosts (Envoy's
 * source/extensions/clusters/original_dst/original_dst_cluster.cc). A request's
 * destination is, in Envoy's order: the filter state override (no polyvoy filter sets it:
 * never), the `metadata_key` dynamic metadata (the request's, then the connection's), the
 * `use_http_header` header (first value), else the downstream connection's local address
 * when a listener filter restored it (proxy_protocol's destination; without one — the
 * original_dst listener filter's SO_ORIGINAL_DST, which no runtime gives — there is none).
 * `upstream_port_override` then replaces its port. A host is made for a new destination
 * at once and joins the cluster's priority 0; one not picked for a whole cleanup_interval
 * and with no connection or request left is removed (its pools drain).
 *
 * There is no loop guard, as in Envoy: a destination that is polyvoy's own listener sends
 * the request back to it. Each hop holds a connection and a request of the cluster, so its
 * circuit breakers (max_connections, max_pending_requests, max_requests) and the route
 * timeout end such a chain.
 */
export class OriginalDstLoadBalancer implements LoadBalancer {
  private readonly hosts = new Map<string, HostEntry>();
  private cleanupTimer: Timer | undefined;
  /** Envoy's cluster traffic stat original_dst_host_invalid: a header or metadata value that is not `ip:port`. */
  readonly hostInvalid: Counter;
  /** polyvoy's own: a new destination refused because MAX_ORIGINAL_DST_HOSTS hosts are all in use. */
  readonly hostOverflow: Counter;
  private log: ComponentLogger | undefined;

  constructor(
    private readonly config: OriginalDstConfig,
    private readonly prioritySet: PrioritySet,
    /** The cluster's stats scope, `cluster.<name>.`. */
    scope: StatsScope,
    private readonly maxHosts: number = MAX_ORIGINAL_DST_HOSTS,
    /** The cluster's name: a host's hostname is it followed by `ip:port` (Envoy's addHost). */
    private readonly clusterName = "",
  ) {
    this.hostInvalid = scope.counter("original_dst_host_invalid");
    this.hostOverflow = scope.counter("original_dst_host_overflow");
    prioritySet.getOrCreateHostSet(0);
  }

  /** Start the cleanup (Envoy arms its timer when the cluster is made); `stop` ends it. */
  start(timers: Timers, log?: Logger): void {
    this.log = log?.component("upstream");
    const timer = (this.cleanupTimer ??= timers.create(() => {
      this.cleanup();
      timer.enable(this.config.cleanupIntervalMs);
    }));
    timer.enable(this.config.cleanupIntervalMs);
  }

  stop(): void {
    this.cleanupTimer?.disable();
  }

  chooseHost(context: LoadBalancerContext | undefined): Host | undefined {
    if (!context) return undefined;
    let destination = this.metadataOverrideHost(context) ?? this.requestOverrideHost(context);
    if (destination === undefined) {
      const connection = context.downstreamConnection?.();
      const local = connection?.localAddressRestored ? connection.localAddress : undefined;
      if (local !== undefined && local.family !== "unix") destination = parseIpAndPort(local.address.includes(":") ? `[${local.address}]:${local.port}` : `${local.address}:${local.port}`);
    }
    if (destination === undefined) return undefined;
    const port = this.config.portOverride ?? destination.port;
    const key = destination.address.includes(":") ? `[${destination.address}]:${port}` : `${destination.address}:${port}`;
    const existing = this.hosts.get(key);
    if (existing) {
      existing.used = true;
      return existing.host;
    }
    if (this.hosts.size >= this.maxHosts && !this.evictIdle()) {
      this.hostOverflow.inc();
      if (this.log?.debugOn) this.log.debug(`original_dst cluster '${this.clusterName}': ${this.maxHosts} hosts in use, no host for ${key}`);
      return undefined;
    }
    const host = new Host(destination.address, port, { hostname: this.clusterName + key });
    this.hosts.set(key, { host, used: true });
    // Envoy posts addHost to the main thread; here the one thread adds it now.
    this.prioritySet.addHosts(0, [host]);
    return host;
  }

  /** The hosts by `ip:port` (tests, the admin). */
  get size(): number {
    return this.hosts.size;
  }

  private metadataOverrideHost(context: LoadBalancerContext): Destination | undefined {
    const key = this.config.metadataKey;
    if (key === undefined) return undefined;
    const value = metadataString(context.requestDynamicMetadata?.(), key) ?? metadataString(context.downstreamConnection?.()?.dynamicMetadata, key);
    return value === undefined ? undefined : this.parseOverride(value);
  }

  private requestOverrideHost(context: LoadBalancerContext): Destination | undefined {
    const name = this.config.httpHeaderName;
    if (name === undefined) return undefined;
    // An untrusted header: only its first value counts (cluster.proto, use_http_header).
    const value = context.downstreamHeaders?.()?.get(name);
    return value === undefined ? undefined : this.parseOverride(value);
  }

  private parseOverride(value: string): Destination | undefined {
    const destination = parseIpAndPort(value);
    if (destination === undefined) this.hostInvalid.inc();
    return destination;
  }

  /**
   * Full: remove now every host with no connection and no request, picked lately or not —
   * safe on the one thread, where a pick takes its pool before anything else runs. Whether
   * room was made.
   */
  private evictIdle(): boolean {
    const removed: Host[] = [];
    for (const [key, entry] of this.hosts) {
      const stats = entry.host.stats;
      if (stats.cxActive > 0 || stats.rqActive > 0) continue;
      this.hosts.delete(key);
      removed.push(entry.host);
    }
    if (removed.length === 0) return false;
    this.prioritySet.updateHosts(0, [...this.hosts.values()].map((entry) => entry.host), [], removed);
    return true;
  }

  /**
   * Envoy's OriginalDstCluster::cleanup: a host picked since the last run is kept (and
   * marked unpicked); one not picked is kept while a connection or request still uses it
   * (Envoy's original_dst_rely_on_idle_timeout, on by default), else removed.
   */
  cleanup(): void {
    const removed: Host[] = [];
    for (const [key, entry] of this.hosts) {
      if (entry.used) {
        entry.used = false;
        continue;
      }
      const stats = entry.host.stats;
      if (stats.cxActive > 0 || stats.rqActive > 0) continue;
      this.hosts.delete(key);
      removed.push(entry.host);
    }
    if (removed.length > 0) {
      const keep = [...this.hosts.values()].map((entry) => entry.host);
      this.prioritySet.updateHosts(0, keep, [], removed);
    }
  }
}
