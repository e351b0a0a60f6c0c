/**
 * Envoy's Http::AsyncClient (source/common/http/async_client_impl.cc) for one request:
 * a complete message sent to a named cluster through the cluster manager — its load
 * balancer picks a host, the host's connection pool (circuit breakers, keep-alive reuse)
 * carries the stream — and the complete response handed back, body buffered up to a
 * limit. For ext_authz, JWKS fetching, health checks and TypeScript filters.
 *
 * As in Envoy, where the request runs through a router: what the router would answer
 * locally comes back as a response — 503 "no healthy upstream", 503 for a connection
 * failure or a reset before the response, 504 "upstream request timeout" — and only
 * failures after the response began are failures (Reset), or a response over the
 * buffer limit (ExceedResponseBufferLimit). An unknown cluster is a Reset failure.
 * Callbacks may come before send() returns (then it returns undefined, as Envoy's
 * send returns nullptr): a caller that stops its stream for the answer checks that.
 *
 * With a retry policy (options.retryPolicy: a GrpcService's or an HTTP service's
 * core.v3.RetryPolicy) the request is retried as the async client's router retries it
 * (router.cc with retry_state_impl.cc, here core/http/filters/retry-state.ts): on a retry
 * condition met by a pool failure, a reset before the response, a response's headers or
 * the per-try timeout, after the jittered back-off, on a host the retry predicates allow;
 * the body is kept whole, so every attempt resends it. The request's timeout bounds all
 * attempts and back-offs together.
 */
import type { RetryPolicyConfig } from "../config/bootstrap.ts";
import type { Timer, TimerTarget } from "../event/timers.ts";
import type { ServerContext } from "../server-context.ts";
import type { Cluster } from "../upstream/cluster.ts";
import type { Host } from "../upstream/host.ts";
import type { PrioritySet } from "../upstream/host-set.ts";
import type { HostPriorityMapping, LoadBalancerContext, PriorityLoad } from "../upstream/load-balancer.ts";
import type { PoolHandle, UpstreamStream } from "../upstream/http1-conn-pool.ts";
import type { PoolFailureReason } from "../upstream/pool-failure.ts";
import type { HeaderMap } from "./header-map.ts";
import { sanitizeTe, stripHopByHop } from "./headers-util.ts";
import { ResponseHeaders, type RequestHeaders } from "./message.ts";
import { POOL_FAILURE_RESET, StreamResetReason, resetReasonToString } from "./stream-reset-reason.ts";
import { latin1Encode } from "../util/latin1.ts";
import { RetryState, RetryStatus, retryHostSelection, type RetryCallbacks } from "./filters/retry-state.ts";
import { isGrpcRequestHeaders } from "./grpc-common.ts";
import { HostResponseCharge } from "./host-response-charge.ts";
import { withClusterUpstreamFilters, type AsyncUpstreamFilterCallbacks } from "./filters/async-upstream-filters.ts";

export const AsyncFailureReason = {
  /** The stream was reset after its response began, or the cluster does not exist. */
  Reset: "reset",
  /** The response body outgrew maxResponseBytes. */
  ExceedResponseBufferLimit: "exceed_response_buffer_limit",
} as const;
export type AsyncFailureReason = (typeof AsyncFailureReason)[keyof typeof AsyncFailureReason];

/** A complete response (Envoy's ResponseMessage). */
export interface AsyncResponse {
  readonly headers: ResponseHeaders;
  readonly body: Uint8Array;
  readonly trailers: HeaderMap | undefined;
  /** Why the client answered itself (Envoy's response code details, e.g. "upstream_response_timeout"); "" for the upstream's own response. */
  readonly details: string;
}

export interface AsyncRequestCallbacks {
  onSuccess(request: AsyncRequest, response: AsyncResponse): void;
  onFailure(request: AsyncRequest, reason: AsyncFailureReason): void;
}

export interface AsyncRequestOptions {
  /** The whole exchange's limit in ms (0: none). */
  timeoutMs: number;
  /** The most response body kept (Envoy's default buffer limit for async requests is the connection's, 1 MiB here). */
  maxResponseBytes?: number;
  /** The cluster is a google_grpc target's internal one (ClusterManager.getInternal), not the config's. */
  internalCluster?: boolean;
  /** Retry the request by this policy (Envoy's RequestOptions::setRetryPolicy with setBufferBodyForRetry). */
  retryPolicy?: RetryPolicyConfig;
}

