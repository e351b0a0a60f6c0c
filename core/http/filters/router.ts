import { EMPTY_BYTES, keepBytes } from "../../util/bytes.ts";
import { approximateNow } from "../../event/dispatch-scope.ts";
import type { ForwardAction, RedirectAction } from "../../config/bootstrap.ts";
import type { Timer, TimerTarget } from "../../event/timers.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Cluster } from "../../upstream/cluster.ts";
import type { PoolHandle, UpstreamCallbacks, UpstreamStream } from "../../upstream/http1-conn-pool.ts";
import { PoolFailureReason } from "../../upstream/pool-failure.ts";
import { CoreResponseFlag, type ResponseFlag } from "../../stream-info/response-flags.ts";
import { resetReasonToString, StreamResetReason } from "../stream-reset-reason.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type DownstreamWatermarkCallbacks,
  type StreamDecoderFilter,
} from "../filter.ts";
import { HeaderMap } from "../header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import { applyRequestHeaderMutations, applyResponseHeaderMutations } from "../route/custom-headers.ts";
import { rewriteHost, rewritePath } from "./path-rewrite.ts";
import { generateHash, makeSetCookieValue, type HashCookieSink } from "../hash-policy.ts";
import type { LoadBalancerContext } from "../../upstream/load-balancer.ts";
import { uint64ToHex, xxHash64Text } from "../../util/hash.ts";
import { formatAddress } from "../../network/address.ts";
import { redirectLocation } from "./redirect.ts";
import type { Host } from "../../upstream/host.ts";
import { NULL_HEALTH_CHECK_HOST_MONITOR, OutlierResult, UnhealthyType } from "../../upstream/host-monitors.ts";

/** Methods Envoy's retry logic treats as safe to send again. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

const NOTHING_BUFFERED: readonly Uint8Array[] = [];

/** Envoy's local reply text for resets before response headers (router.cc, onUpstreamReset). */
const RESET_BEFORE_HEADERS = "upstream connect error or disconnect/reset before headers. reset reason: ";

/** The stream reset a pool failure amounts to (Envoy's UpstreamRequest::onPoolFailure). */
const POOL_FAILURE_RESET: Readonly<Record<PoolFailureReason, StreamResetReason>> = {
  [PoolFailureReason.Overflow]: StreamResetReason.Overflow,
  [PoolFailureReason.LocalConnectionFailure]: StreamResetReason.LocalConnectionFailure,
  [PoolFailureReason.RemoteConnectionFailure]: StreamResetReason.RemoteConnectionFailure,
  [PoolFailureReason.Timeout]: StreamResetReason.ConnectionTimeout,
};

/** The response flag of a reset before the response started (Envoy's router.cc, streamResetReasonToResponseFlag). */
function resetResponseFlag(reason: StreamResetReason): ResponseFlag {
  switch (reason) {
    case StreamResetReason.LocalConnectionFailure:
    case StreamResetReason.RemoteConnectionFailure:
    case StreamResetReason.ConnectionTimeout:
      return CoreResponseFlag.UpstreamConnectionFailure;
    case StreamResetReason.ConnectionTermination:
      return CoreResponseFlag.UpstreamConnectionTermination;
    case StreamResetReason.LocalReset:
    case StreamResetReason.LocalRefusedStreamReset:
      return CoreResponseFlag.LocalReset;
    case StreamResetReason.Overflow:
      return CoreResponseFlag.UpstreamOverflow;
    case StreamResetReason.ProtocolError:
      return CoreResponseFlag.UpstreamProtocolError;
    case StreamResetReason.OverloadManager:
      return CoreResponseFlag.OverloadManager;
    default:
      return CoreResponseFlag.UpstreamRemoteReset;
  }
}

/**
 * The response code details of an upstream reset (Envoy's router.cc, onUpstreamReset):
 * `upstream_reset_{before,after}_response_started{reason|details}`, spaces as "_".
 */
function resetDetails(prefix: string, reason: StreamResetReason, details: string): string {
  const text = resetReasonToString(reason);
  return `${prefix}{${details ? `${text}|${details}` : text}}`.replace(/ /g, "_");
}

