/**
 * Envoy's fault HTTP filter (source/extensions/filters/http/fault/fault_filter.cc): for
 * requests that match (upstream_cluster, downstream_nodes, headers), delay the request
 * (response flag DI) and/or abort it with a local reply "fault filter abort" (response
 * flag FI), each in `percentage` of requests. With header_delay / header_abort the
 * request itself says how: x-envoy-fault-delay-request (ms) and
 * x-envoy-fault-abort-request (status; else x-envoy-fault-abort-grpc-request, a gRPC
 * status), in at most the configured percentage, lowered by
 * x-envoy-fault-delay-request-percentage / x-envoy-fault-abort-request-percentage.
 * A route's typed_per_filter_config replaces the filter's settings. max_active_faults
 * caps the requests being faulted at once (the gauge active_faults).
 */
import type { FaultConfig, FractionalPercent } from "../../config/bootstrap.ts";
import type { Timer, TimerTarget } from "../../event/timers.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Counter } from "../../stats/counter.ts";
import type { Gauge } from "../../stats/gauge.ts";
import { CoreResponseFlag } from "../../stream-info/response-flags.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type StreamDecoderFilter,
} from "../filter.ts";
import type { RequestHeaders } from "../message.ts";
import { compileHeaderMatcher, type HeaderSource } from "../route/header-matcher.ts";
import { routeCluster } from "../route/route-cluster.ts";
import type { HttpFilterChainContext } from "./http-filter-registry.ts";
import { PerConfig } from "../../util/per-config.ts";
import { sanitizeStatsPrefix } from "../../stats/sanitize-stats-name.ts";

/** Envoy's fault header names (source/extensions/filters/common/fault/fault_config.h). */
const HEADERS = {
  delayRequest: "x-envoy-fault-delay-request",
  delayRequestPercentage: "x-envoy-fault-delay-request-percentage",
  abortRequest: "x-envoy-fault-abort-request",
  abortRequestPercentage: "x-envoy-fault-abort-request-percentage",
  abortGrpcRequest: "x-envoy-fault-abort-grpc-request",
  downstreamServiceCluster: "x-envoy-downstream-service-cluster",
  downstreamServiceNode: "x-envoy-downstream-service-node",
} as const;

/** The local reply's body and response code details (Envoy's). */
const FAULT_ABORT_BODY = "fault filter abort";
const FAULT_ABORT_DETAILS = "fault_filter_abort";

/** Envoy's FaultFilterStats, `http.<hcm stat_prefix>.fault.*`. */
class FaultFilterStats {
  readonly delaysInjected: Counter;
  readonly abortsInjected: Counter;
  readonly faultsOverflow: Counter;
  readonly activeFaults: Gauge;

  constructor(
    private readonly server: ServerContext,
    /** `http.<stat_prefix>.fault.` */
    readonly prefix: string,
  ) {
    this.delaysInjected = server.stats.counter(prefix + "delays_injected");
    this.abortsInjected = server.stats.counter(prefix + "aborts_injected");
    this.faultsOverflow = server.stats.counter(prefix + "faults_overflow");
    // Envoy's response_rl_injected exists even though response_rate_limit is refused here.
    server.stats.counter(prefix + "response_rl_injected");
    this.activeFaults = server.stats.gauge(prefix + "active_faults");
  }

  /** `http.<stat_prefix>.fault.<downstream cluster>.<name>`: looked up per use, as Envoy builds the name per request. */
  downstreamCluster(cluster: string, name: "delays_injected" | "aborts_injected"): Counter {
    return this.server.stats.counter(`${this.prefix}${cluster}.${name}`);
  }
}

/** One HTTPFault (the filter's or a route's), with its header matchers compiled (Envoy's FaultSettings). */
class FaultSettings {
  readonly matchers: ((headers: HeaderSource) => boolean)[];

  constructor(readonly config: FaultConfig) {
    this.matchers = config.headers.map(compileHeaderMatcher);
  }
}

const SETTINGS = new PerConfig((config: FaultConfig) => new FaultSettings(config));

function faultSettings(config: FaultConfig): FaultSettings {
  return SETTINGS.get(config);
}

/** What the streams of one fault filter share (Envoy's FaultFilterConfig): its settings and stats. */
export class FaultFilterConfig {
  readonly settings: FaultSettings;
  readonly stats: FaultFilterStats;

  constructor(config: FaultConfig, server: ServerContext, chain: HttpFilterChainContext) {
    this.settings = faultSettings(config);
    this.stats = new FaultFilterStats(server, sanitizeStatsPrefix(`http.${chain.statPrefix}.fault.`));
  }
}

const CONFIGS = new PerConfig((config: FaultConfig, server: ServerContext, chain: HttpFilterChainContext) => new FaultFilterConfig(config, server, chain));

export function faultFilterConfig(config: FaultConfig, server: ServerContext, chain: HttpFilterChainContext): FaultFilterConfig {
  return CONFIGS.get(config, server, chain);
}

