/**
 * Envoy's ext_authz HTTP filter with an HTTP authorization service
 * (source/extensions/filters/http/ext_authz/ext_authz.cc and
 * filters/common/ext_authz/ext_authz_http_impl.cc). Each request is first sent, as a
 * check request, to the service's cluster through the async client (async-client.ts):
 * the original method, path_prefix + path, Host, Authorization and the allowed_headers,
 * plus headers_to_add, and with with_request_body the buffered body. Then:
 * - 200: OK — allowed_upstream_headers are set on the request (…_to_append appended),
 *   x-envoy-auth-headers-to-remove names headers to remove, allowed_client_headers_on_success
 *   are added to the response; the request goes on.
 * - another status below 500: Denied — the client gets that status, the service's body
 *   and its allowed_client_headers (all but Host when none are listed); details
 *   ext_authz_denied, flag UAEX.
 * - either way, the response headers matching dynamic_metadata_from_headers go into the
 *   stream's dynamic metadata under envoy.filters.http.ext_authz.
 * - 5xx, a failed connection, a reset, the timeout: Error — with failure_mode_allow the
 *   request goes on (x-envoy-auth-failure-mode-allowed: true if asked), else
 *   status_on_error (403) with an empty body, details ext_authz_error, flag UAEX.
 * With a grpc_service the check is envoy.service.auth.v3.Authorization/Check
 * (ext_authz_grpc_impl.cc, check_request_utils.cc) through the gRPC async client: a
 * CheckRequest with the peers' addresses and TLS principals (the client's certificate too
 * with include_peer_certificate), the request's headers (pseudo-headers too, each
 * name once), method, path, host, scheme, protocol, size and, with with_request_body, its
 * body; a CheckResponse whose status is OK allows the request with ok_response's header
 * mutations (append_action), headers_to_remove and response_headers_to_add; another status
 * denies it with denied_response's status (403 by default), headers and body; a failed call
 * is an Error as above.
 * Stats: http.<stat_prefix>.ext_authz.[<filter stat_prefix>.]{ok,denied,error,
 * failure_mode_allowed,disabled}, and cluster.<route's cluster>.ext_authz.{ok,denied,
 * error,failure_mode_allowed}.
 */
import type { ExtAuthzBufferSettings, ExtAuthzConfig, ExtAuthzPerRouteConfig, StringMatcherConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Counter } from "../../stats/counter.ts";
import { CoreResponseFlag } from "../../stream-info/response-flags.ts";
import { fractionEnabled } from "../../util/fractional-percent.ts";
import { latin1Decode } from "../../util/latin1.ts";
import { PerConfig } from "../../util/per-config.ts";
import { GrpcAsyncClient, type GrpcUnaryCallbacks, type GrpcUnaryRequest } from "../grpc-async-client.ts";
import { ProtoDecodeError } from "../../util/protobuf-wire.ts";
import { CHECK_METHOD, decodeCheckResponse, encodeCheckRequest, HeaderAppendAction, type CheckRequestAttributes, type HeaderMutation } from "./ext-authz-proto.ts";
import type { HeaderMap } from "../header-map.ts";
import { isValidHeaderField } from "../headers-util.ts";
import { AsyncClient, type AsyncFailureReason, type AsyncRequest, type AsyncRequestCallbacks, type AsyncResponse } from "../async-client.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
} from "../filter.ts";
import { RequestHeaders, type ResponseHeaders } from "../message.ts";
import { compileStringMatch } from "../route/header-matcher.ts";
import { routeCluster } from "../route/route-cluster.ts";
import { applyHeaderValueOptions } from "../route/custom-headers.ts";
import type { StreamInfo } from "../stream-info.ts";
import type { ClusterStats } from "../../upstream/cluster-stats.ts";
import { urlEncodePem } from "../../tls/url-encoded-pem.ts";
import type { TlsPeerCertificate } from "../../port.ts";
import type { HttpFilterChainContext } from "./http-filter-registry.ts";
import { sanitizeStatsPrefix } from "../../stats/sanitize-stats-name.ts";

const DENIED = "ext_authz_denied";
const ERROR = "ext_authz_error";
const HEADERS_TO_REMOVE = "x-envoy-auth-headers-to-remove";
const FAILURE_MODE_ALLOWED_HEADER = "x-envoy-auth-failure-mode-allowed";