/**
 * Envoy's `envoy.filters.http.router`: the terminal decoder filter. It acts on the
 * matched route — direct response, redirect, or forwarding to a cluster — and for
 * forwarding picks a host, takes a connection from the host's pool, sends the
 * (rewritten) request and streams the response back, with the route timeout and flow
 * control both ways.
 */
export class RouterFilter implements StreamDecoderFilter, DownstreamWatermarkCallbacks, TimerTarget, LoadBalancerContext, HashCookieSink {
  private callbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private action: ForwardAction | undefined;
  private cluster: Cluster | undefined;
  private upstreamHeaders: RequestHeaders | undefined;
  private poolHandle: PoolHandle | undefined;
  private upstream: UpstreamStream | undefined;
  /** Request body waiting for the upstream connection (made when needed: most requests have none to hold). */
  private buffered: Uint8Array[] | undefined;
  private bufferedBytes = 0;
  private bufferedTrailers: HeaderMap | undefined;
  private requestEnded = false;
  private bufferedUpgradeEnd = false;
  private requestHadBody = false;
  private readDisabledForBuffer = false;
  private responseHeadersReceived = false;
  private timer: Timer | undefined;
  /** The host chosen for the current attempt (outlier detection hears how it went). */
  private upstreamHost: Host | undefined;
  private retried = false;
  private done = false;
  /** Set-Cookie values a cookie hash policy made, added to the upstream's response headers. */
  private downstreamSetCookies: string[] | undefined;
  /** The route's hash_policy result, worked out before the headers are rewritten for the upstream. */
  private hashKey: bigint | undefined;

