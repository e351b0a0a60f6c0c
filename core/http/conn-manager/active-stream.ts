import { GrpcStatus } from "../grpc-common.ts";
import type { SocketAddress, TlsSession } from "../../port.ts";
import { mutateTracingRequestHeader, TraceReason, traceReason } from "./tracing-decision.ts";
import { zipkinModule } from "../../tracing/zipkin-loader.ts";
import { openTelemetryModule } from "../../tracing/opentelemetry-loader.ts";
import type { CustomTagStream } from "../../tracing/custom-tags.ts";
import { skyWalkingModule } from "../../tracing/skywalking-loader.ts";
import { datadogModule } from "../../tracing/datadog-loader.ts";
import { approximateNow } from "../../event/dispatch-scope.ts";
import type { RouteConfiguration } from "../../config/bootstrap.ts";
import type { RequestDecoder, ResponseEncoder } from "../codec/codec.ts";
import type { ResponseFlag } from "../filter.ts";
import { CoreResponseFlag } from "../../stream-info/response-flags.ts";
import type { HeaderMap } from "../header-map.ts";
import { RequestHeaders, ResponseHeaders } from "../message.ts";
import type { RouteMatch, RouteTable } from "../route/route-table.ts";
import { resolveRouteCluster } from "../route/route-cluster.ts";
import { StreamInfo } from "../stream-info.ts";
import { createFilterChain } from "../filters/http-filter-registry.ts";
import { anyFilterDisabling, FilterManager, type FilterManagerCallbacks, filterDisabled } from "./filter-manager.ts";
import type { ConnectionManagerContext } from "./connection-manager-context.ts";
import { mutateRequestHeaders, mutateResponseHeaders } from "./proxy-headers.ts";
import { checkHeadersWithUnderscores, UNEXPECTED_UNDERSCORE } from "./headers-with-underscores.ts";
import { applyPathRules, PATH_NORMALIZATION_FAILED } from "./path-normalization.ts";
import { stripPortFromHost } from "./host-normalization.ts";
import { localReplyFor, type LocalReplyStream, type RewrittenLocalReply } from "./local-reply.ts";
import { StreamAccessLogContext } from "./stream-access-log-context.ts";
import type { StreamTimers, TimedStream } from "./stream-timers.ts";
import { streamDurationMs } from "./stream-duration.ts";
import type { TraceEventKind } from "../../trace/tracer.ts";
import type { AccessLogContext } from "../../access-log/context.ts";
import { streamLogPrefix } from "../../log.ts";

/**
 * One request/response exchange on a downstream connection (Envoy's
 * `ConnectionManagerImpl::ActiveStream`): applies the HCM's request header rules, picks
 * the route, hands the request to its filters (filter-manager.ts: the decoder filters,
 * the router last, and the encoder filters), sends the response the filters produce with
 * the HCM's response header rules, and owns the stream's timeouts.
 *
 * It is its own filter manager and that manager's callbacks, as Envoy's ActiveStream
 * holds its DownstreamFilterManager by value: one object per stream, not two (the
 * reasons are in filter-manager.ts). The FilterManager methods it overrides — the
 * codec's decode* events, sendLocalReply, destroy — do the HCM's part, then the manager's.
 */
export class ActiveStream extends FilterManager implements RequestDecoder, FilterManagerCallbacks, TimedStream, LocalReplyStream {
  readonly streamInfo: StreamInfo;
  /** The route as last resolved (Envoy's cached_route_); `routeStale` after clearRouteCache until next read. */
  private cachedRoute: RouteMatch | undefined;
  private routeStale = false;
  /** The route's decorator operation, sent back as x-envoy-decorator-operation (HCM tracing only). */
  private decoratedOperation: string | undefined;
  /** The HCM's trace decision for this request (tracing configured). */
  private traceReason = TraceReason.NotTraceable;
  private requestComplete = false;
  private responseComplete = false;
  /** The connection's stream timers, once this stream armed them. */
  private timers: StreamTimers | undefined;
  private idleTimeoutMs = 0;
  private lastActivity = 0;
  /** armTimers ran (the first route's timeouts); a route resolved again re-arms from here. */
  private timersArmed = false;
  /**
   * When the request began (its first byte): max_stream_duration counts from here. Taken at
   * construction (the connection's value is the newest stream's on HTTP/2); a stream an
   * internal redirect recreates keeps the first pass's (Envoy's setFromForRecreateStream).
   */
  private beganAt: number;
  /**
   * A re-resolved route's idle_timeout, applied at the next stream event: Envoy's
   * refreshIdleTimeout only stores it, and the armed timer keeps its deadline until
   * resetIdleTimer runs (the end of decodeHeaders, or a later event).
   */
  private pendingIdleTimeoutMs: number | undefined = undefined;
  private upgrade = false;
  /** Made by an internal redirect (Envoy's is_internally_created_): the HCM sanitized the request on the first pass. */
  private internallyCreated = false;
  /** This stream's number on its connection, for traces. */
  readonly id: number;
  /** Set at the headers when the connection is traced and the path passes the trace's filter. */
  traced = false;
  /** The request's head reached the stream (false for a local reply to bytes that never made a request). */
  private requestHeadersDecoded = false;
  /** What went downstream, for access logs. */
  private sentResponseHeaders: ResponseHeaders | undefined;
  private sentResponseTrailers: HeaderMap | undefined;

