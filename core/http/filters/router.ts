import { getGrpcTimeoutMs, grpcToHttpStatus, isGrpcRequestHeaders, parseGrpcStatus, toGrpcTimeout } from "../grpc-common.ts";
import { chargeHostAbort } from "../host-response-charge.ts";
import { concatBytes, EMPTY_BYTES } from "../../util/bytes.ts";
import { approximateNow } from "../../event/dispatch-scope.ts";
import type { ForwardAction, HedgePolicyConfig, InternalRedirectPolicyConfig, MetadataMatchCriteria, RedirectAction, RequestMirrorPolicyConfig, RetryPolicyConfig, VirtualHostConfig } from "../../config/bootstrap.ts";
import type { Timer, TimerTarget } from "../../event/timers.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Cluster } from "../../upstream/cluster.ts";
import type { Host } from "../../upstream/host.ts";
import type { UpstreamStream } from "../../upstream/http1-conn-pool.ts";
import type { PrioritySet } from "../../upstream/host-set.ts";
import type { DownstreamConnectionView, DynamicMetadata, HostPriorityMapping, LoadBalancerContext, PriorityLoad } from "../../upstream/load-balancer.ts";
import { ENVOY_LB } from "../../upstream/metadata-match.ts";
import type { PoolFailureReason } from "../../upstream/pool-failure.ts";
import { CoreResponseFlag, type ResponseFlag } from "../../stream-info/response-flags.ts";
import { POOL_FAILURE_RESET, resetReasonToString, StreamResetReason } from "../stream-reset-reason.ts";
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
import { rewriteHost, rewritePath, updateAuthority } from "./path-rewrite.ts";
import { routeCluster } from "../route/route-cluster.ts";
import type { RouteMatch } from "../route/route-table.ts";
import { generateHash, makeSetCookieValue, type HashCookieSink } from "../hash-policy.ts";
import { uint64ToHex, xxHash64Text } from "../../util/hash.ts";
import { formatAddress } from "../../network/address.ts";
import { redirectLocation } from "./redirect.ts";
import { parseUnsigned, RetryState, RetryStatus, type RetryCallbacks } from "./retry-state.ts";
import { copyRequestHeaders, ShadowWriter } from "./shadow-writer.ts";
import { UpstreamRequest, type UpstreamRequestCallbacks } from "./upstream-request.ts";
import { convertRequestHeadersForInternalRedirect, type InternalRedirectTarget } from "./internal-redirect.ts";
import type { RouterStats } from "./router-stats.ts";
import { newTcpUpstreamStream } from "./tcp-upstream.ts";
import { selectUpstreamHttpFilterChain, type UpstreamHttpFilterChain } from "./upstream-http-filter-factories.ts";
import { UpgradePause, upgradePauseOf } from "./upgrade-pause.ts";
import { generateWebSocketKey } from "../websocket-handshake.ts";
import { NULL_HEALTH_CHECK_HOST_MONITOR, OutlierResult, UnhealthyType } from "../../upstream/host-monitors.ts";
import { KeptChunks } from "../../util/kept-chunks.ts";
import { parseAuthority } from "../parse-authority.ts";

/** Methods Envoy's retry logic treats as safe to send again. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

const NOTHING_BUFFERED: readonly Uint8Array[] = [];

/** Envoy's local reply when the request body outgrew the retry buffer while a retry waited (router.cc, decodeData). */
const RETRY_BUFFER_EXCEEDED = "exceeded request buffer limit while retrying upstream";

/** One shadow writer per server: it holds nothing per request. */
const shadowWriters = new WeakMap<ServerContext, ShadowWriter>();

/** Envoy's local reply text for resets before response headers (router.cc, onUpstreamReset). */
/** Held upgrade bytes' limit when the downstream has none (Envoy's default per_connection_buffer_limit_bytes). */
const DEFAULT_UPGRADE_HOLD_LIMIT = 1024 * 1024;
/** Fields of a refused WebSocket's response a local reply does not copy (framing, connection-specific). */
const LOCAL_REPLY_DROPS = new Set(["content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"]);
const RESET_BEFORE_HEADERS = "upstream connect error or disconnect/reset before headers. ";


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
 * control both ways. With a retry policy (retry-state.ts) a failed attempt is made
 * again — on another host with previous_hosts — after a jittered back-off, replaying the
 * request body it kept; never once response headers went downstream. Mirror policies
 * send a copy of the complete request to another cluster (shadow-writer.ts). With an
 * internal_redirect_policy a 3xx from the upstream is followed here: the request, as its
 * Location says, runs through a new stream's filter chain (internal-redirect.ts).
 */
export class RouterFilter implements StreamDecoderFilter, DownstreamWatermarkCallbacks, TimerTarget, RetryCallbacks, LoadBalancerContext, UpstreamRequestCallbacks, HashCookieSink, InternalRedirectTarget {
  private callbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  /** The route as decodeHeaders found it (Envoy's route_): what this request uses to its end. */
  private match: RouteMatch | undefined;
  private action: ForwardAction | undefined;
  private virtualHost: VirtualHostConfig | undefined;
  private cluster: Cluster | undefined;
  private upstreamHeaders: RequestHeaders | undefined;
  /** The latest attempt in flight; none while a retry backs off. */
  private upstreamRequest: UpstreamRequest | undefined;
  /**
   * Earlier attempts a per-try timeout hedged (hedge_on_per_try_timeout): still awaiting their
   * response beside the latest. With `upstreamRequest` they are Envoy's upstream_requests_:
   * the first whose response headers go downstream wins, the others are reset.
   */
  private hedgedRequests: UpstreamRequest[] | undefined;
  /** Envoy's hedging_params_.hedge_on_per_try_timeout_: a per-try timeout hedges instead of resetting. */
  private hedgeOnPerTryTimeout = false;
  /** Retries scheduled and not started yet (Envoy's pending_retries_): an answer may still come from one. */
  private pendingRetries = 0;
  private retryState: RetryState | undefined;
  /**
   * Request body chunks (copies): the ones waiting for the attempt's connection, and —
   * while a retry or a mirror may need it (`retainBody`) — all of it, for a replay.
   * Made when needed: most requests have none to hold.
   */
  private body: Uint8Array[] | undefined;
  private bodyBytes = 0;
  /** Copies the body's chunks, small ones together (util/kept-chunks.ts). */
  private keptChunks: KeptChunks | undefined;
  /** The body is kept for a replay, a mirror or an internal redirect, up to `retryShadowBufferLimit`. */
  private retainBody = false;
  /** The body outgrew `retryShadowBufferLimit` (Envoy's request_buffer_overflowed_): no internal redirect. */
  private requestBufferOverflowed = false;
  /** Envoy's retry_shadow_buffer_limit_: the listener's buffer limit, or the route's per_request_buffer_limit_bytes if smaller. */
  private retryShadowBufferLimit = Infinity;
  private trailers: HeaderMap | undefined;
  private requestEnded = false;
  private bufferedUpgradeEnd = false;
  private requestHadBody = false;
  private readDisabledForBuffer = false;
  /** Response headers went downstream (Envoy's downstream_response_started_): no retry after this. */
  private responseStarted = false;
  private timer: Timer | undefined;
  /** Route timeout and per-try timeouts in ms (0: none), after the x-envoy-upstream-rq-*-timeout-ms headers. */
  private globalTimeoutMs = 0;
  private perTryTimeoutMs = 0;
  private perTryIdleTimeoutMs = 0;
  /** Envoy's timeout_response_code_: 204 when x-envoy-upstream-rq-timeout-alt-response asked for it. */
  private timeoutResponseCode = 504;
  /** A gRPC request on a route with max_grpc_timeout: grpc-timeout is rewritten to the expected timeout. */
  private grpcTimeoutFromRoute = false;
  /** The request is gRPC (Envoy's grpc_request_): a grpc-status in the response headers is what outlier detection judges. */
  private grpcRequest = false;
  /** Monotonic ms the downstream request was complete (0 until then). */
  private requestCompleteAt = 0;
  /** The one transparent reconnect after a reused keep-alive connection closed under the request was made. */
  private staleConnectionRetried = false;
  /** Envoy's attempt_count_ and is_retry_. */
  private attemptCount = 1;
  private isRetry = false;
  private isTimeoutRetry = false;
  /** The mirror policies this request is copied for, and the request as it went upstream. */
  private shadowPolicies: RequestMirrorPolicyConfig[] | undefined;
  private shadowHeaders: RequestHeaders | undefined;
  private done = false;
  /** Set-Cookie values a cookie hash policy made, added to the upstream's response headers. */
  private downstreamSetCookies: string[] | undefined;
  /** The route's hash_policy result, worked out before the headers are rewritten for the upstream. */
  private hashKey: bigint | undefined;
  /** The route entry's (or weighted cluster's) metadata_match criteria. */
  private routeMetadataMatch: MetadataMatchCriteria | undefined;
  /**
   * Downstream high-watermark events not yet matched by a low one: each attempt's stream has
   * its upstream read disabled that many times (from onPoolReady on), so a slow client pauses
   * every attempt that may still answer.
   */
  private downstreamHighWatermarks = 0;
  /** The request's x-envoy-internal is "true": its responses count under the cluster's `internal.` stats, else `external.`. */
  private internalRequest = false;
  /** The host of the last attempt is a canary: its responses count under `canary.` too. */
  private canaryHost = false;

