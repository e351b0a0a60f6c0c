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
 * - 5xx, a failed connection, a reset, the timeout: Error — with failure_mode_allow the
 *   request goes on (x-envoy-auth-failure-mode-allowed: true if asked), else
 *   status_on_error (403) with an empty body, details ext_authz_error, flag UAEX.
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
import type { HttpFilterChainContext } from "./http-filter-registry.ts";

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

/** What one ext_authz filter's streams share: the compiled config, the client, the stats. */
export class ExtAuthzFilterConfig {
  readonly requestHeaders: KeyMatcher;
  readonly upstreamHeaders: KeyMatcher;
  readonly upstreamHeadersToAppend: KeyMatcher;
  readonly clientHeaders: KeyMatcher;
  readonly clientHeadersOnSuccess: KeyMatcher;
  readonly client: AsyncClient;
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
    this.upstreamHeaders = config.allowedUpstreamHeaders.length > 0 ? keyMatcher(config.allowedUpstreamHeaders) : NOTHING;
    this.upstreamHeadersToAppend = config.allowedUpstreamHeadersToAppend.length > 0 ? keyMatcher(config.allowedUpstreamHeadersToAppend) : NOTHING;
    // No list: every header but Host; a list: its headers and a few a denial needs.
    this.clientHeaders = config.allowedClientHeaders.length > 0 ? keyMatcher(config.allowedClientHeaders, CLIENT_HEADERS_WITH_A_LIST) : (name) => name !== "host" && name !== ":authority";
    this.clientHeadersOnSuccess = config.allowedClientHeadersOnSuccess.length > 0 ? keyMatcher(config.allowedClientHeadersOnSuccess) : NOTHING;
    this.client = new AsyncClient(server);
    const prefix = `http.${chain.statPrefix}.ext_authz.${config.statPrefix === "" ? "" : config.statPrefix + "."}`;
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
      if (this.server.clusterManager.get(cluster) === undefined) return undefined;
      const prefix = `cluster.${cluster}.ext_authz.`;
      const stats = this.server.stats;
      counters = {
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
  | { status: "ok"; headersToSet: [string, string][]; headersToAppend: [string, string][]; headersToRemove: string[]; responseHeadersToAdd: [string, string][] }
  | { status: "denied"; code: number; body: string; headers: [string, string][] }
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
  private request: AsyncRequest | undefined;
  private responseHeadersToAdd: [string, string][] | undefined;
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
    // Envoy's HTTP client appends them (addCopy).
    if (add !== undefined) for (const [name, value] of add) headers.add(name, value);
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
    const action = callbacks.route?.route.action;
    const cluster = action?.type === "route" ? action.route.cluster : undefined;
    this.clusterCounters = cluster === undefined ? undefined : shared.clusterStats(cluster);
    const headers = this.requestHeaders!;
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
    for (const [name, value] of config.headersToAdd) check.set(name, value);
    const body = this.bufferData ? this.checkBody(lastData) : undefined;
    this.state = State.Calling;
    this.stopped = true;
    this.initiatingCall = true;
    this.request = shared.client.send(config.cluster, check, body, this, { timeoutMs: config.timeoutMs });
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
      const result: CheckResult = { status: "ok", headersToSet: [], headersToAppend: [], headersToRemove, responseHeadersToAdd: [] };
      for (let i = 0; i < headers.size; i++) {
        const name = headers.nameAt(i);
        if (name === HEADERS_TO_REMOVE) continue;
        const value = headers.valueAt(i);
        if (shared.upstreamHeaders(name)) result.headersToSet.push([name, value]);
        if (shared.upstreamHeadersToAppend(name)) result.headersToAppend.push([name, value]);
        if (shared.clientHeadersOnSuccess(name)) result.responseHeadersToAdd.push([name, value]);
      }
      return result;
    }
    const copied: [string, string][] = [];
    for (let i = 0; i < headers.size; i++) {
      const name = headers.nameAt(i);
      if (name === HEADERS_TO_REMOVE || NEVER_COPIED.has(name)) continue;
      if (shared.clientHeaders(name)) copied.push([name, headers.valueAt(i)]);
    }
    return { status: "denied", code: status, body: latin1Decode(response.body, 0, response.body.byteLength), headers: copied };
  }

  /** Envoy's Filter::onComplete. */
  private onComplete(result: CheckResult): void {
    this.state = State.Complete;
    this.request = undefined;
    const shared = this.shared;
    const callbacks = this.decoderCallbacks;
    switch (result.status) {
      case "ok": {
        const headers = this.requestHeaders!;
        for (const [name, value] of result.headersToSet) headers.set(name, value);
        for (const [name, value] of result.headersToAppend) {
          // Envoy appends to an existing header only, joined with ",".
          const existing = headers.getJoined(name, ",");
          if (existing !== undefined) headers.set(name, `${existing},${value}`);
        }
        for (const name of result.headersToRemove) if (!name.startsWith(":") && !NOT_REMOVABLE.has(name)) headers.remove(name);
        if (result.responseHeadersToAdd.length > 0) this.responseHeadersToAdd = result.responseHeadersToAdd;
        if (shared.config.clearRouteCache && (result.headersToSet.length > 0 || result.headersToAppend.length > 0 || result.headersToRemove.length > 0)) {
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

  private countCluster(name: keyof ClusterCounters): void {
    this.clusterCounters?.[name].inc();
  }

  private continueDecoding(): void {
    // The request went to the service: no more buffering for it.
    this.bufferData = false;
    this.stopped = false;
    if (!this.initiatingCall) this.decoderCallbacks.continueDecoding();
  }
}