/** Envoy's local reply text for resets before response headers (router.cc, onUpstreamReset). */
const RESET_BEFORE_HEADERS = "upstream connect error or disconnect/reset before headers. ";
const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;
const EMPTY = new Uint8Array(0);


/** Sends requests to clusters; one per server is enough (it holds nothing per request). */
export class AsyncClient {
  constructor(private readonly server: ServerContext) {}

  /**
   * Send `headers` (with `body`, if any, its content-length set here) to `clusterName`.
   * Returns the request to cancel, or undefined when the callbacks were already called.
   */
  send(clusterName: string, headers: RequestHeaders, body: Uint8Array | undefined, callbacks: AsyncRequestCallbacks, options: AsyncRequestOptions): AsyncRequest | undefined {
    const request = new AsyncRequest(this.server, callbacks, headers, body, options);
    request.start(clusterName);
    return request.done ? undefined : request;
  }
}

/** One request in flight (Envoy's AsyncRequestImpl). */
export class AsyncRequest implements AsyncUpstreamFilterCallbacks, TimerTarget, LoadBalancerContext, RetryCallbacks {
  /** The callbacks were called, or the request was cancelled: nothing more happens. */
  done = false;
  private cluster: Cluster | undefined;
  private poolHandle: PoolHandle | undefined;
  private stream: UpstreamStream | undefined;
  private timer: Timer | undefined;
  private responseHeaders: ResponseHeaders | undefined;
  /**
   * The current attempt's charge to its host's rq_success / rq_error: Envoy's async client
   * runs a router filter (AsyncStreamImpl's Router::ProdFilter, with the dynamic stats), so the
   * router's rules apply, not the pool's (chargesHost). Undefined once charged for a retry.
   */
  private charge: HostResponseCharge | undefined;
  readonly chargesHost = true;
  /** The status of the response under way or failed (undefined before its headers): a caller's onFailure may tell a 200 whose body outgrew maxResponseBytes from a failed exchange. */
  get responseStatus(): number | undefined {
    return this.responseHeaders?.status;
  }
  private readonly chunks: Uint8Array[] = [];
  private bodyBytes = 0;
  private readonly maxResponseBytes: number;
  /** The retry policy's state; undefined without a policy, or when nothing could make it retry. */
  private retryState: RetryState | undefined;
  /** The attempt under way is a retry (the retry host predicates and priority apply to retries only). */
  private isRetry = false;
  /** The cluster's name, looked up again for each retry (it may be replaced or removed meanwhile). */
  private clusterName = "";
  /**
   * Each attempt's limit from the stream's hand-over, 0 for none: the policy's max_interval
   * (Envoy's convertCoreToRouteRetryPolicy sets per_try_timeout to it whether or not anything
   * is retried), none when it is not below the request's timeout (router.cc FilterUtility::finalTimeout).
   */
  private readonly perTryTimeoutMs: number;
  private perTryTimer: Timer | undefined;

  constructor(
    private readonly server: ServerContext,
    private readonly callbacks: AsyncRequestCallbacks,
    private readonly headers: RequestHeaders,
    private readonly body: Uint8Array | undefined,
    private readonly options: AsyncRequestOptions,
  ) {
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const perTry = options.retryPolicy?.perTryTimeoutMs ?? 0;
    this.perTryTimeoutMs = options.timeoutMs > 0 && perTry >= options.timeoutMs ? 0 : perTry;
  }

  /** @internal */
  start(clusterName: string): void {
    this.clusterName = clusterName;
    const cluster = this.lookUpCluster();
    if (cluster === undefined) {
      this.server.log.debug(`async client: cluster '${clusterName}' does not exist`);
      this.fail(AsyncFailureReason.Reset);
      return;
    }
    this.cluster = cluster;
    const policy = this.options.retryPolicy;
    if (policy !== undefined) this.retryState = RetryState.create(policy, this.headers, cluster, this.server, this);
    const host = cluster.loadBalancer.chooseHost(this);
    if (host === undefined) {
      this.localReply(503, "no healthy upstream", "no_healthy_upstream");
      return;
    }
    sanitizeCallerHeaders(this.headers);
    this.headers.set("content-length", String(this.body?.byteLength ?? 0));
    if (this.options.timeoutMs > 0) {
      this.timer = this.server.timers.create(this);
      this.timer.enable(this.options.timeoutMs);
    }
    this.attempt(cluster, host);
  }