  /** The route table as the stream began (Envoy's snapped route config): an RDS update applies to new streams. */
  private readonly routes: RouteTable;

  constructor(
    private readonly cm: ConnectionManagerContext,
    private readonly encoder: ResponseEncoder,
    /** The request's head (an empty one for a local reply before the head was complete). */
    public requestHeaders: RequestHeaders,
  ) {
    // Envoy: the stream's buffer limit is its connection's (the listener's per_connection_buffer_limit_bytes).
    super(undefined, cm.connection.bufferLimit);
    const runtime = cm.server.runtime;
    this.streamInfo = new StreamInfo(approximateNow(runtime));
    this.streamInfo.downstreamConnection = cm.connection;
    this.id = cm.nextStreamId();
    this.beganAt = cm.requestBeganAt;
    const stats = cm.stats;
    stats.downstreamRqTotal.inc();
    cm.rqProtocolTotal.inc();
    stats.downstreamRqActive.inc();
    this.routes = cm.routeTable;
    createFilterChain(cm.config.httpFilters, cm.server, this, cm.config);
  }

  get routeConfig(): RouteConfiguration {
    return this.routes.config;
  }

  /**
   * @internal FilterManagerCallbacks: Envoy's ActiveStream::recreateStream. This stream ends
   * (logged, its filters destroyed) without a response, and a new stream on the same
   * downstream stream takes the request as it is now through the whole filter chain again,
   * `body` as its complete body (the router followed a redirect only once it had all of it).
   */
  recreateStream(body: Uint8Array | undefined): boolean {
    if (this.destroyed) return false;
    const headers = this.requestHeaders;
    this.destroy();
    const next = new ActiveStream(this.cm, this.encoder, headers);
    this.cm.replaceStream(this, next, this.encoder);
    next.internallyCreated = true;
    next.beganAt = this.beganAt;
    next.streamInfo.setFromForRecreateStream(this.streamInfo);
    next.decodeHeaders(headers, body === undefined);
    if (body !== undefined) next.decodeData(body, true);
    return true;
  }

  /**
   * The stream's route, resolved again first when a filter cleared the cache since the last
   * read (Envoy's ActiveStreamFilterBase::route() → refreshCachedRoute): the request as it is
   * then is matched, and the route's cluster (a cluster specifier plugin's choice) chosen once.
   */
  get route(): RouteMatch | undefined {
    if (this.routeStale) this.refreshCachedRoute();
    return this.cachedRoute;
  }

  set route(route: RouteMatch | undefined) {
    this.cachedRoute = route;
    this.routeStale = false;
  }

  /**
   * @internal FilterManagerCallbacks: a filter changed the request. As Envoy's
   * ActiveStream::clearRouteCache (source/common/http/conn_manager_impl.cc), the route is only
   * marked stale: it is resolved when next read, so clearing it N times runs the route's
   * cluster specifier once, and headers changed after the clear are what routing sees.
   */
  clearRouteCache(): void {
    this.routeStale = true;
  }

  /**
   * Envoy's refreshCachedRoute → setRoute: the route matched again, its cluster chosen, and
   * (refreshDurationTimeout, refreshIdleTimeout) its max_stream_duration and idle_timeout
   * re-armed. Only a cleared cache comes here: a stream no filter clears pays nothing.
   */
  private refreshCachedRoute(): void {
    this.routeStale = false;
    this.cachedRoute = this.routes.route(this.requestHeaders, this.streamInfo.dynamicMetadata);
    this.streamInfo.routeName = this.cachedRoute?.route.name ?? "";
    resolveRouteCluster(this.streamInfo, this.cachedRoute, this.requestHeaders, this.cm.server.runtime);
    // The first route's timeouts are armed before any filter runs (armTimers); once the
    // response is complete there is nothing left to time.
    if (this.timersArmed && !this.destroyed && !this.responseComplete) {
      this.refreshDurationTimeout();
      this.refreshIdleTimeout();
    }
  }

  get downstreamRemoteAddress(): SocketAddress | undefined {
    return this.cm.connection.remoteAddress;
  }

  get downstreamLocalAddress(): SocketAddress | undefined {
    return this.cm.connection.localAddress;
  }

  get downstreamDirectRemoteAddress(): SocketAddress | undefined {
    return this.cm.connection.directRemoteAddress;
  }

  get downstreamTls(): TlsSession | undefined {
    return this.cm.connection.socket.tls;
  }

  // ---- RequestDecoder: the codec's events ----

