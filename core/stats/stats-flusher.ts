/**
 * Envoy's stats flush (InstanceImpl::flushStats, source/server/server.cc): every
 * stats_flush_interval (5 s by default) the server's gauges are brought up to date, the
 * histograms' interval closed (the admin's interval quantiles), every counter latched and
 * the snapshot handed to each stats sink. With stats_flush_on_admin there is no timer: the
 * admin's /stats and /stats/prometheus flush before they answer (StatsHandler).
 *
 * Sinks are also given every histogram value as it is recorded (the store's
 * HistogramDelivery), from when they have started.
 */
import type { Timer, Timers } from "../event/timers.ts";
import type { Logger } from "../log.ts";
import { Counter } from "./counter.ts";
import { Gauge } from "./gauge.ts";
import { Histogram } from "./histogram.ts";
import type { MetricSnapshot, StatsSink } from "./sink.ts";
import type { StatsStore } from "./stats-store.ts";

/** Envoy's default stats_flush_interval. */
export const DEFAULT_STATS_FLUSH_INTERVAL_MS = 5000;

export class StatsFlusher {
  private timer: Timer | undefined;
  private started = false;
  private intervalMs: number | undefined;

  constructor(
    private readonly store: StatsStore,
    private readonly sinks: readonly StatsSink[],
    private readonly log: Logger,
    /** What the flush brings up to date first (the admin's server gauges and histogram intervals). */
    private readonly beforeFlush: () => void,
    /** Stats this process leaves out of its flushes (another worker sends them: worker-stats.ts). */
    private readonly sentElsewhere?: (stat: Counter | Gauge) => boolean,
  ) {}

  /** sentElsewhere's answer per stat, asked once (it matches names against patterns). */
  private readonly skipped = new WeakMap<Counter | Gauge, boolean>();

  private skip(stat: Counter | Gauge): boolean {
    const sentElsewhere = this.sentElsewhere;
    if (sentElsewhere === undefined) return false;
    let skip = this.skipped.get(stat);
    if (skip === undefined) {
      skip = sentElsewhere(stat);
      this.skipped.set(stat, skip);
    }
    return skip;
  }

  /**
   * Open the sinks, then flush every `intervalMs`; undefined (stats_flush_on_admin): no timer.
   * Rejects naming the sink that cannot start.
   */
  async start(timers: Timers, intervalMs: number | undefined): Promise<void> {
    for (const [i, sink] of this.sinks.entries()) {
      try {
        await sink.start();
      } catch (err) {
        for (const started of this.sinks.slice(0, i)) started.stop();
        throw new Error(`stats_sinks[${i}]: cannot open its socket: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.started = true;
    this.intervalMs = intervalMs;
    this.store.histogramDelivery.sinks.push(...this.sinks);
    if (intervalMs === undefined) return;
    this.timer = timers.create(() => {
      this.flush();
      this.timer?.enable(intervalMs);
    });
    this.timer.enable(intervalMs);
  }

  /**
   * The last flush before the server exits, when flushing on a timer (Envoy's
   * InstanceImpl::terminate: "if (stat_flush_timer_) flushStats()"); the timer stops.
   */
  finalFlush(): void {
    if (this.timer === undefined) return;
    this.timer.disable();
    this.timer = undefined;
    this.flush();
  }

  /** Resolves once every sink has handed on what it holds (the shutdown's wait after the final flush). */
  async drained(): Promise<void> {
    if (!this.started) return;
    await Promise.all(this.sinks.map((sink) => sink.idle?.()));
  }

  /** Flushing on the admin's reads (stats_flush_on_admin), not on a timer. */
  get onAdmin(): boolean {
    return this.started && this.intervalMs === undefined;
  }

  stop(): void {
    this.timer?.disable();
    this.timer = undefined;
    const delivery = this.store.histogramDelivery.sinks;
    for (const sink of this.sinks) {
      const at = delivery.indexOf(sink);
      if (at >= 0) delivery.splice(at, 1);
      if (this.started) sink.stop();
    }
    this.started = false;
  }

  /** One flush: what the admin shows brought up to date, counters latched, every sink given the snapshot. */
  flush(): void {
    this.beforeFlush();
    if (!this.started || this.sinks.length === 0) return;
    const counters: { counter: Counter; delta: number }[] = [];
    const gauges: Gauge[] = [];
    const histograms: Histogram[] = [];
    // The store's own order: sorting 50,000 names each flush costs more than the flush.
    for (const stat of this.store.values()) {
      if (stat instanceof Counter) {
        if (!this.skip(stat)) counters.push({ counter: stat, delta: stat.latch() });
      } else if (stat instanceof Gauge) {
        if (!this.skip(stat)) gauges.push(stat);
      } else if (stat instanceof Histogram) histograms.push(stat);
    }
    const snapshot: MetricSnapshot = { counters, gauges, histograms };
    for (const sink of this.sinks) {
      try {
        sink.flush(snapshot);
      } catch (err) {
        // A sink's fault must not stop the flush timer or the other sinks.
        this.log.warn(`stats flush: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}
