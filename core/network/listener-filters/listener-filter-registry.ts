import type { ListenerFilterConfig } from "../../config/bootstrap.ts";
import type { StatsStore } from "../../stats/stats-store.ts";
import { HttpInspector, HttpInspectorStats } from "./http-inspector.ts";
import type { ListenerFilterFactory } from "./listener-filter.ts";
import { ProxyProtocolFilter, ProxyProtocolStats } from "./proxy-protocol.ts";
import { TlsInspector, TlsInspectorStats } from "./tls-inspector.ts";

/**
 * The per-connection factory for one of a listener's listener_filters (Envoy's
 * `NamedListenerFilterConfigFactory`). Made once per listener; its stats are the
 * server's (listener filters count in the root scope, as Envoy's).
 */
export function createListenerFilterFactory(filter: ListenerFilterConfig, store: StatsStore): ListenerFilterFactory {
  switch (filter.type) {
    case "envoy.filters.listener.tls_inspector": {
      const stats = new TlsInspectorStats(store);
      const config = filter.config;
      return () => new TlsInspector(stats, config);
    }
    case "envoy.filters.listener.http_inspector": {
      const stats = new HttpInspectorStats(store);
      return () => new HttpInspector(stats);
    }
    case "envoy.filters.listener.proxy_protocol": {
      const config = filter.config;
      const stats = new ProxyProtocolStats(store, config.statPrefix);
      return () => new ProxyProtocolFilter(config, stats);
    }
  }
}
