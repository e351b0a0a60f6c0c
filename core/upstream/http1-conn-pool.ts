import { approximateNow } from "../event/dispatch-scope.ts";
import type { TimerHandle } from "../port.ts";
import type { ServerContext } from "../server-context.ts";
import { Connection, type ConnectionCallbacks, type ConnectionEvent } from "../network/connection.ts";
import type { RequestEncoder, ResponseDecoder } from "../http/codec/codec.ts";
import { Http1ClientCodec } from "../http/codec/http1-client-codec.ts";
import type { HeaderMap } from "../http/header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../http/message.ts";
import type { Cluster } from "./cluster.ts";
import type { Host } from "./host.ts";
import type { ResourceManager } from "./resource-manager.ts";

/** How often a pool looks for idle connections past their limit. */
const IDLE_SWEEP_MS = 500;

/** Why a pool could not give a stream a connection (Envoy's `ConnectionPool::PoolFailureReason`). */
export type PoolFailureReason = "overflow" | "connection failure" | "connection timeout";

/** Why an upstream stream ended before its response did. */
export type UpstreamResetReason = "connection termination" | "protocol error";

/** The router's side of an upstream stream. */
export interface UpstreamCallbacks extends ResponseDecoder {
  onPoolReady(stream: UpstreamStream): void;
  onPoolFailure(reason: PoolFailureReason, details: string): void;
  /** The connection died before the response was complete. */
  onUpstreamReset(reason: UpstreamResetReason, details: string): void;
  onUpstreamAboveWriteBufferHighWatermark(): void;
  onUpstreamBelowWriteBufferLowWatermark(): void;
}

/** A request in flight on one upstream connection, as the router drives it. */
export interface UpstreamStream extends RequestEncoder {
  readonly host: Host;
  /** The connection carried an earlier request (so a reset may just be a stale keep-alive). */
  readonly reused: boolean;
  /** Stop/start reading the response (flow control toward a slow downstream). */
  readDisable(disable: boolean): void;
  /** Abandon the stream: its connection is closed, never reused. */
  reset(): void;
}

/** A pending request's handle: cancel before it gets a connection. */
export interface PoolHandle {
  cancel(): void;
}

/**
 * One upstream connection with its HTTP/1 client codec (Envoy's `ActiveClient`):
 * carries one request at a time; reusable once both the request and its response
 * are complete and the upstream allowed keep-alive.
 */
class ActiveClient implements ConnectionCallbacks, UpstreamStream, ResponseDecoder {
  readonly connection: Connection;
  readonly codec: Http1ClientCodec;
  connected = false;
  closed = false;
  requestsServed = 0;
  private callbacks: UpstreamCallbacks | undefined;
  /** The codec's request encoder for the current stream. */
  private encoder: RequestEncoder | undefined;
  private requestComplete = false;
  private responseComplete = false;
  private connectTimer: TimerHandle | undefined;
  /** When it went idle, and how long it may stay so (monotonic ms). */
  idleSince = 0;
  idleLimit = Infinity;
  /** Set while the stream is active: reads were disabled for flow control. */
  private readsDisabled = 0;
  private readonly openedAt: number;
  private timedOut = false;
  /** The current stream's response status (0 until its headers came), for the host's rq_success/rq_error. */
  private responseStatus = 0;

