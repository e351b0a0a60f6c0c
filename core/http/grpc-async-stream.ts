/**
 * Envoy's Grpc::AsyncStream (source/common/grpc/async_client_impl.cc, AsyncStreamImpl):
 * one long-lived bidirectional gRPC call to a cluster through the cluster manager — its
 * load balancer picks a host, the host's HTTP/2 pool carries the stream — for xDS's
 * StreamAggregatedResources and the per-type Stream*s. Messages sent before the stream is
 * ready wait in a bounded queue; received frames are split (grpc-frame.ts) and handed on
 * one by one. The call ends with onRemoteClose(status, message): the server's trailers,
 * or what the pool or the connection failed with (Unavailable, as Envoy maps resets).
 */
import type { GoogleGrpcTargetConfig } from "../config/bootstrap.ts";
import type { Timer } from "../event/timers.ts";
import { GoogleGrpcStats } from "./google-grpc-stats.ts";
import type { ServerContext } from "../server-context.ts";
import type { Cluster } from "../upstream/cluster.ts";
import type { Host } from "../upstream/host.ts";
import type { PoolHandle, UpstreamStream } from "../upstream/http1-conn-pool.ts";
import type { PoolFailureReason } from "../upstream/pool-failure.ts";
import { GrpcStatus, httpToGrpcStatus, isGrpcContentType, parseGrpcStatus } from "./grpc-common.ts";
import { encodeGrpcFrame, GRPC_FH_DEFAULT, GrpcFrameDecoder, type GrpcFrame } from "./grpc-frame.ts";
import type { HeaderMap } from "./header-map.ts";
import { RequestHeaders, type ResponseHeaders } from "./message.ts";
import type { StreamResetReason } from "./stream-reset-reason.ts";
import { withClusterUpstreamFilters, type AsyncUpstreamFilterCallbacks } from "./filters/async-upstream-filters.ts";

export interface GrpcStreamCallbacks {
  /** The stream has a connection and its headers went out: messages are written at once from now on. */
  onReady?(): void;
  /** One message from the server (its bytes, the call's to keep). */
  onReceiveMessage(message: Uint8Array): void;
  /** The call ended: the server's grpc-status and grpc-message, or the local failure's. No callback follows. */
  onRemoteClose(status: number, message: string): void;
  /** The stream's write buffer went above its high watermark (the server reads slower than we send), and back under the low one. */
  onAboveWriteBufferHighWatermark?(): void;
  onBelowWriteBufferLowWatermark?(): void;
}

/** Where a call's events go once its caller has let it go (closeSendAndDeleteOnRemoteClose). */
const IGNORE_CALLBACKS: GrpcStreamCallbacks = { onReceiveMessage: () => {}, onRemoteClose: () => {} };

/** Messages queued before the stream is ready: more is the caller's bug (xDS sends one per type). */
const MAX_PENDING_MESSAGES = 1024;

export class GrpcAsyncStream implements AsyncUpstreamFilterCallbacks {
  private poolHandle: PoolHandle | undefined;
  private stream: UpstreamStream | undefined;
  private readonly pending: Uint8Array[] = [];
  private readonly frames: GrpcFrameDecoder;
  private responseHeaders: ResponseHeaders | undefined;
  private closed = false;
  /** The stream's write buffer is above its high watermark: a periodic sender skips a beat (load-stats-reporter.ts). */
  aboveWriteBufferHighWatermark = false;

  constructor(
    private readonly server: ServerContext,
    private callbacks: GrpcStreamCallbacks,
    /** The largest message taken (Envoy's max_receive_message_length; unbounded there). */
    maxMessageBytes: number,
    /** Always HTTP/2, whatever the cluster's protocol options (ClusterManager.grpcStreamConnPool). */
    private readonly alwaysHttp2 = false,
  ) {
    this.frames = new GrpcFrameDecoder(maxMessageBytes, (flags) => flags === GRPC_FH_DEFAULT);
  }

  /**
   * Open `method` ("/package.Service/Method") on `clusterName`. Failures (no such
   * cluster, no healthy host) come as onRemoteClose, possibly before this returns. With
   * `google` (a google_grpc target), `clusterName` is its internal cluster, built first.
   */
  start(clusterName: string, method: string, authority: string, initialMetadata: readonly (readonly [string, string])[], google?: GoogleGrpcTargetConfig): void {
    if (google === undefined) return this.open(clusterName, method, authority, initialMetadata, false);
    // Envoy's GoogleAsyncStreamImpl::initialize counts the stream; notifyRemoteClose its status.
    this.googleStats = GoogleGrpcStats.of(this.server.stats, google.statPrefix);
    this.googleStats.streamsTotal.inc();
    const ready = this.server.clusterManager.internalCluster(google.cluster);
    if (ready === undefined) return this.open(clusterName, method, authority, initialMetadata, true);
    ready.then(
      () => this.closed || this.open(clusterName, method, authority, initialMetadata, true),
      (err: unknown) => this.closed || this.close(GrpcStatus.Unavailable, err instanceof Error ? err.message : String(err)),
    );
  }

