/**
 * Picks the virtual host for a request's authority, as Envoy's RouteMatcher does
 * (source/common/router/config_impl.cc, findVirtualHost). Search order:
 *   1. exact domain ("www.foo.com"),
 *   2. suffix wildcards ("*.foo.com", "*-bar.foo.com"), longest first,
 *   3. prefix wildcards ("foo.*", "foo-*"), longest first,
 *   4. "*".
 * Matching is case-insensitive. The authority is used as is, port included: "foo.com:8000"
 * does not match "foo.com" (list "foo.com:8000", or "foo.com:*") unless route_config sets
 * ignore_port_in_host_matching. A wildcard never matches the empty string: "*.foo.com"
 * does not match ".foo.com".
 */
import type { RouteConfiguration, VirtualHostConfig } from "../../config/bootstrap.ts";

/** Wildcard domains by the length of their fixed part, so a lookup tries one map per distinct length. */
class WildcardIndex {
  private readonly byLength = new Map<number, Map<string, VirtualHostConfig>>();
  /** Longest first: the longest wildcard wins. */
  private lengths: number[] = [];

  add(fixed: string, vhost: VirtualHostConfig): void {
    let map = this.byLength.get(fixed.length);
    if (map === undefined) {
      map = new Map();
      this.byLength.set(fixed.length, map);
      this.lengths = [...this.byLength.keys()].sort((a, b) => b - a);
    }
    if (!map.has(fixed)) map.set(fixed, vhost);
  }

  get size(): number {
    return this.lengths.length;
  }

  /** `part(host, length)` cuts the host's candidate suffix or prefix. */
  find(host: string, part: (host: string, length: number) => string): VirtualHostConfig | undefined {
    for (const length of this.lengths) {
      // ">=" because the wildcard must stand for at least one character.
      if (length >= host.length) continue;
      const vhost = this.byLength.get(length)!.get(part(host, length));
      if (vhost !== undefined) return vhost;
    }
    return undefined;
  }
}

const suffixOf = (host: string, length: number) => host.slice(host.length - length);
const prefixOf = (host: string, length: number) => host.slice(0, length);

export class VirtualHostSelector {
  private readonly exact = new Map<string, VirtualHostConfig>();
  private readonly suffixes = new WildcardIndex();
  private readonly prefixes = new WildcardIndex();
  private readonly catchAll: VirtualHostConfig | undefined;
  private readonly ignorePort: boolean;

  constructor(config: RouteConfiguration) {
    let catchAll: VirtualHostConfig | undefined;
    // The loader refuses duplicate domains; should one slip through, the first wins.
    for (const vhost of config.virtualHosts) {
      for (const domain of vhost.domains.map((d) => d.toLowerCase())) {
        if (domain === "*") catchAll ??= vhost;
        else if (domain.startsWith("*")) this.suffixes.add(domain.slice(1), vhost);
        else if (domain.endsWith("*")) this.prefixes.add(domain.slice(0, -1), vhost);
        else if (!this.exact.has(domain)) this.exact.set(domain, vhost);
      }
    }
    this.catchAll = catchAll;
    this.ignorePort = config.ignorePortInHostMatching;
  }

  select(authority: string): VirtualHostConfig | undefined {
    // Envoy's fast path: with only "*", the authority is not even looked at.
    if (this.exact.size === 0 && this.suffixes.size === 0 && this.prefixes.size === 0) return this.catchAll;
    const host = (this.ignorePort ? withoutPort(authority) : authority).toLowerCase();
    return this.exact.get(host) ?? this.suffixes.find(host, suffixOf) ?? this.prefixes.find(host, prefixOf) ?? this.catchAll;
  }
}

/** Envoy's HeaderUtility::getPortStart: the last ":" not inside an IPv6 literal's brackets. */
function withoutPort(authority: string): string {
  const colon = authority.lastIndexOf(":");
  if (colon < 0 || authority.lastIndexOf("]") > colon) return authority;
  return authority.slice(0, colon);
}