  constructor(private readonly server: ServerContext) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.callbacks = callbacks;
    callbacks.addDownstreamWatermarkCallbacks(this);
  }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    const callbacks = this.callbacks;
    const match = callbacks.route;
    if (!match) {
      callbacks.sendLocalReply(404, "", "route_not_found", "NR");
      return FilterHeadersStatus.StopIteration;
    }
    const action = match.route.action;
    if (action.type === "direct_response") {
      this.localReplyWithRouteHeaders(action.directResponse.status, action.directResponse.body ?? "", "direct_response");
      return FilterHeadersStatus.StopIteration;
    }
    if (action.type === "redirect") {
      this.redirect(action.redirect, headers);
      return FilterHeadersStatus.StopIteration;
    }
    this.action = action.route;
    const clusterName = this.pickCluster(action.route, headers);
    const cluster = this.server.clusterManager.get(clusterName);
    callbacks.streamInfo.upstreamCluster = clusterName;
    if (!cluster) {
      // Envoy's router: cluster_not_found_response_code (503 unless set), no body, flag NC.
      callbacks.sendLocalReply(action.route.clusterNotFoundResponseCode ?? 503, "", "cluster_not_found", "NC");
      return FilterHeadersStatus.StopIteration;
    }
    this.cluster = cluster;
    // As in Envoy, the host is chosen on the request as the client sent it (before route rewrites).
    if (action.route.hashPolicy) this.hashKey = generateHash(action.route.hashPolicy, headers, callbacks.downstreamRemoteAddress, this);
    this.upstreamHeaders = this.buildUpstreamHeaders(headers, action.route);
    this.requestEnded = endStream;
    if (endStream) this.startTimeout();
    this.connect();
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (data.byteLength > 0) this.requestHadBody = true;
    if (endStream) {
      this.requestEnded = true;
      this.startTimeout();
    }
    if (this.upstream) {
      this.upstream.encodeData(data, endStream);
      if (data.byteLength > 0 && this.callbacks.traced) this.callbacks.trace("upstream_write", String(data.byteLength));
    } else if (!this.done) {
      // Copied: the socket lent these bytes for this read only (port.ts: onData).
      if (data.byteLength > 0) (this.buffered ??= []).push(keepBytes(data));
      this.bufferedBytes += data.byteLength;
      // Waiting for a connection: past the buffer limit, stop reading the client.
      const limit = this.cluster?.config.perConnectionBufferLimitBytes ?? 0;
      if (!this.readDisabledForBuffer && limit > 0 && this.bufferedBytes > limit) {
        this.readDisabledForBuffer = true;
        this.callbacks.readDisableDownstream(true);
      }
    }
    return FilterDataStatus.StopIterationNoBuffer;
  }

  decodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    this.requestEnded = true;
    this.startTimeout();
    if (this.upstream) this.upstream.encodeTrailers(trailers);
    else this.bufferedTrailers = trailers;
    return FilterTrailersStatus.StopIteration;
  }

  decodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    if (this.upstream) {
      this.upstream.encodeUpgradeData(data, endStream);
      return;
    }
    // Bytes right behind the upgrade head (a websocket frame, a TLS ClientHello after
    // CONNECT) wait for the upstream connection like a request body does.
    if (data.byteLength > 0) (this.buffered ??= []).push(keepBytes(data));
    this.bufferedUpgradeEnd ||= endStream;
  }

  // ---- upstream connection ----

  private connect(): void {
    const cluster = this.cluster!;
    const host = cluster.loadBalancer.chooseHost(this);
    if (!host) {
      this.callbacks.sendLocalReply(503, "no healthy upstream", "no_healthy_upstream", CoreResponseFlag.NoHealthyUpstream);
      return;
    }
    this.upstreamHost = host;
    this.callbacks.streamInfo.upstreamHost = host.toString();
    this.callbacks.streamInfo.upstreamRequestStart = approximateNow(this.server.runtime);
    this.poolHandle = this.server.clusterManager.httpConnPool(cluster, host).newStream(new UpstreamRequest(this));
    // An idle connection was reused synchronously (pool_reuse), or the request waits for one.
    if (this.poolHandle && this.callbacks.traced) {
      this.callbacks.trace("pool_new_connection", `${cluster.name} ${host}`);
      this.callbacks.trace("upstream_connect_start", String(host));
    }
  }

  /** @internal UpstreamRequest events follow. */
  onPoolReady(stream: UpstreamStream): void {
    this.poolHandle = undefined;
    if (this.done) {
      stream.reset();
      return;
    }
    this.upstream = stream;
    // Outlier detection (Envoy's UpstreamRequest::onPoolReady): connected; the status reports the rest.
    stream.host.outlierDetector.putResult(OutlierResult.LocalOriginConnectSuccess);
    if (this.callbacks.traced) this.callbacks.trace(stream.reused ? "pool_reuse" : "upstream_connected", stream.host.toString());
    const buffered = this.buffered ?? NOTHING_BUFFERED;
    this.buffered = undefined;
    this.bufferedBytes = 0;
    const trailers = this.bufferedTrailers;
    const endAtHeaders = this.requestEnded && buffered.length === 0 && !trailers && !this.requestHadBody;
    stream.encodeHeaders(this.upstreamHeaders!, endAtHeaders);
    this.callbacks.trace("upstream_write", "request headers");
    if (this.upstreamHeaders!.upgrade) {
      for (const chunk of buffered) stream.encodeUpgradeData(chunk, false);
      if (this.bufferedUpgradeEnd) stream.encodeUpgradeData(EMPTY_BYTES, true);
      return;
    }
    const last = buffered.length - 1;
    for (let i = 0; i <= last; i++) stream.encodeData(buffered[i]!, this.requestEnded && !trailers && i === last);
    if (last < 0 && this.requestEnded && !trailers && this.requestHadBody) stream.encodeData(EMPTY_BYTES, true);
    if (trailers) stream.encodeTrailers(trailers);
    if (this.readDisabledForBuffer) {
      this.readDisabledForBuffer = false;
      this.callbacks.readDisableDownstream(false);
    }
  }

  onPoolFailure(reason: PoolFailureReason, transportFailureReason: string): void {
    this.poolHandle = undefined;
    if (this.done) return;
    // Outlier detection: a connect failure, but not the circuit breakers' overflow (cluster-wide, no host's fault).
    if (reason !== PoolFailureReason.Overflow) this.upstreamHost?.outlierDetector.putResult(OutlierResult.LocalOriginConnectFailed);
    if (transportFailureReason) this.callbacks.streamInfo.upstreamTransportFailureReason = transportFailureReason;
    this.replyForReset(POOL_FAILURE_RESET[reason], transportFailureReason, transportFailureReason);
  }

  onUpstreamReset(reason: StreamResetReason, details: string): void {
    const stream = this.upstream;
    this.upstream = undefined;
    if (this.done) return;
    // A keep-alive connection the upstream closed just as we reused it: the request
    // never reached it, so an idempotent request without a body is safely sent again —
    // but only if not one byte of a response came (a status line cut short is an answer begun).
    if (stream?.reused && !stream.responseStarted && !this.retried && !this.requestHadBody && IDEMPOTENT.has(this.upstreamHeaders!.method)) {
      this.retried = true;
      this.cluster?.stats.upstreamRqRetry.inc();
      this.server.log.debug(`router: retrying on a new connection after a reused one closed (${resetReasonToString(reason)})`);
      this.connect();
      return;
    }
    // Outlier detection (Envoy's Filter::onUpstreamReset): a reset is a local-origin failure.
    if (reason !== StreamResetReason.Overflow) stream?.host.outlierDetector.putResult(OutlierResult.LocalOriginConnectFailed);
    if (this.responseHeadersReceived) {
      // Part of the response went out: abort the downstream rather than end it as if complete.
      const info = this.callbacks.streamInfo;
      info.setResponseFlag(CoreResponseFlag.UpstreamRemoteReset);
      info.responseCodeDetails = resetDetails("upstream_reset_after_response_started", reason, details);
      this.callbacks.resetStream();
      return;
    }
    this.replyForReset(reason, "", details);
  }

  /**
   * Envoy's local reply for a stream reset before the response started (router.cc,
   * onUpstreamReset): 503 with the reset reason and, for a failed connect, the transport
   * failure reason in the body; the response code details carry both, spaces as "_".
   */
  private replyForReset(reason: StreamResetReason, transportFailureReason: string, details: string): void {
    const text = resetReasonToString(reason);
    const body = transportFailureReason ? `${RESET_BEFORE_HEADERS}${text}, transport failure reason: ${transportFailureReason}` : `${RESET_BEFORE_HEADERS}${text}`;
    const codeDetails = resetDetails("upstream_reset_before_response_started", reason, details);
    const overflow = reason === StreamResetReason.Overflow;
    this.chargeUpstreamAbort(503);
    this.callbacks.sendLocalReply(503, body, codeDetails, resetResponseFlag(reason), overflow ? [["x-envoy-overloaded", "true"]] : undefined);
  }

  onUpstreamAboveWriteBufferHighWatermark(): void {
    this.callbacks.readDisableDownstream(true);
  }

  onUpstreamBelowWriteBufferLowWatermark(): void {
    this.callbacks.readDisableDownstream(false);
  }

  // ---- the response, through UpstreamRequest ----

  onUpstreamHeaders(headers: ResponseHeaders, endStream: boolean): void {
    if (this.done) return;
    this.responseHeadersReceived = true;
    this.callbacks.trace("upstream_response_headers", String(headers.status));
    const info = this.callbacks.streamInfo;
    const now = approximateNow(this.server.runtime);
    info.upstreamResponseHeadersAt = now;
    // Envoy's router marks a proxied response so (Filter::onUpstreamHeaders): %RESPONSE_CODE_DETAILS% is via_upstream.
    info.responseCodeDetails = "via_upstream";
    this.cluster?.stats.countResponse(headers.status);
    const host = this.upstream?.host;
    if (host) {
      // Outlier detection and the data path's health verdict (Envoy's Filter::onUpstreamHeaders).
      host.outlierDetector.putHttpResponseCode(headers.status);
      // Only a health-checked host can be failed this way: others need no header lookup.
      if (host.healthChecker !== NULL_HEALTH_CHECK_HOST_MONITOR && headers.get("x-envoy-immediate-health-check-fail") !== undefined) {
        host.healthChecker.setUnhealthy(UnhealthyType.ImmediateHealthCheckFail);
      }
    }
    headers.set("x-envoy-upstream-service-time", String(Math.round(now - info.upstreamRequestStart)));
    // Cookies a hash policy made go out only with an upstream response (router.cc, onUpstreamHeaders).
    if (this.downstreamSetCookies) for (const cookie of this.downstreamSetCookies) headers.add("set-cookie", cookie);
    const match = this.callbacks.route;
    if (match) applyResponseHeaderMutations(headers, match, this.callbacks.routeConfig, this.callbacks, headers);
    if (endStream) this.finish();
    this.callbacks.encodeHeaders(headers, endStream);
  }

  onUpstreamData(data: Uint8Array, endStream: boolean): void {
    if (this.done) return;
    if (endStream) this.finish();
    this.callbacks.encodeData(data, endStream);
  }

  onUpstreamTrailers(trailers: HeaderMap): void {
    if (this.done) return;
    this.finish();
    this.callbacks.encodeTrailers(trailers);
  }

  onUpstreamUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.callbacks.encodeUpgradeData(data, endStream);
  }

  // ---- LoadBalancerContext: the route's hash_policy ----

  /** Envoy's Router::Filter::computeHashKey: the route's hash_policy over the request, if it has one. */
  computeHashKey(): bigint | undefined {
    return this.hashKey;
  }

  /**
   * Envoy's addDownstreamSetCookie: the cookie's value is the hash of the connection's
   * remote and local addresses, so requests racing on one connection get the same one.
   */
  addDownstreamSetCookie(name: string, path: string, ttlSeconds: number, attributes: readonly { name: string; value: string }[]): string {
    const remote = this.callbacks.downstreamRemoteAddress;
    const local = this.callbacks.downstreamLocalAddress;
    const value = uint64ToHex(xxHash64Text((remote ? formatAddress(remote) : "") + (local ? formatAddress(local) : "")));
    (this.downstreamSetCookies ??= []).push(makeSetCookieValue(name, value, path, ttlSeconds, attributes));
    return value;
  }

  // ---- downstream watermarks: a slow client pauses the upstream ----

  onAboveWriteBufferHighWatermark(): void {
    this.upstream?.readDisable(true);
  }

  onBelowWriteBufferLowWatermark(): void {
    this.upstream?.readDisable(false);
  }

  onDestroy(): void {
    if (this.done && !this.upstream && !this.poolHandle) return;
    this.done = true;
    this.clearTimeout();
    this.poolHandle?.cancel();
    this.poolHandle = undefined;
    // An upstream stream still running when the downstream stream ends (client gone,
    // local reply) cannot be reused: its connection is closed.
    this.upstream?.reset();
    this.upstream = undefined;
  }

  // ---- helpers ----

  /** The upstream response is complete. */
  private finish(): void {
    this.callbacks.trace("upstream_message_complete");
    this.done = true;
    this.clearTimeout();
    // Envoy resets an upstream request whose response completed before the request
    // did: the connection still expects body bytes and can never be reused.
    if (!this.requestEnded) this.upstream?.reset();
    this.upstream = undefined;
    const stats = this.cluster?.stats;
    if (stats) {
      stats.upstreamRqCompleted.inc();
      stats.upstreamRqTime.record(approximateNow(this.server.runtime) - this.callbacks.streamInfo.upstreamRequestStart);
      if (this.retried) stats.upstreamRqRetrySuccess.inc();
    }
  }

  private startTimeout(): void {
    const timeout = this.action?.timeoutMs ?? 0;
    if (timeout <= 0 || this.timer !== undefined || this.done) return;
    this.timer = this.server.timers.create(this);
    this.timer.enable(timeout);
  }

  /** @internal The route timeout passed with the response incomplete (Envoy: 504, or a reset once headers went out). */
  onTimer(): void {
    if (this.done) return;
    this.poolHandle?.cancel();
    this.poolHandle = undefined;
    if (this.upstream) {
      this.upstream.host.stats.rqTimeout++;
      // Outlier detection: a timeout, the 504 it amounts to when errors are not split.
      this.upstream.host.outlierDetector.putResult(OutlierResult.LocalOriginTimeout, 504);
    }
    this.upstream?.reset();
    this.upstream = undefined;
    this.callbacks.streamInfo.setResponseFlag(CoreResponseFlag.UpstreamRequestTimeout);
    this.cluster?.stats.upstreamRqTimeout.inc();
    if (this.responseHeadersReceived) {
      // Envoy's onUpstreamAbort once the response started: the details say why it was cut.
      this.callbacks.streamInfo.responseCodeDetails = "upstream_response_timeout";
      this.callbacks.resetStream();
    } else {
      this.chargeUpstreamAbort(504);
      this.callbacks.sendLocalReply(504, "upstream request timeout", "upstream_response_timeout", CoreResponseFlag.UpstreamRequestTimeout);
    }
    this.done = true;
  }

  /**
   * Envoy's Filter::chargeUpstreamAbort: a request the upstream never answered (connect
   * failure, reset, overflow, timeout) counts as the cluster's response with the local
   * reply's code — upstream_rq_<code>, upstream_rq_<N>xx, upstream_rq_completed — as an
   * answered one does (CodeStatsImpl::chargeBasicResponseStat).
   */
  private chargeUpstreamAbort(code: number): void {
    const stats = this.cluster?.stats;
    if (stats === undefined) return;
    stats.countResponse(code);
    stats.upstreamRqCompleted.inc();
  }

  private clearTimeout(): void {
    this.timer?.disable();
  }

  private pickCluster(action: ForwardAction, headers: RequestHeaders): string {
    if (action.cluster !== undefined) return action.cluster;
    // cluster_header: the header's first value names the cluster; absent, it names none (Envoy's RouteEntryImplBase::clusterEntry).
    if (action.clusterHeader !== undefined) return headers.get(action.clusterHeader) ?? "";
    const clusters = action.weightedClusters ?? [];
    const total = clusters.reduce((sum, c) => sum + c.weight, 0);
    let pick = this.server.runtime.random() * total;
    for (const c of clusters) {
      pick -= c.weight;
      if (pick < 0) return c.name;
    }
    return clusters[clusters.length - 1]?.name ?? "";
  }

  /**
   * The request as the upstream sees it, in Envoy's order (RouteEntryImplBase::finalizeRequestHeaders):
   * the route's header mutations, then the host rewrite (so host_rewrite_header sees
   * headers they added), then the path rewrite (so host_rewrite_path_regex reads the
   * path as it came).
   */
  private buildUpstreamHeaders(headers: RequestHeaders, action: ForwardAction): RequestHeaders {
    const match = this.callbacks.route!;
    // Set before the route's mutations, which may remove it (Envoy's finalTimeout runs first too).
    if (action.timeoutMs > 0) headers.set("x-envoy-expected-rq-timeout-ms", String(action.timeoutMs));
    applyRequestHeaderMutations(headers, match, this.callbacks.routeConfig, this.callbacks);
    const host = rewriteHost(headers, action);
    if (host) headers.authority = host;
    const rewritten = rewritePath(headers.path, match.route.match, action);
    if (rewritten !== headers.path) {
      headers.set("x-envoy-original-path", headers.path);
      headers.path = rewritten;
    }
    return headers;
  }

  private redirect(redirect: RedirectAction, headers: RequestHeaders): void {
    const location = redirectLocation(redirect, headers, this.callbacks.route!.route.match);
    this.localReplyWithRouteHeaders(redirect.responseCode, "", "direct_response", [["location", location]]);
  }

  /** Local replies from the route (direct_response, redirect) still get the route's response headers. */
  private localReplyWithRouteHeaders(status: number, body: string, details: string, extra: [string, string][] = []): void {
    const headers = new HeaderMap();
    for (const [name, value] of extra) headers.add(name, value);
    applyResponseHeaderMutations(headers, this.callbacks.route!, this.callbacks.routeConfig, this.callbacks, undefined);
    this.callbacks.sendLocalReply(status, body, details, undefined, headers.entries());
  }
}

