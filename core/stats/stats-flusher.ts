/**
 * Envoy's stats flush (InstanceImpl::flushStats, source/server/server.cc): every
 * stats_flush_interval (5 s by default) the server's gauges are brought up to date, the
 * histograms' interval closed (the admin's interval quantiles), every counter latched and
 * the snapshot handed to each stats sink. With stats_flush_on_admin there is no timer: the
 * admin's /stats and /stats/prometheus flush before they answer (StatsHandler).
 *
 * Sinks are also given every histogram value as it is recorded (the store's
 * HistogramDelivery), from when they have started.
 *
 * In a worker process (--concurrency) the flush is the supervisor's, of all workers' stats
 * (core/stats/merged-flush.ts): no timer here; the supervisor asks the worker to close its
 * interval (closeInterval) and gives the flushing worker the merged snapshot (flushSnapshot).
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
  ) {}

  /** The supervisor of worker processes drives the flush (flushSnapshot), not a timer or the admin. */
  private bySupervisor = false;

  /**
   * Open the sinks, then flush every `intervalMs`; undefined (stats_flush_on_admin): no timer.
   * "supervisor": no timer, the supervisor's merged flushes only. Rejects naming the sink that cannot start.
   */
  async start(timers: Timers, intervalMs: number | "supervisor" | undefined): Promise<void> {
    for (const [i, sink] of this.sinks.entries()) {
      try {
        await sink.start();
      } catch (err) {
        for (const started of this.sinks.slice(0, i)) started.stop();
        throw new Error(`stats_sinks[${i}]: cannot open its socket: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.started = true;
    this.store.histogramDelivery.sinks.push(...this.sinks);
    this.bySupervisor = intervalMs === "supervisor";
    if (intervalMs === "supervisor" || intervalMs === undefined) return;
    this.intervalMs = intervalMs;
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
    return this.started && !this.bySupervisor && this.intervalMs === undefined;
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
      if (stat instanceof Counter) counters.push({ counter: stat, delta: stat.latch() });
      else if (stat instanceof Gauge) gauges.push(stat);
      else if (stat instanceof Histogram) histograms.push(stat);
    }
    this.flushSnapshot({ counters, gauges, histograms });
  }

  /** The supervisor's part of a merged flush (--concurrency): this worker's gauges and histogram intervals brought up to date. */
  closeInterval(): void {
    this.beforeFlush();
  }

  /** Every sink given `snapshot`: this process's own, or the merged one of all workers (merged-snapshot.ts). */
  flushSnapshot(snapshot: MetricSnapshot): void {
    if (!this.started) return;
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