  constructor(
    private readonly pool: Http1ConnPool,
    readonly host: Host,
  ) {
    const { runtime } = pool.context;
    const stats = pool.cluster.stats;
    this.connection = new Connection(runtime.connect({ address: host.address, port: host.port }), pool.cluster.config.perConnectionBufferLimitBytes);
    this.codec = new Http1ClientCodec({
      write: (data, endStream) => {
        stats.upstreamCxTxBytesTotal.inc(data.byteLength);
        this.connection.write(data, endStream);
      },
      writeEncoded: (encoder) => {
        stats.upstreamCxTxBytesTotal.inc(encoder.byteLength);
        this.connection.writeEncoded(encoder);
      },
    });
    this.openedAt = runtime.now();
    stats.upstreamCxTotal.inc();
    stats.upstreamCxHttp1Total.inc();
    stats.upstreamCxActive.inc();
    host.stats.cxTotal++;
    host.stats.cxActive++;
    this.connection.addConnectionCallbacks(this);
    this.connection.setReadSink({ onData: (data, endStream) => this.onUpstreamData(data, endStream) });
    this.connectTimer = runtime.setTimeout(() => this.onConnectTimeout(), pool.cluster.config.connectTimeoutMs);
  }

  /**
   * End this connection's current stream, whichever way it ended (complete, reset by
   * the router, connection lost, protocol error): its request stops counting against
   * the circuit breaker exactly once. Returns the callbacks it had.
   */
  private detach(): UpstreamCallbacks | undefined {
    const callbacks = this.callbacks;
    if (!callbacks) return undefined;
    this.callbacks = undefined;
    this.pool.cluster.stats.upstreamRqActive.dec();
    this.pool.cluster.resources.requests--;
    // Envoy's host rq_success/rq_error: a complete (or upgraded) response below 500 is a success.
    const hostStats = this.host.stats;
    hostStats.rqActive--;
    const status = this.responseStatus;
    if (status > 0 && status < 500 && (this.responseComplete || this.codec.isUpgraded)) hostStats.rqSuccess++;
    else hostStats.rqError++;
    return callbacks;
  }

  get reused(): boolean {
    return this.requestsServed > 0;
  }

  get busy(): boolean {
    return this.callbacks !== undefined;
  }

  /** Bind a stream to this (connected, idle) client. */
  attach(callbacks: UpstreamCallbacks): void {
    this.callbacks = callbacks;
    const stats = this.pool.cluster.stats;
    stats.upstreamRqTotal.inc();
    stats.upstreamRqActive.inc();
    this.host.stats.rqTotal++;
    this.host.stats.rqActive++;
    this.responseStatus = 0;
    this.pool.cluster.resources.requests++;
    this.requestComplete = false;
    this.responseComplete = false;
    this.encoder = this.codec.newStream(this);
    callbacks.onPoolReady(this);
  }

