import type { Counter } from "../../stats/counter.ts";
import type { Gauge } from "../../stats/gauge.ts";
import type { Histogram } from "../../stats/histogram.ts";
import type { StatsStore } from "../../stats/stats-store.ts";
import { sanitizeStatsPrefix } from "../../stats/sanitize-stats-name.ts";

/** Envoy's CommandStats (redis_proxy/command_splitter_impl.h): `redis.<stat_prefix>.command.<name>.`. */
export interface RedisCommandStats {
  readonly total: Counter;
  readonly success: Counter;
  readonly error: Counter;
  readonly latency: Histogram;
}

/**
 * Envoy's ALL_REDIS_PROXY_STATS (proxy_filter.h) and the splitter's (ALL_COMMAND_SPLITTER_STATS)
 * under `redis.<stat_prefix>.`. The command splitter makes every routed command's stats at
 * start, as Envoy does.
 */
export class RedisProxyStats {
  readonly downstreamCxTotal: Counter;
  readonly downstreamCxActive: Gauge;
  readonly downstreamCxProtocolError: Counter;
  readonly downstreamCxRxBytesTotal: Counter;
  readonly downstreamCxTxBytesTotal: Counter;
  /**
   * Bytes read and not yet consumed: the filter takes every read whole (a value cut short is
   * copied into the decoder), so it is 0 between reads, as Envoy's is with its decoder.
   */
  readonly downstreamCxRxBytesBuffered: Gauge;
  /** Bytes written to clients and not yet taken by them (the connections keep it). */
  readonly downstreamCxTxBytesBuffered: Gauge;
  readonly downstreamCxDrainClose: Counter;
  readonly downstreamRqTotal: Counter;
  readonly downstreamRqActive: Gauge;
  readonly invalidRequest: Counter;
  readonly unsupportedCommand: Counter;
  private readonly commands = new Map<string, RedisCommandStats>();
  private readonly prefix: string;

  constructor(
    private readonly stats: StatsStore,
    statPrefix: string,
    /** latency_in_micros: the command latency histograms record microseconds. */
    private readonly latencyInMicros: boolean,
  ) {
    const prefix = (this.prefix = sanitizeStatsPrefix(`redis.${statPrefix}.`));
    this.downstreamCxTotal = stats.counter(`${prefix}downstream_cx_total`);
    this.downstreamCxActive = stats.gauge(`${prefix}downstream_cx_active`);
    this.downstreamCxProtocolError = stats.counter(`${prefix}downstream_cx_protocol_error`);
    this.downstreamCxRxBytesTotal = stats.counter(`${prefix}downstream_cx_rx_bytes_total`);
    this.downstreamCxTxBytesTotal = stats.counter(`${prefix}downstream_cx_tx_bytes_total`);
    this.downstreamCxRxBytesBuffered = stats.gauge(`${prefix}downstream_cx_rx_bytes_buffered`);
    this.downstreamCxTxBytesBuffered = stats.gauge(`${prefix}downstream_cx_tx_bytes_buffered`);
    this.downstreamCxDrainClose = stats.counter(`${prefix}downstream_cx_drain_close`);
    this.downstreamRqTotal = stats.counter(`${prefix}downstream_rq_total`);
    this.downstreamRqActive = stats.gauge(`${prefix}downstream_rq_active`);
    this.invalidRequest = stats.counter(`${prefix}splitter.invalid_request`);
    this.unsupportedCommand = stats.counter(`${prefix}splitter.unsupported_command`);
  }

  command(name: string): RedisCommandStats {
    let stats = this.commands.get(name);
    if (stats === undefined) {
      const prefix = `${this.prefix}command.${name}.`;
      stats = {
        total: this.stats.counter(`${prefix}total`),
        success: this.stats.counter(`${prefix}success`),
        error: this.stats.counter(`${prefix}error`),
        latency: this.stats.histogram(`${prefix}latency`, this.latencyInMicros ? "unspecified" : "milliseconds"),
      };
      this.commands.set(name, stats);
    }
    return stats;
  }
}