/**
 * One attempt at the upstream (Envoy's `UpstreamRequest`): receives the pool's and the
 * response's events and hands them to the router, so a retry's events never mix with
 * an abandoned attempt's.
 */
class UpstreamRequest implements UpstreamCallbacks {
  constructor(private readonly router: RouterFilter) {}

  onPoolReady(stream: UpstreamStream): void {
    this.router.onPoolReady(stream);
  }
  onPoolFailure(reason: PoolFailureReason, transportFailureReason: string): void {
    this.router.onPoolFailure(reason, transportFailureReason);
  }
  onUpstreamReset(reason: StreamResetReason, details: string): void {
    this.router.onUpstreamReset(reason, details);
  }
  onUpstreamAboveWriteBufferHighWatermark(): void {
    this.router.onUpstreamAboveWriteBufferHighWatermark();
  }
  onUpstreamBelowWriteBufferLowWatermark(): void {
    this.router.onUpstreamBelowWriteBufferLowWatermark();
  }
  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    this.router.onUpstreamHeaders(headers, endStream);
  }
  decodeData(data: Uint8Array, endStream: boolean): void {
    this.router.onUpstreamData(data, endStream);
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.router.onUpstreamTrailers(trailers);
  }
  decodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.router.onUpstreamUpgradeData(data, endStream);
  }
}
