/**
 * Envoy's local_ratelimit HTTP filter (source/extensions/filters/http/local_ratelimit/
 * local_ratelimit.cc): when enabled for a request (filter_enabled), the request takes a
 * token from the bucket of the most specific config — the route's, virtual host's or
 * route configuration's typed_per_filter_config, else the filter's own. Without a token
 * it is counted as rate limited and, when enforced (filter_enforced), answered locally:
 * 429 (or `status`) "local_rate_limited" with response_headers_to_add, response flag RL.
 * Not enforced, it goes on with request_headers_to_add_when_not_enforced.
 * Envoy's local filter sends no `x-envoy-ratelimited` (the global ratelimit filter does).
 */
import { GrpcStatus } from "../grpc-common.ts";
import type { LocalRateLimitConfig } from "../../config/bootstrap.ts";
import { approximateNow } from "../../event/dispatch-scope.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Counter } from "../../stats/counter.ts";
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
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import { applyHeaderValueOptions } from "../route/custom-headers.ts";
import { TokenBucket } from "./token-bucket.ts";
import { PerConfig } from "../../util/per-config.ts";

/** The local reply's body and response code details (Envoy's, both "local_rate_limited"). */
const LOCAL_RATE_LIMITED = "local_rate_limited";
const NO_REMOVALS: readonly string[] = [];

/** Envoy's LocalRateLimitStats, `<stat_prefix>.http_local_rate_limit.*`. */
class LocalRateLimitStats {
  readonly enabled: Counter;
  readonly enforced: Counter;
  readonly rateLimited: Counter;
  readonly ok: Counter;

  constructor(server: ServerContext, statPrefix: string) {
    const scope = server.stats.scope(`${statPrefix}.http_local_rate_limit.`);
    this.enabled = scope.counter("enabled");
    this.enforced = scope.counter("enforced");
    this.rateLimited = scope.counter("rate_limited");
    this.ok = scope.counter("ok");
  }
}

/** One config's limiter (Envoy's FilterConfig): its bucket and stats, shared by every stream it applies to. */
export class LocalRateLimiter {
  readonly stats: LocalRateLimitStats;
  readonly bucket: TokenBucket | undefined;

  constructor(
    readonly config: LocalRateLimitConfig,
    private readonly server: ServerContext,
  ) {
    this.stats = new LocalRateLimitStats(server, config.statPrefix);
    this.bucket = config.tokenBucket && new TokenBucket(config.tokenBucket, server.runtime.now());
  }

  enabled(): boolean {
    return this.config.filterEnabled !== undefined && this.server.layeredRuntime.featureEnabled(this.config.filterEnabled);
  }

  enforced(): boolean {
    return this.config.filterEnforced !== undefined && this.server.layeredRuntime.featureEnabled(this.config.filterEnforced);
  }
}

/**
 * Configs seen so far → their limiters: the filter's, and each per-route config's (a
 * per-route bucket is that route's own, as in Envoy). A config reload brings new config
 * objects, so new, full buckets.
 */
const LIMITERS = new PerConfig((config: LocalRateLimitConfig, server: ServerContext) => new LocalRateLimiter(config, server));

export function localRateLimiter(config: LocalRateLimitConfig, server: ServerContext): LocalRateLimiter {
  return LIMITERS.get(config, server);
}

export class LocalRateLimitFilter implements StreamFilter {
  private decoderCallbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  /** The bucket this request drew from, for the x-ratelimit headers (Envoy's token_bucket_context_). */
  private usedBucket: TokenBucket | undefined;
  private limited = false;

  constructor(
    private limiter: LocalRateLimiter,
    private readonly server: ServerContext,
  ) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoderCallbacks = callbacks;
  }

  setEncoderFilterCallbacks(_callbacks: EncoderFilterCallbacks): void {}

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    const perRoute = this.decoderCallbacks.mostSpecificPerFilterConfig<LocalRateLimitConfig>();
    if (perRoute !== undefined) this.limiter = localRateLimiter(perRoute, this.server);
    const limiter = this.limiter;
    if (!limiter.enabled()) return FilterHeadersStatus.Continue;
    const stats = limiter.stats;
    stats.enabled.inc();
    const bucket = limiter.bucket;
    // No token bucket: nothing to limit (Envoy: "no rate limiting is applied").
    if (bucket === undefined || bucket.consume(approximateNow(this.server.runtime))) {
      this.usedBucket = bucket;
      stats.ok.inc();
      return FilterHeadersStatus.Continue;
    }
    this.usedBucket = bucket;
    stats.rateLimited.inc();
    if (!limiter.enforced()) {
      applyHeaderValueOptions(headers, NO_REMOVALS, limiter.config.requestHeadersToAddWhenNotEnforced, this.decoderCallbacks, undefined);
      return FilterHeadersStatus.Continue;
    }
    stats.enforced.inc();
    this.limited = true;
    const grpcStatus = limiter.config.rateLimitedAsResourceExhausted ? GrpcStatus.ResourceExhausted : undefined;
    this.decoderCallbacks.sendLocalReply(limiter.config.status, LOCAL_RATE_LIMITED, LOCAL_RATE_LIMITED, CoreResponseFlag.RateLimited, undefined, grpcStatus);
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  decodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  encodeHeaders(headers: ResponseHeaders, _endStream: boolean): FilterHeadersStatus {
    // Envoy adds response_headers_to_add to its local reply only.
    if (this.limited) applyHeaderValueOptions(headers, NO_REMOVALS, this.limiter.config.responseHeadersToAdd, this.decoderCallbacks, headers);
    const bucket = this.usedBucket;
    if (bucket !== undefined && this.limiter.config.enableXRateLimitHeaders) {
      const now = approximateNow(this.server.runtime);
      // Envoy's XRateLimitHeaders (source/extensions/filters/http/common/ratelimit_headers.h). No
      // x-ratelimit-reset: Envoy's continuous bucket has no next fill to count down to.
      headers.add("x-ratelimit-limit", String(bucket.maxTokens));
      headers.add("x-ratelimit-remaining", String(bucket.remainingTokens(now)));
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
}