  private googleStats: GoogleGrpcStats | undefined;

  private open(clusterName: string, method: string, authority: string, initialMetadata: readonly (readonly [string, string])[], internal: boolean): void {
    const cluster = internal ? this.server.clusterManager.getInternal(clusterName) : this.server.clusterManager.get(clusterName);
    if (cluster === undefined) return this.close(GrpcStatus.Unavailable, `cluster '${clusterName}' does not exist`);
    const headers = new RequestHeaders();
    headers.method = "POST";
    headers.path = method;
    headers.scheme = "http";
    headers.authority = authority !== "" ? authority : clusterName;
    headers.set("content-type", "application/grpc");
    headers.set("te", "trailers");
    for (const [name, value] of initialMetadata) headers.add(name, value);
    // Envoy's gRPC async client goes through the router, whose downstreamHeaders() are the
    // stream's own: an ORIGINAL_DST cluster's use_http_header reads them (router.h).
    const host = cluster.loadBalancer.chooseHost({ downstreamHeaders: () => headers });
    if (host === undefined) return this.close(GrpcStatus.Unavailable, "no healthy upstream");
    this.pendingHeaders = headers;
    // A static cluster's EDS or SDS stream may start before its HTTP/2 pools' code is in.
    const loading = this.alwaysHttp2 ? this.server.clusterManager.grpcStreamPoolCodeLoading() : this.server.clusterManager.poolCodeLoading(cluster);
    if (loading === undefined) return this.newStream(cluster, host, internal);
    loading
      .then(() => this.closed || this.newStream(cluster, host, internal))
      .catch((err: unknown) => this.closed || this.close(GrpcStatus.Unavailable, err instanceof Error ? err.message : String(err)));
  }

  private newStream(cluster: Cluster, host: Host, internal: boolean): void {
    const manager = this.server.clusterManager;
    // Envoy gRPC runs an async client stream, through the cluster's upstream HTTP filters
    // (async-upstream-filters.ts); a google_grpc target's channel is no Envoy router, and its
    // internal cluster none of the config's.
    const callbacks = internal ? this : withClusterUpstreamFilters(cluster, this.server, this.pendingHeaders!, this);
    this.poolHandle = (this.alwaysHttp2 ? manager.grpcStreamConnPool(cluster, host) : manager.httpConnPool(cluster, host)).newStream(callbacks);
  }

  private pendingHeaders: RequestHeaders | undefined;

  /** Send one message (queued until the stream is ready). False once the call is closed or the queue is full. */
  sendMessage(message: Uint8Array): boolean {
    if (this.closed) return false;
    const frame = encodeGrpcFrame(GRPC_FH_DEFAULT, message);
    if (this.stream === undefined) {
      if (this.pending.length >= MAX_PENDING_MESSAGES) return false;
      this.pending.push(frame);
      return true;
    }
    this.stream.encodeData(frame, false);
    return true;
  }

  /** The stream has its connection: messages go out at once (before, they wait in the queue sendMessage bounds). */
  get ready(): boolean {
    return this.stream !== undefined && !this.closed;
  }

  /** Half-close: no more messages from us (Envoy's AsyncStream::closeStream); the server's answer still comes. */
  closeSend(): void {
    if (this.closed || this.sendClosed) return;
    this.sendClosed = true;
    if (this.stream !== undefined) this.stream.encodeData(new Uint8Array(0), true);
  }

  private sendClosed = false;
  private deleteTimer: Timer | undefined;

  /**
   * The caller is done with the call: half-close and let the server end it with its
   * trailers; nothing more reaches the caller. Reset only if the server has not ended it in
   * `timeoutMs` (Envoy's AsyncStream halfCloseAndDeleteOnRemoteClose). A reset per call, as
   * Envoy did before, trips HTTP/2 servers' rapid-reset guards (CVE-2023-44487): Node's
   * drops the connection, with every call on it.
   */
  closeSendAndDeleteOnRemoteClose(timeoutMs: number): void {
    if (this.closed) return;
    // Still waiting for a connection: nothing went out, nothing needs ending.
    if (this.stream === undefined) return this.reset();
    this.callbacks = IGNORE_CALLBACKS;
    this.closeSend();
    if (this.closed || this.deleteTimer !== undefined) return;
    this.deleteTimer = this.server.timers.create(() => this.reset());
    this.deleteTimer.enable(timeoutMs);
  }

