/**
 * Envoy's global rate limit HTTP filter (source/extensions/filters/http/ratelimit/ratelimit.cc,
 * with filters/common/ratelimit/ratelimit_impl.cc as its client): the route's (and, as
 * vh_rate_limits says, the virtual host's) `rate_limits` of the filter's stage make
 * descriptors (core/http/route/rate-limit-policy.ts); with any, the request waits for
 * envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit on the gRPC async client.
 * - OK: the request goes on with the service's request_headers_to_add; its
 *   response_headers_to_add join the response.
 * - OVER_LIMIT: a local reply, rate_limited_status (429) with the service's raw_body,
 *   `x-envoy-ratelimited: true` (unless disabled), details request_rate_limited, flag RL;
 *   to a gRPC client RESOURCE_EXHAUSTED with rate_limited_as_resource_exhausted.
 * - A failed call (an error status, the timeout, no service): the request goes on, unless
 *   failure_mode_deny: then status_on_error (500), details rate_limiter_error, flag RLSE.
 * enable_x_ratelimit_headers adds x-ratelimit-limit/-remaining/-reset (DRAFT_VERSION_03,
 * filters/http/common/ratelimit_headers.cc) from the descriptor statuses.
 * Stats: cluster.<the route's cluster>.ratelimit.{ok,over_limit,error,failure_mode_allowed}.
 */
import type { RateLimitConfig, RateLimitPerRouteConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Counter } from "../../stats/counter.ts";
import { CoreResponseFlag } from "../../stream-info/response-flags.ts";
import { PerConfig } from "../../util/per-config.ts";
import { ProtoDecodeError } from "../../util/protobuf-wire.ts";
import { latin1Decode } from "../../util/latin1.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
} from "../filter.ts";
import { GrpcStatus } from "../grpc-common.ts";
import { GrpcAsyncClient, type GrpcUnaryCallbacks, type GrpcUnaryRequest } from "../grpc-async-client.ts";
import { isValidHeaderField } from "../headers-util.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import { populateDescriptors, routeDescriptors, type DescriptorContext, type RateLimitDescriptor } from "../route/rate-limit-policy.ts";
import { applyHeaderValueOptions } from "../route/custom-headers.ts";
import { routeCluster } from "../route/route-cluster.ts";
import type { ClusterStats } from "../../upstream/cluster-stats.ts";
import { decodeRateLimitResponse, encodeRateLimitRequest, RateLimitCode, SHOULD_RATE_LIMIT_METHOD, type DescriptorStatus } from "./ratelimit-proto.ts";

const RATE_LIMITED = "request_rate_limited";
const RATE_LIMITER_ERROR = "rate_limiter_error";
const NO_REMOVALS: readonly string[] = [];

interface ClusterCounters {
  /** The route cluster's own stats: an over-limit answer is charged to them. */
  cluster: ClusterStats;
  ok: Counter;
  overLimit: Counter;
  error: Counter;
  failureModeAllowed: Counter;
}

/** What one ratelimit filter's streams share. */
export class RateLimitFilterConfig {
  readonly client: GrpcAsyncClient;
  private readonly clusterCounters = new Map<string, ClusterCounters>();

  constructor(
    readonly config: RateLimitConfig,
    readonly server: ServerContext,
  ) {
    this.client = new GrpcAsyncClient(server);
    if (config.unusedServiceTimeoutMs !== undefined) {
      server.log.warn(
        `ratelimit: rate_limit_service.grpc_service.timeout (${config.unusedServiceTimeoutMs}ms) does not bound the call: as in Envoy, the filter's timeout (${config.timeoutMs}ms) does — set \`timeout\` on the filter`,
      );
    }
  }

  /** Envoy counts on the route's cluster (cluster_->statsScope()); undefined for no such cluster. */
  clusterStats(cluster: string): ClusterCounters | undefined {
    let counters = this.clusterCounters.get(cluster);
    if (counters === undefined) {
      const found = this.server.clusterManager.get(cluster);
      if (found === undefined) return undefined;
      const scope = this.server.stats.scope(`cluster.${cluster}.ratelimit.`);
      counters = { cluster: found.stats, ok: scope.counter("ok"), overLimit: scope.counter("over_limit"), error: scope.counter("error"), failureModeAllowed: scope.counter("failure_mode_allowed") };
      this.clusterCounters.set(cluster, counters);
    }
    return counters;
  }
}

const CONFIGS = new PerConfig((config: RateLimitConfig, server: ServerContext) => new RateLimitFilterConfig(config, server));

export function rateLimitFilterConfig(config: RateLimitConfig, server: ServerContext): RateLimitFilterConfig {
  return CONFIGS.get(config, server);
}

