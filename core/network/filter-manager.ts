import type { Connection, ConnectionReadSink } from "./connection.ts";
import { FilterStatus, type ReadFilter, type ReadFilterCallbacks } from "./filter.ts";
import { ReadBuffer } from "./read-buffer.ts";

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
 * Runs a connection's network read filters in order, as Envoy's
 * `Network::FilterManagerImpl::onContinueReading`: each read starts at the first
 * filter; a filter not yet initialized gets `onNewConnection` first; then every filter
 * in turn gets the read buffer while it has data, until one returns StopIteration.
 * `continueReading()` resumes at the next filter with whatever the buffer holds.
 */
export class NetworkFilterManager implements ConnectionReadSink {
  private filters: ActiveReadFilter[] = [];
  private readonly buffer = new ReadBuffer();
  private endStream = false;

  constructor(readonly connection: Connection) {
    connection.setReadSink(this);
  }

  addReadFilter(filter: ReadFilter): void {
    const active = new ActiveReadFilter(this, filter, this.filters.length);
    this.filters = [...this.filters, active]; // exact size (see Connection.addConnectionCallbacks)
    filter.initializeReadFilterCallbacks(active);
  }

  /** Start the chain on a new connection. Returns false when there are no filters. */
  initializeReadFilters(): boolean {
    if (this.filters.length === 0) return false;
    this.continueFrom(0);
    return true;
  }

  onData(data: Uint8Array, endStream: boolean): void {
    this.buffer.add(data);
    if (endStream) this.endStream = true;
    this.continueFrom(0);
    if (this.buffer.length > 0) this.buffer.keepLent();
  }

  /** @internal Run the chain from filter `index`. */
  continueFrom(index: number): void {
    for (let i = index; i < this.filters.length; i++) {
      const active = this.filters[i]!;
      if (!active.initialized) {
        active.initialized = true;
        if (active.filter.onNewConnection() === FilterStatus.StopIteration || this.connection.isClosed) return;
      }
      if (this.buffer.length > 0 || this.endStream) {
        if (active.filter.onData(this.buffer, this.endStream) === FilterStatus.StopIteration || this.connection.isClosed) return;
      }
    }
  }
}
