/**
 * Fault knobs of the memory runtime: what the virtual network does to a connection.
 * Faults are chosen per connection when it is opened (`MemoryRuntime.setFaults`,
 * `MemoryRuntimeOptions.faults`) and can be changed on a live socket (`MemorySocket.faults`).
 */
import type { SocketAddress } from "../../core/port.ts";

/** What happens to the bytes one endpoint sends (one direction of a connection). */
export interface DirectionFaults {
  /**
   * How the receiver's reads are cut: "random" (each read takes a random number of the
   * available bytes, at least one), "byte" (one byte per onData), or at most N bytes per
   * read. Unset: a read takes everything available, up to `maxReadSize`.
   */
  split?: "random" | "byte" | number;
  /** The sender's kernel takes at most this many bytes per event-loop turn (a slow link / tiny send window). */
  writeWindow?: number;
  /** Virtual ms between a byte leaving the sender and reaching the receiver: fixed or [min, max] random per send. */
  delayMs?: number | readonly [number, number];
  /**
   * After this many bytes of this direction have been sent, the connection is reset by
   * the network: the bytes beyond are dropped and both endpoints get
   * onClose("error", ECONNRESET) (the receiver after reading what arrived first).
   */
  resetAfterBytes?: number;
}

/** The faults of one connection, as chosen when it is opened. */
export interface ConnectionFaults {
  /** "refuse": ECONNREFUSED even with a listener; "blackhole": the connect never completes (until closed locally). */
  connect?: "refuse" | "blackhole";
  /** Virtual ms the connect takes (default 0: the next turn). */
  connectDelayMs?: number;
  /** Faults on what the connecting side sends (requests, for a client). */
  toServer?: DirectionFaults;
  /** Faults on what the accepting side sends (responses). */
  toClient?: DirectionFaults;
  /** Both endpoints' receive windows, in bytes (default: the runtime's `receiveWindow`). */
  receiveWindow?: number;
}

/** What a fault rule sees of a connection being opened. */
export interface ConnectionInfo {
  /** The socket id of the connecting side. */
  readonly id: number;
  /** Where it connects to. */
  readonly remote: { readonly address: string; readonly port: number };
  /** The connecting side's own address, once known. */
  readonly local: SocketAddress;
}

/** A rule: either a destination to match, or a function deciding per connection. */
export type FaultMatcher = { address?: string; port?: number } | ((info: ConnectionInfo) => boolean);
export type FaultRule = (info: ConnectionInfo) => ConnectionFaults | undefined;

/** Merge fault sets, later ones overriding earlier ones field by field. */
export function mergeFaults(...sets: (ConnectionFaults | undefined)[]): ConnectionFaults {
  const out: ConnectionFaults = {};
  for (const set of sets) {
    if (!set) continue;
    if (set.connect !== undefined) out.connect = set.connect;
    if (set.connectDelayMs !== undefined) out.connectDelayMs = set.connectDelayMs;
    if (set.receiveWindow !== undefined) out.receiveWindow = set.receiveWindow;
    if (set.toServer) out.toServer = { ...out.toServer, ...set.toServer };
    if (set.toClient) out.toClient = { ...out.toClient, ...set.toClient };
  }
  return out;
}

export function matches(matcher: FaultMatcher, info: ConnectionInfo): boolean {
  if (typeof matcher === "function") return matcher(info);
  return (matcher.address === undefined || matcher.address === info.remote.address) && (matcher.port === undefined || matcher.port === info.remote.port);
}
