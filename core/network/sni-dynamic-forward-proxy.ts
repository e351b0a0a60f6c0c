/**
 * Envoy's SNI dynamic forward proxy network filter
 * (source/extensions/filters/network/sni_dynamic_forward_proxy/proxy_filter.cc): before
 * tcp_proxy connects to a dynamic_forward_proxy cluster, the SNI the tls_inspector read is
 * looked up in the DNS cache on `port_value`, and the connection waits (its reading held)
 * for a new name's first answer. The TLS is passed through: the cluster's host is the SNI's
 * address on that port (the connection's `upstreamDynamicPort`, Envoy's
 * `envoy.upstream.dynamic_port`). No SNI: the filter does nothing. Over max_hosts or
 * dns_cache_circuit_breaker.max_pending_requests the connection is closed, as Envoy's; a
 * name that does not resolve goes on to tcp_proxy, which finds no host and closes it (UH).
 */
import type { SniDynamicForwardProxyFilterConfig } from "../config/bootstrap.ts";
import type { ServerContext } from "../server-context.ts";
import type { DnsCache, LoadDnsCacheEntryCallbacks } from "../upstream/dns-cache.ts";
import type { Connection } from "./connection.ts";
import { FilterStatus, type ReadFilter, type ReadFilterCallbacks } from "./filter.ts";
import type { ReadBuffer } from "./read-buffer.ts";

export function sniDynamicForwardProxyCache(config: SniDynamicForwardProxyFilterConfig["config"], server: ServerContext): DnsCache {
  return server.clusterManager.dnsCaches.getCache(config.dnsCache);
}

export class SniDynamicForwardProxyFilter implements ReadFilter, LoadDnsCacheEntryCallbacks {
  private callbacks: ReadFilterCallbacks | undefined;
  private release: (() => void) | undefined;
  private cancel: (() => void) | undefined;

  constructor(
    private readonly config: SniDynamicForwardProxyFilterConfig["config"],
    private readonly cache: DnsCache,
    private readonly connection: Connection,
  ) {
    connection.addConnectionCallbacks({
      onEvent: (event) => {
        if (event === "RemoteClose" || event === "LocalClose") this.onClose();
      },
      onAboveWriteBufferHighWatermark: () => {},
      onBelowWriteBufferLowWatermark: () => {},
    });
  }

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    this.callbacks = callbacks;
  }

  onNewConnection(): FilterStatus {
    const sni = this.connection.requestedServerName;
    if (sni === "") return FilterStatus.Continue;
    this.connection.upstreamDynamicPort = this.config.portValue;
    const release = this.cache.canCreateDnsRequest();
    if (release === undefined) {
      this.connection.close("FlushWrite");
      return FilterStatus.StopIteration;
    }
    const result = this.cache.loadDnsCacheEntry(sni, this.config.portValue, this);
    switch (result.status) {
      case "InCache":
        release();
        return FilterStatus.Continue;
      case "Loading":
        this.release = release;
        this.cancel = result.cancel;
        return FilterStatus.StopIteration;
      case "Overflow":
        release();
        this.connection.close("FlushWrite");
        return FilterStatus.StopIteration;
    }
  }

  onData(_buffer: ReadBuffer, _endStream: boolean): FilterStatus {
    return FilterStatus.Continue;
  }

  /** The name's first answer came, with an address or not: tcp_proxy goes on (Envoy's onLoadDnsCacheComplete). */
  onLoadDnsCacheComplete(): void {
    this.cancel = undefined;
    this.release?.();
    this.release = undefined;
    this.callbacks?.continueReading();
  }

  private onClose(): void {
    this.cancel?.();
    this.cancel = undefined;
    this.release?.();
    this.release = undefined;
  }
}