/** Request headers every check request carries (Envoy's ClientConfig::toRequestMatchers). */
const ALWAYS_SENT = new Set(["authorization"]);
/** Added to allowed_client_headers when it is set (Envoy's toClientMatchers). */
const CLIENT_HEADERS_WITH_A_LIST = new Set(["content-length", "www-authenticate", "location"]);
/**
 * Framing and hop-by-hop fields of the service's HTTP/1 response: they describe that
 * connection, not the reply the client gets (its own framing is the local reply's).
 */
const NEVER_COPIED = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "proxy-connection", "te", "trailer"]);
/** Headers a check result may not remove: the request would be malformed without them (Envoy's isRemovableHeader). */
const NOT_REMOVABLE = new Set(["host"]);

type KeyMatcher = (name: string) => boolean;

interface ClusterCounters {
  /** The route cluster's own stats: a denial is charged to them. */
  cluster: ClusterStats;
  ok: Counter;
  denied: Counter;
  error: Counter;
  failure_mode_allowed: Counter;
}

function keyMatcher(patterns: readonly StringMatcherConfig[], extra?: ReadonlySet<string>): KeyMatcher {
  const tests = patterns.map(compileStringMatch);
  return (name) => {
    if (extra !== undefined && extra.has(name)) return true;
    for (const test of tests) if (test(name)) return true;
    return false;
  };
}

const NOTHING: KeyMatcher = () => false;
const NO_REMOVALS: readonly string[] = [];

/** What one ext_authz filter's streams share: the compiled config, the client, the stats. */
export class ExtAuthzFilterConfig {
  readonly requestHeaders: KeyMatcher;
  /** The top-level allowed_headers with a gRPC service; undefined: every header goes. */
  readonly grpcAllowedHeaders: KeyMatcher | undefined;
  readonly upstreamHeaders: KeyMatcher;
  readonly upstreamHeadersToAppend: KeyMatcher;
  readonly clientHeaders: KeyMatcher;
  readonly clientHeadersOnSuccess: KeyMatcher;
  readonly metadataHeaders: KeyMatcher;
  readonly client: AsyncClient;
  readonly grpcClient: GrpcAsyncClient | undefined;
  readonly ok: Counter;
  readonly denied: Counter;
  readonly error: Counter;
  readonly failureModeAllowed: Counter;
  readonly disabled: Counter;

  constructor(
    readonly config: ExtAuthzConfig,
    readonly server: ServerContext,
    chain: HttpFilterChainContext,
  ) {
    this.requestHeaders = keyMatcher(config.allowedHeaders, ALWAYS_SENT);
    this.grpcAllowedHeaders = config.grpcAllowedHeaders === undefined ? undefined : keyMatcher(config.grpcAllowedHeaders);
    this.upstreamHeaders = config.allowedUpstreamHeaders.length > 0 ? keyMatcher(config.allowedUpstreamHeaders) : NOTHING;
    this.upstreamHeadersToAppend = config.allowedUpstreamHeadersToAppend.length > 0 ? keyMatcher(config.allowedUpstreamHeadersToAppend) : NOTHING;
    // No list: every header but Host; a list: its headers and a few a denial needs.
    this.clientHeaders = config.allowedClientHeaders.length > 0 ? keyMatcher(config.allowedClientHeaders, CLIENT_HEADERS_WITH_A_LIST) : (name) => name !== "host" && name !== ":authority";
    this.clientHeadersOnSuccess = config.allowedClientHeadersOnSuccess.length > 0 ? keyMatcher(config.allowedClientHeadersOnSuccess) : NOTHING;
    this.metadataHeaders = config.dynamicMetadataFromHeaders.length > 0 ? keyMatcher(config.dynamicMetadataFromHeaders) : NOTHING;
    this.client = new AsyncClient(server);
    this.grpcClient = config.grpc === undefined ? undefined : new GrpcAsyncClient(server);
    const prefix = sanitizeStatsPrefix(`http.${chain.statPrefix}.ext_authz.${config.statPrefix === "" ? "" : config.statPrefix + "."}`);
    this.ok = server.stats.counter(prefix + "ok");
    this.denied = server.stats.counter(prefix + "denied");
    this.error = server.stats.counter(prefix + "error");
    this.failureModeAllowed = server.stats.counter(prefix + "failure_mode_allowed");
    this.disabled = server.stats.counter(prefix + "disabled");
  }

