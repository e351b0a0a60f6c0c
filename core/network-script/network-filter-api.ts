/**
 * The API for network (L4) filters users write in TypeScript or JavaScript, named in a
 * listener's filter chain by a `polyvoy.filters.network.script.v1.Script` (module, config),
 * in front of tcp_proxy or the HTTP connection manager. It is Envoy's network filter
 * contract (envoy/network/filter.h: ReadFilter, WriteFilter) for user code:
 *
 * - onNewConnection: once, before any data. Continue (or nothing) lets the chain go on;
 *   StopIteration holds it (the bytes that arrive meanwhile wait) until
 *   `connection.continueReading()`.
 * - onData: the bytes read so far that the filters after this one have not been given
 *   (as Envoy's, a filter that stopped sees them again, with more, on the next read).
 *   Continue passes them on; StopIteration keeps them for later.
 * - onWrite: what the connection is about to send to the client (the next filters' and
 *   the upstream's answers). Continue sends it; StopIteration drops it (with its
 *   half-close) — the filter may write something else itself with connection.write.
 *   Synchronous: the bytes are lent for the call only.
 * - onClose: the connection closed.
 *
 * onNewConnection and onData may return a promise: the chain waits for it; resolved to
 * Continue, it goes on. A throw or a rejection closes that connection (logged once,
 * counted in network_script.<filter name>.errors), never the process.
 */
import type { SocketAddress } from "../port.ts";
import type { ConfigParser, HttpFilterLog, ParsedConfig } from "../http/user-filter/http-filter-api.ts";
import type { HttpFilterStats } from "../http/user-filter/user-filter-stats.ts";

/** Continue (0) or StopIteration (1): the values of Envoy's Network::FilterStatus. */
export type NetworkFilterStatus = 0 | 1;
export type NetworkFilterResult = NetworkFilterStatus | void | Promise<NetworkFilterStatus | void>;

export interface NetworkFilterHandlers {
  onNewConnection?(connection: NetworkFilterConnection): NetworkFilterResult;
  onData?(data: Uint8Array, endStream: boolean, connection: NetworkFilterConnection): NetworkFilterResult;
  onWrite?(data: Uint8Array, endStream: boolean, connection: NetworkFilterConnection): NetworkFilterStatus | void;
  onClose?(connection: NetworkFilterConnection): void;
}

/** What a network filter may ask of its connection. */
export interface NetworkFilterConnection {
  /** The filter's name in the chain. */
  readonly filterName: string;
  readonly remoteAddress: SocketAddress | undefined;
  readonly localAddress: SocketAddress | undefined;
  /** The SNI the tls_inspector read ("" when none). */
  readonly requestedServerName: string;
  /** Send bytes (a string as UTF-8) to the client; `endStream` half-closes after them. Skips write filters. */
  write(data: Uint8Array | string, endStream?: boolean): void;
  /** Close the connection after what is queued is sent. */
  close(): void;
  /** Let the chain go on after this filter stopped it. */
  continueReading(): void;
  readonly log: HttpFilterLog;
  /** Counters, gauges and histograms under `network_script.<filter name>.<name>`. */
  readonly stats: HttpFilterStats;
}

/** What a network filter module exports (as `default`, or as `filter`). */
export interface NetworkFilterDefinition<Config = unknown> {
  /** Checks and converts the Script's `config` (a zod schema, or a function); without it, the config is given as written. */
  readonly config?: ConfigParser<Config>;
  /** Called for each connection: the callbacks for it. */
  create(config: Config, connection: NetworkFilterConnection): NetworkFilterHandlers;
}

/** Identity: gives a definition its types (the config's type inferred from the parser). */
export function defineNetworkFilter<P extends ConfigParser<unknown> | undefined = undefined>(definition: {
  readonly config?: P;
  create(config: ParsedConfig<P>, connection: NetworkFilterConnection): NetworkFilterHandlers;
}): NetworkFilterDefinition<ParsedConfig<P>> {
  return definition as NetworkFilterDefinition<ParsedConfig<P>>;
}
