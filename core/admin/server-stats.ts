import type { Gauge } from "../stats/gauge.ts";
import type { StatsStore } from "../stats/stats-store.ts";

/** Envoy's ServerInfo.State, with its enum numbers (the `server.state` gauge). */
export const SERVER_STATES = { LIVE: 0, DRAINING: 1, PRE_INITIALIZING: 2, INITIALIZING: 3 } as const;
export type ServerState = keyof typeof SERVER_STATES;

/** What the server gauges are computed from, read when stats are. */
export interface ServerStatsSource {
  readonly state: ServerState;
  /** Seconds since the server started. */
  readonly uptimeSeconds: number;
  /** Connections open on the configured listeners (not the admin's). */
  readonly totalConnections: number;
  /** Resident set size, where the runtime can tell. */
  readonly memoryBytes: number | undefined;
  /** --concurrency: the workers (processes) sharing the listeners. */
  readonly concurrency: number;
}

/**
 * Envoy's `server.*` gauges, the server's (core/server.ts): refreshed at each stats flush
 * (InstanceImpl::updateServerStats, with or without an admin) and whenever the admin
 * shows stats, so they are current when read.
 */
export class ServerStats {
  private readonly uptime: Gauge;
  private readonly live: Gauge;
  private readonly state: Gauge;
  private readonly concurrency: Gauge;
  private readonly memoryAllocated: Gauge;
  private readonly totalConnections: Gauge;
  private readonly hotRestartEpoch: Gauge;
  private readonly version: Gauge;

  constructor(store: StatsStore) {
    const scope = store.scope("server.");
    this.uptime = scope.gauge("uptime");
    this.live = scope.gauge("live");
    this.state = scope.gauge("state");
    this.concurrency = scope.gauge("concurrency");
    this.memoryAllocated = scope.gauge("memory_allocated");
    this.totalConnections = scope.gauge("total_connections");
    this.hotRestartEpoch = scope.gauge("hot_restart_epoch");
    // Envoy's server.cc sets it to the first 6 hex digits of the build's git SHA read as a
    // number; a polyvoy build carries no SHA (its version is VERSION's semver): 0.
    this.version = scope.gauge("version");
  }

  update(source: ServerStatsSource): void {
    this.uptime.set(Math.floor(source.uptimeSeconds));
    this.live.set(source.state === "LIVE" ? 1 : 0);
    this.state.set(SERVER_STATES[source.state]);
    // Envoy's: the number of workers (here processes of one event loop each).
    this.concurrency.set(source.concurrency);
    const memory = source.memoryBytes;
    if (memory !== undefined) this.memoryAllocated.set(memory);
    this.totalConnections.set(source.totalConnections);
    this.hotRestartEpoch.set(0);
    this.version.set(0);
  }
}