  private readonly clusterCounters = new Map<string, ClusterCounters>();

  /** Envoy's cluster-scope counters, on the route's target cluster (ext_authz's incCounter(cluster_->statsScope(), …)); undefined for no such cluster. */
  clusterStats(cluster: string): ClusterCounters | undefined {
    let counters = this.clusterCounters.get(cluster);
    if (counters === undefined) {
      const found = this.server.clusterManager.get(cluster);
      if (found === undefined) return undefined;
      const prefix = sanitizeStatsPrefix(`cluster.${cluster}.ext_authz.`);
      const stats = this.server.stats;
      counters = {
        cluster: found.stats,
        ok: stats.counter(prefix + "ok"),
        denied: stats.counter(prefix + "denied"),
        error: stats.counter(prefix + "error"),
        failure_mode_allowed: stats.counter(prefix + "failure_mode_allowed"),
      };
      this.clusterCounters.set(cluster, counters);
    }
    return counters;
  }
}

const CONFIGS = new PerConfig((config: ExtAuthzConfig, server: ServerContext, chain: HttpFilterChainContext) => new ExtAuthzFilterConfig(config, server, chain));

export function extAuthzFilterConfig(config: ExtAuthzConfig, server: ServerContext, chain: HttpFilterChainContext): ExtAuthzFilterConfig {
  return CONFIGS.get(config, server, chain);
}

const enum State {
  NotStarted,
  Calling,
  Complete,
}

/** What the service answered, sorted into Envoy's CheckStatus. */
type CheckResult =
  | {
      status: "ok";
      headersToSet: [string, string][];
      headersToAppend: [string, string][];
      headersToRemove: string[];
      /** A gRPC service's ok_response.headers, applied in order by their append_action. */
      headerMutations: HeaderMutation[];
      responseHeadersToAdd: HeaderMutation[];
      /** A gRPC service's ok_response.query_parameters_to_set and _to_remove. */
      queryParametersToSet?: [string, string][];
      queryParametersToRemove?: string[];
      /** A gRPC service's CheckResponse.dynamic_metadata. */
      dynamicMetadata?: Record<string, unknown> | undefined;
    }
  | { status: "denied"; code: number; body: string; headers: [string, string][]; dynamicMetadata?: Record<string, unknown> | undefined }
  | { status: "error" };

const ERROR_RESULT: CheckResult = { status: "error" };

export class ExtAuthzFilter implements StreamFilter, AsyncRequestCallbacks {
  private decoderCallbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private state = State.NotStarted;
  /** The request is held here until the check completes (Envoy's FilterReturn::StopDecoding). */
  private stopped = false;
  /** The check is being started: a result that comes at once must not continue decoding itself. */
  private initiatingCall = false;
  private skipCheck = false;
  private bufferSettings: ExtAuthzBufferSettings | undefined;
  private bufferData = false;
  private requestHeaders: RequestHeaders | undefined;
  private request: AsyncRequest | GrpcUnaryRequest | undefined;
  private responseHeadersToAdd: HeaderMutation[] | undefined;
  /** The route's cluster's counters when the check started (Envoy's cluster_). */
  private clusterCounters: ClusterCounters | undefined;

