/**
 * Envoy's health_check HTTP filter (source/extensions/filters/http/health_check/health_check.cc),
 * so another proxy can health-check this one. A request matching every `headers`
 * matcher is a health check: answered here with 200 — or 503 while the admin's
 * /healthcheck/fail is in effect, or while a cluster of cluster_min_healthy_percentages
 * has too few healthy hosts — unless pass_through_mode sends it on to the upstream.
 * In pass-through mode with cache_time, the last health-check answer is reused until the
 * cache is next cleared, every cache_time.
 * Answers to other requests carry `x-envoy-immediate-health-check-fail: true` while
 * failed, which tells a checking Envoy to exclude this host at once.
 */
import type { HealthCheckFilterConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import { CoreResponseFlag } from "../../stream-info/response-flags.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
} from "../filter.ts";
import type { HeaderMap } from "../header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import { compileHeaderMatcher, type HeaderSource } from "../route/header-matcher.ts";
import { PerConfig } from "../../util/per-config.ts";

/** Envoy's response code details of this filter (RcDetailsValues). */
const DETAILS = {
  ok: "health_check_ok",
  failed: "health_check_failed",
  cached: "health_check_cached",
  noCluster: "health_check_failed_no_cluster_found",
  clusterEmpty: "health_check_failed_cluster_empty",
  clusterHealthy: "health_check_ok_cluster_healthy",
  clusterUnhealthy: "health_check_failed_cluster_unhealthy",
} as const;

/**
 * What one filter config shares between its streams: the compiled matchers and the
 * cached answer (Envoy's HealthCheckCacheManager, health_check.cc). Envoy's manager,
 * made with the filter config, clears the cache on a timer every cache_time from then,
 * whenever the answer came; every health-check answer sets it, the filter's own (a 503
 * while failed, a cached one) too. Here the clearings are counted from `clearedFrom`
 * instead of run: the same windows, and no timer firing forever.
 */
export class HealthCheckFilterShared {
  private readonly matchers: ((headers: HeaderSource) => boolean)[];
  private cachedStatus = 0;
  private cachedDegraded = false;
  private cachedAt = -Infinity;
  /** When the manager was made: the cache is cleared at every cache_time after it. */
  private readonly clearedFrom: number;

  constructor(
    readonly config: HealthCheckFilterConfig,
    private readonly server: ServerContext,
  ) {
    this.matchers = config.headers.map(compileHeaderMatcher);
    this.clearedFrom = server.runtime.now();
  }

  matches(headers: RequestHeaders): boolean {
    for (const matcher of this.matchers) if (!matcher(headers)) return false;
    return true;
  }

  get caching(): boolean {
    return this.config.cacheTimeMs > 0;
  }

  /** An answer was cached since the last clearing (Envoy's use_cached_response_). */
  useCachedResponse(): boolean {
    if (!this.caching) return false;
    const period = this.config.cacheTimeMs;
    const lastCleared = this.clearedFrom + Math.floor((this.server.runtime.now() - this.clearedFrom) / period) * period;
    return this.cachedAt >= lastCleared;
  }

  setCachedResponse(status: number, degraded: boolean): void {
    this.cachedStatus = status;
    this.cachedDegraded = degraded;
    this.cachedAt = this.server.runtime.now();
  }

  get cachedResponse(): { status: number; degraded: boolean } {
    return { status: this.cachedStatus, degraded: this.cachedDegraded };
  }
}

/** Configs seen so far → what their streams share (one per http_filters entry). */
const SHARED = new PerConfig((config: HealthCheckFilterConfig, server: ServerContext) => new HealthCheckFilterShared(config, server));

export function healthCheckFilterShared(config: HealthCheckFilterConfig, server: ServerContext): HealthCheckFilterShared {
  return SHARED.get(config, server);
}

export class HealthCheckFilter implements StreamFilter {
  private decoderCallbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private healthCheckRequest = false;
  /** This filter answers the request itself. */
  private handling = false;

  constructor(
    private readonly shared: HealthCheckFilterShared,
    private readonly server: ServerContext,
  ) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoderCallbacks = callbacks;
  }

  setEncoderFilterCallbacks(_callbacks: EncoderFilterCallbacks): void {}

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    if (this.shared.matches(headers)) {
      this.healthCheckRequest = true;
      this.decoderCallbacks.streamInfo.healthCheck = true;
      // Answer here unless passing through — but a failed server, or a fresh cached answer, answers here anyway.
      if (!this.shared.config.passThroughMode || this.server.healthCheckFailed() || this.shared.useCachedResponse()) this.handling = true;
    }
    if (endStream && this.handling) this.onComplete();
    return this.handling ? FilterHeadersStatus.StopIteration : FilterHeadersStatus.Continue;
  }

  decodeData(_data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (endStream && this.handling) this.onComplete();
    return this.handling ? FilterDataStatus.StopIterationNoBuffer : FilterDataStatus.Continue;
  }

  decodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    if (this.handling) this.onComplete();
    return this.handling ? FilterTrailersStatus.StopIteration : FilterTrailersStatus.Continue;
  }

  encodeHeaders(headers: ResponseHeaders, _endStream: boolean): FilterHeadersStatus {
    if (this.healthCheckRequest) {
      // Envoy's encodeHeaders: any health-check answer, the filter's own included.
      if (this.shared.caching) this.shared.setCachedResponse(headers.status, headers.get("x-envoy-degraded") !== undefined);
      headers.set("x-envoy-upstream-healthchecked-cluster", this.server.localClusterName);
    } else if (this.server.healthCheckFailed()) {
      headers.set("x-envoy-immediate-health-check-fail", "true");
    }
    return FilterHeadersStatus.Continue;
  }

  encodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  encodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  onDestroy(): void {}

  /** Envoy's HealthCheckFilter::onComplete: the answer, by the first rule that applies. */
  private onComplete(): void {
    const callbacks = this.decoderCallbacks;
    let status = 200;
    let details: string = DETAILS.ok;
    let degraded = false;
    if (this.server.healthCheckFailed()) {
      callbacks.sendLocalReply(503, "", DETAILS.failed, CoreResponseFlag.FailedLocalHealthCheck);
      return;
    }
    if (this.shared.caching) {
      const cached = this.shared.cachedResponse;
      status = cached.status;
      degraded = cached.degraded;
      details = DETAILS.cached;
    } else {
      for (const [name, minHealthyPercentage] of this.shared.config.clusterMinHealthyPercentages) {
        details = DETAILS.clusterHealthy;
        const cluster = this.server.clusterManager.get(name);
        if (!cluster) {
          status = 503;
          details = DETAILS.noCluster;
          break;
        }
        const stats = cluster.stats;
        const total = stats.membershipTotal.value;
        // Envoy truncates the percentage to an integer.
        const minimum = Math.floor(minHealthyPercentage);
        if (total === 0) {
          if (minimum === 0) continue;
          status = 503;
          details = DETAILS.clusterEmpty;
          break;
        }
        // Available: healthy or degraded.
        if (stats.membershipHealthy.value + stats.membershipDegraded.value < (total * minimum) / 100) {
          status = 503;
          details = DETAILS.clusterUnhealthy;
          break;
        }
      }
    }
    const flag = status >= 200 && status < 300 ? undefined : CoreResponseFlag.FailedLocalHealthCheck;
    callbacks.sendLocalReply(status, "", details, flag, degraded ? [["x-envoy-degraded", ""]] : undefined);
  }
}
