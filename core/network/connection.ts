import type { CloseReason, PortError, Socket, SocketAddress, SocketHandler } from "../port.ts";
import { WriteBatch } from "./write-batch.ts";
import { unmapIpv4 } from "./address.ts";
import { EMPTY_BYTES } from "../util/bytes.ts";
import { arenaBytes, arenaTake } from "../event/event-arena.ts";
import { encodedBytes, type ByteEncoder, type ByteSink } from "./byte-sink.ts";
import type { Tracer } from "../trace/tracer.ts";
import type { Gauge } from "../stats/gauge.ts";
import { enterDispatch, exitDispatch, flushAtEnd, inDispatch, type BatchedWriter } from "../event/dispatch-scope.ts";

/** Connection events, as Envoy's `Network::ConnectionEvent`. */
export type ConnectionEvent = "Connected" | "RemoteClose" | "LocalClose";

/** Observers of a connection (Envoy's `Network::ConnectionCallbacks`). */
export interface ConnectionCallbacks {
  onEvent(event: ConnectionEvent, error?: PortError): void;
  /** Our write buffer passed the high watermark: stop feeding it (disable the source's reads). */
  onAboveWriteBufferHighWatermark(): void;
  /** The write buffer drained: feed it again. */
  onBelowWriteBufferLowWatermark(): void;
}

/** Where a connection's bytes go (the network filter manager). */
export interface ConnectionReadSink {
  onData(data: Uint8Array, endStream: boolean): void;
}

/** How to close, as Envoy's `Network::ConnectionCloseType`. */
export type CloseType =
  /** Send what is buffered, then close. */
  | "FlushWrite"
  /** Drop what is still batched here and close (FIN); what the runtime's socket already holds may still leave. */
  | "NoFlush"
  /** Drop what is buffered and reset the connection (RST where the runtime allows). */
  | "Abort";

let nextConnectionId = 0;

/** Queued writes up to this size are joined into one buffer (one copy); larger ones go out as they are. */
const JOIN_LIMIT = 16 * 1024;
/** Past JOIN_LIMIT, each run of pieces under this many bytes is joined; larger pieces go as they are. */
const SMALL_PIECE_BYTES = 1024;
/** The most fields one dynamic metadata namespace of a connection holds (a bound is ours). */
const MAX_METADATA_FIELDS = 1024;

/**
 * A downstream or upstream TCP connection over a port Socket (Envoy's
 * `Network::ConnectionImpl`): counted read disabling, a write buffer with a high
 * watermark (per_connection_buffer_limit_bytes) whose crossings are reported to the
 * callbacks so the other side of a proxy can stop reading, half-close, and close events.
 * Writes made while an I/O event is handled leave together at its end (dispatch-scope.ts).
 */
export class Connection implements SocketHandler, BatchedWriter, ByteSink {
  readonly id = nextConnectionId++;
  /** Set when this (downstream) connection is being traced; one check on each hot path. */
  trace: Tracer | undefined;
  private callbacks: ConnectionCallbacks[] = [];
  private sink: ConnectionReadSink | undefined;
  private aboveHighWatermark = false;
  /** A filter's `*_tx_bytes_buffered` gauge (Envoy's setConnectionStats) and this connection's share of it. */
  private txBufferedGauge: Gauge | undefined;
  private txBufferedReported = 0;
  private closed = false;
  /** Our side has sent FIN (write with endStream). */
  private writeEnded = false;
  /** Writes queued during the current I/O event (see dispatch-scope.ts). */
  private readonly batch = new WriteBatch();
  /** Bytes read from and written to the socket (a listener's access log: %BYTES_RECEIVED%, %BYTES_SENT%). */
  bytesReceived = 0;
  bytesSent = 0;
  /**
   * The connection's dynamic metadata by namespace (Envoy's connection StreamInfo), set by
   * network filters (postgres_proxy) and read by access logs (%DYNAMIC_METADATA%).
   */
  dynamicMetadata: Record<string, Record<string, unknown>> | undefined;
  /** Why a network filter closed the connection (Envoy's setConnectionTerminationDetails): network RBAC's denial. */
  terminationDetails: string | undefined;

  /**
   * Envoy's StreamInfo::setDynamicMetadata: the fields are merged into the namespace's, a
   * field given again replaced. A namespace holds at most MAX_METADATA_FIELDS fields (a
   * client choosing the keys, as postgres_proxy's table names, must not grow it without end):
   * new fields past that are dropped, fields already there still updated.
   */
  setDynamicMetadata(namespace: string, fields: Readonly<Record<string, unknown>>): void {
    const all = (this.dynamicMetadata ??= Object.create(null) as Record<string, Record<string, unknown>>);
    const target = (all[namespace] ??= Object.create(null) as Record<string, unknown>);
    let size = Object.keys(target).length;
    for (const [key, value] of Object.entries(fields)) {
      if (!(key in target)) {
        if (size >= MAX_METADATA_FIELDS) continue;
        size++;
      }
      target[key] = value;
    }
  }

