import type { Connection, ConnectionReadSink } from "./connection.ts";
import { FilterStatus, type ReadFilter, type ReadFilterCallbacks } from "./filter.ts";

/** One filter in the chain plus its callbacks object; `initialized` once its onNewConnection ran. */
class ActiveReadFilter implements ReadFilterCallbacks {
  initialized = false;

  constructor(
    private readonly manager: NetworkFilterManager,
    readonly filter: ReadFilter,
    readonly index: number,
  ) {}

  get connection(): Connection {
    return this.manager.connection;
  }

  continueReading(): void {
    this.manager.continueFrom(this.index + 1);
  }
}

/**
 * Runs a connection's network read filters in order (Envoy's
 * `Network::FilterManagerImpl`). New data starts at the first filter and goes on while
 * filters return Continue. A filter that stops `onNewConnection` holds back the
 * later filters' `onNewConnection` until it calls `continueReading()`.
 */
export class NetworkFilterManager implements ConnectionReadSink {
  private readonly filters: ActiveReadFilter[] = [];

  constructor(readonly connection: Connection) {
    connection.setReadSink(this);
  }

  addReadFilter(filter: ReadFilter): void {
    const active = new ActiveReadFilter(this, filter, this.filters.length);
    this.filters.push(active);
    filter.initializeReadFilterCallbacks(active);
  }

  /** Start the chain on a new connection. Returns false when there are no filters. */
  initializeReadFilters(): boolean {
    if (this.filters.length === 0) return false;
    this.continueFrom(0);
    return true;
  }

  onData(data: Uint8Array, endStream: boolean): void {
    for (const active of this.filters) {
      if (!active.initialized) return; // a filter is still holding the chain at onNewConnection
      if (active.filter.onData(data, endStream) === FilterStatus.StopIteration) return;
    }
  }

  /** @internal Continue the chain from filter `index` (after a stopped filter resumed). */
  continueFrom(index: number): void {
    for (let i = index; i < this.filters.length; i++) {
      const active = this.filters[i]!;
      if (active.initialized) continue;
      active.initialized = true;
      if (active.filter.onNewConnection() === FilterStatus.StopIteration) return;
    }
  }
}