  // ---- RequestEncoder (router → upstream) ----
  encodeHeaders(headers: RequestHeaders, endStream: boolean): void {
    this.encoder?.encodeHeaders(headers, endStream);
    if (endStream) this.onRequestComplete();
  }
  encodeData(data: Uint8Array, endStream: boolean): void {
    this.encoder?.encodeData(data, endStream);
    if (endStream) this.onRequestComplete();
  }
  encodeTrailers(trailers: HeaderMap): void {
    this.encoder?.encodeTrailers(trailers);
    this.onRequestComplete();
  }
  encodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.encoder?.encodeUpgradeData(data, endStream);
  }

  readDisable(disable: boolean): void {
    this.readsDisabled += disable ? 1 : -1;
    this.connection.readDisable(disable);
  }

  reset(): void {
    this.detach();
    this.pool.closeClient(this, "Abort");
  }

  private onRequestComplete(): void {
    this.requestComplete = true;
    this.maybeRelease();
  }

  // ---- ResponseDecoder (codec → router) ----
  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    this.responseStatus = headers.status;
    if (endStream) this.responseComplete = true;
    this.callbacks?.decodeHeaders(headers, endStream);
    if (endStream) this.maybeRelease();
  }
  decodeData(data: Uint8Array, endStream: boolean): void {
    if (endStream) this.responseComplete = true;
    this.callbacks?.decodeData(data, endStream);
    if (endStream) this.maybeRelease();
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.responseComplete = true;
    this.callbacks?.decodeTrailers(trailers);
    this.maybeRelease();
  }
  decodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.callbacks?.decodeUpgradeData(data, endStream);
  }

  private onUpstreamData(data: Uint8Array, endStream: boolean): void {
    this.pool.cluster.stats.upstreamCxRxBytesTotal.inc(data.byteLength);
    if (!this.codec.dispatch(data, endStream)) {
      this.pool.cluster.stats.upstreamCxProtocolError.inc();
      const callbacks = this.detach();
      callbacks?.onUpstreamReset("protocol error", this.codec.protocolError ?? "");
      this.pool.closeClient(this, "Abort");
      return;
    }
    if (!endStream) return;
    // The upstream sent FIN: this connection is done. A stream still waiting for its
    // response has lost it; an idle connection must leave the pool now, not be reused.
    // After an upgrade, FIN is the tunnel's graceful end: the codec already passed it
    // on as the end of the upgrade data, so it is no reset.
    const callbacks = this.detach();
    if (callbacks && !this.responseComplete && !this.codec.isUpgraded) callbacks.onUpstreamReset("connection termination", "");
    this.pool.closeClient(this, "FlushWrite");
  }

  /** Both directions done: give the connection back to the pool, or close it. */
  private maybeRelease(): void {
    if (!this.requestComplete || !this.responseComplete || !this.callbacks) return;
    this.detach();
    this.requestsServed++;
    while (this.readsDisabled > 0) this.readDisable(false);
    while (this.readsDisabled < 0) this.readsDisabled++;
    if (!this.codec.keepAlive) this.pool.closeClient(this);
    else this.pool.onClientIdle(this);
  }

  // ---- ConnectionCallbacks ----
  onEvent(event: ConnectionEvent, error?: { code: string; message: string }): void {
    const stats = this.pool.cluster.stats;
    const now = this.pool.context.runtime.now();
    if (event === "Connected") {
      this.clearConnectTimer();
      this.connected = true;
      stats.upstreamCxConnectMs.record(now - this.openedAt);
      this.pool.onClientConnected(this);
      return;
    }
    this.clearConnectTimer();
    const wasConnected = this.connected;
    this.closed = true;
    const callbacks = this.detach();
    this.codec.destroy();
    stats.upstreamCxActive.dec();
    this.host.stats.cxActive--;
    // Envoy counts a connect timeout as the host's cx_connect_fail too.
    if (!wasConnected) this.host.stats.cxConnectFail++;
    if (wasConnected) {
      stats.upstreamCxDestroy.inc();
      (event === "LocalClose" ? stats.upstreamCxDestroyLocal : stats.upstreamCxDestroyRemote).inc();
      stats.upstreamCxLengthMs.record(now - this.openedAt);
    } else if (!this.timedOut) {
      stats.upstreamCxConnectFail.inc();
    }
    if (!wasConnected) {
      // A connect timeout already failed its pending request (onConnectTimeout).
      if (!this.timedOut) {
        this.pool.onConnectFailure(this, "connection failure", error ? `delayed connect error: ${error.code}` : "connection closed");
      }
      return;
    }
    callbacks?.onUpstreamReset("connection termination", error?.code ?? "");
    this.pool.onClientClosed(this);
  }

  onAboveWriteBufferHighWatermark(): void {
    this.callbacks?.onUpstreamAboveWriteBufferHighWatermark();
  }

  onBelowWriteBufferLowWatermark(): void {
    this.callbacks?.onUpstreamBelowWriteBufferLowWatermark();
  }

  private onConnectTimeout(): void {
    this.connectTimer = undefined;
    this.timedOut = true;
    this.pool.cluster.stats.upstreamCxConnectTimeout.inc();
    this.closed = true;
    this.pool.onConnectFailure(this, "connection timeout", "");
    this.connection.close("Abort");
  }

  private clearConnectTimer(): void {
    if (this.connectTimer === undefined) return;
    this.pool.context.runtime.clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }
}

/** A request waiting for a connection; `cancel` takes it out of the queue. */
class PendingStream implements PoolHandle {
  constructor(
    private readonly pool: Http1ConnPool,
    readonly callbacks: UpstreamCallbacks,
  ) {}

