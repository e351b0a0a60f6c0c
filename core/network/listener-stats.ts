import type { Counter } from "../stats/counter.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { Histogram } from "../stats/histogram.ts";
import type { StatsStore } from "../stats/stats-store.ts";
import { sanitizeStatsPrefix } from "../stats/sanitize-stats-name.ts";

/**
 * Envoy's per-listener stats, `listener.<address>.*` (the address as `127.0.0.1_10000`),
 * or `listener.<stat_prefix>.*` when the listener has one (the admin's `listener.admin.*`).
 */
export class ListenerStats {
  readonly downstreamCxTotal: Counter;
  readonly downstreamCxActive: Gauge;
  readonly downstreamCxDestroy: Counter;
  readonly downstreamCxLengthMs: Histogram;
  /** Refused by the overload manager's global_downstream_max_connections. */
  readonly downstreamGlobalCxOverflow: Counter;
  /** Refused by envoy.overload_actions.reject_incoming_connections. */
  readonly downstreamCxOverloadReject: Counter;
  /** No filter chain matched (and no default_filter_chain): closed. */
  readonly noFilterChainMatch: Counter;
  /** Sockets in the listener filters, before a connection is made. */
  readonly downstreamPreCxActive: Gauge;
  /** listener_filters_timeout fired. */
  readonly downstreamPreCxTimeout: Counter;
  /** The peer closed while the listener filters read. */
  readonly downstreamListenerFilterRemoteClose: Counter;
  /** A listener filter still wanted more than it may read. */
  readonly downstreamListenerFilterError: Counter;
  /** Refused over the runtime's envoy.resource_limits.listener.<name>.connection_limit. */
  readonly downstreamCxOverflow: Counter;
  /** A filter chain's transport_socket_connect_timeout closed a connection whose TLS handshake was not done. */
  readonly downstreamCxTransportSocketConnectTimeout: Counter;
  /** `listener.<address>.` or `listener.<stat_prefix>.`: where the listener's other stats (ssl.*) go too. */
  readonly prefix: string;

  constructor(store: StatsStore, address: { address: string; port: number }, statPrefix?: string) {
    // Envoy names it by the address's asString() (`[::1]:10000` for IPv6), sanitized: `listener.[__1]_10000.`.
    const host = address.address.includes(":") ? `[${address.address}]` : address.address;
    this.prefix = sanitizeStatsPrefix(`listener.${statPrefix ?? `${host}:${address.port}`}.`);
    const scope = store.scope(this.prefix);
    this.downstreamCxTotal = scope.counter("downstream_cx_total");
    this.downstreamCxActive = scope.gauge("downstream_cx_active");
    this.downstreamCxDestroy = scope.counter("downstream_cx_destroy");
    this.downstreamCxLengthMs = scope.histogram("downstream_cx_length_ms");
    this.downstreamGlobalCxOverflow = scope.counter("downstream_global_cx_overflow");
    this.downstreamCxOverloadReject = scope.counter("downstream_cx_overload_reject");
    this.noFilterChainMatch = scope.counter("no_filter_chain_match");
    this.downstreamPreCxActive = scope.gauge("downstream_pre_cx_active");
    this.downstreamPreCxTimeout = scope.counter("downstream_pre_cx_timeout");
    this.downstreamListenerFilterRemoteClose = scope.counter("downstream_listener_filter_remote_close");
    this.downstreamListenerFilterError = scope.counter("downstream_listener_filter_error");
    this.downstreamCxOverflow = scope.counter("downstream_cx_overflow");
    this.downstreamCxTransportSocketConnectTimeout = scope.counter("downstream_cx_transport_socket_connect_timeout");
  }
}
