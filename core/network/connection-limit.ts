import type { ConnectionLimitConfig } from "../config/bootstrap.ts";
import type { Timer, TimerTarget } from "../event/timers.ts";
import type { ServerContext } from "../server-context.ts";
import type { Counter } from "../stats/counter.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { Connection, ConnectionCallbacks, ConnectionEvent } from "./connection.ts";
import { FilterStatus, type ReadFilter } from "./filter.ts";
import type { ReadBuffer } from "./read-buffer.ts";

/**
 * The state one `envoy.filters.network.connection_limit` filter config shares across
 * its connections (Envoy's connection_limit Config): the count, the limit and the stats
 * `connection_limit.<stat_prefix>.limited_connections` and `.active_connections`.
 */
export class ConnectionLimit {
  readonly limitedConnections: Counter;
  readonly activeConnections: Gauge;
  private connections = 0;

  constructor(
    readonly config: ConnectionLimitConfig,
    context: ServerContext,
  ) {
    const scope = context.stats.scope(`connection_limit.${config.statPrefix}.`);
    this.limitedConnections = scope.counter("limited_connections");
    this.activeConnections = scope.gauge("active_connections");
  }

  /**
   * Count one more connection; false when it is over max_connections. Counted either way,
   * as Envoy's Filter::onNewConnection (active_connections for every connection, and a
   * rejected one keeps its place in the count until it is closed: during a `delay` it
   * holds a slot); `decrement` when it closes.
   */
  increment(): boolean {
    const within = this.connections < this.config.maxConnections;
    this.connections++;
    this.activeConnections.inc();
    return within;
  }

  decrement(): void {
    this.connections--;
    this.activeConnections.dec();
  }
}

/**
 * The filter on one connection (source/extensions/filters/network/connection_limit/
 * connection_limit.cc): over max_connections, the connection is closed at once, or after
 * `delay` — meanwhile whatever it sends is dropped — without reaching the next filters.
 */
export class ConnectionLimitFilter implements ReadFilter, ConnectionCallbacks, TimerTarget {
  /** Whether this connection is in the count (until its close event). */
  private counted = false;
  private rejected = false;
  private delayTimer: Timer | undefined;

  constructor(
    private readonly limit: ConnectionLimit,
    private readonly context: ServerContext,
    private readonly connection: Connection,
  ) {
    connection.addConnectionCallbacks(this);
  }

  initializeReadFilterCallbacks(): void {}

  onNewConnection(): FilterStatus {
    this.counted = true;
    if (this.limit.increment()) return FilterStatus.Continue;
    this.limit.limitedConnections.inc();
    this.rejected = true;
    const delayMs = this.limit.config.delayMs;
    if (delayMs > 0) {
      this.delayTimer = this.context.timers.create(this);
      this.delayTimer.enable(delayMs);
    } else {
      this.connection.close("FlushWrite");
    }
    return FilterStatus.StopIteration;
  }

  onData(buffer: ReadBuffer): FilterStatus {
    if (!this.rejected) return FilterStatus.Continue;
    buffer.drainAll();
    return FilterStatus.StopIteration;
  }

  /** @internal The delay passed: close (Envoy: NoFlush; nothing was written, so a plain FIN). */
  onTimer(): void {
    this.delayTimer = undefined;
    this.connection.close("FlushWrite");
  }

  onEvent(event: ConnectionEvent): void {
    if (event === "Connected") return;
    this.delayTimer?.disable();
    this.delayTimer = undefined;
    if (this.counted) {
      this.counted = false;
      this.limit.decrement();
    }
  }

  onAboveWriteBufferHighWatermark(): void {}
  onBelowWriteBufferLowWatermark(): void {}
}
