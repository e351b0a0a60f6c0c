import type { Connection, ConnectionEvent } from "../network/connection.ts";
import type { PortError } from "../port.ts";
import { ActiveClient, ActiveClientState, ConnPoolImplBase, type PoolFailureCallbacks } from "./conn-pool-base.ts";
import { ResourceManager } from "./resource-manager.ts";

/** What the owner of an upstream TCP connection hears from it (Envoy's `Tcp::ConnectionPool::UpstreamCallbacks`). */
export interface TcpUpstreamCallbacks {
  onUpstreamData(data: Uint8Array, endStream: boolean): void;
  /** The upstream connection closed (after it was handed out). */
  onEvent(event: ConnectionEvent, error?: PortError): void;
  onAboveWriteBufferHighWatermark(): void;
  onBelowWriteBufferLowWatermark(): void;
}

/** The owner's side of a pool request (Envoy's `Tcp::ConnectionPool::Callbacks`). */
export interface TcpPoolCallbacks extends PoolFailureCallbacks {
  onPoolReady(connection: TcpConnectionData): void;
}

/** A connected upstream connection handed to its owner (Envoy's `Tcp::ConnectionPool::ConnectionData`). */
export interface TcpConnectionData {
  readonly connection: Connection;
  /** Where the connection's bytes and events go from now on. */
  addUpstreamCallbacks(callbacks: TcpUpstreamCallbacks): void;
  /** Done with it: the connection is closed (after flushing, unless Abort), never reused. */
  release(how: "FlushWrite" | "Abort"): void;
  /**
   * Close once what is buffered has been sent; unlike `release`, the owner's callbacks still
   * hear the connection's data and its close (Envoy's tcp_proxy Drainer keeps the connection data).
   */
  closeFlushing(): void;
}

/** One upstream TCP connection (Envoy's `Tcp::ActiveTcpClient`): one owner at a time. */
class ActiveTcpClient extends ActiveClient implements TcpConnectionData {
  private callbacks: TcpUpstreamCallbacks | undefined;
  private attached = false;

  constructor(private readonly pool: TcpConnPool) {
    super(pool, 1);
    this.connection.setReadSink({ onData: (data, endStream) => this.onData(data, endStream) });
  }

  attach(callbacks: TcpPoolCallbacks): void {
    this.attached = true;
    callbacks.onPoolReady(this);
  }

  addUpstreamCallbacks(callbacks: TcpUpstreamCallbacks): void {
    this.callbacks = callbacks;
  }

  release(how: "FlushWrite" | "Abort"): void {
    // tcp_proxy ends the upstream connection with the downstream one: closed, not pooled.
    this.detach(how);
  }

  closeFlushing(): void {
    // The pool forgets the client now; its close event still comes to onEvent, which detaches.
    this.close("FlushWrite");
  }

  /**
   * The owner is done or the connection is gone. The owner's callbacks are let go before
   * a close (a runtime may report it from inside), and the pool told after it.
   */
  private detach(close?: "FlushWrite" | "Abort"): TcpUpstreamCallbacks | undefined {
    const attached = this.attached;
    const callbacks = this.callbacks;
    this.attached = false;
    this.callbacks = undefined;
    if (close) this.close(close);
    if (attached) this.pool.onStreamClosed(this, false);
    return callbacks;
  }

  private onData(data: Uint8Array, endStream: boolean): void {
    this.pool.cluster.stats.upstreamCxRxBytesTotal.inc(data.byteLength);
    this.callbacks?.onUpstreamData(data, endStream);
  }

  override onEvent(event: ConnectionEvent, error?: PortError): void {
    super.onEvent(event, error);
    if (event === "Connected" || this.state !== ActiveClientState.Closed) return;
    this.detach()?.onEvent(event, error);
  }

  override onAboveWriteBufferHighWatermark(): void {
    this.callbacks?.onAboveWriteBufferHighWatermark();
  }

  override onBelowWriteBufferLowWatermark(): void {
    this.callbacks?.onBelowWriteBufferLowWatermark();
  }
}

/**
 * Envoy's TCP connection pool for one upstream host (source/common/tcp/conn_pool.cc) on the
 * shared pool base: connect timeout, circuit breakers, pending queue and connection stats
 * as for HTTP; a connection serves one owner (tcp_proxy's downstream connection) and closes
 * with it. It does not check max_requests (Envoy's `enforceMaxRequests` is false for TCP).
 */
export class TcpConnPool extends ConnPoolImplBase<ActiveTcpClient, TcpPoolCallbacks> {
  protected instantiateActiveClient(): ActiveTcpClient {
    return new ActiveTcpClient(this);
  }

  protected onPoolReady(client: ActiveTcpClient, callbacks: TcpPoolCallbacks): void {
    client.attach(callbacks);
  }

  protected override enforceMaxRequests(): boolean {
    return false;
  }

  protected override closeExcessOnCancel(): boolean {
    return true;
  }
}

/** Counts without limits, and no circuit_breakers gauges: what a pool outside the cluster's circuit breakers counts against. */
const NO_CIRCUIT_BREAKERS = new ResourceManager({ maxConnections: Infinity, maxPendingRequests: Infinity, maxRequests: Infinity, maxRetries: Infinity });

/**
 * A TCP pool whose connections the cluster's circuit breakers neither count nor limit, for
 * an owner that opens its connections itself in Envoy: redis_proxy's transaction client,
 * made by `client_factory_.create(host, …)` (conn_pool_impl.cc makeRequestToHost), not from
 * the cluster's pool. Its connections still count in upstream_cx_* as Envoy's Redis
 * ClientImpl counts them; connect timeout and stats are the cluster's.
 */
export class UnlimitedTcpConnPool extends TcpConnPool {
  protected override get resources(): ResourceManager {
    return NO_CIRCUIT_BREAKERS;
  }
}