  cancel(): void {
    this.pool.dequeue(this);
  }
}

/**
 * Envoy's HTTP/1 connection pool for one upstream host: keep-alive reuse, one request
 * per connection at a time, a queue of pending requests, circuit breakers
 * (overflow → the router answers 503 with x-envoy-overloaded), an idle timeout
 * (Envoy's default 1 h, shortened to an upstream's `Keep-Alive: timeout`), and no
 * reuse of a connection the upstream is closing: a released connection goes back to
 * the idle list only after one event-loop turn, so a FIN that arrived with the
 * response is seen first.
 */
export class Http1ConnPool {
  private readonly idle: ActiveClient[] = [];
  private readonly clients = new Set<ActiveClient>();
  private readonly pending: PendingStream[] = [];
  private sweepTimer: TimerHandle | undefined;
  /** Connections released by a finished stream, waiting one turn before reuse. */
  private releasing = 0;
  /**
   * Clients still connecting (in `clients`, not yet connected): with `releasing`, the
   * connections pending requests can count on. Kept as a count, not found by a walk over
   * every client on each pending request (a pool can hold a thousand).
   */
  private connecting = 0;
  private released: ActiveClient[] = [];
  private releasedSpare: ActiveClient[] = [];

  constructor(
    readonly cluster: Cluster,
    readonly host: Host,
    readonly context: ServerContext,
    private readonly idleTimeoutMs: number,
  ) {}

  private get resources(): ResourceManager {
    return this.cluster.resources;
  }

  private addClient(): void {
    this.clients.add(new ActiveClient(this, this.host));
    this.resources.connections++;
    this.connecting++;
  }

  private removeClient(client: ActiveClient): void {
    if (!this.clients.delete(client)) return;
    this.resources.connections--;
    if (!client.connected) this.connecting--;
  }

  /** Connections pending requests can count on: connecting, or about to come back from their last stream. */
  private get coming(): number {
    return this.connecting + this.releasing;
  }

  /** Ask for a connection for one request; the answer comes to `callbacks` (possibly synchronously). */
  newStream(callbacks: UpstreamCallbacks): PoolHandle | undefined {
    if (!this.resources.canStartRequest()) {
      this.cluster.stats.upstreamRqPendingOverflow.inc();
      callbacks.onPoolFailure("overflow", "max_requests");
      return undefined;
    }
    const client = this.takeIdle();
    if (client) {
      client.attach(callbacks);
      return undefined;
    }
    if (!this.resources.canQueueRequest()) {
      this.cluster.stats.upstreamRqPendingOverflow.inc();
      callbacks.onPoolFailure("overflow", "max_pending_requests");
      return undefined;
    }
    const pending = new PendingStream(this, callbacks);
    this.pending.push(pending);
    this.resources.pendingRequests++;
    this.cluster.stats.upstreamRqPendingTotal.inc();
    this.cluster.stats.upstreamRqPendingActive.inc();
    // One new connection per pending request not already covered by a connecting
    // one or by one about to come back from its last stream.
    if (this.coming < this.pending.length && this.resources.canCreateConnection()) this.addClient();
    return pending;
  }

  /** @internal */
  dequeue(pending: PendingStream): boolean {
    const i = this.pending.indexOf(pending);
    if (i < 0) return false;
    this.pending.splice(i, 1);
    this.resources.pendingRequests--;
    this.cluster.stats.upstreamRqPendingActive.dec();
    return true;
  }

  private nextPending(): PendingStream | undefined {
    const next = this.pending[0];
    if (next) this.dequeue(next);
    return next;
  }

  private takeIdle(): ActiveClient | undefined {
    const now = approximateNow(this.context.runtime);
    while (this.idle.length > 0) {
      const client = this.idle.pop()!;
      if (client.closed) continue;
      // Past its idle limit the upstream may be closing it: never reuse, close.
      if (now - client.idleSince >= client.idleLimit) {
        this.closeClient(client);
        continue;
      }
      return client;
    }
    return undefined;
  }