  private lookUpCluster(): Cluster | undefined {
    const clusters = this.server.clusterManager;
    return this.options.internalCluster === true ? clusters.getInternal(this.clusterName) : clusters.get(this.clusterName);
  }

  private attempt(cluster: Cluster, host: Host): void {
    // A static cluster's EDS (REST) fetch may start before its HTTP/2 pools' code is in.
    const loading = this.server.clusterManager.poolCodeLoading(cluster);
    if (loading === undefined) return this.newStream(cluster, host);
    loading.then(() => this.done || this.newStream(cluster, host)).catch(() => this.done || this.fail(AsyncFailureReason.Reset));
  }

  private newStream(cluster: Cluster, host: Host): void {
    this.retryState?.onHostAttempted(host);
    this.charge = new HostResponseCharge(host, isGrpcRequestHeaders(this.headers));
    // Through the cluster's upstream HTTP filters, as Envoy's async client's router runs them (async-upstream-filters.ts).
    // A google_grpc target's internal cluster stands for its channel, no Envoy router.
    const callbacks = this.options.internalCluster === true ? this : withClusterUpstreamFilters(cluster, this.server, this.headers, this);
    this.poolHandle = this.server.clusterManager.httpConnPool(cluster, host).newStream(callbacks);
  }

  // ---- retries (Envoy's router, for the async client's requests) ----

  /**
   * LoadBalancerContext: the headers it sends. Envoy's async client runs the router filter,
   * whose downstreamHeaders() are the call's own (router.h), so an ORIGINAL_DST cluster's
   * use_http_header reads them; there is no downstream connection.
   */
  downstreamHeaders(): RequestHeaders {
    return this.headers;
  }

  /** LoadBalancerContext: the retry host predicates apply to retries only (Envoy's Filter::shouldSelectAnotherHost). */
  shouldSelectAnotherHost(host: Host): boolean {
    return retryHostSelection(this.retryState, this.isRetry).shouldSelectAnotherHost(host);
  }

  hostSelectionRetryCount(): number {
    return retryHostSelection(this.retryState, this.isRetry).hostSelectionRetryCount();
  }

  determinePriorityLoad(prioritySet: PrioritySet, original: PriorityLoad, priorityOf?: HostPriorityMapping): PriorityLoad {
    // priorityOf: an aggregate's levels are its clusters' levels concatenated (aggregate-cluster.ts).
    return retryHostSelection(this.retryState, this.isRetry).determinePriorityLoad(prioritySet, original, priorityOf);
  }

  /** @internal The back-off passed: a new attempt, on a host chosen again (Envoy's Filter::doRetry). */
  doRetry(): void {
    if (this.done) return;
    this.isRetry = true;
    this.responseHeaders = undefined;
    // The cluster by name again, as the router's doRetry (router.ts): one replaced since the
    // first attempt (CDS, a reload) serves the retry; one removed ends the call as an unknown
    // cluster does — Envoy's async client fails the request when its cluster goes away.
    const cluster = this.lookUpCluster();
    if (cluster === undefined) {
      this.server.log.debug(`async client: cluster '${this.clusterName}' was removed before a retry`);
      this.fail(AsyncFailureReason.Reset);
      return;
    }
    this.cluster = cluster;
    const host = cluster.loadBalancer.chooseHost(this);
    if (host === undefined) {
      cluster.stats.upstreamCxNoneHealthy.inc();
      this.localReply(503, "no healthy upstream", "no_healthy_upstream");
      return;
    }
    this.attempt(cluster, host);
  }

  /** The attempt failed before its response: true when a retry is scheduled (Envoy's maybeRetryReset). */
  private maybeRetryReset(reason: StreamResetReason, upstreamRequestStarted: boolean): boolean {
    this.perTryTimer?.disable();
    const retryState = this.retryState;
    if (retryState === undefined) return false;
    if (retryState.shouldRetryReset(reason, upstreamRequestStarted) !== RetryStatus.Yes) return false;
    // Envoy's maybeRetryReset: the reset that is retried is an rq_error of its host.
    this.charge?.retried();
    this.charge = undefined;
    return true;
  }

