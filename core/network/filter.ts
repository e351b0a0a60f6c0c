import type { Connection } from "./connection.ts";
import type { ReadBuffer } from "./read-buffer.ts";

/** What a network read filter tells the manager (Envoy's `Network::FilterStatus`). */
export const FilterStatus = {
  /** Pass the data (or the new connection) on to the next filter. */
  Continue: 0,
  /** Stop here; the filter calls `continueReading()` later if the chain should go on. */
  StopIteration: 1,
} as const;
export type FilterStatus = (typeof FilterStatus)[keyof typeof FilterStatus];

/** What the manager gives each read filter (Envoy's `Network::ReadFilterCallbacks`). */
export interface ReadFilterCallbacks {
  readonly connection: Connection;
  /** Resume the chain after this filter stopped it. */
  continueReading(): void;
}

/** A network read filter (Envoy's `Network::ReadFilter`). */
export interface ReadFilter {
  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void;
  /** Called once the filter chain is built, before any data. */
  onNewConnection(): FilterStatus;
  /**
   * The connection's read buffer has data (or the peer half-closed: `endStream`).
   * A filter drains what it consumes; what it leaves goes to the next filter when
   * iteration continues.
   */
  onData(buffer: ReadBuffer, endStream: boolean): FilterStatus;
}

/**
 * Builds one filter instance for a new connection from a filter's validated config
 * (Envoy's `Network::FilterFactoryCb`, which is given the connection's filter manager):
 * the filter is made complete, knowing its connection; its callbacks follow.
 */
export type ReadFilterFactory = (connection: Connection) => ReadFilter;
