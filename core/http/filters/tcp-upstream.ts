import type { ConnectionEvent } from "../../network/connection.ts";
import type { PortError, SocketAddress } from "../../port.ts";
import type { Host } from "../../upstream/host.ts";
import type { PoolHandle, UpstreamCallbacks, UpstreamStream } from "../../upstream/http1-conn-pool.ts";
import type { PoolFailureReason } from "../../upstream/pool-failure.ts";
import type { TcpConnectionData, TcpConnPool, TcpPoolCallbacks, TcpUpstreamCallbacks } from "../../upstream/tcp-conn-pool.ts";
import { EMPTY_BYTES } from "../../util/bytes.ts";
import { ResponseHeaders } from "../message.ts";
import type { HeaderMap } from "../header-map.ts";
import { StreamResetReason } from "../stream-reset-reason.ts";

/**
 * A CONNECT the router terminates (route upgrade_configs CONNECT with connect_config):
 * the request's payload goes to the upstream host over plain TCP. Envoy's router
 * TcpConnPool and TcpUpstream (source/extensions/upstreams/http/tcp/upstream_request.cc):
 * a stream over a connection of the host's TCP pool whose request headers are not sent —
 * they answer themselves with a synthesized 200, which tells the client the tunnel is up —
 * and whose bytes both ways are the tunnel's, each direction's end a half-close.
 */
export function newTcpUpstreamStream(pool: TcpConnPool, host: Host, callbacks: UpstreamCallbacks): PoolHandle | undefined {
  return pool.newStream(new TcpUpstream(host, callbacks));
}

class TcpUpstream implements UpstreamStream, TcpPoolCallbacks, TcpUpstreamCallbacks {
  readonly reused = false;
  responseStarted = false;
  private upstream: TcpConnectionData | undefined;
  /** Each direction's end went through: a close after both is the tunnel's end, not a reset. */
  private sentEnd = false;
  private receivedEnd = false;
  private readsDisabled = false;

  constructor(
    readonly host: Host,
    private readonly callbacks: UpstreamCallbacks,
  ) {}

  // ---- TcpPoolCallbacks ----

  onPoolReady(upstream: TcpConnectionData): void {
    this.upstream = upstream;
    upstream.addUpstreamCallbacks(this);
    this.callbacks.onPoolReady(this);
  }

  onPoolFailure(reason: PoolFailureReason, transportFailureReason: string): void {
    this.callbacks.onPoolFailure(reason, transportFailureReason);
  }

  // ---- UpstreamStream (the router's side) ----

  get localAddress(): SocketAddress | undefined {
    return this.upstream?.connection.socket.localAddress;
  }

  /** Envoy's TcpUpstream::encodeHeaders: nothing goes upstream; the 200 completes the CONNECT handshake downstream. */
  encodeHeaders(_headers: unknown, endStream: boolean): void {
    this.responseStarted = true;
    if (endStream) this.encodeData(EMPTY_BYTES, true);
    this.callbacks.decodeHeaders(new ResponseHeaders(200), false);
  }

  encodeData(data: Uint8Array, endStream: boolean): void {
    const connection = this.upstream?.connection;
    if (connection === undefined || this.sentEnd) return;
    if (endStream) this.sentEnd = true;
    connection.write(data, endStream);
  }

  encodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.encodeData(data, endStream);
  }

  /** Trailers end the request: the tunnel's downstream half closes (Envoy's encodeTrailers). */
  encodeTrailers(_trailers: HeaderMap): void {
    this.encodeData(EMPTY_BYTES, true);
  }

  readDisable(disable: boolean): void {
    if (this.readsDisabled === disable) return;
    this.readsDisabled = disable;
    this.upstream?.connection.readDisable(disable);
  }

  reset(): void {
    const upstream = this.upstream;
    this.upstream = undefined;
    upstream?.release(this.sentEnd && this.receivedEnd ? "FlushWrite" : "Abort");
  }

  // ---- TcpUpstreamCallbacks (the connection's side) ----

  onUpstreamData(data: Uint8Array, endStream: boolean): void {
    if (endStream) this.receivedEnd = true;
    this.callbacks.decodeUpgradeData(data, endStream);
  }

  /** The connection closed: after both ends the tunnel is simply over; otherwise it was cut (Envoy: ConnectionTermination). */
  onEvent(_event: ConnectionEvent, error?: PortError): void {
    if (this.upstream === undefined) return;
    this.upstream = undefined;
    if (this.sentEnd && this.receivedEnd) return;
    this.callbacks.onUpstreamReset(StreamResetReason.ConnectionTermination, error?.code ?? "");
  }

  onAboveWriteBufferHighWatermark(): void {
    this.callbacks.onUpstreamAboveWriteBufferHighWatermark();
  }

  onBelowWriteBufferLowWatermark(): void {
    this.callbacks.onUpstreamBelowWriteBufferLowWatermark();
  }
}
