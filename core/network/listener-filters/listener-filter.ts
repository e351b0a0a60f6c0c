import type { SocketAddress } from "../../port.ts";
import type { FilterStatus } from "../filter.ts";

/**
 * The accepted socket as listener filters see and change it (Envoy's
 * `Network::ConnectionSocket` through `ListenerFilterCallbacks`).
 */
export interface ListenerFilterSocket {
  readonly localAddress: SocketAddress | undefined;
  readonly remoteAddress: SocketAddress | undefined;
  readonly detectedTransportProtocol: string;
  setRequestedServerName(name: string): void;
  /** tls_inspector's JA3 hash (Envoy's setJA3Hash). */
  setJa3Hash(hash: string): void;
  setDetectedTransportProtocol(protocol: string): void;
  setRequestedApplicationProtocols(protocols: readonly string[]): void;
  /** The address the client connected to, as a PROXY header tells it. */
  restoreLocalAddress(address: SocketAddress): void;
  /** The client, as a PROXY header tells it (the direct peer stays the direct remote address). */
  setRemoteAddress(address: SocketAddress): void;
}

/** What a listener filter is given (Envoy's `Network::ListenerFilterCallbacks`). */
export interface ListenerFilterCallbacks {
  readonly socket: ListenerFilterSocket;
  /** Close the socket: the connection must not go on (Envoy's `socket().ioHandle().close()`). */
  close(): void;
}

/** The bytes read so far and not drained (Envoy's `Network::ListenerFilterBuffer`). */
export interface ListenerFilterBuffer {
  /** At most the filter's maxReadBytes of them; a view, valid during the call. */
  readonly bytes: Uint8Array;
  /** Remove the first `n` bytes: the connection's network filters will not see them (a PROXY header). */
  drain(n: number): void;
}

/**
 * A listener filter (Envoy's `Network::ListenerFilter`): runs on an accepted socket before
 * a filter chain is chosen. `onAccept` returns Continue when it needs nothing more, or
 * StopIteration to wait for bytes (`onData`, while `maxReadBytes` > 0); `onData` returns
 * Continue once it has decided.
 */
export interface ListenerFilter {
  onAccept(callbacks: ListenerFilterCallbacks): FilterStatus;
  onData(buffer: ListenerFilterBuffer): FilterStatus;
  /** How many bytes it may need to see; 0: none. Read each time (proxy_protocol raises it for long TLVs). */
  readonly maxReadBytes: number;
}

export type ListenerFilterFactory = () => ListenerFilter;

/** Envoy's listener_filters_timeout default: 15 s. */
export const DEFAULT_LISTENER_FILTERS_TIMEOUT_MS = 15_000;