  constructor(
    readonly socket: Socket,
    /** Envoy's per_connection_buffer_limit_bytes; 0 disables the watermark. */
    readonly bufferLimit: number,
  ) {
    socket.setHandler(this);
  }

  private remote: SocketAddress | undefined;
  private local: SocketAddress | undefined;

  /**
   * The peer's address, kept once known (runtimes forget it after close, logs need it then).
   * An IPv4-mapped one (a dual-stack socket's IPv4 peer) is the IPv4 address, as Envoy's.
   */
  get remoteAddress(): SocketAddress | undefined {
    return (this.remote ??= unmapIpv4(this.socket.remoteAddress));
  }

  get localAddress(): SocketAddress | undefined {
    return (this.local ??= unmapIpv4(this.socket.localAddress));
  }

  /** Read both addresses now, while the socket has them (Node forgets them once destroyed). */
  rememberAddresses(): void {
    this.remote ??= unmapIpv4(this.socket.remoteAddress);
    this.local ??= unmapIpv4(this.socket.localAddress);
  }

  /** Set when a listener filter (proxy_protocol) restored the addresses: the socket's own peer. */
  private direct: SocketAddress | undefined;

  /** The peer the socket is connected to, whatever a PROXY protocol header said (Envoy's directRemoteAddress). */
  get directRemoteAddress(): SocketAddress | undefined {
    return this.direct ?? this.remoteAddress;
  }

  /**
   * The addresses the listener filters left (Envoy's ConnectionInfoSetter
   * restoreLocalAddress/setRemoteAddress): a PROXY header's client is the remote address
   * from then on, for x-forwarded-for, access logs and hashing.
   */
  restoreAddresses(local: SocketAddress | undefined, remote: SocketAddress | undefined): void {
    this.rememberAddresses();
    if (remote !== undefined) {
      this.direct = this.remote;
      this.remote = remote;
    }
    if (local !== undefined) {
      this.local = local;
      this.localRestored = true;
    }
  }

  private localRestored = false;

  /** A listener filter (proxy_protocol) set the local address: the one the client connected to, not the socket's (Envoy's localAddressRestored). */
  get localAddressRestored(): boolean {
    return this.localRestored;
  }

  /** SNI the tls_inspector read ("" when none): Envoy's requestedServerName. */
  requestedServerName = "";
  /** The tls_inspector's JA3 hash ("" when none): Envoy's connectionInfoProvider().ja3Hash(). */
  ja3Hash = "";
  /**
   * The upstream port a network filter chose for this connection (Envoy's connection filter
   * state `envoy.upstream.dynamic_port`, set by sni_dynamic_forward_proxy): a dynamic forward
   * proxy cluster's host for the SNI is on it. Undefined: the cluster's default port.
   */
  upstreamDynamicPort: number | undefined = undefined;

  addConnectionCallbacks(callbacks: ConnectionCallbacks): void {
    // Copied, not pushed: a pushed-to array reserves room for 16 more, on every connection.
    this.callbacks = [...this.callbacks, callbacks];
  }

  /** `next` hears this connection's events instead of `previous` (an upstream pool's client handing its connection over). */
  replaceConnectionCallbacks(previous: ConnectionCallbacks, next: ConnectionCallbacks): void {
    this.callbacks = this.callbacks.map((c) => (c === previous ? next : c));
  }

  setReadSink(sink: ConnectionReadSink): void {
    this.sink = sink;
  }

  /**
   * Envoy's write filters (Network::WriteFilter::onWrite), in the reverse order of their
   * adding: each sees what the connection is about to write and returns false to drop it
   * (it may write something else itself: writes from a write filter skip the filters).
   * Only user network filters add them; a connection without any pays one check per write.
   */
  private writeFilters: ((data: Uint8Array, endStream: boolean) => boolean)[] | undefined;
  private inWriteFilter = false;

  addWriteFilter(filter: (data: Uint8Array, endStream: boolean) => boolean): void {
    this.writeFilters = [filter, ...(this.writeFilters ?? [])];
  }