  /** End the call from our side: the stream is reset, no callback follows (Envoy's AsyncStream::resetStream). */
  reset(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
  }

  // ---- the pool and the response ----

  onPoolReady(stream: UpstreamStream): void {
    this.poolHandle = undefined;
    if (this.closed) {
      stream.reset();
      return;
    }
    this.stream = stream;
    stream.encodeHeaders(this.pendingHeaders!, false);
    this.pendingHeaders = undefined;
    for (const frame of this.pending.splice(0)) {
      if (this.stream === undefined) return;
      this.stream.encodeData(frame, false);
    }
    if (this.sendClosed && this.stream !== undefined) this.stream.encodeData(new Uint8Array(0), true);
    if (this.stream !== undefined && !this.closed) this.callbacks.onReady?.();
  }

  onPoolFailure(_reason: PoolFailureReason, transportFailureReason: string): void {
    this.poolHandle = undefined;
    this.close(GrpcStatus.Unavailable, `upstream connect error${transportFailureReason ? `: ${transportFailureReason}` : ""}`);
  }

  onUpstreamReset(_reason: StreamResetReason, details: string): void {
    this.stream = undefined;
    this.close(GrpcStatus.Unavailable, `stream reset${details ? `: ${details}` : ""}`);
  }

  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    if (this.closed) return;
    this.responseHeaders = headers;
    if (headers.status !== 200) {
      this.release();
      return this.close(parseGrpcStatus(headers.get("grpc-status")) ?? httpToGrpcStatus(headers.status), headers.get("grpc-message") ?? `HTTP status ${headers.status}`);
    }
    // Trailers-only: the call ended at once.
    if (endStream) return this.onTrailers(headers);
    if (!isGrpcContentType(headers.get("content-type"))) {
      this.release();
      this.close(GrpcStatus.Internal, "not a gRPC content type");
    }
  }

  decodeData(data: Uint8Array, endStream: boolean): void {
    if (this.closed) return;
    if (data.byteLength > 0) {
      const frames: GrpcFrame[] | undefined = this.frames.decode(data);
      if (frames === undefined) {
        this.release();
        return this.close(GrpcStatus.Internal, "gRPC wire protocol decode error");
      }
      for (const frame of frames) {
        if (this.closed) return;
        this.callbacks.onReceiveMessage(frame.data);
      }
    }
    if (endStream && !this.closed) {
      this.stream = undefined;
      this.close(GrpcStatus.Internal, "the stream ended without trailers");
    }
  }

  decodeTrailers(trailers: HeaderMap): void {
    this.onTrailers(trailers);
  }

  decodeUpgradeData(): void {}

  /** One of the cluster's upstream filters answered (trailers-only, async-upstream-filters.ts): the call ends with its status. */
  onUpstreamFilterLocalReply(headers: ResponseHeaders): void {
    this.stream = undefined;
    this.responseHeaders = headers;
    this.onTrailers(headers);
  }

  onUpstreamAboveWriteBufferHighWatermark(): void {
    this.aboveWriteBufferHighWatermark = true;
    this.callbacks.onAboveWriteBufferHighWatermark?.();
  }
  onUpstreamBelowWriteBufferLowWatermark(): void {
    this.aboveWriteBufferHighWatermark = false;
    this.callbacks.onBelowWriteBufferLowWatermark?.();
  }

  private onTrailers(trailers: HeaderMap): void {
    if (this.closed) return;
    // The response is complete: the stream is done, the pool has it back once our side ends too.
    const stream = this.stream;
    this.stream = undefined;
    // Our side still open (or its end still queued behind flow control) is ended by a reset,
    // as Envoy's; a stream both sides ended is closed: its reset sends and counts nothing
    // (Http2UpstreamStream.reset), as Envoy counts no reset for a call that completed.
    stream?.reset();
    const status = parseGrpcStatus(trailers.get("grpc-status"));
    this.close(status ?? GrpcStatus.Internal, status === undefined ? "no grpc-status" : (trailers.get("grpc-message") ?? ""));
  }

  private close(status: number, message: string): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
    this.googleStats?.closed(status);
    this.callbacks.onRemoteClose(status, message);
  }

  private release(): void {
    this.deleteTimer?.disable();
    this.deleteTimer = undefined;
    this.pending.length = 0;
    this.poolHandle?.cancel();
    this.poolHandle = undefined;
    const stream = this.stream;
    this.stream = undefined;
    stream?.reset();
  }

  /** @internal For stats: the response headers came. */
  get established(): boolean {
    return this.responseHeaders !== undefined;
  }
}
