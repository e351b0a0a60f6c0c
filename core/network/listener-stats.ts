import type { Counter } from "../stats/counter.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { Histogram } from "../stats/histogram.ts";
import type { StatsStore } from "../stats/stats-store.ts";

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
  /** `listener.<address>.` or `listener.<stat_prefix>.`: where the listener's other stats (ssl.*) go too. */
  readonly prefix: string;

  constructor(store: StatsStore, address: { address: string; port: number }, statPrefix?: string) {
    this.prefix = `listener.${statPrefix ?? `${address.address}_${address.port}`}.`;
    const scope = store.scope(this.prefix);
    this.downstreamCxTotal = scope.counter("downstream_cx_total");
    this.downstreamCxActive = scope.gauge("downstream_cx_active");
    this.downstreamCxDestroy = scope.counter("downstream_cx_destroy");
    this.downstreamCxLengthMs = scope.histogram("downstream_cx_length_ms");
    this.downstreamGlobalCxOverflow = scope.counter("downstream_global_cx_overflow");
    this.downstreamCxOverloadReject = scope.counter("downstream_cx_overload_reject");
  }
}
