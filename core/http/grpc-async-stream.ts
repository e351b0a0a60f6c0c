/**
 * Envoy's Grpc::AsyncStream (source/common/grpc/async_client_impl.cc, AsyncStreamImpl):
 * one long-lived bidirectional gRPC call to a cluster through the cluster manager — its
 * load balancer picks a host, the host's HTTP/2 pool carries the stream — for xDS's
 * StreamAggregatedResources and the per-type Stream*s. Messages sent before the stream is
 * ready wait in a bounded queue; received frames are split (grpc-frame.ts) and handed on
 * one by one. The call ends with onRemoteClose(status, message): the server's trailers,
 * or what the pool or the connection failed with (Unavailable, as Envoy maps resets).
 *
 * With a retry policy (GrpcService.retry_policy, which Envoy's Grpc::AsyncClientImpl hands every
 * stream it starts, source/common/grpc/async_client_impl.cc) the call is retried as the HTTP
 * async client's router retries a stream (source/common/http/async_client_impl.cc, router.cc,
 * here retry-state.ts): on a retry condition met by a pool failure, a reset or response headers
 * (a trailers-only UNAVAILABLE), only before the response headers were passed on, after the
 * jittered back-off, on a host the retry predicates allow; the new attempt resends the headers
 * and every message sent so far (setBufferBodyForRetry, as ext_proc asks), kept up to Envoy's
 * 64 KiB retry buffer (kBufferLimitForRetry). Past it the call is no longer retried, as the
 * router gives up a request it cannot buffer (retry_or_shadow_abandoned): Envoy 1.37's
 * async stream does the same under the runtime guard
 * envoy.reloadable_features.http_async_client_retry_respect_buffer_limits (AsyncStreamImpl's
 * new_async_client_retry_logic_, async_client_impl.cc); with the guard off, its old logic keeps
 * retrying with the messages past the limit left out of its buffer (the TODO there). polyvoy
 * has the guard's behaviour only.
 */
import type { GoogleGrpcTargetConfig, RetryPolicyConfig } from "../config/bootstrap.ts";
import type { Timer } from "../event/timers.ts";
import { GoogleGrpcStats } from "./google-grpc-stats.ts";
import type { ServerContext } from "../server-context.ts";
import type { Cluster } from "../upstream/cluster.ts";
import type { Host } from "../upstream/host.ts";
import type { LoadBalancerContext } from "../upstream/load-balancer.ts";
import type { PoolHandle, UpstreamCallbacks, UpstreamStream } from "../upstream/http1-conn-pool.ts";
import type { PoolFailureReason } from "../upstream/pool-failure.ts";
import { RetryState, RetryStatus, retryHostSelection, type RetryCallbacks } from "./filters/retry-state.ts";
import { GrpcStatus, httpToGrpcStatus, isGrpcContentType, parseGrpcStatus } from "./grpc-common.ts";
import { encodeGrpcFrame, GRPC_FH_DEFAULT, GrpcFrameDecoder, type GrpcFrame } from "./grpc-frame.ts";
import type { HeaderMap } from "./header-map.ts";
import { RequestHeaders, type ResponseHeaders } from "./message.ts";
import { POOL_FAILURE_RESET, StreamResetReason } from "./stream-reset-reason.ts";
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

/** The most request bytes (framed messages) kept to resend on a retry (Envoy's kBufferLimitForRetry, async_client_impl.h). */
export const RETRY_BUFFER_LIMIT = 64 * 1024;