  constructor(private readonly shared: ExtAuthzFilterConfig) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoderCallbacks = callbacks;
  }

  setEncoderFilterCallbacks(_callbacks: EncoderFilterCallbacks): void {}

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    const callbacks = this.decoderCallbacks;
    const perRoute = callbacks.route === undefined ? undefined : callbacks.mostSpecificPerFilterConfig<ExtAuthzPerRouteConfig>();
    // No route: nothing to authorize for (Envoy's getPerRouteFlags skips the check).
    this.skipCheck = callbacks.route === undefined || perRoute?.disabled === true;
    if (this.skipCheck) return FilterHeadersStatus.Continue;
    const shared = this.shared;
    const config = shared.config;
    if (config.filterEnabled !== undefined && !fractionEnabled(config.filterEnabled, shared.server.runtime)) {
      shared.disabled.inc();
      if (!config.denyAtDisable) return FilterHeadersStatus.Continue;
      callbacks.streamInfo.setResponseFlag(CoreResponseFlag.UnauthorizedExternalService);
      callbacks.sendLocalReply(config.statusOnError, "", ERROR);
      return FilterHeadersStatus.StopIteration;
    }
    this.requestHeaders = headers;
    this.bufferSettings = perRoute?.withRequestBody ?? config.withRequestBody;
    this.bufferData = this.bufferSettings !== undefined && perRoute?.disableRequestBodyBuffering !== true && !endStream && !headers.upgrade;
    if (this.bufferData) {
      // Without partial messages, a body over the limit is the filter manager's 413.
      if (!this.bufferSettings!.allowPartialMessage) callbacks.setDecoderBufferLimit(this.bufferSettings!.maxRequestBytes);
      return FilterHeadersStatus.StopIteration;
    }
    this.initiateCall(undefined);
    return this.stopped ? FilterHeadersStatus.StopAllIterationAndWatermark : FilterHeadersStatus.Continue;
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (!this.bufferData || this.skipCheck || this.state !== State.NotStarted) return this.stopped ? FilterDataStatus.StopIterationAndWatermark : FilterDataStatus.Continue;
    const buffered = this.decoderCallbacks.decodingBuffer()?.length ?? 0;
    const full = this.bufferSettings!.allowPartialMessage && buffered + data.byteLength >= this.bufferSettings!.maxRequestBytes;
    if (!endStream && !full) return FilterDataStatus.StopIterationAndBuffer;
    this.initiateCall(data);
    return this.stopped ? FilterDataStatus.StopIterationAndWatermark : FilterDataStatus.Continue;
  }

  decodeTrailers(): FilterTrailersStatus {
    if (this.bufferData && !this.skipCheck && this.state === State.NotStarted) this.initiateCall(undefined);
    return this.stopped ? FilterTrailersStatus.StopIteration : FilterTrailersStatus.Continue;
  }

  encodeHeaders(headers: ResponseHeaders, _endStream: boolean): FilterHeadersStatus {
    const add = this.responseHeadersToAdd;
    if (add !== undefined) for (const mutation of add) applyMutation(headers, mutation);
    return FilterHeadersStatus.Continue;
  }

  encodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  encodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  onDestroy(): void {
    if (this.state === State.Calling) {
      this.state = State.Complete;
      this.request?.cancel();
    }
    this.request = undefined;
    this.requestHeaders = undefined;
  }

  // ---- the check ----

  /** Envoy's initiateCall; `lastData` is the data call's chunk, not in the decoding buffer yet. */
  private initiateCall(lastData: Uint8Array | undefined): void {
    if (this.stopped || this.state !== State.NotStarted) return;
    const callbacks = this.decoderCallbacks;
    const shared = this.shared;
    const config = shared.config;
    const cluster = routeCluster(callbacks, shared.server.runtime);
    this.clusterCounters = cluster === "" ? undefined : shared.clusterStats(cluster);
    const headers = this.requestHeaders!;
    if (shared.grpcClient !== undefined) {
      const body = this.bufferData ? this.checkBody(lastData) : undefined;
      const whole = (this.decoderCallbacks.decodingBuffer()?.length ?? 0) + (lastData?.byteLength ?? 0);
      const message = encodeCheckRequest(this.checkAttributes(headers, body, body !== undefined && body.byteLength < whole));
      this.state = State.Calling;
      this.stopped = true;
      this.initiatingCall = true;
      this.request = shared.grpcClient.send(config.grpc!, CHECK_METHOD, message, this.grpcCallbacks(), config.timeoutMs);
      this.initiatingCall = false;
      return;
    }
    const check = new RequestHeaders();
    check.method = headers.method;
    check.path = config.pathPrefix + headers.path;
    check.authority = headers.authority;
    check.scheme = headers.scheme;
    const seen = new Set<string>();
    for (let i = 0; i < headers.size; i++) {
      const name = headers.nameAt(i);
      if (name === "content-length" || seen.has(name)) continue;
      seen.add(name);
      // Envoy's check request carries each header once, repeated values joined with ",".
      if (shared.requestHeaders(name)) check.add(name, headers.getJoined(name, ",")!);
    }
    if (config.headersToAdd.length > 0) applyHeaderValueOptions(check, NO_REMOVALS, config.headersToAdd, callbacks, undefined);
    const body = this.bufferData ? this.checkBody(lastData) : undefined;
    this.state = State.Calling;
    this.stopped = true;
    this.initiatingCall = true;
    this.request = shared.client.send(config.cluster, check, body, this, { timeoutMs: config.timeoutMs, retryPolicy: config.httpRetryPolicy });
    this.initiatingCall = false;
  }

  /** The buffered body and the current chunk, cut at max_request_bytes (Envoy's CheckRequestUtils::setHttpRequest). */
  private checkBody(lastData: Uint8Array | undefined): Uint8Array | undefined {
    const buffered = this.decoderCallbacks.decodingBuffer();
    const max = this.bufferSettings!.maxRequestBytes;
    const head = buffered === undefined || buffered.length === 0 ? undefined : buffered.toBytes();
    const length = Math.min(max, (head?.byteLength ?? 0) + (lastData?.byteLength ?? 0));
    if (length === 0) return undefined;
    const body = new Uint8Array(length);
    let at = 0;
    if (head !== undefined) {
      const n = Math.min(head.byteLength, length);
      body.set(head.subarray(0, n), 0);
      at = n;
    }
    if (lastData !== undefined && at < length) body.set(lastData.subarray(0, length - at), at);
    return body;
  }

  /** Envoy's CheckRequestUtils::createHttpCheck. */
  private checkAttributes(headers: RequestHeaders, body: Uint8Array | undefined, partial: boolean): CheckRequestAttributes {
    const callbacks = this.decoderCallbacks;
    const streamInfo = callbacks.streamInfo;
    const server = this.shared.server;
    if (streamInfo.startWallClock === 0) streamInfo.setStartWallClock(server.runtime.wallClock(), server.runtime.now());
    const joined: [string, string][] = [
      [":authority", headers.authority],
      [":method", headers.method],
      [":path", headers.path],
      [":scheme", headers.scheme],
    ];
    const seen = new Set<string>();
    for (let i = 0; i < headers.size; i++) {
      const name = headers.nameAt(i);
      if (seen.has(name)) continue;
      seen.add(name);
      joined.push([name, headers.getJoined(name, ",")!]);
    }
    // The top-level allowed_headers with a gRPC service: only those (pseudo-headers included:
    // Envoy's CheckRequestUtils matches every entry of its header map).
    const grpcAllowed = this.shared.grpcAllowedHeaders;
    if (grpcAllowed !== undefined) {
      let kept = 0;
      for (const entry of joined) if (grpcAllowed(entry[0])) joined[kept++] = entry;
      joined.length = kept;
    }
    const settings = this.bufferSettings;
    // Envoy's x-envoy-auth-partial-body: whether the body was cut at max_request_bytes.
    if (body !== undefined) joined.push([PARTIAL_BODY_HEADER, String(partial)]);
    const perRoute = callbacks.mostSpecificPerFilterConfig<ExtAuthzPerRouteConfig>();
    const contentLength = headers.get("content-length");
    const tls = callbacks.downstreamTls;
    const peer = tls?.peerCertificate;
    return {
      source: {
        address: callbacks.downstreamRemoteAddress,
        service: headers.get("x-envoy-downstream-service-cluster") ?? "",
        principal: peer === undefined ? "" : peerPrincipal(peer),
        certificate: peer !== undefined && this.shared.config.includePeerCertificate && peer.pem !== "" ? urlEncodePem(peer.pem) : "",
      },
      // Envoy's local principal is our certificate's URI SAN, else its DNS SAN, else its
      // subject; the port tells the first only (TlsSession.localUriSan).
      destination: { address: callbacks.downstreamLocalAddress, service: "", principal: tls?.localUriSan ?? "", certificate: "" },
      timeMs: streamInfo.startWallClock,
      http: {
        // Envoy sends its stream id, which polyvoy does not have: the request's x-request-id stands in.
        id: headers.get("x-request-id") ?? "",
        method: headers.method,
        headers: joined,
        path: headers.path,
        host: headers.authority,
        scheme: headers.scheme,
        // The HTTP request size in bytes; -1 when unknown (attribute_context.proto).
        size: contentLength !== undefined && /^\d+$/.test(contentLength) ? Number(contentLength) : -1,
        protocol: headers.protocol,
        body,
        packAsBytes: settings?.packAsBytes ?? false,
      },
      contextExtensions: perRoute?.contextExtensions ?? NO_EXTENSIONS,
      metadataContext: this.metadataContext(streamInfo.dynamicMetadata),
      // Envoy's setTLSSession: the message is there whenever asked for; sni the TLS session's, else
      // the connection's requested server name (which over HTTP only TLS gives).
      ...(this.shared.config.includeTlsSession && { tlsSession: { sni: tls?.serverName ?? "" } }),
    };
  }

  /**
   * metadata_context_namespaces: those namespaces of the stream's dynamic metadata (Envoy's
   * fillMetadataContext, ext_authz.cc; the connection's metadata it also reads has no
   * producer in front of an HTTP connection manager in polyvoy).
   */
  private metadataContext(dynamic: StreamInfo["dynamicMetadata"]): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    if (dynamic === undefined) return out;
    for (const namespace of this.shared.config.metadataContextNamespaces) {
      const fields = dynamic[namespace];
      if (fields !== undefined) out[namespace] = fields;
    }
    return out;
  }

  private grpcCallbacks(): GrpcUnaryCallbacks {
    return {
      onSuccess: (message) => this.onComplete(this.toGrpcCheckResult(message)),
      onFailure: () => this.onComplete(ERROR_RESULT),
    };
  }

  /** Envoy's GrpcClientImpl::onSuccess. */
  private toGrpcCheckResult(message: Uint8Array): CheckResult {
    let response;
    try {
      response = decodeCheckResponse(message);
    } catch (e) {
      if (e instanceof ProtoDecodeError) return ERROR_RESULT;
      throw e;
    }
    if (response.ok) {
      return {
        status: "ok",
        headersToSet: [],
        headersToAppend: [],
        headersToRemove: response.headersToRemove,
        headerMutations: response.headers.filter(isValidMutation),
        responseHeadersToAdd: response.responseHeadersToAdd.filter(isValidMutation),
        queryParametersToSet: response.queryParametersToSet,
        queryParametersToRemove: response.queryParametersToRemove,
        dynamicMetadata: response.dynamicMetadata,
      };
    }
    const headers: [string, string][] = [];
    for (const m of response.headers) if (isValidMutation(m) && !NEVER_COPIED.has(m.name)) headers.push([m.name, m.value]);
    // A status Envoy's local reply could not send is its default, 403.
    const code = response.status >= 200 && response.status <= 599 ? response.status : 403;
    return { status: "denied", code, body: response.body, headers, dynamicMetadata: response.dynamicMetadata };
  }

  /** @internal AsyncRequestCallbacks */
  onSuccess(_request: AsyncRequest, response: AsyncResponse): void {
    this.onComplete(this.toCheckResult(response));
  }

  /** @internal AsyncRequestCallbacks */
  onFailure(_request: AsyncRequest, _reason: AsyncFailureReason): void {
    this.onComplete(ERROR_RESULT);
  }

  /** Envoy's RawHttpClientImpl::toResponse. */
  private toCheckResult(response: AsyncResponse): CheckResult {
    const status = response.headers.status;
    if (status >= 500) return ERROR_RESULT;
    const shared = this.shared;
    const headers = response.headers;
    if (status === 200) {
      const headersToRemove: string[] = [];
      const listed = headers.getJoined(HEADERS_TO_REMOVE, ",");
      if (listed !== undefined) {
        for (const name of listed.split(",")) {
          const trimmed = name.trim().toLowerCase();
          if (trimmed !== "") headersToRemove.push(trimmed);
        }
      }
      const result: CheckResult = { status: "ok", headersToSet: [], headersToAppend: [], headersToRemove, headerMutations: [], responseHeadersToAdd: [], dynamicMetadata: this.metadataFromHeaders(headers) };
      for (let i = 0; i < headers.size; i++) {
        const name = headers.nameAt(i);
        if (name === HEADERS_TO_REMOVE) continue;
        const value = headers.valueAt(i);
        if (shared.upstreamHeaders(name)) result.headersToSet.push([name, value]);
        if (shared.upstreamHeadersToAppend(name)) result.headersToAppend.push([name, value]);
        // Envoy's HTTP client appends them (addCopy).
        if (shared.clientHeadersOnSuccess(name)) result.responseHeadersToAdd.push({ name, value, action: HeaderAppendAction.AppendIfExistsOrAdd, appendJoined: false });
      }
      return result;
    }
    const copied: [string, string][] = [];
    for (let i = 0; i < headers.size; i++) {
      const name = headers.nameAt(i);
      if (name === HEADERS_TO_REMOVE || NEVER_COPIED.has(name)) continue;
      if (shared.clientHeaders(name)) copied.push([name, headers.valueAt(i)]);
    }
    return { status: "denied", code: status, body: latin1Decode(response.body, 0, response.body.byteLength), headers: copied, dynamicMetadata: this.metadataFromHeaders(headers) };
  }

  /**
   * dynamic_metadata_from_headers: each matching header of the service's response (but
   * x-envoy-auth-headers-to-remove) as a string value under its name, a repeated one's
   * last value winning (Envoy's SuccessResponse in ext_authz_http_impl.cc, for OK and denied).
   */
  private metadataFromHeaders(headers: HeaderMap): Record<string, unknown> | undefined {
    const matches = this.shared.metadataHeaders;
    if (matches === NOTHING) return undefined;
    let metadata: Record<string, unknown> | undefined;
    for (let i = 0; i < headers.size; i++) {
      const name = headers.nameAt(i);
      if (name === HEADERS_TO_REMOVE || !matches(name)) continue;
      metadata ??= {};
      metadata[name] = headers.valueAt(i);
    }
    return metadata;
  }

  /** Envoy's Filter::onComplete. */
  private onComplete(result: CheckResult): void {
    this.state = State.Complete;
    this.request = undefined;
    const shared = this.shared;
    const callbacks = this.decoderCallbacks;
    // Envoy's onComplete: the service's dynamic metadata, under the filter's name, whatever it decided.
    const metadata = result.status === "error" ? undefined : result.dynamicMetadata;
    if (metadata !== undefined && Object.keys(metadata).length > 0) callbacks.streamInfo.setDynamicMetadata(EXT_AUTHZ_NAMESPACE, metadata);
    switch (result.status) {
      case "ok": {
        const headers = this.requestHeaders!;
        for (const [name, value] of result.headersToSet) headers.set(name, value);
        for (const [name, value] of result.headersToAppend) {
          // Envoy appends to an existing header only, joined with ",".
          const existing = headers.getJoined(name, ",");
          if (existing !== undefined) headers.set(name, `${existing},${value}`);
        }
        for (const mutation of result.headerMutations) {
          // Envoy's isModifiableHeader: no pseudo-header, no Host.
          if (!mutation.name.startsWith(":") && !NOT_REMOVABLE.has(mutation.name)) applyMutation(headers, mutation);
        }
        for (const name of result.headersToRemove) if (!name.startsWith(":") && !NOT_REMOVABLE.has(name)) headers.remove(name);
        const toSet = result.queryParametersToSet ?? NO_PARAMETERS;
        const toRemove = result.queryParametersToRemove ?? NO_NAMES;
        const queryChanged = toSet.length > 0 || toRemove.length > 0;
        if (queryChanged) headers.path = rewriteQuery(headers.path, toSet, toRemove);
        if (result.responseHeadersToAdd.length > 0) this.responseHeadersToAdd = result.responseHeadersToAdd;
        if (shared.config.clearRouteCache && (queryChanged || result.headersToSet.length > 0 || result.headersToAppend.length > 0 || result.headerMutations.length > 0 || result.headersToRemove.length > 0)) {
          callbacks.clearRouteCache();
        }
        this.countCluster("ok");
        shared.ok.inc();
        this.continueDecoding();
        return;
      }
      case "denied":
        shared.denied.inc();
        this.countCluster("denied");
        // ext_authz.cc onComplete, Denied: with a route cluster, chargeResponseStat with the
        // denial's status, internal_request true (charge_cluster_response_stats: polyvoy
        // takes only its default, true).
        this.clusterCounters?.cluster.chargeFilterResponse(result.code);
        callbacks.streamInfo.setResponseFlag(CoreResponseFlag.UnauthorizedExternalService);
        callbacks.sendLocalReply(result.code, result.body, DENIED, undefined, result.headers);
        return;
      case "error":
        this.countCluster("error");
        shared.error.inc();
        if (shared.config.failureModeAllow) {
          shared.failureModeAllowed.inc();
          this.countCluster("failure_mode_allowed");
          if (shared.config.failureModeAllowHeaderAdd) this.requestHeaders!.add(FAILURE_MODE_ALLOWED_HEADER, "true");
          this.continueDecoding();
          return;
        }
        callbacks.streamInfo.setResponseFlag(CoreResponseFlag.UnauthorizedExternalService);
        callbacks.sendLocalReply(shared.config.statusOnError, "", ERROR);
        return;
    }
  }

  private countCluster(name: Exclude<keyof ClusterCounters, "cluster">): void {
    this.clusterCounters?.[name].inc();
  }

  private continueDecoding(): void {
    // The request went to the service: no more buffering for it.
    this.bufferData = false;
    this.stopped = false;
    if (!this.initiatingCall) this.decoderCallbacks.continueDecoding();
  }
}