  /** @internal */
  onClientConnected(client: ActiveClient): void {
    if (this.clients.has(client)) this.connecting--;
    this.serveNext(client);
  }

  /** @internal A stream finished and the connection may be reused: wait one turn, then reuse. */
  onClientIdle(client: ActiveClient): void {
    this.releasing++;
    this.released.push(client);
    // One deferred call per turn for all the connections released in it.
    if (this.released.length === 1) this.context.runtime.defer(this.reuseReleased);
  }

  private readonly reuseReleased = (): void => {
    // Two arrays taking turns, not a new one per turn: connections released while these
    // are served go to the other one.
    const released = this.released;
    this.released = this.releasedSpare;
    for (const client of released) {
      this.releasing--;
      if (client.closed) this.replaceForPending();
      else this.serveNext(client);
    }
    released.length = 0;
    this.releasedSpare = released;
  };

  /** A connection pending requests counted on is gone: open another if they still wait. */
  private replaceForPending(): void {
    if (this.pending.length > this.coming && this.resources.canCreateConnection()) this.addClient();
  }

  private serveNext(client: ActiveClient): void {
    if (client.busy || client.closed) return;
    const next = this.resources.canStartRequest() ? this.nextPending() : undefined;
    if (next) {
      client.attach(next.callbacks);
      return;
    }
    // An upstream's Keep-Alive timeout is honoured with a margin, so we close first
    // rather than race the upstream's close with a new request.
    const upstreamLimit = client.codec.keepAliveTimeoutMs;
    client.idleSince = approximateNow(this.context.runtime);
    client.idleLimit =
      upstreamLimit !== undefined
        ? Math.min(this.idleTimeoutMs, Math.max(0, upstreamLimit - 1000))
        : this.idleTimeoutMs > 0
          ? this.idleTimeoutMs
          : Infinity;
    this.idle.push(client);
    this.armSweep();
  }

  /**
   * Idle connections are retired by one sweep per pool while any are idle, not a timer
   * per connection re-armed on every request (a timer each costs more than the request).
   */
  private armSweep(): void {
    if (this.sweepTimer !== undefined) return;
    this.sweepTimer = this.context.runtime.setTimeout(() => {
      this.sweepTimer = undefined;
      const now = this.context.runtime.now();
      for (const client of [...this.idle]) if (now - client.idleSince >= client.idleLimit) this.closeClient(client);
      if (this.idle.length > 0) this.armSweep();
    }, IDLE_SWEEP_MS);
  }

  /** @internal */
  onConnectFailure(client: ActiveClient, reason: PoolFailureReason, details: string): void {
    if (!this.clients.has(client)) return;
    this.removeClient(client);
    // Envoy purges the pending requests no other connection is on its way for: they
    // fail now rather than wait for a connection that will not come.
    const failed: PendingStream[] = [];
    while (this.pending.length > this.coming) failed.push(this.nextPending()!);
    for (const pending of failed) pending.callbacks.onPoolFailure(reason, details);
  }

  /** @internal */
  onClientClosed(client: ActiveClient): void {
    this.removeClient(client);
    const i = this.idle.indexOf(client);
    if (i >= 0) this.idle.splice(i, 1);
    this.replaceForPending();
  }

  /** @internal Close a connection that must not be reused (Abort when its stream was cut short). */
  closeClient(client: ActiveClient, how: "FlushWrite" | "Abort" = "FlushWrite"): void {
    client.closed = true;
    this.removeClient(client);
    const i = this.idle.indexOf(client);
    if (i >= 0) this.idle.splice(i, 1);
    client.connection.close(how);
  }

  /** Connections open, for tests and stats. */
  get connectionCount(): number {
    return this.clients.size;
  }
}
