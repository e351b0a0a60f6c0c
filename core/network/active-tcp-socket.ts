import type { CloseReason, Socket, SocketAddress, SocketHandler } from "../port.ts";
import type { Timer } from "../event/timers.ts";
import { unmapIpv4 } from "./address.ts";
import { FilterStatus } from "./filter.ts";
import type { ConnectionSocketInfo } from "./filter-chain-manager.ts";
import type { ListenerFilter, ListenerFilterBuffer, ListenerFilterCallbacks, ListenerFilterSocket } from "./listener-filters/listener-filter.ts";
import type { ListenerStats } from "./listener-stats.ts";

/** What an ActiveTcpSocket hands its socket back to. */
export interface ActiveTcpSocketOwner {
  readonly stats: ListenerStats;
  /** The listener filters are done: choose the chain and make the connection (`peeked`: the bytes they read). */
  newConnection(socket: Socket, info: ConnectionSocketInfo, peeked: Uint8Array | undefined): void;
  /** The socket closed before it became a connection. */
  onSocketGone(socket: ActiveTcpSocket): void;
  createTimer(target: { onTimer(): void }): Timer;
  now(): number;
}

/**
 * An accepted socket while its listener filters run (Envoy's `ActiveTcpSocket`,
 * source/common/listener_manager/active_tcp_socket.cc): each filter in turn gets
 * `onAccept`, then — while it waits for bytes — `onData` with what has been read, up to
 * its maxReadBytes; reading stops while the buffer holds that much. When every filter
 * has continued, the owner chooses the filter chain and the read bytes are handed on,
 * not lost (Envoy peeks; the port has no peek, so they are kept here instead). The peer
 * closing, a filter closing, or listener_filters_timeout (unless
 * continue_on_listener_filters_timeout) end it without a connection.
 */
export class ActiveTcpSocket implements SocketHandler, ConnectionSocketInfo, ListenerFilterSocket, ListenerFilterCallbacks, ListenerFilterBuffer {
  localAddress: SocketAddress | undefined;
  remoteAddress: SocketAddress | undefined;
  readonly directRemoteAddress: SocketAddress | undefined;
  requestedServerName = "";
  /** The tls_inspector's JA3 hash, "" when none. */
  ja3Hash = "";
  detectedTransportProtocol = "";
  requestedApplicationProtocols: readonly string[] = [];

  /** Bytes read and not drained: data[from, to). */
  private data = new Uint8Array(0);
  private from = 0;
  private to = 0;
  /** The filter running, and whether its onAccept has run. */
  private index = 0;
  private accepted = false;
  private finished = false;
  private readingDisabled = false;
  private timer: Timer | undefined;
  /** When it was accepted (the connection's start, for its duration). */
  readonly acceptedAt: number;
  /** Set when the listener has access logs: the wall clock at accept. */
  acceptedWallClock: number | undefined;
  /** Bytes read while the filters ran. */
  bytesRead = 0;

  constructor(
    private readonly owner: ActiveTcpSocketOwner,
    private readonly io: Socket,
    private readonly filters: readonly ListenerFilter[],
    private readonly timeoutMs: number,
    private readonly continueOnTimeout: boolean,
  ) {
    this.acceptedAt = owner.now();
    this.localAddress = unmapIpv4(io.localAddress);
    this.remoteAddress = this.directRemoteAddress = unmapIpv4(io.remoteAddress);
  }

  start(): void {
    this.owner.stats.downstreamPreCxActive.inc();
    this.io.setHandler(this);
    if (this.timeoutMs > 0) {
      this.timer = this.owner.createTimer(this);
      this.timer.enable(this.timeoutMs);
    }
    this.continueFilterChain();
  }

  // ---- ListenerFilterCallbacks / ListenerFilterSocket ----

  /** The socket as the filters see it: this object. */
  get socket(): ListenerFilterSocket {
    return this;
  }

  setRequestedServerName(name: string): void {
    this.requestedServerName = name;
  }

  setJa3Hash(hash: string): void {
    this.ja3Hash = hash;
  }

  setDetectedTransportProtocol(protocol: string): void {
    this.detectedTransportProtocol = protocol;
  }

  setRequestedApplicationProtocols(protocols: readonly string[]): void {
    this.requestedApplicationProtocols = protocols;
  }

  restoreLocalAddress(address: SocketAddress): void {
    this.localAddress = address;
    this.addressesRestored = true;
    this.localAddressRestored = true;
  }

  setRemoteAddress(address: SocketAddress): void {
    this.remoteAddress = address;
    this.addressesRestored = true;
  }