  /** A write of a network filter's own: it skips the write filters (Envoy's write from a filter's callbacks). */
  writeFromFilter(data: Uint8Array, endStream: boolean): void {
    const nested = this.inWriteFilter;
    this.inWriteFilter = true;
    try {
      this.write(data, endStream);
    } finally {
      this.inWriteFilter = nested;
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Write bytes; `endStream` half-closes our side after them. */
  write(data: Uint8Array, endStream: boolean): void {
    if (this.closed || this.writeEnded) return;
    if (this.writeFilters !== undefined && !this.inWriteFilter && !this.runWriteFilters(data, endStream)) return;
    if (data.byteLength > 0) {
      if (inDispatch() && !endStream) {
        const batch = this.batch;
        if (batch.count === 0) flushAtEnd(this);
        // Behind a head in the event arena, a small piece joins it there now rather than at the flush.
        if (batch.runBytes === 0 || batch.runBytes + data.byteLength > JOIN_LIMIT || !batch.copyOntoRun(data)) batch.push(data);
      } else {
        this.flushBatch();
        this.writeToSocket(data);
      }
    }
    if (endStream) {
      this.flushBatch();
      this.writeEnded = true;
      this.socket.end();
    }
    if (this.batch.count === 0) this.checkHighWatermark();
    if (this.txBufferedGauge !== undefined) this.reportTxBuffered();
  }

  /**
   * Keep `gauge` at the bytes written and not yet taken by the peer, as Envoy's connection
   * stats' write_current (ConnectionImpl::setConnectionStats): updated as bytes are written
   * and when the socket's queue empties; this connection's share goes when it closes.
   */
  setTxBufferedGauge(gauge: Gauge): void {
    this.txBufferedGauge = gauge;
    this.reportTxBuffered();
  }

  private reportTxBuffered(): void {
    const now = this.closed ? 0 : this.batch.bytes + this.socket.bufferedAmount;
    const gauge = this.txBufferedGauge!;
    if (now > this.txBufferedReported) gauge.inc(now - this.txBufferedReported);
    else if (now < this.txBufferedReported) gauge.dec(this.txBufferedReported - now);
    this.txBufferedReported = now;
  }

  /**
   * Write what `encoder` makes (a head). During an event, on a socket that copies what
   * it keeps, it is encoded straight into the event arena (event-arena.ts), where the
   * body behind it joins it: no array is made for either. Elsewhere, into an array of its own.
   */
  writeEncoded(encoder: ByteEncoder): void {
    if (this.closed || this.writeEnded || encoder.byteLength === 0) return;
    // Write filters see bytes: the head is encoded apart for them.
    if (this.socket.writeCopying && inDispatch() && this.writeFilters === undefined) {
      const batch = this.batch;
      const wasEmpty = batch.count === 0;
      if (batch.encodeIntoRun(encoder)) {
        if (wasEmpty) flushAtEnd(this);
        return;
      }
    }
    this.write(encodedBytes(encoder), false);
  }

  /** False when a write filter dropped the write; their own writes meanwhile skip the filters. */
  private runWriteFilters(data: Uint8Array, endStream: boolean): boolean {
    this.inWriteFilter = true;
    try {
      for (const filter of this.writeFilters!) if (!filter(data, endStream) || this.closed) return false;
      return true;
    } finally {
      this.inWriteFilter = false;
    }
  }

  /**
   * Checked when bytes reach the socket (queued ones are checked at the flush): the
   * adapter's queue is what the peer has not taken, and only its drain (onDrain) can
   * bring it back under.
   */
  private checkHighWatermark(): void {
    if (!this.aboveHighWatermark && this.bufferLimit > 0 && this.socket.bufferedAmount > this.bufferLimit) {
      this.aboveHighWatermark = true;
      for (const cb of this.callbacks) cb.onAboveWriteBufferHighWatermark();
    }
  }

  /** What was written and the kernel has not taken (this event's batch and the socket's queue) is over the buffer limit. */
  /** Bytes written and not yet taken by the peer: this event's batch and the socket's queue. */
  get writeBufferedBytes(): number {
    return this.batch.bytes + this.socket.bufferedAmount;
  }

  get writeBufferOverLimit(): boolean {
    return this.bufferLimit > 0 && this.batch.bytes + this.socket.bufferedAmount > this.bufferLimit;
  }

  /** One write to the socket (a trace shows these, as they leave: a queued head and body are one). */
  private writeToSocket(data: Uint8Array): void {
    this.bytesSent += data.byteLength;
    this.socket.write(data);
    this.traceWrite(data.byteLength);
  }

  /** Several pieces in one hand-over to the socket (Socket.writev). */
  private writevToSocket(chunks: readonly Uint8Array[]): void {
    let bytes = 0;
    for (const chunk of chunks) bytes += chunk.byteLength;
    this.bytesSent += bytes;
    this.socket.writev!(chunks);
    this.traceWrite(bytes);
  }

  /** Bytes of the event arena, which the socket copies from (no buffer made for them). */
  private writeFromArena(at: number, length: number): void {
    this.bytesSent += length;
    this.socket.writeCopying!(arenaBytes(), at, length);
    this.traceWrite(length);
  }

  private traceWrite(bytes: number): void {
    if (this.trace?.on) this.trace.record("downstream_write", this.id, -1, String(bytes));
  }

  /** Write what the current event queued: small pieces as one buffer, large ones as they are. */
  flushBatch(): void {
    const batch = this.batch;
    if (batch.count === 0) return;
    if (this.closed) return batch.clear();
    // Taken before writing: a write may call back and queue more.
    if (batch.runBytes > 0) {
      // The arena run leaves first, as it is (only sockets that copy have one).
      const at = batch.runAt;
      const length = batch.runBytes;
      batch.takeRun();
      this.writeFromArena(at, length);
    }
    if (batch.count === 1) this.writeToSocket(batch.takeJoined());
    else if (batch.count > 1) {
      // Small pieces leave joined: in the arena where the socket copies from it, else in
      // a new buffer (also when the arena is full); large ones as they are.
      const at = batch.bytes <= JOIN_LIMIT && this.socket.writeCopying ? arenaTake(batch.bytes) : -1;
      if (at >= 0) this.writeFromArena(at, batch.takeInto(arenaBytes(), at));
      else if (batch.bytes <= JOIN_LIMIT) this.writeToSocket(batch.takeJoined());
      // Past it, runs of small pieces (a body of tiny chunks) are joined whatever their total:
      // one write each would leave the socket's queue holding an object per few bytes. A
      // large piece among them goes as it is, and does not keep the small ones apart.
      else {
        const chunks = batch.takeSmallRunsJoined(SMALL_PIECE_BYTES);
        // Several large pieces (HTTP/2 DATA frames: a header, then its payload) leave
        // together where the socket gathers them: one system call, not one each.
        if (chunks.length > 1 && this.socket.writev) this.writevToSocket(chunks);
        else for (const chunk of chunks) this.writeToSocket(chunk);
      }
    }
    this.checkHighWatermark();
    if (this.txBufferedGauge !== undefined) this.reportTxBuffered();
  }

  readDisable(disable: boolean): void {
    if (this.closed) return;
    this.socket.readDisable(disable);
    if (this.trace?.on) this.trace.record(disable ? "read_disable" : "read_enable", this.id, -1);
  }

  close(type: CloseType): void {
    if (this.closed) return;
    if (type === "Abort") {
      this.batch.clear();
      this.socket.reset();
    } else if (type === "NoFlush") {
      this.batch.clear();
      this.socket.close();
    } else {
      this.flushBatch();
      this.socket.close();
    }
  }

  // --- SocketHandler: events from the port ---
  // Each is one I/O event: what it writes leaves when it returns (dispatch-scope.ts).
  onConnect(): void {
    enterDispatch();
    try {
      for (const cb of this.callbacks) cb.onEvent("Connected");
    } finally {
      exitDispatch();
    }
  }

  onData(data: Uint8Array): void {
    this.bytesReceived += data.byteLength;
    if (this.trace?.on) this.trace.record("downstream_read", this.id, -1, String(data.byteLength));
    enterDispatch();
    try {
      this.sink?.onData(data, false);
    } finally {
      exitDispatch();
    }
  }

  onEnd(): void {
    enterDispatch();
    try {
      this.sink?.onData(EMPTY_BYTES, true);
    } finally {
      exitDispatch();
    }
  }

  onDrain(): void {
    if (this.txBufferedGauge !== undefined) this.reportTxBuffered();
    if (!this.aboveHighWatermark || this.closed) return;
    this.aboveHighWatermark = false;
    enterDispatch();
    try {
      for (const cb of this.callbacks) cb.onBelowWriteBufferLowWatermark();
    } finally {
      exitDispatch();
    }
  }

  onClose(reason: CloseReason, error?: PortError): void {
    this.closed = true;
    this.batch.clear();
    if (this.txBufferedGauge !== undefined) this.reportTxBuffered();
    if (this.trace?.on) this.trace.record("close", this.id, -1, error ? `${reason} ${error.code}` : reason);
    const event: ConnectionEvent = reason === "local" ? "LocalClose" : "RemoteClose";
    enterDispatch();
    try {
      for (const cb of this.callbacks) cb.onEvent(event, error);
    } finally {
      exitDispatch();
    }
  }
}