/** Envoy reads these headers with absl::SimpleAtoi: an unsigned decimal, else ignored. */
function headerNumber(headers: RequestHeaders, name: string): number | undefined {
  const value = headers.get(name);
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (!/^\+?[0-9]+$/.test(trimmed)) return undefined;
  const n = Number(trimmed);
  return n <= 0xffff_ffff ? n : undefined;
}

/** Envoy's HeaderPercentageProvider: the header's numerator, never above the configured one. */
function headerPercentage(headers: RequestHeaders, name: string, configured: FractionalPercent): FractionalPercent {
  const numerator = headerNumber(headers, name);
  if (numerator === undefined) return configured;
  return { numerator: Math.min(numerator, configured.numerator), denominator: configured.denominator };
}

export class FaultFilter implements StreamDecoderFilter, TimerTarget {
  private callbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private settings: FaultSettings;
  private delayTimer: Timer | undefined;
  /** This stream counts in active_faults (once, however many faults it gets). */
  private faultActive = false;
  /** x-envoy-downstream-service-cluster, for the per-cluster stats ("" when absent). */
  private downstreamCluster = "";
  /** With x-envoy-downstream-service-cluster: its own runtime keys (fault.http.<cluster>.*), which take precedence. */
  private clusterKeys: { delayPercent: string; abortPercent: string; delayDuration: string; abortHttpStatus: string; abortGrpcStatus: string } | undefined;
  private headers: RequestHeaders | undefined;