  constructor(
    private readonly server: ServerContext,
    private readonly stats: RouterStats,
    /** The Router's suppress_envoy_headers: none of the x-envoy-* headers below are added. */
    private readonly suppressEnvoyHeaders = false,
    /** The Router's dynamic_stats (Envoy's emit_dynamic_stats_): false charges no per-response cluster stats. */
    private readonly dynamicStats = true,
    /** The Router's start_child_span: a child span per upstream request, as the HCM's spawn_upstream_span. */
    private readonly startChildSpan = false,
    /** The Router's upstream_http_filters: the attempts' chain when their cluster has no http_filters. */
    private readonly upstreamHttpFilters: UpstreamHttpFilterChain | undefined = undefined,
  ) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.callbacks = callbacks;
    callbacks.addDownstreamWatermarkCallbacks(this);
  }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    const callbacks = this.callbacks;
    // Envoy's Filter::decodeHeaders takes route_ and route_entry_ once, for the whole request:
    // a filter clearing the route cache later (the retries, response headers, an internal
    // redirect's checks, mirrors, hedging) changes nothing here (source/common/router/router.cc).
    const counters = this.stats.counters;
    // Every request that reaches the router, not those a filter before it answered (router.cc).
    counters.rq_total.inc();
    const match = (this.match = callbacks.route);
    if (!match) {
      // Counted here, where Envoy's router counts it: a filter may have routed a request the
      // connection manager found no route for, or the other way round.
      counters.no_route.inc();
      const log = this.server.log.component("router");
      if (log.debugOn) log.debug(`${callbacks.logPrefix()}no route match for URL '${headers.path}'`);
      callbacks.sendLocalReply(404, "", "route_not_found", "NR");
      return FilterHeadersStatus.StopIteration;
    }
    const action = match.route.action;
    if (action.type === "direct_response") {
      counters.rq_direct_response.inc();
      this.localReplyWithRouteHeaders(action.directResponse.status, action.directResponse.body ?? "", "direct_response");
      return FilterHeadersStatus.StopIteration;
    }
    if (action.type === "redirect") {
      // A redirect route is one of Envoy's DirectResponseEntry (config_impl.cc sets its
      // direct_response_code_): router.cc counts it as rq_direct_response, never rq_redirect.
      counters.rq_direct_response.inc();
      this.redirect(action.redirect, headers);
      return FilterHeadersStatus.StopIteration;
    }
    this.action = action.route;
    this.internalRequest = headers.get("x-envoy-internal") === "true";
    const vhost = (this.virtualHost = match.virtualHost);
    // The cluster chosen when the route was resolved, the one the filters before saw too.
    const clusterName = routeCluster(callbacks, this.server.runtime);
    this.routeMetadataMatch = callbacks.streamInfo.routeMetadataMatch;
    const cluster = this.server.clusterManager.get(clusterName);
    callbacks.streamInfo.upstreamCluster = clusterName;
    if (!cluster) {
      counters.no_cluster.inc();
      // Envoy's router: cluster_not_found_response_code (503 unless set), no body, flag NC.
      const log = this.server.log.component("router");
      if (log.debugOn) log.debug(`${callbacks.logPrefix()}unknown cluster '${clusterName}'`);
      callbacks.sendLocalReply(action.route.clusterNotFoundResponseCode ?? 503, "", "cluster_not_found", "NC");
      return FilterHeadersStatus.StopIteration;
    }
    this.cluster = cluster;
    // As in Envoy, the host is chosen on the request as the client sent it (before route rewrites).
    if (action.route.hashPolicy) this.hashKey = generateHash(action.route.hashPolicy, headers, callbacks.downstreamRemoteAddress, this);
    // A retry or mirror keeps at most this much body (Envoy: the smaller of the stream's buffer limit and the route's).
    const limit = callbacks.decoderBufferLimit;
    this.retryShadowBufferLimit = Math.min(limit > 0 ? limit : Infinity, match.route.perRequestBufferLimitBytes ?? vhost.perRequestBufferLimitBytes ?? Infinity);
    const retryPolicy = action.route.retryPolicy ?? vhost.retryPolicy;
    // Before the timeouts: with hedging the upstream is told the route timeout, not the per-try one.
    this.finalHedgingParams(action.route.hedgePolicy ?? vhost.hedgePolicy, headers);
    // Envoy's router: the active span's context goes upstream (injectContext).
    callbacks.streamInfo.activeSpan?.injectContext(headers);
    this.upstreamHeaders = this.buildUpstreamHeaders(headers, match, action.route, retryPolicy);
    // scheme_header_transformation.match_upstream (FilterUtility::setUpstreamScheme, after
    // finalizeRequestHeaders): the scheme of this route's cluster's connections — https over
    // a TLS transport socket.
    if (callbacks.streamInfo.shouldSchemeMatchUpstream) headers.scheme = cluster.config.transportSocket ? "https" : "http";
    if (vhost.includeRequestAttemptCount) headers.set("x-envoy-attempt-count", "1");
    callbacks.streamInfo.attemptCount = 1;
    const retryState = RetryState.create(retryPolicy, headers, cluster, this.server, this);
    // An upgrade's bytes after the head are a tunnel, not a body to replay: no retries.
    if (retryState && !headers.upgrade) this.retryState = retryState;
    this.chooseShadowPolicies(action.route.requestMirrorPolicies ?? vhost.requestMirrorPolicies, headers);
    this.retainBody = (this.retryState?.enabled ?? false) || this.shadowPolicies !== undefined || action.route.internalRedirectPolicy !== undefined;
    this.requestEnded = endStream;
    this.startAttempt();
    if (endStream) this.onRequestComplete();
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (data.byteLength > 0) this.requestHadBody = true;
    if (this.retainBody && !this.done && this.bodyBytes + data.byteLength > this.retryShadowBufferLimit && this.abandonRetryAndShadow()) {
      return FilterDataStatus.StopIterationNoBuffer;
    }
    if (endStream) this.requestEnded = true;
    const stream = this.upstreamRequest?.stream;
    if (stream) {
      // Copied: the socket lent these bytes for this read only (port.ts: onData).
      if (this.retainBody && data.byteLength > 0) this.keepBody(data);
      stream.encodeData(data, endStream);
      if (endStream) this.onUpstreamRequestSent(this.upstreamRequest);
      if (data.byteLength > 0 && this.callbacks.traced) this.callbacks.trace("upstream_write", String(data.byteLength));
    } else if (!this.done) {
      if (data.byteLength > 0) this.keepBody(data);
      this.limitBufferedBody();
    }
    if (endStream) this.onRequestComplete();
    return FilterDataStatus.StopIterationNoBuffer;
  }

  decodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    this.requestEnded = true;
    // Kept: the next attempt sends them too.
    this.trailers = trailers;
    const stream = this.upstreamRequest?.stream;
    if (stream) {
      stream.encodeTrailers(trailers);
      this.onUpstreamRequestSent(this.upstreamRequest);
    }
    this.onRequestComplete();
    return FilterTrailersStatus.StopIteration;
  }

  decodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    const request = this.upstreamRequest;
    if (request?.stream) {
      // Through the attempt: it holds them until the upstream accepts the upgrade.
      request.encodeUpgradeData(data, endStream);
      return;
    }
    // Bytes right behind the upgrade head (a websocket frame, a TLS ClientHello after
    // CONNECT) wait for the upstream connection like a request body does.
    if (data.byteLength > 0) this.keepBody(data);
    this.bufferedUpgradeEnd ||= endStream;
    this.limitBufferedBody();
  }

  /** Waiting for a connection: past the cluster's buffer limit, stop reading the client (resumed in onPoolReady). */
  private limitBufferedBody(): void {
    const limit = this.cluster?.config.perConnectionBufferLimitBytes ?? 0;
    if (!this.readDisabledForBuffer && limit > 0 && this.bodyBytes > limit) {
      this.readDisabledForBuffer = true;
      this.callbacks.readDisableDownstream(true);
    }
  }

  // ---- the request's progress ----

  /** The downstream request is complete (Envoy's onRequestComplete): the route timeout starts, mirrors go out. */
  private onRequestComplete(): void {
    this.requestCompleteAt = this.server.runtime.now();
    if (this.done) return;
    this.startTimeout();
    if (this.shadowPolicies) this.maybeDoShadowing();
    const request = this.upstreamRequest;
    if (request?.createPerTryTimeoutOnRequestComplete) request.setupPerTryTimeout(this.server.timers, this.perTryTimeoutMs, this.perTryIdleTimeoutMs);
  }

  private keepBody(data: Uint8Array): void {
    this.bodyBytes += data.byteLength;
    (this.keptChunks ??= new KeptChunks()).keep((this.body ??= []), data);
  }

  /**
   * The body outgrew the retry buffer: no retry, no mirror (Envoy's retry_or_shadow_abandoned).
   * With no attempt in flight (a retry backing off) the request cannot go on: 507.
   * Returns true when the request ended here.
   */
  private abandonRetryAndShadow(): boolean {
    this.cluster!.stats.retryOrShadowAbandoned.inc();
    this.retainBody = false;
    this.requestBufferOverflowed = true;
    this.retryState?.destroy();
    this.retryState = undefined;
    this.shadowPolicies = undefined;
    this.shadowHeaders = undefined;
    const request = this.upstreamRequest;
    if (!request) {
      this.done = true;
      this.clearTimeout();
      this.callbacks.sendLocalReply(507, RETRY_BUFFER_EXCEEDED, "request_payload_exceeded_retry_buffer_limit", undefined, this.responseExtraHeaders());
      return true;
    }
    // The attempt has everything kept so far already; only chunks still waiting for its connection stay.
    if (request.stream) {
      this.body = undefined;
      this.bodyBytes = 0;
    }
    return false;
  }

  // ---- upstream attempts ----

  /** Pick a host and ask its pool for a stream (Envoy: a new UpstreamRequest's acceptHeadersFromRouter). */
  private startAttempt(): void {
    const cluster = this.cluster;
    const host = cluster?.loadBalancer.chooseHost(this);
    if (!cluster || !host) {
      this.done = true;
      this.clearTimeout();
      this.retryState?.destroy();
      // Envoy's httpConnPoolImpl counts the miss (upstream_cx_none_healthy), and its
      // sendNoHealthyUpstreamResponse charges the 503 to the cluster (chargeUpstreamCode).
      if (cluster) {
        cluster.stats.upstreamCxNoneHealthy.inc();
        this.chargeUpstreamAbort(503, undefined);
      }
      this.callbacks.sendLocalReply(503, "no healthy upstream", "no_healthy_upstream", CoreResponseFlag.NoHealthyUpstream, this.responseExtraHeaders());
      return;
    }
    this.retryState?.onHostAttempted(host);
    // auto_host_rewrite: the upstream's Host is the chosen host's name — a DNS cluster's
    // name, or an endpoint's `hostname` — when it has one (Envoy's router.cc, on the
    // request's headers as the host is chosen).
    // A retry's host may rename it again; the same name changes nothing (nor x-forwarded-host).
    const upstreamHeaders = this.upstreamHeaders;
    if (this.action?.autoHostRewrite && host.hostname !== "" && upstreamHeaders && upstreamHeaders.authority !== host.hostname) {
      updateAuthority(upstreamHeaders, host.hostname, this.action.appendXForwardedHost === true);
    }
    const info = this.callbacks.streamInfo;
    info.upstreamHost = host.toString();
    info.upstreamHostMetadata = host.metadata;
    info.upstreamRequestStart = approximateNow(this.server.runtime);
    const request = new UpstreamRequest(this, host, this.grpcRequest);
    request.startedAt = info.upstreamRequestStart;
    this.upstreamRequest = request;
    // Envoy's UpstreamRequest: with spawn_upstream_span (or zipkin's split_spans_for_request),
    // or the router's start_child_span (upstream_request.cc: `spawnUpstreamSpan() ||
    // start_child_span_`), each attempt has a CLIENT span, a child of the stream's, and its
    // context goes upstream.
    const span = info.activeSpan;
    if (span !== undefined && (span.spawnsUpstreamSpans || this.startChildSpan) && upstreamHeaders) {
      const child = span.spawnChild(`router ${cluster.name} egress`, span.nowMicros());
      if (this.attemptCount > 1) child.setTag("retry.count", String(this.attemptCount - 1));
      child.setTag("upstream_cluster", cluster.name);
      child.setTag("upstream_cluster.name", cluster.name);
      child.setTag("upstream_address", info.upstreamHost);
      child.injectContext(upstreamHeaders, info.upstreamHost);
      request.span = child;
      request.setSpanCustomTags = info.setCustomTags;
    }
    const clusterManager = this.server.clusterManager;
    // A CONNECT the route terminates (connect_config) is a TCP tunnel to the host (Envoy's router TcpConnPool).
    const tcp = this.action?.terminateConnect === true && this.upstreamHeaders?.method === "CONNECT";
    // An upgrade's (CONNECT's) client bytes wait for the upstream to accept it (Envoy's
    // acceptHeadersFromRouter; a terminated CONNECT's TCP upstream is unpaused at once, onPoolReady).
    if (!tcp && upstreamHeaders?.upgrade) {
      const limit = this.callbacks.decoderBufferLimit;
      const pause = upgradePauseOf(upstreamHeaders);
      // An HTTP/2 client's WebSocket has no Sec-WebSocket-Key (RFC 8441 §5): one is made up
      // if the attempt's upstream speaks HTTP/1.1 (websocket-key-stream.ts).
      // From the port's random, as Envoy's generateKey draws from the server's random generator.
      const runtime = this.server.runtime;
      const makeKey = upstreamHeaders.protocol === "HTTP/2" ? () => generateWebSocketKey((into) => runtime.randomBytes(into)) : undefined;
      request.pauseUpgrade(pause, limit > 0 ? limit : DEFAULT_UPGRADE_HOLD_LIMIT, makeKey);
      // A WebSocket's request never completes while it waits for the 101, so its per-try and
      // route timeouts start now (Envoy's acceptHeadersFromRouter, runtime guard
      // websocket_enable_timeout_on_upgrade_response, on): an origin that never answers gets
      // the 504 any request gets. Stopped once the upgrade is accepted. Not for CONNECT nor
      // other upgrades, as in Envoy: those wait for their answer as long as the client does.
      if (pause === UpgradePause.WebSocket) {
        request.setupPerTryTimeout(this.server.timers, this.perTryTimeoutMs, this.perTryIdleTimeoutMs);
        this.startTimeout();
      }
    }
    // The HTTP attempt runs the route's cluster's upstream HTTP filters, else the router's
    // upstream_http_filters, built when it has its connection. The route's cluster even when
    // it is an aggregate: Envoy's UpstreamRequest asks parent_.cluster() (upstream_request.cc),
    // the route's ClusterInfo, not the member serving the host.
    const upstreamFilters = tcp ? undefined : selectUpstreamHttpFilterChain(cluster.config, this.upstreamHttpFilters);
    if (upstreamFilters !== undefined) {
      request.upstreamFilters = upstreamFilters;
      request.downstream = this.callbacks;
      request.server = this.server;
    }
    const handle = tcp
      ? newTcpUpstreamStream(clusterManager.tcpConnPool(cluster, host), host, request)
      : clusterManager.httpConnPool(cluster, host, this.autoSni(cluster.aggregate?.clusterOf(host) ?? cluster), this.upstreamHeaders?.protocol).newStream(request);
    // An idle connection was reused synchronously (pool_reuse), or the request waits for one.
    if (handle && this.upstreamRequest === request) {
      request.poolHandle = handle;
      if (this.callbacks.traced) {
        this.callbacks.trace("pool_new_connection", `${cluster.name} ${host}`);
        this.callbacks.trace("upstream_connect_start", String(host));
      }
    }
  }

  /**
   * upstream_http_protocol_options.auto_sni (Envoy's router.cc): a TLS cluster's
   * connection sends the upstream request's host, without its port, as SNI — none for an
   * IP address (Envoy's parseAuthority's is_ip_address_). Lower-cased, unlike Envoy: names
   * are case-insensitive (RFC 4343, RFC 6066 §3) and each SNI has a pool of its own, so
   * case variants of one name must not each open connections. `cluster` is the one whose
   * pool serves the host (an aggregate's: the member's, whose TLS and auto_san_validation
   * the connection uses).
   */
  private autoSni(cluster: Cluster): string | undefined {
    if (!cluster.config.autoSni || !cluster.config.transportSocket) return undefined;
    const { host, isIpAddress } = parseAuthority(this.upstreamHeaders?.authority ?? "");
    return host === "" || isIpAddress ? undefined : host.toLowerCase();
  }

  /** @internal The retry's back-off passed (RetryCallbacks; Envoy's doRetry). */
  doRetry(): void {
    if (this.done) return;
    if (this.pendingRetries > 0) this.pendingRetries--;
    this.isRetry = true;
    this.attemptCount++;
    this.callbacks.streamInfo.attemptCount = this.attemptCount;
    const headers = this.upstreamHeaders!;
    const vhost = this.virtualHost!;
    if (vhost.includeRequestAttemptCount) headers.set("x-envoy-attempt-count", String(this.attemptCount));
    if (vhost.includeIsTimeoutRetryHeader) headers.set("x-envoy-is-timeout-retry", this.isTimeoutRetry ? "true" : "false");
    // The route timeout runs from the end of the request: the upstream is told what is left of it.
    const elapsed = this.requestCompleteAt > 0 ? this.server.runtime.now() - this.requestCompleteAt : 0;
    this.setTimeoutHeaders(headers, elapsed);
    // Envoy's Filter::doRetry: ENVOY_STREAM_LOG(debug, "performing retry") (router).
    const log = this.server.log.component("router");
    if (log.debugOn) log.debug(`${this.callbacks.logPrefix()}performing retry ${this.attemptCount - 1}`);
    // The cluster by name again, as Envoy's doRetry: one replaced (CDS, a reload) since the
    // first attempt serves the retry — the old one's hosts are draining, a pool opened on one
    // would stay until its idle timeout — and one removed ends it (503 UH).
    this.cluster = this.server.clusterManager.get(this.cluster!.name);
    this.startAttempt();
  }

  /** LoadBalancerContext: the request's headers as the decoder filters left them (an ORIGINAL_DST cluster's use_http_header). */
  downstreamHeaders(): RequestHeaders {
    return this.callbacks.requestHeaders;
  }

  /** LoadBalancerContext: the stream's dynamic metadata (an ORIGINAL_DST cluster's metadata_key). */
  requestDynamicMetadata(): DynamicMetadata | undefined {
    return this.callbacks.streamInfo.dynamicMetadata;
  }

  /** LoadBalancerContext: the downstream connection (an ORIGINAL_DST cluster's restored local address). */
  downstreamConnection(): DownstreamConnectionView | undefined {
    return this.callbacks.streamInfo.downstreamConnection;
  }

  /** LoadBalancerContext: the retry host predicates apply to retries only (Envoy's Filter::shouldSelectAnotherHost). */
  shouldSelectAnotherHost(host: Host): boolean {
    return this.isRetry && this.retryState !== undefined && this.retryState.shouldSelectAnotherHost(host);
  }

  hostSelectionRetryCount(): number {
    return this.isRetry && this.retryState ? this.retryState.hostSelectionMaxAttempts : 1;
  }

  /** LoadBalancerContext: only a retry's priority loads differ (Envoy's Filter::determinePriorityLoad). */
  determinePriorityLoad(prioritySet: PrioritySet, original: PriorityLoad, priorityOf?: HostPriorityMapping): PriorityLoad {
    return this.isRetry && this.retryState ? this.retryState.priorityLoadForRetry(prioritySet, original, priorityOf) : original;
  }

  /** @internal UpstreamRequest events follow; an abandoned attempt's are ignored. */
  onPoolReady(request: UpstreamRequest, stream: UpstreamStream): void {
    if (this.done || request !== this.upstreamRequest) {
      request.stream = undefined;
      stream.reset();
      return;
    }
    // Outlier detection (Envoy's UpstreamRequest::onPoolReady): connected; the status reports the rest.
    stream.host.outlierDetector.putResult(OutlierResult.LocalOriginConnectSuccess);
    // A client already too slow to read pauses this attempt too (its low watermarks resume it).
    for (let i = 0; i < this.downstreamHighWatermarks; i++) stream.readDisable(true);
    this.callbacks.streamInfo.upstreamTls = stream.tls;
    this.callbacks.streamInfo.upstreamLocalAddress = stream.localAddress;
    if (this.callbacks.traced) this.callbacks.trace(stream.reused ? "pool_reuse" : "upstream_connected", stream.host.toString());
    const buffered = this.body ?? NOTHING_BUFFERED;
    if (!this.retainBody) {
      this.body = undefined;
      this.bodyBytes = 0;
    }
    const trailers = this.trailers;
    const endAtHeaders = this.requestEnded && buffered.length === 0 && !trailers && !this.requestHadBody;
    stream.encodeHeaders(this.upstreamHeaders!, endAtHeaders);
    this.callbacks.trace("upstream_write", "request headers");
    if (this.upstreamHeaders!.upgrade) {
      for (const chunk of buffered) request.encodeUpgradeData(chunk, false);
      if (this.bufferedUpgradeEnd) request.encodeUpgradeData(EMPTY_BYTES, true);
      if (this.readDisabledForBuffer) {
        this.readDisabledForBuffer = false;
        this.callbacks.readDisableDownstream(false);
      }
      return;
    }
    const last = buffered.length - 1;
    for (let i = 0; i <= last; i++) stream.encodeData(buffered[i]!, this.requestEnded && !trailers && i === last);
    if (last < 0 && this.requestEnded && !trailers && this.requestHadBody) stream.encodeData(EMPTY_BYTES, true);
    if (trailers) stream.encodeTrailers(trailers);
    if (this.requestEnded) this.onUpstreamRequestSent(request);
    if (this.readDisabledForBuffer) {
      this.readDisabledForBuffer = false;
      this.callbacks.readDisableDownstream(false);
    }
    // Per-try timers run from a complete request on a ready stream (Envoy's UpstreamRequest::onPoolReady).
    if (this.requestEnded) request.setupPerTryTimeout(this.server.timers, this.perTryTimeoutMs, this.perTryIdleTimeoutMs);
    else request.createPerTryTimeoutOnRequestComplete = true;
  }

  /** The request's end went to the upstream codec: Envoy's UpstreamTiming last_upstream_tx_byte_sent_ (%REQUEST_TX_DURATION%). */
  private onUpstreamRequestSent(request: UpstreamRequest | undefined): void {
    const now = approximateNow(this.server.runtime);
    if (request !== undefined) request.lastUpstreamTxByteSent = now;
    this.callbacks.streamInfo.lastUpstreamTxByteSent = now;
  }

  onPoolFailure(request: UpstreamRequest, reason: PoolFailureReason, transportFailureReason: string): void {
    if (this.done || request !== this.upstreamRequest) return;
    if (transportFailureReason) {
      request.transportFailureReason = transportFailureReason;
      this.callbacks.streamInfo.upstreamTransportFailureReason = transportFailureReason;
    }
    // Envoy's UpstreamRequest::onPoolFailure "mimics an upstream reset".
    this.onAttemptReset(request, POOL_FAILURE_RESET[reason], transportFailureReason, transportFailureReason);
  }

  onUpstreamReset(request: UpstreamRequest, stream: UpstreamStream | undefined, reason: StreamResetReason, details: string): void {
    if (this.done || !this.inFlight(request)) return;
    // A keep-alive connection the upstream closed just as we reused it: the request
    // never reached it, so an idempotent request without a body is safely sent again —
    // but only if not one byte of a response came (a status line cut short is an answer
    // begun). This one reconnect is no policy retry: it needs no retry_on and uses none.
    if (
      request === this.upstreamRequest &&
      stream?.reused &&
      !stream.responseStarted &&
      !this.staleConnectionRetried &&
      !this.requestHadBody &&
      !this.upstreamHeaders!.upgrade &&
      IDEMPOTENT.has(this.upstreamHeaders!.method)
    ) {
      this.staleConnectionRetried = true;
      this.cluster?.stats.upstreamRqRetry.inc();
      // The cut attempt is an rq_error of its host, as any reset Envoy retries (router.cc,
      // maybeRetryReset): rq_total counted it, and rq_success + rq_error stays rq_total.
      request.charge.retried();
      const log = this.server.log.component("router");
      if (log.debugOn) log.debug(`${this.callbacks.logPrefix()}retrying on a new connection after a reused one closed (${resetReasonToString(reason)})`);
      this.startAttempt();
      return;
    }
    this.onAttemptReset(request, reason, "", details);
  }

  /** The attempt failed before or while its response came (Envoy's Filter::onUpstreamReset). */
  private onAttemptReset(request: UpstreamRequest, reason: StreamResetReason, transportFailureReason: string, details: string): void {
    const log = this.server.log.component("router");
    if (log.debugOn) log.debug(`${this.callbacks.logPrefix()}upstream reset: reset reason: ${resetReasonToString(reason)}, transport failure reason: ${transportFailureReason}`);
    // Outlier detection (Envoy's Filter::onUpstreamReset): a reset or failed connect is a
    // local-origin failure — but not the circuit breakers' overflow (cluster-wide, no host's fault).
    if (reason !== StreamResetReason.Overflow) request.host.outlierDetector.putResult(OutlierResult.LocalOriginConnectFailed);
    if (this.maybeRetryReset(reason, request)) return;
    this.removeAttempt(request);
    if (this.responseStarted) {
      this.chargeAbortAfterResponseStarted(request);
      // Part of the response went out: reset the downstream stream rather than end it as if
      // complete (HTTP/1: the connection closes behind what was written; HTTP/2: RST_STREAM).
      const info = this.callbacks.streamInfo;
      // Envoy's onUpstreamReset: the flag is the reset reason's (streamResetReasonToResponseFlag),
      // e.g. UPE for a body the codec could not parse, UC for a connection cut.
      info.setResponseFlag(resetResponseFlag(reason));
      info.responseCodeDetails = resetDetails("upstream_reset_after_response_started", reason, details);
      this.done = true;
      this.clearTimeout();
      this.callbacks.resetStream();
      return;
    }
    this.canaryHost = request.host.canary;
    // Another attempt may still answer (a hedge): this one is charged, the client waits.
    if (this.othersMayAnswer(request)) {
      this.chargeReset(reason, request.host);
      return;
    }
    this.replyForReset(reason, details, request.host);
  }

  /**
   * Retry a reset attempt if the policy says so (Envoy's maybeRetryReset): never once the
   * response started. True when a retry is scheduled.
   */
  private maybeRetryReset(reason: StreamResetReason, request: UpstreamRequest, timeout = false): boolean {
    const retryState = this.retryState;
    // A hedged attempt was retried already, when its per-try timeout passed.
    if (this.responseStarted || !retryState || request.hedged) return false;
    const status = retryState.shouldRetryReset(reason, request.requestStarted);
    if (status === RetryStatus.Yes) {
      // Envoy's maybeRetryReset: the reset that is retried is an rq_error of its host.
      request.charge.retried();
      request.resetStream();
      this.removeAttempt(request);
      this.pendingRetries++;
      this.isTimeoutRetry = timeout;
      return true;
    }
    this.flagRetryRefusal(status);
    return false;
  }

  /** Why a retry was refused, as a response flag: UO for the retries circuit breaker, URX for num_retries used up. */
  private flagRetryRefusal(status: RetryStatus): void {
    if (status === RetryStatus.NoOverflow) this.callbacks.streamInfo.setResponseFlag(CoreResponseFlag.UpstreamOverflow);
    else if (status === RetryStatus.NoRetryLimitExceeded) this.callbacks.streamInfo.setResponseFlag(CoreResponseFlag.UpstreamRetryLimitExceeded);
  }

  /**
   * Envoy's local reply for a stream reset before the response started (router.cc,
   * onUpstreamReset): 503 — 502 for an upstream protocol error (UPE), as Envoy answers since
   * return_502_for_upstream_protocol_errors — with the reset reason in the body ("retried and
   * the latest" after a retry). A failed connect's transport failure reason (a system error, a
   * TLS verification error) stays out of the body, as Envoy's since 1.39
   * (hide_transport_failure_reason_in_response_body): it is in the response code details
   * (spaces as "_"), %UPSTREAM_TRANSPORT_FAILURE_REASON% and the router's debug line.
   */
  private replyForReset(reason: StreamResetReason, details: string, host: Host): void {
    this.done = true;
    this.clearTimeout();
    this.retryState?.destroy();
    const text = resetReasonToString(reason);
    const retried = this.isRetry ? "retried and the latest " : "";
    const body = `${RESET_BEFORE_HEADERS}${retried}reset reason: ${text}`;
    const codeDetails = resetDetails("upstream_reset_before_response_started", reason, details);
    const code = this.chargeReset(reason, host);
    let headers = this.responseExtraHeaders();
    // A circuit breaker refused the request itself (Envoy's `dropped`): the client may back off.
    if (reason === StreamResetReason.Overflow && !this.suppressEnvoyHeaders) (headers ??= []).push(["x-envoy-overloaded", "true"]);
    this.callbacks.sendLocalReply(code, body, codeDetails, resetResponseFlag(reason), headers);
  }

  /** Charge a reset attempt as the cluster's response (Envoy's onUpstreamReset, chargeUpstreamAbort); returns the code. */
  private chargeReset(reason: StreamResetReason, host: Host): number {
    const code = reason === StreamResetReason.ProtocolError ? 502 : 503;
    this.chargeUpstreamAbort(code, host);
    // Envoy's chargeUpstreamCode with `dropped` (a reset of reason overflow): counted for load reports.
    if (reason === StreamResetReason.Overflow && this.cluster !== undefined && this.dynamicStats) this.cluster.loadReportStats.upstreamRqDropped++;
    return code;
  }

  onUpstreamAboveWriteBufferHighWatermark(request: UpstreamRequest): void {
    if (request === this.upstreamRequest) this.callbacks.readDisableDownstream(true);
  }

  onUpstreamBelowWriteBufferLowWatermark(request: UpstreamRequest): void {
    if (request === this.upstreamRequest) this.callbacks.readDisableDownstream(false);
  }

  // ---- the response, through UpstreamRequest ----

  onUpstreamHeaders(request: UpstreamRequest, headers: ResponseHeaders, endStream: boolean): void {
    if (this.done || !this.inFlight(request)) return;
    // Outlier detection and the data path's health verdict (Envoy's Filter::onUpstreamHeaders),
    // before the retry decision: a 503 that is retried still counts against its host.
    const host = request.host;
    // A gRPC answer in the headers alone (trailers-only) is judged by its grpc-status, mapped to
    // the HTTP status it amounts to (Envoy's onUpstreamHeaders, grpcToHttpStatus): a 200 carrying
    // UNAVAILABLE is a 503 to outlier detection; one that does not parse is Envoy's InvalidCode, a 500.
    const rawGrpcStatus = this.grpcRequest ? headers.get("grpc-status") : undefined;
    let outlierCode = headers.status;
    if (rawGrpcStatus !== undefined) {
      const grpcStatus = parseGrpcStatus(rawGrpcStatus);
      outlierCode = grpcStatus !== undefined ? grpcToHttpStatus(grpcStatus) : 500;
    }
    host.outlierDetector.putHttpResponseCode(outlierCode);
    // Only a health-checked host can be failed this way: others need no header lookup.
    if (host.healthChecker !== NULL_HEALTH_CHECK_HOST_MONITOR && headers.get("x-envoy-immediate-health-check-fail") !== undefined) {
      host.healthChecker.setUnhealthy(UnhealthyType.ImmediateHealthCheckFail);
    }
    const retryState = this.retryState;
    if (retryState) {
      // A hedged attempt is not retried again; its response is only judged (Envoy: retried()).
      let couldNotRetry: boolean;
      if (request.hedged) {
        couldNotRetry = retryState.wouldRetryFromHeaders(headers);
      } else {
        const status = retryState.shouldRetryHeaders(headers);
        if (status === RetryStatus.Yes) {
          this.cluster!.stats.countRetriedResponse(headers.status);
          // Envoy's onUpstreamHeaders: a retried response is an rq_error of its host, a 409 too.
          request.charge.retried();
          // A complete response on a complete request leaves a reusable connection; anything else is cut.
          if (!endStream || !this.requestEnded) request.resetStream();
          else request.cleanup();
          this.removeAttempt(request);
          this.pendingRetries++;
          this.isTimeoutRetry = false;
          return;
        }
        this.flagRetryRefusal(status);
        couldNotRetry = status === RetryStatus.NoOverflow || status === RetryStatus.NoRetryLimitExceeded;
      }
      // A response worth a retry that cannot have one, while another attempt may still answer:
      // dropped (its stream reset, an rq_error of its host) to wait for the other.
      if (couldNotRetry && this.othersMayAnswer(request)) {
        request.charge.retried();
        request.resetStream();
        this.removeAttempt(request);
        return;
      }
      retryState.destroy();
      this.retryState = undefined;
      this.pendingRetries = 0;
    }
    this.settleHedge(request);
    // A redirect the policy covers is followed rather than passed on (the 3xx is not charged).
    const redirectPolicy = this.action?.internalRedirectPolicy;
    if (redirectPolicy?.redirectResponseCodes.has(headers.status) && this.setupRedirect(redirectPolicy, headers)) return;
    this.responseStarted = true;
    this.callbacks.trace("upstream_response_headers", String(headers.status));
    const info = this.callbacks.streamInfo;
    const now = approximateNow(this.server.runtime);
    info.upstreamResponseHeadersAt = now;
    // Envoy's router marks a proxied response so (Filter::onUpstreamHeaders): %RESPONSE_CODE_DETAILS% is via_upstream.
    info.responseCodeDetails = "via_upstream";
    // Envoy's chargeUpstreamCode: canary by the host or the upstream's x-envoy-upstream-canary;
    // nothing charged for a request the health_check filter passed through.
    this.canaryHost = host.canary || headers.get("x-envoy-upstream-canary") === "true";
    const clusterStats = info.healthCheck || !this.dynamicStats ? undefined : this.cluster?.stats;
    if (clusterStats) {
      clusterStats.countResponse(headers.status);
      clusterStats.countResponseCategories(headers.status, this.internalRequest, this.canaryHost);
    }
    this.chargeHostResponse(request, headers, endStream, clusterStats !== undefined);
    if (!this.suppressEnvoyHeaders) headers.set("x-envoy-upstream-service-time", String(Math.round(now - info.upstreamRequestStart)));
    // Cookies a hash policy made go out only with an upstream response (router.cc, onUpstreamHeaders).
    if (this.downstreamSetCookies) for (const cookie of this.downstreamSetCookies) headers.add("set-cookie", cookie);
    if (this.virtualHost?.includeAttemptCountInResponse) headers.set("x-envoy-attempt-count", String(this.attemptCount));
    const match = this.match;
    if (match) applyResponseHeaderMutations(headers, match, this.callbacks.routeConfig, this.callbacks, headers);
    if (endStream) this.finish();
    this.callbacks.encodeHeaders(headers, endStream);
  }

  onUpstreamData(request: UpstreamRequest, data: Uint8Array, endStream: boolean): void {
    if (this.done || request !== this.upstreamRequest) return;
    if (endStream) {
      // Envoy's onUpstreamData: a gRPC response that ends without trailers is an error.
      request.charge.dataEnd();
      this.finish();
    }
    this.callbacks.encodeData(data, endStream);
  }

  onUpstreamTrailers(request: UpstreamRequest, trailers: HeaderMap): void {
    if (this.done || request !== this.upstreamRequest) return;
    // Envoy's onUpstreamTrailers: the deferred gRPC verdict, by the trailers' grpc-status.
    request.charge.trailers(trailers);
    this.finish();
    this.callbacks.encodeTrailers(trailers);
  }

  onUpstreamUpgradeData(request: UpstreamRequest, data: Uint8Array, endStream: boolean): void {
    if (request !== this.upstreamRequest) return;
    this.callbacks.encodeUpgradeData(data, endStream);
  }

  /**
   * A WebSocket upgrade the upstream answered below 400 without a 101 (a 200, a 302):
   * Envoy's codec filter sends a local reply with the upstream's status and headers and no
   * body, details websocket_handshake_unsuccessful (upstream_codec_filter.cc). The attempt
   * is reset: its connection expects the upgrade's bytes and is never reused.
   */
  onUpstreamWebSocketRefused(request: UpstreamRequest, headers: ResponseHeaders): void {
    const copied: [string, string][] = [];
    // The body is not sent: its framing fields (and the connection's own) are the codec's to write.
    for (const [name, value] of headers.entries()) if (!LOCAL_REPLY_DROPS.has(name)) copied.push([name, value]);
    this.handshakeLocalReply(request, headers.status, "websocket_handshake_unsuccessful", undefined, copied);
  }

  /**
   * A 101 to an HTTP/2 client's WebSocket without the Sec-WebSocket-Accept its made-up key
   * asks for (none, two, or a wrong one): Envoy's codec filter answers 502 with no body,
   * flag UPE, details websocket_handshake_invalid_accept (upstream_codec_filter.cc); the
   * upstream's connection is closed. As that local reply, it charges no cluster stats and
   * tells outlier detection nothing (a later revision, proposed in envoyproxy/envoy#46959,
   * would make it a reset that retries and outlier detection see; not followed here).
   */
  onUpstreamWebSocketInvalidAccept(request: UpstreamRequest): void {
    this.handshakeLocalReply(request, 502, "websocket_handshake_invalid_accept", CoreResponseFlag.UpstreamProtocolError, undefined);
  }

  /** The codec filter's local reply on a WebSocket handshake: the attempt is reset (its connection expects the upgrade's bytes). */
  private handshakeLocalReply(request: UpstreamRequest, status: number, details: string, flag: ResponseFlag | undefined, headers: [string, string][] | undefined): void {
    if (this.done || !this.inFlight(request)) return;
    this.done = true;
    this.clearTimeout();
    this.removeAttempt(request);
    this.resetHedgedRequests(undefined);
    this.callbacks.sendLocalReply(status, "", details, flag, headers);
    request.resetStream();
  }

  /** @internal The upstream accepted a WebSocket upgrade: the route timeout stops (Envoy's disableRouteTimeoutForWebsocketUpgrade). */
  disableRouteTimeoutForWebsocketUpgrade(request: UpstreamRequest): void {
    if (request === this.upstreamRequest) this.clearTimeout();
  }

  // ---- internal redirects ----

  /**
   * Envoy's Filter::setupRedirect: follow the upstream's 3xx if the whole request (body
   * included, within the buffer limit) is here and the policy allows the Location; the
   * stream is recreated with the converted request. False: the 3xx goes downstream.
   */
  private setupRedirect(policy: InternalRedirectPolicyConfig, headers: ResponseHeaders): boolean {
    const stats = this.cluster!.stats;
    const location = headers.get("location");
    if (this.requestEnded && !this.requestBufferOverflowed && location !== undefined) {
      const converted = convertRequestHeadersForInternalRedirect(policy, this.match!.route.name, this.upstreamHeaders!, headers, location, this);
      if (converted.ok) {
        const body = converted.dropBody || this.bodyBytes === 0 ? undefined : concatBytes(this.body!, this.bodyBytes);
        const log = this.server.log.component("router");
        if (log.debugOn) log.debug(`${this.callbacks.logPrefix()}internal redirect to ${location}`);
        // This filter is destroyed in there (its upstream request reset); the new stream has its own router.
        if (this.callbacks.recreateStream(body)) {
          stats.upstreamInternalRedirectSucceededTotal.inc();
          return true;
        }
      } else if (converted.reason !== undefined) {
        this.stats.passthroughInternalRedirect[converted.reason].inc();
      }
    }
    stats.upstreamInternalRedirectFailedTotal.inc();
    return false;
  }

  /** @internal InternalRedirectTarget: route again with the request as it is now; the route's name, or undefined for none. */
  reroute(): string | undefined {
    this.callbacks.clearRouteCache();
    return this.callbacks.route?.route.name;
  }

  get streamInfo() {
    return this.callbacks.streamInfo;
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

  // Every attempt in flight is paused, not only the latest: a hedged attempt may still win,
  // and one paused as the latest must be resumed after it was hedged. Envoy's UpstreamRequest
  // each registers its own DownstreamWatermarkManager (addDownstreamWatermarkCallbacks), a new
  // one told the current state; here the router counts and applies it (onPoolReady).

  onAboveWriteBufferHighWatermark(): void {
    this.downstreamHighWatermarks++;
    this.readDisableAttempts(true);
  }

  onBelowWriteBufferLowWatermark(): void {
    if (this.downstreamHighWatermarks === 0) return;
    this.downstreamHighWatermarks--;
    this.readDisableAttempts(false);
  }

  /** Pause or resume the upstream read of each attempt in flight with a stream. */
  private readDisableAttempts(disable: boolean): void {
    this.upstreamRequest?.stream?.readDisable(disable);
    const hedged = this.hedgedRequests;
    if (hedged !== undefined) for (const request of hedged) request.stream?.readDisable(disable);
  }

  onDestroy(): void {
    this.retryState?.destroy();
    this.retryState = undefined;
    this.resetHedgedRequests(undefined);
    if (this.done && !this.upstreamRequest) return;
    this.done = true;
    this.clearTimeout();
    // An upstream stream still running when the downstream stream ends (client gone,
    // local reply) cannot be reused: its connection is closed.
    this.upstreamRequest?.resetStream();
    this.upstreamRequest = undefined;
  }

  // ---- timeouts ----

  /** The upstream response is complete. */
  private finish(): void {
    this.callbacks.trace("upstream_message_complete");
    this.done = true;
    this.clearTimeout();
    const request = this.upstreamRequest;
    this.upstreamRequest = undefined;
    request?.cleanup();
    // Envoy resets an upstream request whose response completed before the request
    // did: the connection still expects body bytes and can never be reused.
    if (!this.requestEnded) request?.resetStream();
    // The response's end came from the upstream: UpstreamTiming's last_upstream_rx_byte_received_
    // (UpstreamRequest sets it before the end goes down the filter chain).
    const now = approximateNow(this.server.runtime);
    this.callbacks.streamInfo.lastUpstreamRxByteReceived = now;
    // Envoy's onUpstreamComplete: no timing for a health check passed through; canary by the host alone.
    const stats = this.callbacks.streamInfo.healthCheck ? undefined : this.cluster?.stats;
    if (stats) {
      if (this.dynamicStats) {
        stats.upstreamRqCompleted.inc();
        const time = now - this.callbacks.streamInfo.upstreamRequestStart;
        stats.upstreamRqTime.record(time);
        stats.recordResponseTimeCategories(time, this.internalRequest, request?.host.canary === true);
      }
      if (this.staleConnectionRetried) stats.upstreamRqRetrySuccess.inc();
    }
  }

  private startTimeout(): void {
    const timeout = this.globalTimeoutMs;
    if (timeout <= 0 || this.timer !== undefined || this.done) return;
    this.timer = this.server.timers.create(this);
    this.timer.enable(timeout);
  }

  /** @internal The route timeout passed with the response incomplete (Envoy's onResponseTimeout: 504, or a reset once headers went out). */
  onTimer(): void {
    if (this.done) return;
    // Envoy's Filter::onResponseTimeout: ENVOY_STREAM_LOG(debug, "upstream timeout").
    const log = this.server.log.component("router");
    if (log.debugOn) log.debug(`${this.callbacks.logPrefix()}upstream timeout`);
    const request = this.upstreamRequest;
    this.upstreamRequest = undefined;
    const hedged = this.hedgedRequests;
    this.hedgedRequests = undefined;
    // Each attempt in flight (hedged ones and the latest) is timed out and charged here, as in
    // Envoy's onResponseTimeout loop; its onUpstreamTimeoutAbort charges nothing — so none
    // while a retry backs off with no attempt in flight.
    if (hedged) for (const attempt of hedged) this.timeOutAttempt(attempt);
    if (request) this.timeOutAttempt(request);
    this.retryState?.destroy();
    this.retryState = undefined;
    this.timeoutAbort("upstream_response_timeout", undefined);
  }

  /**
   * An attempt in flight when the route timeout passed (Envoy's onResponseTimeout, for each):
   * counted and reset; one still awaiting its response headers is charged the timeout's code.
   */
  private timeOutAttempt(request: UpstreamRequest): void {
    this.canaryHost = request.host.canary;
    // Counted per attempt in flight; none while a retry backs off.
    this.cluster?.stats.upstreamRqTimeout.inc();
    request.host.stats.rqTimeout++;
    // Outlier detection: a timeout, the code it amounts to when errors are not split — only
    // while the attempt awaited its headers (Envoy's onResponseTimeout, awaitingHeaders()):
    // a response that began was already reported with its own status, and a hedged attempt's
    // per-try timeout was reported when it passed.
    if (!this.responseStarted && !request.outlierTimeoutRecorded) request.host.outlierDetector.putResult(OutlierResult.LocalOriginTimeout, this.timeoutResponseCode);
    if (!this.responseStarted) this.chargeUpstreamAbort(this.timeoutResponseCode, request.host);
    request.resetStream();
  }

  /** @internal A per-try timeout (Envoy's onPerTryTimeout): ignored once the response started. */
  onPerTryTimeout(request: UpstreamRequest): void {
    if (this.done || request !== this.upstreamRequest || this.responseStarted) return;
    if (this.hedgeOnPerTryTimeout) {
      this.onSoftPerTryTimeout(request);
      return;
    }
    this.cluster!.stats.upstreamRqPerTryTimeout.inc();
    this.perTryTimedOut(request, "upstream_per_try_timeout");
  }

  /** @internal A per-try idle timeout: the attempt made no progress for per_try_idle_timeout. */
  onPerTryIdleTimeout(request: UpstreamRequest): void {
    if (this.done || request !== this.upstreamRequest) return;
    // Envoy's onPerTryTimeoutCommon: with hedging an idle attempt is hedged, not reset, too.
    if (this.hedgeOnPerTryTimeout) {
      this.onSoftPerTryTimeout(request);
      return;
    }
    this.cluster!.stats.upstreamRqPerTryIdleTimeout.inc();
    this.perTryTimedOut(request, "upstream_per_try_idle_timeout");
  }

  /**
   * A per-try timeout with hedge_on_per_try_timeout (Envoy's onSoftPerTryTimeout, router.cc):
   * the attempt is not reset and no per-try timeout stat is counted; outlier detection hears
   * of the timeout now (the attempt may still answer 2xx), and while retries are left a retry
   * goes out beside it after the usual back-off, whatever retry_on says. With none left the
   * attempt simply goes on (URX, or UO for the retries circuit breaker), up to the route timeout.
   */
  private onSoftPerTryTimeout(request: UpstreamRequest): void {
    request.host.outlierDetector.putResult(OutlierResult.LocalOriginTimeout, this.timeoutResponseCode);
    request.outlierTimeoutRecorded = true;
    const retryState = this.retryState;
    // A retry state with no condition (retriable_request_headers matched none) kept no body to replay.
    if (this.responseStarted || !retryState?.enabled) return;
    const status = retryState.shouldHedgeRetryPerTryTimeout();
    if (status !== RetryStatus.Yes) {
      this.flagRetryRefusal(status);
      return;
    }
    this.pendingRetries++;
    request.hedged = true;
    (this.hedgedRequests ??= []).push(request);
    this.upstreamRequest = undefined;
    this.isTimeoutRetry = true;
  }

  /**
   * Envoy's FilterUtility::finalHedgingParams: the route's (else the virtual host's)
   * hedge_on_per_try_timeout, which an x-envoy-hedge-on-per-try-timeout of "true" or "false"
   * overrides (the connection manager strips it from external requests); consumed either way.
   */
  private finalHedgingParams(policy: HedgePolicyConfig | undefined, headers: RequestHeaders): void {
    let hedge = policy?.hedgeOnPerTryTimeout ?? false;
    const header = headers.get("x-envoy-hedge-on-per-try-timeout");
    if (header !== undefined) {
      if (header === "true") hedge = true;
      else if (header === "false") hedge = false;
      headers.remove("x-envoy-hedge-on-per-try-timeout");
    }
    this.hedgeOnPerTryTimeout = hedge;
  }

  /** The attempt is over for the router: it is no longer the latest or among the hedged. */
  private removeAttempt(request: UpstreamRequest): void {
    if (request === this.upstreamRequest) {
      this.upstreamRequest = undefined;
      return;
    }
    const hedged = this.hedgedRequests;
    const i = hedged?.indexOf(request) ?? -1;
    if (i >= 0) hedged!.splice(i, 1);
  }

  /** The attempt is one the router still waits on (the latest, or a hedged one). */
  private inFlight(request: UpstreamRequest): boolean {
    return request === this.upstreamRequest || (this.hedgedRequests !== undefined && this.hedgedRequests.includes(request));
  }

  /** Another attempt, or a scheduled retry, may still answer (Envoy: numRequestsAwaitingHeaders() > 0 || pending_retries_ > 0). */
  private othersMayAnswer(request: UpstreamRequest): boolean {
    if (this.pendingRetries > 0) return true;
    if (this.upstreamRequest !== undefined && this.upstreamRequest !== request) return true;
    return this.hedgedRequests !== undefined && this.hedgedRequests.some((other) => other !== request);
  }

  /** Reset the hedged attempts but `winner` (Envoy's resetOtherUpstreams); all of them when it is undefined. */
  private resetHedgedRequests(winner: UpstreamRequest | undefined): void {
    const hedged = this.hedgedRequests;
    if (hedged === undefined) return;
    this.hedgedRequests = undefined;
    for (const request of hedged) {
      if (request === winner) continue;
      request.resetStream();
    }
  }

  /**
   * A hedged race is won (Envoy's onUpstreamHeaders: resetOtherUpstreams, and the stream's
   * upstream info becomes the winner's): the others are reset, and the winner's host,
   * address, TLS and start time are what the access log and the response headers report.
   */
  private settleHedge(winner: UpstreamRequest): void {
    if (this.hedgedRequests === undefined) return;
    this.resetHedgedRequests(winner);
    const latest = this.upstreamRequest;
    if (latest !== undefined && latest !== winner) {
      latest.resetStream();
    }
    this.upstreamRequest = winner;
    const info = this.callbacks.streamInfo;
    info.upstreamHost = winner.host.toString();
    info.upstreamHostMetadata = winner.host.metadata;
    info.upstreamRequestStart = winner.startedAt;
    // Upstream info is per attempt in Envoy (UpstreamRequest's stream info): a failed hedge's
    // connect error or request timing is not the winner's.
    info.upstreamTransportFailureReason = winner.transportFailureReason;
    info.lastUpstreamTxByteSent = winner.lastUpstreamTxByteSent;
    const stream = winner.stream;
    if (stream !== undefined) {
      info.upstreamTls = stream.tls;
      info.upstreamLocalAddress = stream.localAddress;
    }
  }

  /** Envoy's onPerTryTimeoutCommon: the attempt is reset, and retried as a LocalReset when the policy allows. */
  private perTryTimedOut(request: UpstreamRequest, details: string): void {
    this.canaryHost = request.host.canary;
    request.host.stats.rqTimeout++;
    // Outlier detection (Envoy's onPerTryTimeoutCommon): a local-origin timeout.
    request.host.outlierDetector.putResult(OutlierResult.LocalOriginTimeout, this.timeoutResponseCode);
    request.resetStream();
    if (this.maybeRetryReset(StreamResetReason.LocalReset, request, true)) return;
    this.upstreamRequest = undefined;
    // A per-try idle timeout may cut a response under way (onPerTryTimeoutCommon charges it too).
    if (this.responseStarted) this.chargeAbortAfterResponseStarted(request);
    this.timeoutAbort(details, request.host);
  }

  /**
   * Envoy's chargeUpstreamAbort once the response started (router.cc): only a gRPC call whose
   * success waited for its trailers is charged — an rq_error of its host, and
   * rq_reset_after_downstream_response_started. Any other response was judged by its headers.
   */
  private chargeAbortAfterResponseStarted(request: UpstreamRequest): void {
    if (!request.charge.abortAfterResponseStarted()) return;
    this.stats.counters.rq_reset_after_downstream_response_started.inc();
  }

  /**
   * The host's verdict on response headers the router passes on (Envoy's onUpstreamHeaders:
   * chargeUpstreamCode, then handleNon5xxResponseHeaders). A 5xx is an rq_error when dynamic
   * stats are charged; anything else an rq_success — but a gRPC call's waits for its
   * grpc-status: in these headers if they end the stream (trailers-only), else in the
   * trailers (grpcRqSuccessDeferred). Charged here, not by the pool: a response cut after its
   * headers stays the success it was counted (Envoy charges an abort after the response
   * started only to a gRPC call still waiting, chargeUpstreamAbort).
   */
  private chargeHostResponse(request: UpstreamRequest, headers: ResponseHeaders, endStream: boolean, dynamicStatsCharged: boolean): void {
    request.charge.headers(headers, endStream, dynamicStatsCharged);
  }

  /**
   * Envoy's onUpstreamTimeoutAbort: 504 "upstream request timeout" (or the alternative 204), or
   * a reset once the response started. `charge`: the timed-out attempt is charged the code here
   * (a per-try timeout, Envoy's onPerTryTimeoutCommon); the route timeout charged its attempts.
   */
  private timeoutAbort(details: string, charge: Host | undefined): void {
    this.done = true;
    this.clearTimeout();
    this.retryState?.destroy();
    const info = this.callbacks.streamInfo;
    info.setResponseFlag(CoreResponseFlag.UpstreamRequestTimeout);
    if (this.responseStarted) {
      // Envoy's onUpstreamAbort once the response started: the details say why it was cut.
      info.responseCodeDetails = details;
      this.callbacks.resetStream();
      return;
    }
    const body = this.timeoutResponseCode === 504 ? "upstream request timeout" : "";
    if (charge) this.chargeUpstreamAbort(this.timeoutResponseCode, charge);
    this.callbacks.sendLocalReply(this.timeoutResponseCode, body, details, CoreResponseFlag.UpstreamRequestTimeout, this.responseExtraHeaders());
  }

  /**
   * Envoy's Filter::chargeUpstreamAbort: a request the upstream never answered (connect
   * failure, reset, overflow, timeout) counts as the cluster's response with the local
   * reply's code — upstream_rq_<code>, upstream_rq_<N>xx, upstream_rq_completed — as an
   * answered one does (CodeStatsImpl::chargeBasicResponseStat).
   */
  private chargeUpstreamAbort(code: number, host: Host | undefined): void {
    // The host's rq_error: a 5xx with the dynamic stats (chargeUpstreamCode), and a code below
    // 500 (a timeout's 204, say) always — "reset by backend or timeout before starting response".
    const charged = !this.callbacks.streamInfo.healthCheck && this.dynamicStats;
    if (host !== undefined) chargeHostAbort(host, code, charged);
    const stats = this.cluster?.stats;
    if (stats === undefined || !charged) return;
    stats.countResponse(code);
    stats.upstreamRqCompleted.inc();
    stats.countResponseCategories(code, this.internalRequest, this.canaryHost);
  }

  private clearTimeout(): void {
    this.timer?.disable();
  }

  // ---- mirroring ----

  /** The mirror policies that apply (Envoy's shouldShadow: runtime_fraction, by a random draw); none for CONNECT. */
  private chooseShadowPolicies(policies: readonly RequestMirrorPolicyConfig[] | undefined, headers: RequestHeaders): void {
    if (!policies || headers.method === "CONNECT") return;
    const runtime = this.server.layeredRuntime;
    for (const policy of policies) {
      if (!runtime.featureEnabled(policy.fraction)) continue;
      (this.shadowPolicies ??= []).push(policy);
    }
    if (this.shadowPolicies) this.shadowHeaders = copyRequestHeaders(headers);
  }

  /** Send each mirror its copy of the complete request (Envoy's maybeDoShadowing). */
  private maybeDoShadowing(): void {
    const policies = this.shadowPolicies!;
    const headers = this.shadowHeaders!;
    this.shadowPolicies = undefined;
    this.shadowHeaders = undefined;
    let writer = shadowWriters.get(this.server);
    if (!writer) shadowWriters.set(this.server, (writer = new ShadowWriter(this.server)));
    const body = this.body ?? NOTHING_BUFFERED;
    for (let i = 0; i < policies.length; i++) {
      const policy = policies[i]!;
      const cluster = policy.cluster ?? this.upstreamHeaders!.get(policy.clusterHeader!);
      // A cluster_header the request lacks: no mirror for this policy.
      if (!cluster) continue;
      const message = { headers: i === policies.length - 1 ? headers : copyRequestHeaders(headers), body, trailers: this.trailers };
      writer.shadow(cluster, message, this.globalTimeoutMs, policy.disableShadowHostSuffixAppend);
    }
    // The body stays only while a retry or a redirect may still replay it (or the attempt still waits for its connection).
    if (!this.retryState?.enabled && this.action?.internalRedirectPolicy === undefined) {
      this.retainBody = false;
      if (this.upstreamRequest?.stream) {
        this.body = undefined;
        this.bodyBytes = 0;
      }
    }
  }

  // ---- helpers ----

  /** Headers every local reply of a forwarded request carries: x-envoy-attempt-count with include_attempt_count_in_response. */
  private responseExtraHeaders(): [string, string][] | undefined {
    return this.virtualHost?.includeAttemptCountInResponse ? [["x-envoy-attempt-count", String(this.attemptCount)]] : undefined;
  }

  /**
   * LoadBalancerContext: the route entry's metadata_match criteria, with the stream's
   * `envoy.lb` dynamic metadata merged over them (Envoy's Router::Filter::metadataMatchCriteria).
   */
  metadataMatchCriteria(): MetadataMatchCriteria | undefined {
    const dynamic = this.callbacks.streamInfo.dynamicMetadata?.[ENVOY_LB];
    if (dynamic === undefined) return this.routeMetadataMatch;
    const merged = new Map(this.routeMetadataMatch ?? []);
    for (const [name, value] of Object.entries(dynamic)) merged.set(name, value);
    return [...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /**
   * The request as the upstream sees it, in Envoy's order (RouteEntryImplBase::finalizeRequestHeaders):
   * the route's header mutations, then the host rewrite (so host_rewrite_header sees
   * headers they added), then the path rewrite (so host_rewrite_path_regex reads the
   * path as it came).
   */
  private buildUpstreamHeaders(headers: RequestHeaders, match: RouteMatch, action: ForwardAction, retryPolicy: RetryPolicyConfig | undefined): RequestHeaders {
    // Before the route's mutations, which may remove x-envoy-expected-rq-timeout-ms (Envoy's finalTimeout runs first too).
    this.finalTimeout(headers, action, retryPolicy);
    this.grpcRequest = isGrpcRequestHeaders(headers);
    applyRequestHeaderMutations(headers, match, this.callbacks.routeConfig, this.callbacks);
    const host = rewriteHost(headers, action);
    if (host) updateAuthority(headers, host, action.appendXForwardedHost === true);
    const rewritten = rewritePath(headers.path, match.route.match, action);
    if (rewritten !== headers.path) {
      // Envoy's finalizeRequestHeaders(…, insert_envoy_original_path = !suppress_envoy_headers).
      if (!this.suppressEnvoyHeaders) headers.set("x-envoy-original-path", headers.path);
      headers.path = rewritten;
    }
    return headers;
  }

  /**
   * The route timeout and per-try timeouts (Envoy's FilterUtility::finalTimeout):
   * x-envoy-upstream-rq-timeout-ms and x-envoy-upstream-rq-per-try-timeout-ms override the
   * route's (the connection manager strips them from external requests), and are consumed;
   * a per-try timeout not shorter than the route timeout is none.
   */
  private finalTimeout(headers: RequestHeaders, action: ForwardAction, retryPolicy: RetryPolicyConfig | undefined): void {
    let global = action.timeoutMs;
    // max_grpc_timeout (not with max_stream_duration's "new timeouts"): a gRPC request's
    // timeout is its grpc-timeout (none: infinite) less grpc_timeout_offset, capped (0: no cap).
    this.grpcTimeoutFromRoute = action.maxGrpcTimeoutMs !== undefined && action.maxStreamDuration === undefined && isGrpcRequestHeaders(headers);
    if (this.grpcTimeoutFromRoute) {
      const max = action.maxGrpcTimeoutMs!;
      let grpcTimeout = getGrpcTimeoutMs(headers) ?? 0;
      const offset = action.grpcTimeoutOffsetMs;
      if (offset !== undefined && offset < grpcTimeout) grpcTimeout -= offset;
      if (max !== 0 && (grpcTimeout === 0 || grpcTimeout > max)) grpcTimeout = max;
      global = grpcTimeout;
    }
    const headerTimeout = headers.get("x-envoy-upstream-rq-timeout-ms");
    if (headerTimeout !== undefined) {
      global = parseUnsigned(headerTimeout) ?? global;
      headers.remove("x-envoy-upstream-rq-timeout-ms");
    }
    let perTry = retryPolicy?.perTryTimeoutMs ?? 0;
    const headerPerTry = headers.get("x-envoy-upstream-rq-per-try-timeout-ms");
    if (headerPerTry !== undefined) {
      perTry = parseUnsigned(headerPerTry) ?? perTry;
      headers.remove("x-envoy-upstream-rq-per-try-timeout-ms");
    }
    if (perTry >= global && global !== 0) perTry = 0;
    if (headers.has("x-envoy-upstream-rq-timeout-alt-response")) {
      this.timeoutResponseCode = 204;
      headers.remove("x-envoy-upstream-rq-timeout-alt-response");
    }
    this.globalTimeoutMs = global;
    this.perTryTimeoutMs = perTry;
    this.perTryIdleTimeoutMs = retryPolicy?.perTryIdleTimeoutMs ?? 0;
    this.setTimeoutHeaders(headers, 0);
  }

  /** x-envoy-expected-rq-timeout-ms: the per-try timeout, else the route's, never past what is left of it (Envoy's setTimeoutHeaders). */
  private setTimeoutHeaders(headers: RequestHeaders, elapsedMs: number): void {
    const global = this.globalTimeoutMs;
    // With hedging an attempt is not cut at its per-try timeout: it may use the whole route timeout.
    let expected = this.perTryTimeoutMs > 0 && !this.hedgeOnPerTryTimeout ? this.perTryTimeoutMs : global;
    if (expected <= 0) return;
    if (global > 0) expected = elapsedMs >= global ? 1 : Math.min(expected, global - elapsedMs);
    // Envoy's finalTimeout(insert_envoy_expected_request_timeout_ms = !suppress_envoy_headers).
    if (!this.suppressEnvoyHeaders) headers.set("x-envoy-expected-rq-timeout-ms", String(Math.round(expected)));
    // The upstream gRPC server learns the time it really has (a per-try timeout included).
    if (this.grpcTimeoutFromRoute) headers.set("grpc-timeout", toGrpcTimeout(Math.round(expected)));
  }

  private redirect(redirect: RedirectAction, headers: RequestHeaders): void {
    const location = redirectLocation(redirect, headers, this.match!.route.match);
    this.localReplyWithRouteHeaders(redirect.responseCode, "", "direct_response", [["location", location]]);
  }

  /** Local replies from the route (direct_response, redirect) still get the route's response headers. */
  private localReplyWithRouteHeaders(status: number, body: string, details: string, extra: [string, string][] = []): void {
    const headers = new HeaderMap();
    for (const [name, value] of extra) headers.add(name, value);
    applyResponseHeaderMutations(headers, this.match!, this.callbacks.routeConfig, this.callbacks, undefined);
    this.callbacks.sendLocalReply(status, body, details, undefined, headers.entries());
  }
}