  /** The attempt ended without a complete answer, the call with `code` (Envoy's chargeUpstreamAbort). */
  private chargeAbort(code: number): void {
    const charge = this.charge;
    this.charge = undefined;
    if (charge === undefined) return;
    if (this.responseHeaders === undefined) charge.abortBeforeResponse(code, true);
    else charge.abortAfterResponseStarted();
  }

  /** The attempt's per-try timeout passed before its response (Envoy's onPerTryTimeout): retried as a local reset, else 504. */
  private onPerTryTimeout(): void {
    if (this.done || this.responseHeaders !== undefined) return;
    this.cluster!.stats.upstreamRqPerTryTimeout.inc();
    const started = this.stream !== undefined;
    this.poolHandle?.cancel();
    this.poolHandle = undefined;
    const stream = this.stream;
    this.stream = undefined;
    stream?.reset();
    if (this.maybeRetryReset(StreamResetReason.LocalReset, started)) return;
    this.chargeAbort(504);
    this.localReply(504, "upstream request timeout", "upstream_per_try_timeout");
  }

  /** Give up: the stream is reset, no callback is called (Envoy's Request::cancel). */
  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.release();
  }

  // ---- the pool and the response ----

  onPoolReady(stream: UpstreamStream): void {
    this.poolHandle = undefined;
    if (this.done) {
      stream.reset();
      return;
    }
    this.stream = stream;
    // The per-try timer runs from the stream's hand-over, not the wait for a connection
    // (Envoy's UpstreamRequest::onPoolReady → setupPerTryTimeout; the request is complete).
    // Armed before the request is encoded: an answer may come back within encodeHeaders.
    const perTryMs = this.perTryTimeoutMs;
    if (perTryMs > 0) (this.perTryTimer ??= this.server.timers.create(() => this.onPerTryTimeout())).enable(perTryMs);
    const body = this.body;
    if (body === undefined || body.byteLength === 0) {
      stream.encodeHeaders(this.headers, true);
    } else {
      stream.encodeHeaders(this.headers, false);
      stream.encodeData(body, true);
    }
  }

  onPoolFailure(reason: PoolFailureReason, _transportFailureReason: string): void {
    this.poolHandle = undefined;
    if (this.done) return;
    const resetReason = POOL_FAILURE_RESET[reason];
    if (this.maybeRetryReset(resetReason, false)) return;
    this.resetBeforeResponse(resetReason);
  }

  onUpstreamReset(reason: StreamResetReason, _details: string): void {
    // A reset of our own making (timeout, cancel, the buffer limit) needs no answer.
    if (this.done || this.stream === undefined) return;
    this.stream = undefined;
    if (this.responseHeaders !== undefined) {
      this.chargeAbort(503);
      return this.fail(AsyncFailureReason.Reset);
    }
    if (this.maybeRetryReset(reason, true)) return;
    this.resetBeforeResponse(reason);
  }

  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    if (this.done) return;
    this.perTryTimer?.disable();
    const retryState = this.retryState;
    if (retryState !== undefined) {
      if (retryState.shouldRetryHeaders(headers) === RetryStatus.Yes) {
        // Counted under retry.upstream_rq_<code>, as the router's (router.ts onUpstreamHeaders),
        // and an rq_error of its host, a 409 too.
        this.cluster?.stats.countRetriedResponse(headers.status);
        this.charge?.retried();
        this.charge = undefined;
        // Envoy's router: the attempt is dropped (reset unless it is complete) and the response with it.
        const stream = this.stream;
        this.stream = undefined;
        if (!endStream) stream?.reset();
        return;
      }
    }
    this.responseHeaders = headers;
    this.cluster?.stats.countResponse(headers.status);
    this.charge?.headers(headers, endStream, true);
    if (endStream) this.succeed(undefined);
  }

  decodeData(data: Uint8Array, endStream: boolean): void {
    if (this.done) return;
    if (data.byteLength > 0) {
      this.bodyBytes += data.byteLength;
      if (this.bodyBytes > this.maxResponseBytes) {
        this.fail(AsyncFailureReason.ExceedResponseBufferLimit);
        return;
      }
      // The codec lends its bytes for this call only.
      this.chunks.push(data.slice());
    }
    if (endStream) {
      this.charge?.dataEnd();
      this.succeed(undefined);
    }
  }

  decodeTrailers(trailers: HeaderMap): void {
    if (this.done) return;
    this.charge?.trailers(trailers);
    this.succeed(trailers);
  }

  decodeUpgradeData(): void {}
  onUpstreamAboveWriteBufferHighWatermark(): void {}
  onUpstreamBelowWriteBufferLowWatermark(): void {}

  /** One of the cluster's upstream filters answered (its stream is reset): the call's response, charged to no host. */
  onUpstreamFilterLocalReply(headers: ResponseHeaders, body: Uint8Array, details: string): void {
    if (this.done) return;
    this.stream = undefined;
    this.charge = undefined;
    this.finish();
    this.callbacks.onSuccess(this, { headers, body, trailers: undefined, details });
  }

  /** @internal The request's timeout passed (Envoy's router: 504 upstream request timeout). */
  onTimer(): void {
    if (this.done) return;
    this.cluster?.stats.upstreamRqTimeout.inc();
    this.release();
    // Envoy's onResponseTimeout charges only an attempt awaiting its headers.
    if (this.responseHeaders === undefined) this.chargeAbort(504);
    this.localReply(504, "upstream request timeout", "upstream_response_timeout");
  }

  // ---- the end ----

  /** The router's reply (router.ts replyForReset): the transport failure reason stays out of the body, as Envoy's since 1.39. */
  private resetBeforeResponse(reason: StreamResetReason): void {
    this.chargeAbort(503);
    this.localReply(503, `${RESET_BEFORE_HEADERS}reset reason: ${resetReasonToString(reason)}`, "upstream_reset_before_response_started");
  }

  private localReply(status: number, body: string, details: string): void {
    if (this.done) return;
    const headers = new ResponseHeaders(status);
    const bytes = latin1Encode(body);
    headers.set("content-length", String(bytes.byteLength));
    headers.set("content-type", "text/plain");
    this.finish();
    this.callbacks.onSuccess(this, { headers, body: bytes, trailers: undefined, details });
  }

  private succeed(trailers: HeaderMap | undefined): void {
    const headers = this.responseHeaders!;
    const body = this.chunks.length === 0 ? EMPTY : this.chunks.length === 1 ? this.chunks[0]! : concat(this.chunks, this.bodyBytes);
    // The stream is complete: the pool has it back (no reset).
    this.stream = undefined;
    this.finish();
    this.callbacks.onSuccess(this, { headers, body, trailers, details: "" });
  }

  private fail(reason: AsyncFailureReason): void {
    if (this.done) return;
    this.release();
    this.finish();
    this.callbacks.onFailure(this, reason);
  }

  private finish(): void {
    this.done = true;
    this.timer?.disable();
    this.perTryTimer?.disable();
    this.retryState?.destroy();
    this.chunks.length = 0;
  }

  /** Out of the pool's queue, or the stream reset (its connection closes), timer off. */
  private release(): void {
    this.timer?.disable();
    this.perTryTimer?.disable();
    this.retryState?.destroy();
    this.poolHandle?.cancel();
    this.poolHandle = undefined;
    const stream = this.stream;
    this.stream = undefined;
    stream?.reset();
  }
}

function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * The caller's headers (a Lua script's table, ext_authz's copies) framed by this client
 * alone: hop-by-hop fields and those `connection` names go (RFC 9110 §7.6.1, as the HCM
 * strips a downstream request's), `te` only as "trailers" (ConnectionManagerUtility::
 * sanitizeTEHeader), and a caller's `host` (the codec writes :authority as Host),
 * `content-length` or `transfer-encoding` would otherwise sit beside the framing set here —
 * two Hosts or a chunked body under a content-length smuggle a request (RFC 9112 §6.3).
 */
function sanitizeCallerHeaders(headers: RequestHeaders): void {
  stripHopByHop(headers, false);
  sanitizeTe(headers);
  headers.remove("host");
  headers.remove("content-length");
}
