/**
 * Envoy's dynamic forward proxy HTTP filter
 * (source/extensions/filters/http/dynamic_forward_proxy/proxy_filter.cc): for a route to
 * a dynamic_forward_proxy cluster, the request's host is looked up in the DNS cache before
 * the router picks a host of it. A host resolved before goes on at once; a new one waits
 * (its headers, body and trailers held, the body within the stream's buffer limit) for its
 * first answer — at most dns_query_timeout, and at most
 * dns_cache_circuit_breaker.max_pending_requests requests at once. A route whose cluster is
 * another type passes through untouched. The route's PerRouteConfig may first rewrite the
 * Host, which both the lookup and the upstream request then use.
 *
 * Envoy's local replies (proxy_filter.cc ResponseStrings, RcDetails): 503 "DNS resolution
 * failure" (details `dns_resolution_failure{<why>}`, flag DF), 503 "DNS cache overflow"
 * (max_hosts), 503 "Dynamic forward proxy pending request overflow", 400 "Empty host header".
 */
import type { DynamicForwardProxyFilterConfig, DynamicForwardProxyPerRouteConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import { CoreResponseFlag } from "../../stream-info/response-flags.ts";
import type { DnsCache, DnsHostInfo, LoadDnsCacheEntryCallbacks } from "../../upstream/dns-cache.ts";
import { PerConfig } from "../../util/per-config.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type StreamDecoderFilter,
} from "../filter.ts";
import type { RequestHeaders } from "../message.ts";
import { routeCluster } from "../route/route-cluster.ts";

/** Envoy's StreamInfo::UpstreamAddress key: save_upstream_address puts the resolved `ip:port` there. */
export const UPSTREAM_ADDRESS_FILTER_STATE_KEY = "envoy.stream.upstream_address";

/** The cache a filter config attaches to, made once per config (Envoy's ProxyFilterConfig). */
const CACHES = new PerConfig((config: DynamicForwardProxyFilterConfig, server: ServerContext) => server.clusterManager.dnsCaches.getCache(config.dnsCache));

/** Made with the listener's filter chain: a cache of the name with other settings is refused then, not at a request. */
export function dynamicForwardProxyCache(config: DynamicForwardProxyFilterConfig, server: ServerContext): DnsCache {
  return CACHES.get(config, server);
}

export class DynamicForwardProxyFilter implements StreamDecoderFilter, LoadDnsCacheEntryCallbacks {
  private callbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  /** The pending-request slot held while waiting (Envoy's circuit_breaker_). */
  private release: (() => void) | undefined;
  /** Stop waiting for the cache (Envoy's cache_load_handle_). */
  private cancel: (() => void) | undefined;

  constructor(
    private readonly config: DynamicForwardProxyFilterConfig,
    private readonly cache: DnsCache,
    private readonly server: ServerContext,
  ) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.callbacks = callbacks;
  }

  decodeHeaders(headers: RequestHeaders): FilterHeadersStatus {
    const callbacks = this.callbacks;
    const match = callbacks.route;
    if (!match || match.route.action.type !== "route") return FilterHeadersStatus.Continue;
    const cluster = this.server.clusterManager.get(routeCluster(callbacks, this.server.runtime));
    // Only a dynamic forward proxy cluster's hosts need the cache: other types resolve their own names.
    const dfp = cluster?.dynamicForwardProxy;
    if (!dfp) return FilterHeadersStatus.Continue;
    const defaultPort = dfp.defaultPort;
    const perRoute = callbacks.mostSpecificPerFilterConfig<DynamicForwardProxyPerRouteConfig>();
    if (perRoute?.hostRewriteLiteral !== undefined) headers.authority = perRoute.hostRewriteLiteral;
    if (perRoute?.hostRewriteHeader !== undefined) {
      // An untrusted header: only its first value counts (dynamic_forward_proxy.proto).
      const value = headers.get(perRoute.hostRewriteHeader);
      if (value !== undefined) headers.authority = value;
    }
    const release = this.cache.canCreateDnsRequest();
    if (release === undefined) {
      callbacks.sendLocalReply(503, "Dynamic forward proxy pending request overflow", "dynamic_forward_proxy_pending_request_overflow");
      return FilterHeadersStatus.StopIteration;
    }
    if (headers.authority === "") {
      release();
      callbacks.sendLocalReply(400, "Empty host header", "empty_host_header");
      return FilterHeadersStatus.StopIteration;
    }
    const result = this.cache.loadDnsCacheEntry(headers.authority, defaultPort, this);
    switch (result.status) {
      case "InCache":
        release();
        if (result.info.address === undefined) {
          this.onDnsResolutionFail(result.info.details);
          return FilterHeadersStatus.StopIteration;
        }
        this.saveUpstreamAddress(result.info);
        return FilterHeadersStatus.Continue;
      case "Loading":
        this.release = release;
        this.cancel = result.cancel;
        return FilterHeadersStatus.StopAllIterationAndWatermark;
      case "Overflow":
        release();
        callbacks.sendLocalReply(503, "DNS cache overflow", "dns_cache_overflow");
        return FilterHeadersStatus.StopIteration;
    }
  }

  decodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  decodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  /** The host's first answer came (Envoy's onLoadDnsCacheComplete). */
  onLoadDnsCacheComplete(info: DnsHostInfo): void {
    this.cancel = undefined;
    this.release?.();
    this.release = undefined;
    if (info.address === undefined) {
      this.onDnsResolutionFail(info.details);
      return;
    }
    this.saveUpstreamAddress(info);
    this.callbacks.continueDecoding();
  }

  onDestroy(): void {
    this.cancel?.();
    this.cancel = undefined;
    this.release?.();
    this.release = undefined;
  }

  private onDnsResolutionFail(details: string): void {
    // Envoy's details: the reason with white space replaced (StringUtil::replaceAllEmptySpace).
    this.callbacks.sendLocalReply(503, "DNS resolution failure", `dns_resolution_failure{${details.replace(/\s/g, "_")}}`, CoreResponseFlag.DnsResolutionFailed);
  }

  private saveUpstreamAddress(info: DnsHostInfo): void {
    if (!this.config.saveUpstreamAddress || info.address === undefined) return;
    const address = info.address.includes(":") ? `[${info.address}]:${info.port}` : `${info.address}:${info.port}`;
    this.callbacks.streamInfo.setRequestLifespanFilterState(UPSTREAM_ADDRESS_FILTER_STATE_KEY, address);
  }
}