const enum State {
  NotStarted,
  Calling,
  Complete,
  Responded,
}

const enum LimitStatus {
  Ok,
  OverLimit,
  Error,
}

/** RateLimitResponse.RateLimit.Unit → seconds (Envoy's convertRateLimitUnit); 0 for UNKNOWN. */
const UNIT_SECONDS = [0, 1, 60, 3600, 86400, 86400 * 30, 86400 * 365];

export class RateLimitFilter implements StreamFilter, GrpcUnaryCallbacks {
  private decoderCallbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private state = State.NotStarted;
  private initiatingCall = false;
  private request: GrpcUnaryRequest | undefined;
  private requestHeaders: RequestHeaders | undefined;
  private counters: ClusterCounters | undefined;
  /** This filter answered over-limit: its local reply gets response_headers_to_add. */
  private overLimitReply = false;
  /** The service's response headers and the x-ratelimit ones, for the response. */
  private responseHeadersToAdd: [string, string][] | undefined;

  constructor(private readonly shared: RateLimitFilterConfig) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoderCallbacks = callbacks;
  }

  setEncoderFilterCallbacks(_callbacks: EncoderFilterCallbacks): void {}

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    this.initiateCall(headers);
    return this.state === State.Calling || this.state === State.Responded ? FilterHeadersStatus.StopIteration : FilterHeadersStatus.Continue;
  }

  decodeData(): FilterDataStatus {
    return this.state === State.Calling ? FilterDataStatus.StopIterationAndWatermark : FilterDataStatus.Continue;
  }

  decodeTrailers(): FilterTrailersStatus {
    return this.state === State.Calling ? FilterTrailersStatus.StopIteration : FilterTrailersStatus.Continue;
  }

  encodeHeaders(headers: ResponseHeaders, _endStream: boolean): FilterHeadersStatus {
    // Our own local reply carried them already.
    if (this.state !== State.Responded && this.responseHeadersToAdd !== undefined) for (const [name, value] of this.responseHeadersToAdd) headers.add(name, value);
    // The filter's response_headers_to_add, on the rate-limited reply only, after the service's
    // (Envoy's complete(): responseHeadersParser().evaluateHeaders in the local reply's callback).
    if (this.overLimitReply) {
      this.overLimitReply = false;
      applyHeaderValueOptions(headers, NO_REMOVALS, this.shared.config.responseHeadersToAdd, this.decoderCallbacks, headers);
    }
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

  /** Envoy's Filter::initiateCall. */
  private initiateCall(headers: RequestHeaders): void {
    const config = this.shared.config;
    const internal = headers.get("x-envoy-internal") === "true";
    if ((config.requestType === "internal" && !internal) || (config.requestType === "external" && internal)) return;
    const callbacks = this.decoderCallbacks;
    const match = callbacks.route;
    if (match === undefined || match.route.action.type !== "route") return;
    const action = match.route.action.route;
    // Envoy's callbacks_->clusterInfo(): the cluster chosen for this stream when its route was
    // resolved (a weighted_clusters pick, a cluster_header's value), the one the router will use.
    const cluster = routeCluster(callbacks, this.shared.server.runtime);
    const counters = this.shared.clusterStats(cluster);
    if (counters === undefined) return;
    this.counters = counters;
    const context: DescriptorContext = {
      localServiceCluster: this.shared.server.localClusterName,
      destinationCluster: cluster,
      // A Unix socket peer has no IP: no remote_address descriptor (Envoy's RemoteAddressAction: not Ip).
      remoteAddress: callbacks.streamInfo.downstreamRemoteIp || (callbacks.downstreamRemoteAddress?.family === "unix" ? "" : (callbacks.downstreamRemoteAddress?.address ?? "")),
    };
    // Envoy's populateRateLimitDescriptors: the route's RateLimitPerRoute rate_limits, else
    // the filter's own, else the route's and (as vh_rate_limits says) the virtual host's.
    const perRoute = callbacks.mostSpecificPerFilterConfig<RateLimitPerRouteConfig>();
    const own = perRoute?.rateLimits ?? config.rateLimits;
    let descriptors: RateLimitDescriptor[];
    if (own !== undefined) {
      descriptors = [];
      populateDescriptors(own, config.stage, headers, context, descriptors);
    } else {
      descriptors = routeDescriptors(action, match.virtualHost, config.stage, perRoute?.vhRateLimits ?? "OVERRIDE", headers, context);
    }
    if (descriptors.length === 0) return;
    // RateLimitPerRoute's domain replaces the filter's (Envoy's getDomain).
    const domain = perRoute !== undefined && perRoute.domain !== "" ? perRoute.domain : config.domain;
    this.requestHeaders = headers;
    this.state = State.Calling;
    this.initiatingCall = true;
    this.request = this.shared.client.send(config.service, SHOULD_RATE_LIMIT_METHOD, encodeRateLimitRequest(domain, descriptors), this, config.timeoutMs);
    this.initiatingCall = false;
  }

  /** @internal GrpcUnaryCallbacks */
  onSuccess(message: Uint8Array): void {
    let response;
    try {
      response = decodeRateLimitResponse(message);
    } catch (e) {
      if (e instanceof ProtoDecodeError) return this.complete(LimitStatus.Error, [], [], [], "");
      throw e;
    }
    const status = response.overallCode === RateLimitCode.OverLimit ? LimitStatus.OverLimit : LimitStatus.Ok;
    const valid = ([name, value]: [string, string]) => isValidHeaderField(name, value);
    this.complete(status, response.statuses, response.responseHeadersToAdd.filter(valid), response.requestHeadersToAdd.filter(valid), latin1Decode(response.rawBody, 0, response.rawBody.byteLength));
  }

  /** @internal GrpcUnaryCallbacks */
  onFailure(): void {
    this.complete(LimitStatus.Error, [], [], [], "");
  }

  /** Envoy's Filter::complete. */
  private complete(status: LimitStatus, statuses: DescriptorStatus[], responseHeaders: [string, string][], requestHeaders: [string, string][], body: string): void {
    if (this.state !== State.Calling) return;
    this.state = State.Complete;
    this.request = undefined;
    const shared = this.shared;
    const config = shared.config;
    const counters = this.counters!;
    if (status === LimitStatus.Ok) counters.ok.inc();
    else if (status === LimitStatus.OverLimit) {
      counters.overLimit.inc();
      // ratelimit.cc: chargeResponseStat with the rate-limited status, internal_request true.
      counters.cluster.chargeFilterResponse(config.rateLimitedStatus);
    } else counters.error.inc();
    const toAdd = responseHeaders.slice();
    if (config.enableXRateLimitHeaders) xRateLimitHeaders(statuses, toAdd);
    if (toAdd.length > 0) this.responseHeadersToAdd = toAdd;
    const callbacks = this.decoderCallbacks;
    if (status === LimitStatus.OverLimit) {
      this.state = State.Responded;
      this.overLimitReply = this.shared.config.responseHeadersToAdd.length > 0;
      const extra: [string, string][] = config.disableXEnvoyRateLimitedHeader ? toAdd : [["x-envoy-ratelimited", "true"], ...toAdd];
      const grpcStatus = config.rateLimitedAsResourceExhausted ? GrpcStatus.ResourceExhausted : undefined;
      callbacks.sendLocalReply(config.rateLimitedStatus, body, RATE_LIMITED, CoreResponseFlag.RateLimited, extra, grpcStatus);
      return;
    }
    if (status === LimitStatus.Error && config.failureModeDeny) {
      this.state = State.Responded;
      callbacks.sendLocalReply(config.statusOnError, body, RATE_LIMITER_ERROR, CoreResponseFlag.RateLimitServiceError);
      return;
    }
    if (status === LimitStatus.Error) counters.failureModeAllowed.inc();
    const headers = this.requestHeaders!;
    for (const [name, value] of requestHeaders) headers.add(name, value);
    if (!this.initiatingCall) callbacks.continueDecoding();
  }
}

/** Envoy's XRateLimitHeaderUtils::create (DRAFT_VERSION_03): the tightest limit, and every limit's quota policy. */
function xRateLimitHeaders(statuses: readonly DescriptorStatus[], out: [string, string][]): void {
  let min: DescriptorStatus | undefined;
  let quotaPolicy = "";
  for (const status of statuses) {
    const limit = status.currentLimit;
    if (limit === undefined) continue;
    if (min === undefined || status.limitRemaining < min.limitRemaining) min = status;
    const window = UNIT_SECONDS[limit.unit] ?? 0;
    if (window > 0) {
      quotaPolicy += `, ${limit.requestsPerUnit};w=${window}`;
      if (limit.name !== "") quotaPolicy += `;name="${limit.name}"`;
    }
  }
  if (min === undefined) return;
  out.push(["x-ratelimit-limit", `${min.currentLimit!.requestsPerUnit}${quotaPolicy}`]);
  out.push(["x-ratelimit-remaining", String(min.limitRemaining)]);
  out.push(["x-ratelimit-reset", String(min.secondsUntilReset)]);
}
