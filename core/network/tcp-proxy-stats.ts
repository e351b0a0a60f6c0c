import type { Counter } from "../stats/counter.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { StatsStore } from "../stats/stats-store.ts";

/** Envoy's tcp_proxy stats, `tcp.<stat_prefix>.*`. */
export class TcpProxyStats {
  readonly downstreamCxTotal: Counter;
  readonly downstreamCxNoRoute: Counter;
  readonly downstreamCxRxBytesTotal: Counter;
  readonly downstreamCxTxBytesTotal: Counter;
  readonly downstreamFlowControlPausedReadingTotal: Counter;
  readonly downstreamFlowControlResumedReadingTotal: Counter;
  readonly idleTimeout: Counter;
  readonly upstreamFlushTotal: Counter;
  readonly upstreamFlushActive: Gauge;

  constructor(store: StatsStore, statPrefix: string) {
    const scope = store.scope(`tcp.${statPrefix}.`);
    this.downstreamCxTotal = scope.counter("downstream_cx_total");
    this.downstreamCxNoRoute = scope.counter("downstream_cx_no_route");
    this.downstreamCxRxBytesTotal = scope.counter("downstream_cx_rx_bytes_total");
    this.downstreamCxTxBytesTotal = scope.counter("downstream_cx_tx_bytes_total");
    this.downstreamFlowControlPausedReadingTotal = scope.counter("downstream_flow_control_paused_reading_total");
    this.downstreamFlowControlResumedReadingTotal = scope.counter("downstream_flow_control_resumed_reading_total");
    this.idleTimeout = scope.counter("idle_timeout");
    this.upstreamFlushTotal = scope.counter("upstream_flush_total");
    this.upstreamFlushActive = scope.gauge("upstream_flush_active");
  }
}