  /** A listener filter (proxy_protocol) set the addresses: the connection takes them. */
  addressesRestored = false;
  /** The local address among them (Envoy's localAddressRestored: only it makes an ORIGINAL_DST destination). */
  localAddressRestored = false;

  close(): void {
    if (this.finished) return;
    this.finish();
    this.io.close();
    this.owner.onSocketGone(this);
  }

  // ---- ListenerFilterBuffer ----

  get bytes(): Uint8Array {
    const max = this.filters[this.index]?.maxReadBytes ?? 0;
    return this.data.subarray(this.from, Math.min(this.to, this.from + max));
  }

  drain(n: number): void {
    this.from = Math.min(this.to, this.from + n);
  }

  private get length(): number {
    return this.to - this.from;
  }

  // ---- the filters ----

  private continueFilterChain(): void {
    while (this.index < this.filters.length) {
      const filter = this.filters[this.index]!;
      if (!this.accepted) {
        this.accepted = true;
        const status = filter.onAccept(this);
        if (this.finished) return;
        if (status === FilterStatus.Continue || filter.maxReadBytes === 0) {
          this.next();
          continue;
        }
      }
      if (this.length === 0) return this.updateReading();
      let seen = Math.min(this.length, filter.maxReadBytes);
      let status = filter.onData(this);
      // A filter that learnt it may read more (proxy_protocol once a v2 header gives its
      // length, TLVs included) looks again at what is already read: a header that came
      // whole in one read is no more bytes to wait for (Envoy's ListenerFilterBufferImpl
      // grows to the filter's new maxReadBytes, active_tcp_socket.cc).
      while (!this.finished && status === FilterStatus.StopIteration && this.length > seen && filter.maxReadBytes > seen) {
        seen = Math.min(this.length, filter.maxReadBytes);
        status = filter.onData(this);
      }
      if (this.finished) return;
      if (status === FilterStatus.StopIteration) {
        // Full and still not decided: no more bytes can help it (Envoy closes too).
        if (this.length >= filter.maxReadBytes) {
          this.owner.stats.downstreamListenerFilterError.inc();
          return this.close();
        }
        return this.updateReading();
      }
      this.next();
    }
    this.handOn();
  }

  private next(): void {
    this.index++;
    this.accepted = false;
  }

  /** Read while the waiting filter may want more; hold reading once the buffer has what it may read. */
  private updateReading(): void {
    const full = this.length >= (this.filters[this.index]?.maxReadBytes ?? 0);
    if (full !== this.readingDisabled) {
      this.readingDisabled = full;
      this.io.readDisable(full);
    }
  }

  /** Every filter continued: on to the filter chain, with what was read. */
  private handOn(): void {
    this.finish();
    if (this.readingDisabled) this.io.readDisable(false);
    // Envoy's ActiveTcpSocket::newConnection: no inspector said otherwise.
    if (this.detectedTransportProtocol === "") this.detectedTransportProtocol = "raw_buffer";
    this.owner.newConnection(this.io, this, this.length > 0 ? this.data.subarray(this.from, this.to) : undefined);
  }

  private finish(): void {
    this.finished = true;
    this.timer?.disable();
    this.owner.stats.downstreamPreCxActive.dec();
  }

  /** @internal listener_filters_timeout. */
  onTimer(): void {
    if (this.finished) return;
    this.owner.stats.downstreamPreCxTimeout.inc();
    if (this.continueOnTimeout) this.handOn();
    else this.close();
  }

  // ---- SocketHandler ----

  onConnect(): void {}

  onData(chunk: Uint8Array): void {
    if (this.finished) return;
    this.bytesRead += chunk.length;
    // Copied: the socket lends its bytes for the call only.
    if (this.to + chunk.length > this.data.length) {
      const grown = new Uint8Array(Math.max(this.length + chunk.length, this.data.length * 2, 1024));
      grown.set(this.data.subarray(this.from, this.to));
      this.to -= this.from;
      this.from = 0;
      this.data = grown;
    }
    this.data.set(chunk, this.to);
    this.to += chunk.length;
    this.continueFilterChain();
  }

  onEnd(): void {
    if (this.finished) return;
    // The peer finished before the filters did (Envoy's listener filter buffer sees the close).
    this.owner.stats.downstreamListenerFilterRemoteClose.inc();
    this.close();
  }

  onDrain(): void {}

  onClose(_reason: CloseReason): void {
    if (this.finished) return;
    this.owner.stats.downstreamListenerFilterRemoteClose.inc();
    this.finish();
    this.owner.onSocketGone(this);
  }
}
