import type { ConnectionEvent } from "../connection.ts";
import type { Timer, TimerTarget, Timers } from "../../event/timers.ts";
import type { Cluster } from "../../upstream/cluster.ts";
import type { Host } from "../../upstream/host.ts";
import type { PoolHandle } from "../../upstream/conn-pool-base.ts";
import type { PoolFailureReason } from "../../upstream/pool-failure.ts";
import type { TcpConnPool, TcpConnectionData, TcpPoolCallbacks, TcpUpstreamCallbacks } from "../../upstream/tcp-conn-pool.ts";
import { REPLY_RESP_LIMITS, RespDecoder, RespProtocolError } from "./resp-decoder.ts";
import { RespEncoder } from "./resp-encoder.ts";
import { byteStringToBytes, respArray, respBulk, type RespValue } from "./resp-value.ts";

/** Where one request's reply goes (Envoy's ClientCallbacks / PoolCallbacks). */
export interface RedisRequestCallbacks {
  onResponse(value: RespValue): void;
  /** The request failed upstream: no connection, its connection closed, op_timeout. */
  onFailure(): void;
}

/** A request in flight; cancelled, its reply is read and dropped (Envoy's PendingRequest::cancel). */
export interface RedisPoolRequest {
  cancel(): void;
}

export interface RedisClientSettings {
  readonly opTimeoutMs: number;
  /** 0: each request is written at once. */
  readonly maxBufferSizeBeforeFlush: number;
  readonly bufferFlushTimeoutMs: number;
}

/**
 * Requests one upstream connection may have outstanding (sent or waiting to be): it is shared
 * by every client of the worker, so past this a request fails at once ("upstream failure")
 * rather than queueing behind the others until op_timeout. Envoy has no such bound.
 */
export const MAX_OUTSTANDING_REQUESTS = 64 * 1024;

const IGNORE_REPLY: RedisRequestCallbacks = { onResponse() {}, onFailure() {} };

class PendingRequest implements RedisPoolRequest {
  canceled = false;
  constructor(readonly callbacks: RedisRequestCallbacks) {}
  cancel(): void {
    this.canceled = true;
  }
}

/**
 * One upstream connection to one Redis host, shared by every downstream connection of a
 * worker, requests pipelined on it and answered in order (Envoy's Redis ClientImpl,
 * common/redis/client_impl.cc). The connection comes from the host's TCP pool (connect
 * timeout, circuit breakers, upstream_cx_* stats) and is kept until it closes. As Envoy's
 * connect_or_op_timer_, a timer runs from creation: the cluster's connect_timeout until the
 * pool hands over a connection (a stream waiting behind the circuit breakers fails then,
 * upstream_cx_connect_timeout, rather than waiting for ever), then op_timeout while requests
 * are outstanding, restarted by each reply; when it fires the connection is closed and every
 * outstanding request fails (upstream_rq_timeout).
 */
export class RedisClient implements TcpPoolCallbacks, TcpUpstreamCallbacks, TimerTarget {
  private readonly pending: PendingRequest[] = [];
  private pendingHead = 0;
  private readonly encoder = new RespEncoder();
  private readonly decoder = new RespDecoder((value) => this.onValue(value), REPLY_RESP_LIMITS);
  private upstream: TcpConnectionData | undefined;
  private poolHandle: PoolHandle | undefined;
  /** Envoy's connect_or_op_timer_. */
  private readonly opTimer: Timer;
  private flushTimer: Timer | undefined;
  private closed = false;
  /** Its host left the cluster: closed once nothing is outstanding. */
  private draining = false;

  constructor(
    private readonly cluster: Cluster,
    readonly host: Host,
    pool: TcpConnPool,
    private readonly timers: Timers,
    private readonly settings: RedisClientSettings,
    /** Told once the client is closed (the conn pool forgets it). */
    private readonly onClose: (client: RedisClient) => void,
  ) {
    // RedisProtocolOptions: AUTH goes first on the connection, its reply dropped, as Envoy's
    // ClientImpl::create sends it with null callbacks (a wrong password shows in the replies
    // of the commands after it: -NOAUTH).
    const auth = cluster.config.redisAuth;
    if (auth !== undefined) {
      this.pending.push(new PendingRequest(IGNORE_REPLY));
      const args = auth.username === "" ? ["AUTH", auth.password] : ["AUTH", auth.username, auth.password];
      this.encoder.encode(respArray(args.map((arg) => respBulk(byteStringToBytes(arg)))));
    }
    this.opTimer = timers.create(this);
    this.opTimer.enable(cluster.config.connectTimeoutMs);
    this.poolHandle = pool.newStream(this);
  }

  get active(): boolean {
    return !this.closed;
  }