  constructor(
    private readonly config: FaultFilterConfig,
    private readonly server: ServerContext,
  ) {
    this.settings = config.settings;
  }

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.callbacks = callbacks;
  }

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    // Route-level configuration overrides filter-level configuration.
    const perRoute = this.callbacks.mostSpecificPerFilterConfig<FaultConfig>();
    if (perRoute !== undefined) this.settings = faultSettings(perRoute);
    const config = this.settings.config;
    if (!this.matchesTargetUpstreamCluster(config) || !this.matchesDownstreamNodes(config, headers)) return FilterHeadersStatus.Continue;
    for (const matcher of this.settings.matchers) if (!matcher(headers)) return FilterHeadersStatus.Continue;
    this.headers = headers;
    const downstreamCluster = headers.get(HEADERS.downstreamServiceCluster);
    this.downstreamCluster = downstreamCluster ?? "";
    if (downstreamCluster !== undefined) {
      // FaultFilter::decodeHeaders: a downstream cluster's keys replace the filter's for percentages.
      this.clusterKeys = {
        delayPercent: `fault.http.${downstreamCluster}.delay.fixed_delay_percent`,
        abortPercent: `fault.http.${downstreamCluster}.abort.abort_percent`,
        delayDuration: `fault.http.${downstreamCluster}.delay.fixed_duration_ms`,
        abortHttpStatus: `fault.http.${downstreamCluster}.abort.http_status`,
        abortGrpcStatus: `fault.http.${downstreamCluster}.abort.grpc_status`,
      };
    }
    if (this.maybeSetupDelay(headers)) return FilterHeadersStatus.StopIteration;
    if (this.maybeDoAbort(headers)) return FilterHeadersStatus.StopIteration;
    return FilterHeadersStatus.Continue;
  }

  decodeData(_data: Uint8Array, _endStream: boolean): FilterDataStatus {
    // While delayed, the body waits here; past the buffer limit the client is paused.
    return this.delayTimer === undefined ? FilterDataStatus.Continue : FilterDataStatus.StopIterationAndWatermark;
  }

  decodeTrailers(): FilterTrailersStatus {
    return this.delayTimer === undefined ? FilterTrailersStatus.Continue : FilterTrailersStatus.StopIteration;
  }

  onDestroy(): void {
    this.resetTimerState();
    if (this.faultActive) {
      this.config.stats.activeFaults.dec();
      this.faultActive = false;
    }
  }

  /** The delay is over (Envoy's postDelayInjection): maybe abort now, else go on. */
  onTimer(): void {
    this.resetTimerState();
    const headers = this.headers!;
    const status = this.abortStatus(headers);
    if (status !== undefined) {
      this.abortWithStatus(status.http, status.grpc);
      return;
    }
    // No longer a fault once the delay is over (no other kind is implemented to keep it active).
    this.config.stats.activeFaults.dec();
    this.faultActive = false;
    this.callbacks.continueDecoding();
  }

  private maybeSetupDelay(headers: RequestHeaders): boolean {
    const duration = this.delayDuration(headers);
    if (duration === undefined || !this.tryIncActiveFaults()) return false;
    this.delayTimer = this.server.timers.create(this);
    this.delayTimer.enable(duration);
    const stats = this.config.stats;
    if (this.downstreamCluster !== "" && !this.settings.config.disableDownstreamClusterStats) {
      stats.downstreamCluster(this.downstreamCluster, "delays_injected").inc();
    }
    stats.delaysInjected.inc();
    this.callbacks.streamInfo.setResponseFlag(CoreResponseFlag.DelayInjected);
    return true;
  }

  private maybeDoAbort(headers: RequestHeaders): boolean {
    const status = this.abortStatus(headers);
    if (status === undefined || !this.tryIncActiveFaults()) return false;
    this.abortWithStatus(status.http, status.grpc);
    return true;
  }

  private delayDuration(headers: RequestHeaders): number | undefined {
    const delay = this.settings.config.delay;
    if (delay === undefined) return undefined;
    const fixed = delay.fixedDelayMs;
    const percentage = fixed !== undefined ? delay.percentage : headerPercentage(headers, HEADERS.delayRequestPercentage, delay.percentage);
    const runtime = this.server.layeredRuntime;
    const keys = this.settings.config.runtimeKeys;
    if (!runtime.featureEnabled(percentage, this.clusterKeys?.delayPercent ?? keys.delayPercent)) return undefined;
    // header_delay without a usable header: no delay.
    const configured = fixed ?? headerNumber(headers, HEADERS.delayRequest);
    if (configured === undefined) return undefined;
    let duration = runtime.getInteger(keys.delayDuration, configured);
    if (this.clusterKeys) duration = runtime.getInteger(this.clusterKeys.delayDuration, duration);
    return duration > 0 ? duration : undefined;
  }

  /**
   * Envoy's FaultFilter::abortStatus: an HTTP status wins; else a gRPC status, sent as a
   * local reply of HTTP 200 carrying it (the gRPC reply to a gRPC request).
   */
  private abortStatus(headers: RequestHeaders): { http: number; grpc?: number } | undefined {
    const abort = this.settings.config.abort;
    if (abort === undefined) return undefined;
    const fixed = abort.httpStatus !== undefined || abort.grpcStatus !== undefined;
    const percentage = fixed ? abort.percentage : headerPercentage(headers, HEADERS.abortRequestPercentage, abort.percentage);
    const runtime = this.server.layeredRuntime;
    const keys = this.settings.config.runtimeKeys;
    if (!runtime.featureEnabled(percentage, this.clusterKeys?.abortPercent ?? keys.abortPercent)) return undefined;
    let status = abort.httpStatus;
    // Envoy's HeaderAbortProvider: only a status in [200, 600) aborts.
    if (!fixed) {
      const header = headerNumber(headers, HEADERS.abortRequest);
      if (header !== undefined && header >= 200 && header < 600) status = header;
    }
    if (status !== undefined) {
      // FaultFilter::abortHttpStatus: the downstream cluster's key, else the filter's, over the configured status.
      const overridden = this.clusterKeys ? runtime.getInteger(this.clusterKeys.abortHttpStatus, status) : runtime.getInteger(keys.abortHttpStatus, status);
      // A runtime value that is no HTTP status cannot be sent; the configured one is.
      return { http: overridden >= 200 && overridden < 600 ? overridden : status };
    }
    const grpc = fixed ? abort.grpcStatus : headerNumber(headers, HEADERS.abortGrpcRequest);
    if (grpc === undefined) return undefined;
    // FaultFilter::abortGrpcStatus: the downstream cluster's key replaces the filter's, both over the configured status.
    return { http: 200, grpc: runtime.getInteger(this.clusterKeys?.abortGrpcStatus ?? keys.abortGrpcStatus, grpc) };
  }

  private abortWithStatus(status: number, grpcStatus?: number): void {
    const stats = this.config.stats;
    if (this.downstreamCluster !== "" && !this.settings.config.disableDownstreamClusterStats) {
      stats.downstreamCluster(this.downstreamCluster, "aborts_injected").inc();
    }
    stats.abortsInjected.inc();
    this.callbacks.sendLocalReply(status, FAULT_ABORT_BODY, FAULT_ABORT_DETAILS, CoreResponseFlag.FaultInjected, undefined, grpcStatus);
  }

  /** Envoy's tryIncActiveFaults: one active fault per stream; over max_active_faults, faults_overflow and no fault. */
  private tryIncActiveFaults(): boolean {
    if (this.faultActive) return true;
    const stats = this.config.stats;
    const config = this.settings.config;
    const max = this.server.layeredRuntime.getInteger(config.runtimeKeys.maxActiveFaults, config.maxActiveFaults ?? Infinity);
    if (stats.activeFaults.value >= max) {
      stats.faultsOverflow.inc();
      return false;
    }
    stats.activeFaults.inc();
    this.faultActive = true;
    return true;
  }

  /** upstream_cluster: the route's cluster, as chosen for this stream (a weighted_clusters pick included). */
  private matchesTargetUpstreamCluster(config: FaultConfig): boolean {
    if (config.upstreamCluster === "") return true;
    return this.callbacks.route?.route.action.type === "route" && routeCluster(this.callbacks, this.server.runtime) === config.upstreamCluster;
  }

  private matchesDownstreamNodes(config: FaultConfig, headers: RequestHeaders): boolean {
    if (config.downstreamNodes.length === 0) return true;
    const node = headers.get(HEADERS.downstreamServiceNode);
    return node !== undefined && config.downstreamNodes.includes(node);
  }

  private resetTimerState(): void {
    if (this.delayTimer !== undefined) {
      this.delayTimer.disable();
      this.delayTimer = undefined;
    }
  }
}