export class GrpcAsyncStream implements AsyncUpstreamFilterCallbacks, RetryCallbacks {
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
    /** GrpcService.retry_policy: retry the call, resending what was sent (Envoy's StreamOptions retry policy with setBufferBodyForRetry). */
    private readonly retryPolicy?: RetryPolicyConfig,
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
    this.clusterName = clusterName;
    this.internal = internal;
    const cluster = this.lookUpCluster();
    if (cluster === undefined) return this.close(GrpcStatus.Unavailable, `cluster '${clusterName}' does not exist`);
    this.cluster = cluster;
    const headers = new RequestHeaders();
    headers.method = "POST";
    headers.path = method;
    headers.scheme = "http";
    headers.authority = authority !== "" ? authority : clusterName;
    headers.set("content-type", "application/grpc");
    headers.set("te", "trailers");
    for (const [name, value] of initialMetadata) headers.add(name, value);
    // Envoy's async client runs its router with suppress_envoy_headers false (AsyncClientImpl's
    // FilterConfig, source/common/http/async_client_impl.cc), so finalTimeout writes
    // x-envoy-expected-rq-timeout-ms: the per-try timeout, a stream having no global timeout
    // (router.cc setTimeoutHeaders), again on each retry. A google_grpc channel is no Envoy router.
    const perTryTimeoutMs = this.retryPolicy?.perTryTimeoutMs ?? 0;
    if (!internal && perTryTimeoutMs > 0) headers.set("x-envoy-expected-rq-timeout-ms", String(perTryTimeoutMs));
    this.requestHeaders = headers;
    if (this.retryPolicy !== undefined) {
      this.retryState = RetryState.create(this.retryPolicy, headers, cluster, this.server, this);
      // The router keeps the request for a replay only when something could make it retry (Envoy's retry_state_->enabled()).
      if (this.retryState !== undefined) this.retryBuffer = [];
    }
    const host = cluster.loadBalancer.chooseHost(this.loadBalancerContext());
    if (host === undefined) return this.close(GrpcStatus.Unavailable, "no healthy upstream");
    // A static cluster's EDS or SDS stream may start before its HTTP/2 pools' code is in.
    const loading = this.alwaysHttp2 ? this.server.clusterManager.grpcStreamPoolCodeLoading() : this.server.clusterManager.poolCodeLoading(cluster);
    if (loading === undefined) return this.newStream(cluster, host);
    loading
      .then(() => this.closed || this.newStream(cluster, host))
      .catch((err: unknown) => this.closed || this.close(GrpcStatus.Unavailable, err instanceof Error ? err.message : String(err)));
  }

  private newStream(cluster: Cluster, host: Host): void {
    this.retryState?.onHostAttempted(host);
    const manager = this.server.clusterManager;
    // Envoy gRPC runs an async client stream, through the cluster's upstream HTTP filters
    // (async-upstream-filters.ts); a google_grpc target's channel is no Envoy router, and its
    // internal cluster none of the config's.
    const callbacks = this.internal ? this : withClusterUpstreamFilters(cluster, this.server, this.requestHeaders!, this);
    this.poolHandle = (this.alwaysHttp2 ? manager.grpcStreamConnPool(cluster, host) : manager.httpConnPool(cluster, host)).newStream(callbacks);
  }

  private lookUpCluster(): Cluster | undefined {
    const clusters = this.server.clusterManager;
    return this.internal ? clusters.getInternal(this.clusterName) : clusters.get(this.clusterName);
  }

  /**
   * Envoy's gRPC async client goes through the router, whose downstreamHeaders() are the
   * stream's own: an ORIGINAL_DST cluster's use_http_header reads them (router.h); a retry's
   * pick follows the retry host predicates and priority.
   */
  private loadBalancerContext(): LoadBalancerContext {
    const headers = this.requestHeaders;
    return { downstreamHeaders: () => headers, ...retryHostSelection(this.retryState, this.isRetry) };
  }

  /** The call's headers, sent again by each retry. */
  private requestHeaders: RequestHeaders | undefined;
  private clusterName = "";
  private internal = false;
  private cluster: Cluster | undefined;
  /** The retry policy's state; undefined without a policy, once the response headers were passed on, or once the messages outgrew the retry buffer. */
  private retryState: RetryState | undefined;
  /** The attempt under way is a retry (the retry host predicates and priority apply to retries only). */
  private isRetry = false;
  /** A retry is scheduled and no attempt is under way: what the dropped attempt still reports is not the call's. */
  private backingOff = false;
  /** Every frame sent so far, for a retry to resend (Envoy's async stream buffered_body_); undefined when there is nothing to retry. */
  private retryBuffer: Uint8Array[] | undefined;
  private retryBufferBytes = 0;

  /** Send one message (queued until the stream is ready). False once the call is closed or the queue is full. */
  sendMessage(message: Uint8Array): boolean {
    if (this.closed) return false;
    if (this.stream === undefined && this.pending.length >= MAX_PENDING_MESSAGES) return false;
    const frame = encodeGrpcFrame(GRPC_FH_DEFAULT, message);
    if (this.retryBuffer !== undefined) {
      this.keepForRetry(frame);
      if (this.closed) return false;
    }
    if (this.stream === undefined) {
      this.pending.push(frame);
      return true;
    }
    this.stream.encodeData(frame, false);
    return true;
  }

  /**
   * Keep `frame` for a retry while the buffer has room. Past Envoy's limit the call is no
   * longer retried (the router's retry_or_shadow_abandoned); during a back-off the messages
   * the failed attempt carried are gone with it, so the call fails as the router's
   * "exceeded request buffer limit while retrying upstream" (507, Unknown as gRPC maps it).
   */
  private keepForRetry(frame: Uint8Array): void {
    if (this.retryBufferBytes + frame.byteLength <= RETRY_BUFFER_LIMIT) {
      this.retryBuffer!.push(frame);
      this.retryBufferBytes += frame.byteLength;
      return;
    }
    this.cluster?.stats.retryOrShadowAbandoned.inc();
    this.stopRetrying();
    if (this.backingOff) this.close(GrpcStatus.Unknown, "exceeded request buffer limit while retrying upstream");
  }

  /** No more retries: the state lets go of its timer and the retries circuit breaker, the kept messages go. */
  private stopRetrying(): void {
    this.retryState?.destroy();
    this.retryState = undefined;
    this.retryBuffer = undefined;
    this.retryBufferBytes = 0;
  }

  /** The attempt failed before the response headers: true when a retry is scheduled (Envoy's Filter::maybeRetryReset). */
  private maybeRetryReset(reason: StreamResetReason, upstreamRequestStarted: boolean): boolean {
    this.perTryTimer?.disable();
    const retryState = this.retryState;
    if (retryState === undefined || retryState.shouldRetryReset(reason, upstreamRequestStarted) !== RetryStatus.Yes) return false;
    this.dropAttempt();
    return true;
  }

  /**
   * The attempt is dropped and a retry scheduled. Its write buffer goes with it: a caller it
   * paused (ext_proc's duplex sender) is resumed, as Envoy's UpstreamRequest::cleanUp calls
   * onDecoderFilterBelowWriteBufferLowWatermark for an attempt above its high watermark (router/upstream_request.cc).
   */
  private dropAttempt(): void {
    this.backingOff = true;
    if (!this.aboveWriteBufferHighWatermark) return;
    this.aboveWriteBufferHighWatermark = false;
    this.callbacks.onBelowWriteBufferLowWatermark?.();
  }

  /**
   * @internal The back-off passed: a new attempt on a host chosen again, with the headers and
   * every message sent so far (Envoy's Filter::doRetry with the async stream's buffered body).
   * The cluster is looked up again by name, as the router's doRetry.
   */
  doRetry(): void {
    if (this.closed || !this.backingOff) return;
    this.backingOff = false;
    this.isRetry = true;
    const cluster = this.lookUpCluster();
    if (cluster === undefined) return this.close(GrpcStatus.Unavailable, `cluster '${this.clusterName}' does not exist`);
    this.cluster = cluster;
    const host = cluster.loadBalancer.chooseHost(this.loadBalancerContext());
    if (host === undefined) {
      cluster.stats.upstreamCxNoneHealthy.inc();
      return this.close(GrpcStatus.Unavailable, "no healthy upstream");
    }
    // What was queued meanwhile is the buffer's tail: the whole buffer goes, in order.
    this.pending.length = 0;
    for (const frame of this.retryBuffer ?? []) this.pending.push(frame);
    this.newStream(cluster, host);
  }

  /** The stream has its connection: messages go out at once (before, they wait in the queue sendMessage bounds). */
  get ready(): boolean {
    return this.stream !== undefined && !this.closed;
  }

  /** Half-close: no more messages from us (Envoy's AsyncStream::closeStream); the server's answer still comes. */
  closeSend(): void {
    if (this.closed || this.sendClosed) return;
    this.sendClosed = true;
    if (this.stream === undefined) return;
    this.stream.encodeData(new Uint8Array(0), true);
    this.armPerTryTimeout();
  }

  /**
   * The policy's per-try timeout (its max_interval: Envoy's convertCoreToRouteRetryPolicy)
   * runs once the request is complete — for a stream, from its half-close — until the
   * response headers (the router's setupPerTryTimeout at onRequestComplete; a per-try timeout
   * after the response began is ignored). A stream has no global timeout to bound it.
   */
  private armPerTryTimeout(): void {
    const ms = this.retryPolicy?.perTryTimeoutMs ?? 0;
    if (ms <= 0 || this.responseHeaders !== undefined || this.stream === undefined) return;
    (this.perTryTimer ??= this.server.timers.create(() => this.onPerTryTimeout())).enable(ms);
  }

  private perTryTimer: Timer | undefined;

  /** The attempt had no response headers within its per-try timeout (Envoy's onPerTryTimeout): retried as a local reset, else the router's 504 "upstream request timeout", Unavailable to gRPC. */
  private onPerTryTimeout(): void {
    if (this.closed || this.responseHeaders !== undefined || this.stream === undefined) return;
    this.cluster?.stats.upstreamRqPerTryTimeout.inc();
    const stream = this.stream;
    this.stream = undefined;
    stream.reset();
    if (this.maybeRetryReset(StreamResetReason.LocalReset, true)) return;
    this.close(httpToGrpcStatus(504), "upstream request timeout");
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
    stream.encodeHeaders(this.requestHeaders!, false);
    for (const frame of this.pending.splice(0)) {
      if (this.stream === undefined) return;
      this.stream.encodeData(frame, false);
    }
    if (this.sendClosed && this.stream !== undefined) {
      this.stream.encodeData(new Uint8Array(0), true);
      this.armPerTryTimeout();
    }
    if (this.stream !== undefined && !this.closed) this.callbacks.onReady?.();
  }

  onPoolFailure(reason: PoolFailureReason, transportFailureReason: string): void {
    this.poolHandle = undefined;
    if (this.closed || this.maybeRetryReset(POOL_FAILURE_RESET[reason], false)) return;
    this.close(GrpcStatus.Unavailable, `upstream connect error${transportFailureReason ? `: ${transportFailureReason}` : ""}`);
  }

  onUpstreamReset(reason: StreamResetReason, details: string): void {
    // A reset of the attempt a retry replaced, or of our own making (the per-try timeout), is not the call's.
    if (this.closed || this.backingOff || this.stream === undefined) return;
    this.stream = undefined;
    if (this.responseHeaders === undefined && this.maybeRetryReset(reason, true)) return;
    this.close(GrpcStatus.Unavailable, `stream reset${details ? `: ${details}` : ""}`);
  }

  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    if (this.closed || this.backingOff) return;
    this.perTryTimer?.disable();
    const retryState = this.retryState;
    if (retryState !== undefined) {
      if (retryState.shouldRetryHeaders(headers) === RetryStatus.Yes) {
        // Counted under retry.upstream_rq_<code>, as the router's; the attempt is dropped (its
        // reset is the codec's no-op on a stream both sides ended) and its response with it.
        this.cluster?.stats.countRetriedResponse(headers.status);
        const stream = this.stream;
        this.stream = undefined;
        stream?.reset();
        this.dropAttempt();
        return;
      }
      // The response is passed on: the router retries no more (nor keeps the request for it).
      this.stopRetrying();
    }
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
    if (this.closed || this.backingOff) return;
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
    // The dropped attempt's buffer is not the call's (dropAttempt).
    if (this.closed || this.backingOff) return;
    this.aboveWriteBufferHighWatermark = true;
    this.callbacks.onAboveWriteBufferHighWatermark?.();
  }
  onUpstreamBelowWriteBufferLowWatermark(): void {
    if (this.closed || this.backingOff) return;
    this.aboveWriteBufferHighWatermark = false;
    this.callbacks.onBelowWriteBufferLowWatermark?.();
  }

  private onTrailers(trailers: HeaderMap): void {
    if (this.closed || this.backingOff) return;
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
    this.stopRetrying();
    this.perTryTimer?.disable();
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