  override decodeHeaders(headers: RequestHeaders, endStream: boolean): void {
    this.requestHeaders = headers;
    this.requestHeadersDecoded = true;
    this.touch();
    const tracer = this.cm.connection.trace;
    if (tracer?.on && tracer.admitPath(headers.path)) {
      this.traced = true;
      this.trace("headers_complete", `${headers.method} ${headers.path} ${headers.authority}`);
      if (endStream) this.trace("message_complete");
    }
    const config = this.cm.config;
    if (this.internallyCreated) return this.decodeRecreatedHeaders(headers, endStream);
    // Envoy's HTTP/1 codec checks header names first; a refusal is a protocol error.
    if (config.headersWithUnderscoresAction !== undefined && !checkHeadersWithUnderscores(headers, config.headersWithUnderscoresAction, this.cm.stats)) {
      return this.cm.onCodecError({ status: 400, details: UNEXPECTED_UNDERSCORE, reason: "header name contains underscores" });
    }
    // envoy.overload_actions.stop_accepting_requests: refused as soon as the head is in,
    // with the action's state as the probability (ActiveStream::decodeHeaders).
    const shed = this.cm.server.overload.stopAcceptingRequests.value;
    if (shed > 0 && (shed >= 1 || this.cm.server.runtime.random() < shed)) {
      if (endStream) this.onRequestEnd();
      this.cm.stats.downstreamRqOverloadClose.inc();
      return this.sendLocalReply(503, "envoy overloaded", "overload", "OM");
    }
    if (headers.protocol === "HTTP/1.0") {
      // Envoy rejects HTTP/1.0 unless http_protocol_options.accept_http_10: 426.
      if (!config.http1?.acceptHttp10) return this.sendLocalReply(426, "Upgrade Required", "low_version");
      // Host is optional in HTTP/1.0; default_host_for_http_10 stands in for it (Envoy's codec_impl.cc).
      if (!headers.authority && config.http1?.defaultHostForHttp10) headers.authority = config.http1.defaultHostForHttp10;
    }
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400 (so is an HTTP/1.0 one: routing needs it).
    if (!headers.authority) return this.sendLocalReply(400, "Bad Request", "missing_host_header");
    // An Upgrade, or a CONNECT (Envoy's upgrade type "CONNECT"), is allowed or refused once
    // the route is known (below).
    const upgradeType = headers.method === "CONNECT" ? "connect" : headers.upgrade ? headers.get("upgrade")?.toLowerCase() : undefined;
    // The scheme is the connection's (https over TLS) until mutateRequestHeaders derives an
    // HTTP/1 request's from x-forwarded-proto; an absolute-form target's stays.
    if (this.cm.connection.socket.tls !== undefined && !headers.schemeFromTarget) headers.scheme = "https";
    // The path's checks come before the headers are touched, in ActiveStream::decodeHeaders'
    // order (conn_manager_impl.cc). A CONNECT has no :path there (its target is the authority).
    if (headers.method !== "CONNECT" && !this.checkPath(headers)) return;
    // normalize_path, merge_slashes, path_with_escaped_slashes_action: routing and the upstream see the result.
    if (config.pathNormalization !== undefined && !applyPathRules(headers, config.pathNormalization, this.cm.stats, this)) return;
    this.streamInfo.downstreamRemoteIp = mutateRequestHeaders(headers, this.cm, upgradeType !== undefined);
    const tracing = config.tracing;
    if (tracing !== undefined) this.cm.stats.tracing!.charge((this.traceReason = mutateTracingRequestHeader(headers, tracing, this.cm.server.layeredRuntime)));
    if (config.stripPortMode !== undefined) stripPortFromHost(headers, config.stripPortMode === "any" ? undefined : this.cm.connection.localAddress?.port);
    if (endStream) this.onRequestEnd();
    // Envoy answers Expect: 100-continue itself and drops it (proxy_100_continue: false).
    if (headers.get("expect")?.toLowerCase() === "100-continue") {
      headers.remove("expect");
      this.encoder.encodeHeaders(new ResponseHeaders(100), false);
    }
    this.routeAndDecode(headers, endStream, upgradeType);
  }

  /**
   * Envoy's checks on a request's path before any rule reads it (ActiveStream::decodeHeaders
   * and ConnectionManagerUtility::maybeNormalizePath): only origin-form paths are served, so
   * `OPTIONS *` (or an empty path) gets 404 with no body and is never routed
   * (`downstream_rq_non_relative_path`, details `absolute_path`); a path with a `#fragment`,
   * which RFC 3986 §3.5 / RFC 9112 §3.2 keep out of a request target, gets 400 with no body
   * (`downstream_rq_failed_path_normalization`: Envoy's default runtime guard
   * http_reject_path_with_fragment). Returns false when the stream was answered.
   */
  private checkPath(headers: RequestHeaders): boolean {
    const path = headers.path;
    if (path === "") {
      this.sendLocalReply(404, "", "missing_path");
      return false;
    }
    if (path.charCodeAt(0) !== 47 /* / */) {
      this.cm.stats.downstreamRqNonRelativePath.inc();
      this.sendLocalReply(404, "", "absolute_path");
      return false;
    }
    if (path.includes("#")) {
      this.cm.stats.downstreamRqFailedPathNormalization.inc();
      this.sendLocalReply(400, "", PATH_NORMALIZATION_FAILED);
      return false;
    }
    return true;
  }

  /**
   * The second pass of an internal redirect (Envoy's decodeHeaders with
   * is_internally_created_): the request was checked and its headers sanitized on the
   * first pass; it is routed and filtered again.
   */
  private decodeRecreatedHeaders(headers: RequestHeaders, endStream: boolean): void {
    // The first pass marked the decision in x-request-id.
    if (this.cm.config.tracing !== undefined) this.traceReason = traceReason(headers.get("x-request-id"));
    if (endStream) this.onRequestEnd();
    this.routeAndDecode(headers, endStream, undefined);
  }