  /** At MAX_OUTSTANDING_REQUESTS: the next request is failed by the pool, not queued. */
  get full(): boolean {
    return this.outstanding() >= MAX_OUTSTANDING_REQUESTS;
  }

  makeRequest(request: RespValue, callbacks: RedisRequestCallbacks): RedisPoolRequest {
    const pending = new PendingRequest(callbacks);
    this.pending.push(pending);
    this.encoder.encode(request);
    if (this.upstream !== undefined) {
      if (this.settings.maxBufferSizeBeforeFlush === 0 || this.encoder.length >= this.settings.maxBufferSizeBeforeFlush) this.flush();
      else {
        this.flushTimer ??= this.timers.create(this);
        if (!this.flushTimer.enabled) this.flushTimer.enable(this.settings.bufferFlushTimeoutMs);
      }
      if (!this.opTimer.enabled) this.opTimer.enable(this.settings.opTimeoutMs);
    }
    return pending;
  }

  onPoolReady(connection: TcpConnectionData): void {
    this.poolHandle = undefined;
    if (this.closed) return connection.release("Abort");
    this.upstream = connection;
    connection.addUpstreamCallbacks(this);
    if (this.outstanding() > 0) {
      this.flush();
      this.opTimer.enable(this.settings.opTimeoutMs);
    } else this.opTimer.disable();
  }

  onPoolFailure(_reason: PoolFailureReason, _transportFailureReason: string): void {
    this.poolHandle = undefined;
    this.close();
  }

  onUpstreamData(data: Uint8Array, endStream: boolean): void {
    try {
      this.decoder.decode(data);
    } catch (error) {
      if (!(error instanceof RespProtocolError)) throw error;
      // Envoy's ClientImpl::onData: a reply that is not RESP closes the connection.
      this.cluster.stats.upstreamCxProtocolError.inc();
      this.close();
      return;
    }
    if (endStream) this.close();
  }

  onEvent(event: ConnectionEvent): void {
    if (event === "RemoteClose" || event === "LocalClose") {
      this.upstream = undefined;
      this.close();
    }
  }

  onAboveWriteBufferHighWatermark(): void {}
  onBelowWriteBufferLowWatermark(): void {}

  onTimer(timer: Timer): void {
    if (timer === this.flushTimer) return this.flush();
    // Envoy's ClientImpl::onConnectOrOpTimeout: no connection yet, a connect timeout.
    if (this.upstream === undefined) this.cluster.stats.upstreamCxConnectTimeout.inc();
    else this.cluster.stats.upstreamRqTimeout.inc();
    this.close();
  }

  /**
   * Its host was removed from the cluster (Envoy's ThreadLocalPool::onHostsRemoved): closed
   * now when idle, else once its last outstanding reply is in.
   */
  drain(): void {
    this.draining = true;
    if (this.outstanding() === 0) this.close();
  }

  /** Close the connection and fail what is outstanding; the pool makes a new client for the next request. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.opTimer.disable();
    this.flushTimer?.disable();
    this.poolHandle?.cancel();
    this.poolHandle = undefined;
    const upstream = this.upstream;
    this.upstream = undefined;
    upstream?.release("Abort");
    this.onClose(this);
    const failed = this.pending.slice(this.pendingHead);
    this.pending.length = 0;
    this.pendingHead = 0;
    for (const request of failed) if (!request.canceled) request.callbacks.onFailure();
  }

  private outstanding(): number {
    return this.pending.length - this.pendingHead;
  }

  private flush(): void {
    this.flushTimer?.disable();
    const upstream = this.upstream;
    if (upstream === undefined) return;
    for (const chunk of this.encoder.take()) upstream.connection.write(chunk, false);
  }

  private onValue(value: RespValue): void {
    // Replies decoded from the same read after the connection closed: nobody waits for them.
    if (this.closed) return;
    const request = this.pending[this.pendingHead];
    if (request === undefined) {
      // A reply nobody asked for: the stream is out of step (Envoy: a protocol error).
      this.cluster.stats.upstreamCxProtocolError.inc();
      this.close();
      return;
    }
    this.pending[this.pendingHead++] = undefined as unknown as PendingRequest;
    if (this.pendingHead === this.pending.length) {
      this.pending.length = 0;
      this.pendingHead = 0;
      this.opTimer.disable();
    } else {
      if (this.pendingHead > 1024) {
        this.pending.splice(0, this.pendingHead);
        this.pendingHead = 0;
      }
      this.opTimer.enable(this.settings.opTimeoutMs);
    }
    if (!request.canceled) request.callbacks.onResponse(value);
    if (this.draining && this.outstanding() === 0) this.close();
  }
}