const PARTIAL_BODY_HEADER = "x-envoy-auth-partial-body";
const NO_EXTENSIONS: Readonly<Record<string, string>> = {};
const NO_PARAMETERS: readonly [string, string][] = [];
const NO_NAMES: readonly string[] = [];
/** Where the filter's dynamic metadata goes (Envoy's HttpFilterNames ExtAuthorization). */
const EXT_AUTHZ_NAMESPACE = "envoy.filters.http.ext_authz";

/**
 * The path with its query changed as Envoy's QueryParamsMulti does (source/common/http/utility.cc):
 * the parameters parsed (not decoded), each to set replacing all of its name, each to remove
 * gone, then written back sorted by name (its btree_map), "name=value" joined by "&"; no "?"
 * when none is left.
 */
function rewriteQuery(path: string, toSet: readonly [string, string][], toRemove: readonly string[]): string {
  const start = path.indexOf("?");
  const base = start < 0 ? path : path.slice(0, start);
  const params = new Map<string, string[]>();
  if (start >= 0) {
    for (const param of path.slice(start + 1).split("&")) {
      if (param === "") continue;
      const equals = param.indexOf("=");
      const name = equals < 0 ? param : param.slice(0, equals);
      const value = equals < 0 ? "" : param.slice(equals + 1);
      const values = params.get(name);
      if (values === undefined) params.set(name, [value]);
      else values.push(value);
    }
  }
  for (const [name, value] of toSet) params.set(name, [value]);
  for (const name of toRemove) params.delete(name);
  if (params.size === 0) return base;
  const names = [...params.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const parts: string[] = [];
  for (const name of names) for (const value of params.get(name)!) parts.push(`${name}=${value}`);
  return `${base}?${parts.join("&")}`;
}

/** Envoy's setAttrContextPeer for the remote peer: its first URI SAN, else its first DNS SAN, else its subject. */
function peerPrincipal(cert: TlsPeerCertificate): string {
  let dns: string | undefined;
  for (const san of cert.subjectAltNames) {
    if (san.type === "URI") return san.value;
    if (san.type === "DNS" && dns === undefined) dns = san.value;
  }
  return dns ?? cert.subject;
}

function isValidMutation(m: HeaderMutation): boolean {
  return isValidHeaderField(m.name, m.value);
}

/** One HeaderValueOption on a header map, by its append_action (Envoy's ext_authz filter, onComplete). */
function applyMutation(headers: HeaderMap, m: HeaderMutation): void {
  switch (m.action) {
    case HeaderAppendAction.AppendIfExistsOrAdd: {
      const existing = m.appendJoined ? headers.getJoined(m.name, ",") : undefined;
      if (existing !== undefined) headers.set(m.name, `${existing},${m.value}`);
      else headers.add(m.name, m.value);
      return;
    }
    case HeaderAppendAction.AddIfAbsent:
      if (!headers.has(m.name)) headers.add(m.name, m.value);
      return;
    case HeaderAppendAction.OverwriteIfExistsOrAdd:
      headers.set(m.name, m.value);
      return;
    case HeaderAppendAction.OverwriteIfExists:
      if (headers.has(m.name)) headers.set(m.name, m.value);
      return;
  }
}