  /** Route the request, then hand it to the filters. */
  private routeAndDecode(headers: RequestHeaders, endStream: boolean, upgradeType: string | undefined): void {
    const config = this.cm.config;
    this.route = this.routes.route(headers, this.streamInfo.dynamicMetadata);
    this.streamInfo.routeName = this.route?.route.name ?? "";
    resolveRouteCluster(this.streamInfo, this.route, headers, this.cm.server.runtime);
    // typed_per_filter_config FilterConfig `disabled`: those filters leave this stream's chain.
    const match = this.route;
    if (match !== undefined && anyFilterDisabling(match, config.routeConfig)) this.removeFilters((name) => filterDisabled(match, config.routeConfig, name) === true);
    if (upgradeType !== undefined) {
      // Envoy's createUpgradeFilterChain: the route's upgrade_configs first (enabled: false
      // refuses, an entry enables even what the HCM does not list), then the HCM's; an
      // upgrade neither allows is refused with 403.
      const routeAction = this.route?.route.action;
      const onRoute = routeAction?.type === "route" ? routeAction.route.upgrades?.get(upgradeType) : undefined;
      if (onRoute === false || (onRoute === undefined && !this.cm.config.upgradeTypes.includes(upgradeType))) {
        return this.sendLocalReply(403, "", "upgrade_failed");
      }
      this.upgrade = true;
    }
    // scheme_header_transformation.match_upstream: the router sets the scheme from the
    // cluster of the route it forwards on (Envoy's StreamInfo::shouldSchemeMatchUpstream).
    if (config.schemeMatchUpstream) this.streamInfo.shouldSchemeMatchUpstream = true;
    if (this.traced) this.trace("route", this.route ? this.route.route.name || this.route.virtualHost.name : "no route");
    if (config.tracing !== undefined) this.decorate(headers, config.tracing.operationName);
    this.armTimers();
    super.decodeHeaders(headers, endStream);
    // Envoy resets the idle timer once the filters have had the headers (ActiveStream::
    // decodeHeaders' last step): a route a filter chose there times from here.
    if (this.pendingIdleTimeoutMs !== undefined) this.resetIdleTimer();
  }

  override decodeData(data: Uint8Array, endStream: boolean): void {
    if (this.destroyed) return;
    this.touch();
    this.streamInfo.bytesReceived += data.byteLength;
    if (endStream) this.onRequestEnd();
    super.decodeData(data, endStream);
  }

  override decodeTrailers(trailers: HeaderMap): void {
    if (this.destroyed) return;
    this.touch();
    this.onRequestEnd();
    // Through every decoder filter to the router, which ends the upstream request with them.
    super.decodeTrailers(trailers);
  }

