/**
 * A cluster of cluster_type envoy.clusters.dynamic_forward_proxy (Envoy's
 * source/extensions/clusters/dynamic_forward_proxy/cluster.cc): its hosts are the DNS
 * cache's, one per `host:port` the cache resolved, made when the cache learns an address
 * and removed when the cache drops the host (host_ttl); an address change moves the host
 * (new connections go there, open ones stay), as Envoy's LogicalHost. A request's host is
 * the one of its `:authority` — after the dynamic_forward_proxy filter's rewrite — with
 * the cluster's default port (443 with TLS, else 80) when it names none; a TCP connection's
 * (tcp_proxy) is its SNI on the port sni_dynamic_forward_proxy chose. A name the cache
 * has not resolved has no host: 503 "no healthy upstream", as Envoy's chooseHost returning
 * none (the filter before the router makes sure it is resolved).
 */
import { Host } from "./host.ts";
import type { PrioritySet } from "./host-set.ts";
import type { LoadBalancer, LoadBalancerContext } from "./load-balancer.ts";
import { normalizeHostForDfp, type DnsCache, type DnsCacheUpdateCallbacks, type DnsHostInfo } from "./dns-cache.ts";

export class DynamicForwardProxyLoadBalancer implements LoadBalancer, DnsCacheUpdateCallbacks {
  private readonly hosts = new Map<string, Host>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    readonly cache: DnsCache,
    private readonly prioritySet: PrioritySet,
    /** 443 when the cluster's transport socket is TLS, else 80 (Envoy's implementsSecureTransport). */
    readonly defaultPort: number,
  ) {
    prioritySet.getOrCreateHostSet(0);
  }

  /** Follow the cache: the hosts it already resolved first (Envoy's startPreInit), then its updates. */
  start(): void {
    this.unsubscribe ??= this.cache.addUpdateCallbacks(this);
  }

  stop(): void {
    this.unsubscribe?.();
  }

  /**
   * Envoy's LoadBalancer::chooseHost: the request's host, else (a TCP connection: the SNI
   * dynamic forward proxy) the SNI, on the port that filter chose when it chose one.
   */
  chooseHost(context: LoadBalancerContext | undefined): Host | undefined {
    const headers = context?.downstreamHeaders?.();
    const connection = headers === undefined ? context?.downstreamConnection?.() : undefined;
    const authority = headers !== undefined ? headers.authority : connection?.requestedServerName;
    if (authority === undefined || authority === "") return undefined;
    const port = connection?.upstreamDynamicPort;
    const key = normalizeHostForDfp(authority, port !== undefined && port > 0 && port <= 65535 ? port : this.defaultPort);
    const host = this.hosts.get(key);
    if (host) this.cache.touch(key);
    return host;
  }

  onDnsHostAddOrUpdate(key: string, info: DnsHostInfo): void {
    const address = info.address;
    if (address === undefined) return;
    const existing = this.hosts.get(key);
    if (existing) {
      existing.setAddress(address);
      return;
    }
    // The host's name is the cache's key, as Envoy's LogicalHost is made with it.
    const host = new Host(address, info.port, { hostname: key });
    this.hosts.set(key, host);
    this.prioritySet.addHosts(0, [host]);
  }

  onDnsHostRemove(key: string): void {
    const host = this.hosts.get(key);
    if (!host) return;
    this.hosts.delete(key);
    this.prioritySet.updateHosts(0, [...this.hosts.values()], [], [host]);
  }

  /** The hosts by `host:port` (tests, the admin). */
  get size(): number {
    return this.hosts.size;
  }
}
