import type { ProxyProtocolConfig } from "../../config/bootstrap.ts";
import type { Counter } from "../../stats/counter.ts";
import type { StatsStore } from "../../stats/stats-store.ts";
import { FilterStatus } from "../filter.ts";
import type { ListenerFilter, ListenerFilterBuffer, ListenerFilterCallbacks } from "./listener-filter.ts";
import { ProxyProtocolParser, type ProxyProtocolVersion } from "./proxy-protocol-header.ts";

/**
 * Envoy's proxy_protocol stats: `proxy_proto.[<stat_prefix>.]not_found_allowed`,
 * `not_found_disallowed` and `versions.<v1|v2>.{found,disallowed,error}`, and the legacy
 * root counter `downstream_cx_proxy_proto_error` (any error).
 */
export class ProxyProtocolStats {
  readonly notFoundAllowed: Counter;
  readonly notFoundDisallowed: Counter;
  readonly versions: Record<ProxyProtocolVersion, { found: Counter; disallowed: Counter; error: Counter }>;
  readonly legacyError: Counter;

  constructor(store: StatsStore, statPrefix: string | undefined) {
    const scope = store.scope(statPrefix ? `proxy_proto.${statPrefix}.` : "proxy_proto.");
    this.notFoundAllowed = scope.counter("not_found_allowed");
    this.notFoundDisallowed = scope.counter("not_found_disallowed");
    const version = (v: string) => ({
      found: scope.counter(`versions.${v}.found`),
      disallowed: scope.counter(`versions.${v}.disallowed`),
      error: scope.counter(`versions.${v}.error`),
    });
    this.versions = { 1: version("v1"), 2: version("v2") };
    this.legacyError = store.counter("downstream_cx_proxy_proto_error");
  }
}

/**
 * envoy.filters.listener.proxy_protocol: reads the PROXY protocol header a load balancer
 * in front puts before the client's bytes, takes the addresses it carries as the
 * connection's remote (x-forwarded-for, access logs, source-ip matching) and local ones
 * (destination matching), and drains it. No header: the connection is closed, unless
 * allow_requests_without_proxy_protocol lets it go on as it is.
 */
export class ProxyProtocolFilter implements ListenerFilter {
  private readonly parser: ProxyProtocolParser;
  private callbacks!: ListenerFilterCallbacks;

  constructor(
    private readonly config: ProxyProtocolConfig,
    private readonly stats: ProxyProtocolStats,
  ) {
    this.parser = new ProxyProtocolParser();
  }

  get maxReadBytes(): number {
    return this.parser.maxReadBytes;
  }

  onAccept(callbacks: ListenerFilterCallbacks): FilterStatus {
    this.callbacks = callbacks;
    return FilterStatus.StopIteration;
  }

  onData(buffer: ListenerFilterBuffer): FilterStatus {
    const result = this.parser.parse(buffer.bytes);
    const stats = this.stats;
    switch (result.kind) {
      case "more":
        return FilterStatus.StopIteration;
      case "not_found":
        if (this.config.allowRequestsWithoutProxyProtocol) {
          stats.notFoundAllowed.inc();
          return FilterStatus.Continue;
        }
        stats.notFoundDisallowed.inc();
        return this.fail();
      case "error":
        if (result.version !== undefined) stats.versions[result.version].error.inc();
        return this.fail();
      case "header": {
        if (this.config.disallowedVersions.includes(result.version === 1 ? "V1" : "V2")) {
          stats.versions[result.version].disallowed.inc();
          return this.fail();
        }
        stats.versions[result.version].found.inc();
        const socket = this.callbacks.socket;
        if (result.remote && result.local) {
          socket.restoreLocalAddress(result.local);
          socket.setRemoteAddress(result.remote);
        }
        buffer.drain(result.length);
        return FilterStatus.Continue;
      }
    }
  }

  private fail(): FilterStatus {
    this.stats.legacyError.inc();
    this.callbacks.close();
    return FilterStatus.StopIteration;
  }
}