  override decodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    if (this.destroyed) return;
    this.touch();
    this.streamInfo.bytesReceived += data.byteLength;
    super.decodeUpgradeData(data, endStream);
  }

  /**
   * Envoy's ActiveStream::traceRequest, as far as it works without a tracer. Egress (an
   * OUTBOUND listener): the route's decorator operation goes upstream in the request.
   * Ingress: it is to be returned in the response, unless the request names its own
   * operation in x-envoy-decorator-operation, which is removed either way so it does not
   * reach the service.
   */
  private decorate(headers: RequestHeaders, operationName: "ingress" | "egress"): void {
    this.decoratedOperation = this.route?.route.decoratorOperation;
    const span = this.startSpan(headers);
    // Decorator::apply.
    if (span !== undefined && this.decoratedOperation !== undefined && this.decoratedOperation !== "") span.setOperation(this.decoratedOperation);
    if (operationName === "egress") {
      if (this.decoratedOperation !== undefined) headers.set("x-envoy-decorator-operation", this.decoratedOperation);
      this.decoratedOperation = undefined;
      return;
    }
    const override = headers.get("x-envoy-decorator-operation");
    if (override === undefined) return;
    if (override !== "") {
      span?.setOperation(override);
      this.decoratedOperation = undefined;
    }
    headers.remove("x-envoy-decorator-operation");
  }

  /**
   * TracerImpl::startSpan: with a tracer (zipkin, opentelemetry), this request's span,
   * sampled as the HCM decided unless the request's trace context says otherwise; node_id
   * and zone tagged at once. Zipkin's Driver names it by the host; the others take the
   * HCM's operation name ("ingress", or "egress {host}").
   */
  private startSpan(headers: RequestHeaders) {
    const tracing = this.cm.config.tracing!;
    const zipkin = tracing.zipkin;
    const otel = tracing.opentelemetry;
    const skywalking = tracing.skywalking;
    const datadog = tracing.datadog;
    if (zipkin === undefined && otel === undefined && skywalking === undefined && datadog === undefined) return undefined;
    const connection = this.cm.connection;
    const runtime = this.cm.server.runtime;
    const egress = tracing.operationName === "egress";
    const traced = this.traceReason !== TraceReason.NotTraceable;
    // Loaded before the listener was built (extensions.ts: the HCM's dependencies).
    let span;
    if (zipkin !== undefined) {
      const driver = zipkinModule!.zipkinDriverFor(this.cm.server, tracing, zipkin, tracing.spawnUpstreamSpan, egress, connection.localAddress);
      span = driver.startDownstreamSpan(headers, headers.authority, driver.startMicros(runtime.now() - this.streamInfo.startTime), traced);
    } else if (skywalking !== undefined) {
      // Driver::startSpan names the span by the request's path and takes no start time.
      span = skyWalkingModule!.skyWalkingTracerFor(this.cm.server, tracing, skywalking, tracing.spawnUpstreamSpan).startDownstreamSpan(headers, traced);
    } else if (datadog !== undefined) {
      // Tracer::startSpan: the HCM's operation name is the span's resource (its name is "envoy.proxy").
      const tracer = datadogModule!.datadogTracerFor(this.cm.server, tracing, datadog, tracing.spawnUpstreamSpan);
      span = tracer.startDownstreamSpan(headers, egress ? `egress ${headers.authority}` : "ingress", tracer.startMicros(runtime.now() - this.streamInfo.startTime), traced);
    } else {
      const tracer = openTelemetryModule!.openTelemetryTracerFor(this.cm.server, tracing, otel!, tracing.spawnUpstreamSpan, egress);
      span = tracer.startDownstreamSpan(headers, egress ? `egress ${headers.authority}` : "ingress", tracer.startMicros(runtime.now() - this.streamInfo.startTime), traced);
    }
    if (span === undefined) return undefined;
    // TracerImpl::startSpan: the server's LocalInfo, read now (a listener from LDS has no bootstrap of its own).
    const server = this.cm.server;
    span.setTag("node_id", server.localNodeId);
    span.setTag("zone", server.localZone);
    this.streamInfo.activeSpan = span;
    // Any upstream span gets them (the HCM's spawn_upstream_span or the router's start_child_span):
    // Envoy's UpstreamRequest finalizes every one with the HCM's tracing config.
    if (tracing.customTags !== undefined) {
      const module = (zipkinModule ?? openTelemetryModule ?? skyWalkingModule ?? datadogModule)!;
      this.streamInfo.setCustomTags = (child) => {
        // Only a sampled span is sent: no tag context is built for one that is not.
        if (child.sampled) module.setCustomTags(child, this.requestHeadersDecoded ? this.requestHeaders : undefined, this.streamInfo, tracing, server, this.customTagStream());
      };
    }
    return span;
  }

  private onRequestEnd(): void {
    if (this.requestComplete) return;
    this.requestComplete = true;
    this.streamInfo.lastDownstreamRxByteReceived = approximateNow(this.cm.server.runtime);
    if (this.traced && this.streamInfo.bytesReceived > 0) this.trace("message_complete", `${this.streamInfo.bytesReceived} body bytes`);
    this.clearRequestTimer();
    if (!this.responseComplete) this.cm.onRequestComplete(this);
  }

  // ---- the response, past the encoder filters (FilterManagerCallbacks) ----

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    if (this.destroyed || this.responseComplete) return;
    this.touch();
    this.sentResponseHeaders = headers;
    this.streamInfo.responseCode = headers.status;
    const tunnel = this.opensTunnel(headers.status);
    mutateResponseHeaders(headers, this.cm, this.requestHeaders, tunnel);
    // Ingress: the decorator's operation back to the client; egress: the service's own
    // operation (a span override) goes no further (ActiveStream::encodeHeaders).
    if (this.decoratedOperation !== undefined) headers.set("x-envoy-decorator-operation", this.decoratedOperation);
    else if (this.cm.config.tracing?.operationName === "egress") headers.remove("x-envoy-decorator-operation");
    // Draining (Envoy's drain_close): the connection closes after this response, which says so.
    if (this.cm.server.drainClose() && !tunnel) this.cm.codec.keepAlive = false;
    // envoy.overload_actions.disable_http_keepalive: this response closes its connection,
    // with the action's state as the probability (ActiveStream::encodeHeaders).
    const closeAfter = this.cm.server.overload.disableHttpKeepalive.value;
    if (closeAfter > 0 && this.cm.codec.keepAlive && !tunnel && (closeAfter >= 1 || this.cm.server.runtime.random() < closeAfter)) {
      this.cm.codec.keepAlive = false;
      this.cm.stats.downstreamCxOverloadDisableKeepalive.inc();
    }
    if (endStream) this.markResponseComplete();
    this.encoder.encodeHeaders(headers, endStream);
  }

  /** This response makes the stream a tunnel: a 101 to an upgrade, a 2xx to CONNECT (RFC 9110 §9.3.6). */
  private opensTunnel(status: number): boolean {
    return this.upgrade && (status === 101 || (this.requestHeaders.method === "CONNECT" && status >= 200 && status < 300));
  }

  encodeData(data: Uint8Array, endStream: boolean): void {
    if (this.destroyed || this.responseComplete) return;
    this.touch();
    this.streamInfo.bytesSent += data.byteLength;
    if (endStream) this.markResponseComplete();
    this.encoder.encodeData(data, endStream);
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (this.destroyed || this.responseComplete) return;
    this.sentResponseTrailers = trailers;
    this.markResponseComplete();
    this.encoder.encodeTrailers(trailers);
  }

  encodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    if (this.destroyed) return;
    this.touch();
    this.streamInfo.bytesSent += data.byteLength;
    this.encoder.encodeUpgradeData(data, endStream);
  }

  /** Answer from the HCM (bad requests, timeouts, codec errors): through the filter manager, as a filter's would. */
  override sendLocalReply(status: number, body: string, details: string, flag?: ResponseFlag, extraHeaders?: [string, string][], grpcStatus?: number): void {
    if (this.destroyed || this.responseComplete) return;
    // Envoy's DownstreamFilterManager::sendLocalReply: ENVOY_STREAM_LOG(debug, "Sending local reply with details {}").
    const log = this.cm.server.log.component("http");
    if (log.debugOn) log.debug(`${this.logPrefix()}Sending local reply with details ${details}`);
    super.sendLocalReply(status, body, details, flag, extraHeaders, grpcStatus);
  }

  resetStream(): void {
    if (this.destroyed) return;
    this.resetDownstream();
  }

  /** Envoy's ENVOY_STREAM_LOG prefix, `[C12][S3] ` (built only for a line that is written). */
  logPrefix(): string {
    return streamLogPrefix(this.cm.connection.id, this.id);
  }

  /**
   * Reset the downstream stream: HTTP/2 RST_STREAM; HTTP/1 closes the connection after what
   * was written, or resets it when the body is delimited by the close (connection-manager.ts).
   */
  resetDownstream(): void {
    this.destroy();
    this.cm.onStreamReset(this, this.connectFailed());
  }

  /**
   * Envoy's doEndStream: a CONNECT (HTTP/2: any upgrade, each was a CONNECT there,
   * requestWasConnect) whose upstream connection failed (UF) or was lost (UC) is reset with
   * CONNECT_ERROR (RFC 9113 §8.5).
   * @internal
   */
  connectFailed(): boolean {
    const headers = this.requestHeaders;
    if (headers.method !== "CONNECT" && !headers.upgrade) return false;
    const flags = this.streamInfo.responseFlags;
    return flags.includes(CoreResponseFlag.UpstreamConnectionFailure) || flags.includes(CoreResponseFlag.UpstreamConnectionTermination);
  }

  readDisableDownstream(disable: boolean): void {
    if (!this.destroyed) this.cm.readDisableStream(this, disable);
  }

  onRequestDataTooLarge(): void {
    this.cm.stats.downstreamRqTooLarge.inc();
  }

  onResponseDataTooLarge(): void {
    this.cm.stats.rsTooLarge.inc();
  }

  onDownstreamAboveHighWatermark(): void {
    this.callHighWatermarkCallbacks();
  }

  onDownstreamBelowLowWatermark(): void {
    this.callLowWatermarkCallbacks();
  }

  // ---- lifecycle ----

  private markResponseComplete(): void {
    this.responseComplete = true;
    this.streamInfo.lastDownstreamTxByteSent = approximateNow(this.cm.server.runtime);
  }

  /** The codec wrote the whole response. */
  onResponseComplete(): void {
    this.destroy();
  }

  /** The client closed or reset the connection before the stream finished. */
  onDownstreamClosed(): void {
    if (!this.responseComplete) this.streamInfo.setResponseFlag("DC");
    this.destroy();
  }

  /** The client reset this stream (HTTP/2 RST_STREAM); its connection goes on. */
  onDownstreamReset(): void {
    this.destroy();
  }

  /** The stream is over: stats, access logs and timers, then the filters' onDestroy. */
  override destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    const stats = this.cm.stats;
    stats.downstreamRqActive.dec();
    stats.downstreamRqTime.record(approximateNow(this.cm.server.runtime) - this.streamInfo.startTime);
    if (this.streamInfo.responseCode > 0) stats.countResponse(this.streamInfo.responseCode);
    this.writeAccessLogs();
    const span = this.streamInfo.activeSpan;
    if (span !== undefined) {
      this.streamInfo.activeSpan = undefined;
      (zipkinModule ?? openTelemetryModule ?? skyWalkingModule ?? datadogModule)!.finalizeDownstreamSpan(span, this.requestHeadersDecoded ? this.requestHeaders : undefined, this.sentResponseHeaders, this.sentResponseTrailers, this.streamInfo, this.cm.connection.directRemoteAddress, this.cm.config.tracing!, this.cm.server, span.sampled && this.cm.config.tracing!.customTags !== undefined ? this.customTagStream() : undefined);
    }
    if (this.traced) this.trace("stream_end", `${this.streamInfo.responseCode} ${this.streamInfo.responseFlags.join(",") || "-"}`);
    this.timers?.disarm(this, false);
    this.destroyFilters();
  }

  /** What the HCM's custom_tags read when its span is finished (core/tracing/custom-tags.ts). */
  private customTagStream(): CustomTagStream {
    // The route as last resolved: finishing a span does not route a cleared cache again.
    return { routeMetadata: this.cachedRoute?.route.metadata, formatterContext: () => this.formatterContext(this.sentResponseHeaders, this.sentResponseTrailers) };
  }

  /** One line per configured access log, at the stream's end (Envoy logs on stream destroy). */
  private writeAccessLogs(): void {
    const loggers = this.cm.accessLoggers;
    if (loggers.length === 0) return;
    const context = this.formatterContext(this.sentResponseHeaders, this.sentResponseTrailers);
    context.accessLogType = "DownstreamEnd";
    for (const logger of loggers) logger.log(context);
  }

  headerFormatterContext(response: ResponseHeaders | undefined): AccessLogContext {
    return this.formatterContext(response, undefined);
  }

  /** local_reply_config, when the HCM has one (local-reply.ts). */
  rewriteLocalReply(headers: ResponseHeaders, body: string): RewrittenLocalReply | undefined {
    const config = this.cm.config.localReply;
    if (config === undefined) return undefined;
    return localReplyFor(config, this.cm.server.layeredRuntime).rewrite(headers, body, this);
  }

  /** @internal LocalReplyStream */
  localReplyContext(headers: ResponseHeaders, body: string): StreamAccessLogContext {
    const context = this.formatterContext(headers, undefined);
    context.localReplyBody = body;
    return context;
  }

  /** @internal LocalReplyStream */
  setResponseCode(status: number): void {
    this.streamInfo.responseCode = status;
  }

  /** The stream as the access-log formatter sees it now (%START_TIME%, %DURATION% as of this moment). */
  private formatterContext(response: ResponseHeaders | undefined, trailers: HeaderMap | undefined): StreamAccessLogContext {
    const connection = this.cm.connection;
    const runtime = this.cm.server.runtime;
    // Once: a header value and the access log line agree on %START_TIME%.
    if (this.streamInfo.startWallClock === 0) this.streamInfo.setStartWallClock(runtime.wallClock(), runtime.now());
    const context = new StreamAccessLogContext(
      this.streamInfo,
      // A request that never parsed has no method or path to log (Envoy prints "-").
      this.requestHeadersDecoded ? this.requestHeaders : undefined,
      this.requestHeaders.protocol,
      response,
      trailers,
      connection.remoteAddress,
      connection.localAddress,
      connection.id,
      runtime.now() - this.streamInfo.startTime,
      // As last resolved: logging does not route a cleared cache again (Envoy's formatters read stream info's route).
      this.cachedRoute?.route.metadata,
      connection.directRemoteAddress,
    );
    context.downstreamTls = connection.socket.tls;
    context.requestedServerName = connection.requestedServerName;
    context.ja3Hash = connection.ja3Hash;
    return context;
  }

  trace(kind: TraceEventKind, detail?: string): void {
    if (this.traced) this.cm.connection.trace?.record(kind, this.cm.connection.id, this.id, detail);
  }

  private touch(): void {
    this.lastActivity = approximateNow(this.cm.server.runtime);
    if (this.pendingIdleTimeoutMs !== undefined) this.resetIdleTimer();
  }

  /** A stream event after a route's idle_timeout changed: the new timeout runs from now (Envoy's resetIdleTimer). */
  private resetIdleTimer(): void {
    this.idleTimeoutMs = this.pendingIdleTimeoutMs!;
    this.pendingIdleTimeoutMs = undefined;
    if (this.destroyed || this.responseComplete) return;
    this.lastActivity = approximateNow(this.cm.server.runtime);
    this.ownTimers().idle.enable(this.scaledIdleTimeout());
  }

  /**
   * request_timeout and stream_idle_timeout (or the route's idle_timeout), as Envoy's
   * ActiveStream arms them. Both started at the request's first byte, where Envoy's
   * HTTP/1 codec creates the stream (the connection manager timed the head until now):
   * request_timeout goes on with what is left; the idle timer restarts, as the headers
   * are a stream event (resetIdleTimer in ActiveStream::decodeHeaders).
   */
  private armTimers(): void {
    this.timersArmed = true;
    const { requestTimeoutMs, streamIdleTimeoutMs } = this.cm.config;
    const action = this.route?.route.action;
    const forward = action?.type === "route" ? action.route : undefined;
    const idleTimeout = forward?.idleTimeoutMs ?? streamIdleTimeoutMs;
    // The route's max_stream_duration replaces the HCM's (stream-duration.ts).
    const maxStreamDurationMs = forward?.maxStreamDuration !== undefined ? streamDurationMs(forward, this.requestHeaders, this.cm.config.maxStreamDurationMs) : this.cm.config.maxStreamDurationMs;
    if (requestTimeoutMs <= 0 && idleTimeout <= 0 && maxStreamDurationMs === undefined) return;
    const timers = this.ownTimers();
    // max_stream_duration counts from the request's first byte, like request_timeout; a
    // duration already spent fires at once, as Envoy enables its timer with 0.
    if (maxStreamDurationMs !== undefined) timers.duration.enable(Math.max(maxStreamDurationMs - (this.lastActivity - this.beganAt), 0));
    // A request complete with its head (most are) is past its request_timeout already.
    if (requestTimeoutMs > 0 && !this.requestComplete) {
      const elapsed = this.lastActivity - this.beganAt;
      timers.request.enable(Math.max(requestTimeoutMs - elapsed, 1));
    }
    if (idleTimeout > 0) {
      this.idleTimeoutMs = idleTimeout;
      // Stream events only move `lastActivity`; the timer, when it fires, waits out the rest.
      timers.idle.enable(this.scaledIdleTimeout());
    }
  }

  /** The stream's timers, taken from the connection (and owned) the first time one is armed. */
  private ownTimers(): StreamTimers {
    if (this.timers !== undefined) return this.timers;
    const timers = this.cm.streamTimers();
    timers.owner = this;
    return (this.timers = timers);
  }

  /**
   * Envoy's ActiveStream::refreshDurationTimeout (source/common/http/conn_manager_impl.cc),
   * for a route resolved again: a route that forwards sets the stream's max duration anew
   * (stream-duration.ts: its max_stream_duration, or its gRPC header rule, else the HCM's;
   * none disables the timer), counted from the stream's start — a duration already spent
   * fires at once, as Envoy enables its timer with 0. A direct response or redirect route
   * (no route entry) leaves the timer as it was.
   */
  private refreshDurationTimeout(): void {
    const action = this.cachedRoute?.route.action;
    if (action?.type !== "route") return;
    const maxMs = streamDurationMs(action.route, this.requestHeaders, this.cm.config.maxStreamDurationMs);
    if (maxMs === undefined) return this.timers?.disableDuration();
    const used = this.cm.server.runtime.now() - this.beganAt;
    this.ownTimers().duration.enable(Math.max(maxMs - used, 0));
  }

  /**
   * Envoy's ActiveStream::refreshIdleTimeout: only a route with its own idle_timeout changes
   * the stream's (one without keeps what the first route or the HCM set); 0 disables the
   * idle timer at once. Another value takes effect at the next stream event (resetIdleTimer:
   * decodeHeaders runs it right after the filters, so a route resolved again there counts
   * from the headers); until then the armed timer keeps its deadline — a filter that waited
   * (an httpCall) before rerouting does not find the new timeout already spent.
   */
  private refreshIdleTimeout(): void {
    const action = this.cachedRoute?.route.action;
    const idleTimeout = action?.type === "route" ? action.route.idleTimeoutMs : undefined;
    if (idleTimeout === undefined) return;
    if (idleTimeout > 0) {
      this.pendingIdleTimeoutMs = idleTimeout;
      return;
    }
    this.idleTimeoutMs = 0;
    this.pendingIdleTimeoutMs = undefined;
    this.timers?.idle.disable();
  }

  /** @internal request_timeout fired: the request did not arrive in full in time. */
  onRequestTimeout(): void {
    if (this.requestComplete || this.destroyed) return;
    this.cm.stats.downstreamRqTimeout.inc();
    this.sendLocalReply(requestTimeoutCode(this.requestComplete), "request timeout", "request_overall_timeout");
  }

  /**
   * @internal stream_idle_timeout fired: no stream event (request headers, body or
   * trailers, response headers or body) for that long. Before the request is complete
   * the client is the one that stalled (408); after, it is the upstream (504).
   */
  onIdleTimeout(): void {
    if (this.destroyed) return;
    if (!this.timers!.idle.idleTimeoutPassed(this.lastActivity, this.scaledIdleTimeout())) return;
    this.cm.stats.downstreamRqIdleTimeout.inc();
    this.sendLocalReply(requestTimeoutCode(this.requestComplete), "stream timeout", "stream_idle_timeout", "SI");
  }

  /**
   * @internal common_http_protocol_options.max_stream_duration passed (Envoy's
   * ActiveStream::onStreamMaxDurationReached): 408 while the request is incomplete, 504
   * after (to a gRPC request, grpc-status 4 DEADLINE_EXCEEDED); a response already started
   * is reset (sendLocalReply does that).
   */
  onMaxDurationTimeout(): void {
    if (this.destroyed) return;
    this.cm.stats.downstreamRqMaxDurationReached.inc();
    this.sendLocalReply(requestTimeoutCode(this.requestComplete), "downstream duration timeout", "max_duration_timeout", undefined, undefined, GrpcStatus.DeadlineExceeded);
  }

  /** The stream idle timeout as reduce_timeouts scales it now (HTTP_DOWNSTREAM_STREAM_IDLE). */
  private scaledIdleTimeout(): number {
    const scaling = this.cm.server.overload.timerScaling;
    return scaling ? scaling.scaled("HTTP_DOWNSTREAM_STREAM_IDLE", this.idleTimeoutMs) : this.idleTimeoutMs;
  }

  /** @internal reduce_timeouts changed: the idle timer fires at the last activity plus the newly scaled timeout. */
  onTimerScaleChanged(): void {
    const timers = this.timers;
    if (this.destroyed || this.idleTimeoutMs <= 0 || timers?.owner !== this || !timers.idle.enabled) return;
    timers.idle.enable(Math.max(0, this.lastActivity + this.scaledIdleTimeout() - this.cm.server.runtime.now()));
  }

  private clearRequestTimer(): void {
    this.timers?.disarm(this, true);
  }
}

/**
 * Envoy's Utility::maybeRequestTimeoutCode (source/common/http/utility.cc): 504 once the
 * whole request was received, else 408 (which also ends an HTTP/1 connection).
 */
function requestTimeoutCode(requestComplete: boolean): number {
  return requestComplete ? 504 : 408;
}
