/**
 * Envoy's local_ratelimit HTTP filter (source/extensions/filters/http/local_ratelimit/
 * local_ratelimit.cc): when enabled for a request (filter_enabled), the request takes a
 * token from the bucket of the most specific config — the route's, virtual host's or
 * route configuration's typed_per_filter_config, else the filter's own. Without a token
 * it is counted as rate limited and, when enforced (filter_enforced), answered locally:
 * 429 (or `status`) "local_rate_limited" with response_headers_to_add, response flag RL.
 * Not enforced, it goes on with request_headers_to_add_when_not_enforced.
 * With `descriptors`, the config's own rate_limits — else the route's (and virtual host's) of
 * the config's stage — make the request's descriptors, as for the global ratelimit filter; each
 * request descriptor equal to a configured one, or matching a dynamic one (an entry without a
 * value: a bucket per distinct request descriptor, at most max_dynamic_descriptors, least
 * recently used dropped), draws a token from its bucket (one that occurs twice draws
 * twice), the slowest-filling first, and the request is limited at the first that is empty
 * (Envoy's LocalRateLimiterImpl::requestAllowed); the default bucket is drawn from when none
 * matched, or always with always_consume_default_token_bucket.
 * Envoy's local filter sends no `x-envoy-ratelimited` (the global ratelimit filter does).
 */
import { GrpcStatus } from "../grpc-common.ts";
import type { LocalRateLimitConfig, LocalRateLimitDescriptorConfig } from "../../config/bootstrap.ts";
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
import { populateDescriptors, routeDescriptors, type RateLimitDescriptor } from "../route/rate-limit-policy.ts";
import { routeCluster } from "../route/route-cluster.ts";

/** The local reply's body and response code details (Envoy's, both "local_rate_limited"). */
const LOCAL_RATE_LIMITED = "local_rate_limited";
const NO_REMOVALS: readonly string[] = [];
const NO_DESCRIPTORS: readonly RateLimitDescriptor[] = [];

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

/** The entries as one string: what a request descriptor must equal (key and value, in order). */
function descriptorKey(entries: RateLimitDescriptor | LocalRateLimitDescriptorConfig["entries"]): string {
  return JSON.stringify(entries);
}

/**
 * Envoy's DynamicDescriptor: one configured descriptor with a value left empty, and a bucket per
 * distinct request descriptor it matched, the `lruSize` most recently used kept (a Map's
 * insertion order is the LRU list: a hit moves its key to the end).
 */
class DynamicDescriptor {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly config: LocalRateLimitDescriptorConfig,
    private readonly lruSize: number,
  ) {}

  /** DynamicDescriptorMap::matchDescriptorEntries: same length and keys; each configured value empty or equal. */
  matches(descriptor: RateLimitDescriptor): boolean {
    const entries = this.config.entries;
    if (descriptor.length !== entries.length) return false;
    for (let i = 0; i < entries.length; i++) {
      const [key, value] = entries[i]!;
      const [requestKey, requestValue] = descriptor[i]!;
      if (requestKey !== key || (value !== "" && requestValue !== value)) return false;
    }
    return true;
  }

  /** addOrGetDescriptor: the descriptor's bucket, new and full the first time; past lruSize the least recently used goes. */
  bucketFor(key: string): TokenBucket {
    let bucket = this.buckets.get(key);
    if (bucket !== undefined) {
      this.buckets.delete(key);
      this.buckets.set(key, bucket);
      return bucket;
    }
    bucket = new TokenBucket(this.config.tokenBucket);
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.lruSize) this.buckets.delete(this.buckets.keys().next().value!);
    return bucket;
  }

  /** How many request descriptors have a bucket now (for tests). */
  get size(): number {
    return this.buckets.size;
  }
}

/** Envoy draws from the slowest-filling descriptor first, so a limited request takes nothing from the others. */
function slowestFirst(a: TokenBucket, b: TokenBucket): number {
  return a.fillRate - b.fillRate;
}

/** Where requestAllowed tells which bucket the x-ratelimit headers describe (the filter itself: no result object per request). */
export interface UsedBucket {
  usedBucket: TokenBucket | undefined;
}

/** One config's limiter (Envoy's FilterConfig): its buckets and stats, shared by every stream it applies to. */
export class LocalRateLimiter {
  readonly stats: LocalRateLimitStats;
  readonly bucket: TokenBucket | undefined;
  /** The configured descriptors' buckets by their entries (Envoy's descriptors_). */
  readonly descriptors: ReadonlyMap<string, TokenBucket>;
  /** The dynamic ones (an entry without a value), in config order (Envoy's dynamic_descriptors_). */
  readonly dynamicDescriptors: readonly DynamicDescriptor[];

  constructor(
    readonly config: LocalRateLimitConfig,
    private readonly server: ServerContext,
  ) {
    this.stats = new LocalRateLimitStats(server, config.statPrefix);
    this.bucket = config.tokenBucket && new TokenBucket(config.tokenBucket);
    const all = config.descriptors ?? [];
    const isDynamic = (d: LocalRateLimitDescriptorConfig) => d.entries.some(([, value]) => value === "");
    this.descriptors = new Map(all.filter((d) => !isDynamic(d)).map((d) => [descriptorKey(d.entries), new TokenBucket(d.tokenBucket)]));
    this.dynamicDescriptors = all.filter(isDynamic).map((d) => new DynamicDescriptor(d, config.maxDynamicDescriptors ?? 20));
  }

  /** Whether any descriptor is configured (Envoy's hasDescriptors): only then are the request's made. */
  get hasDescriptors(): boolean {
    return this.descriptors.size > 0 || this.dynamicDescriptors.length > 0;
  }

  /** The bucket of the configured descriptor `descriptor` matches: an exact one, else the first dynamic one's bucket for it. */
  private bucketOf(descriptor: RateLimitDescriptor): TokenBucket | undefined {
    const key = descriptorKey(descriptor);
    const bucket = this.descriptors.get(key);
    if (bucket !== undefined) return bucket;
    for (const dynamic of this.dynamicDescriptors) {
      if (dynamic.matches(descriptor)) return dynamic.bucketFor(key);
    }
    return undefined;
  }

  /**
   * Envoy's requestAllowed: the configured descriptors the request's descriptors name, one
   * per occurrence, slowest-filling first, each drawn from until one is empty; then the
   * default bucket when none matched or always_consume_default_token_bucket. The bucket for
   * the x-ratelimit headers is the one that refused, else the slowest matched, else the
   * default one.
   */
  requestAllowed(requestDescriptors: readonly RateLimitDescriptor[], now: number, used: UsedBucket): boolean {
    let matched: TokenBucket[] | undefined;
    if (this.hasDescriptors) {
      for (const descriptor of requestDescriptors) {
        const bucket = this.bucketOf(descriptor);
        if (bucket !== undefined) (matched ??= []).push(bucket);
      }
      if (matched !== undefined && matched.length > 1) matched.sort(slowestFirst);
    }
    if (matched !== undefined) {
      for (const bucket of matched) {
        if (!bucket.consume(now)) {
          used.usedBucket = bucket;
          return false;
        }
      }
    }
    const slowest = matched?.[0];
    if (slowest === undefined || this.config.alwaysConsumeDefaultTokenBucket !== false) {
      // No default bucket: nothing more to limit (Envoy: "no rate limiting is applied").
      if (this.bucket !== undefined && !this.bucket.consume(now)) {
        used.usedBucket = this.bucket;
        return false;
      }
      used.usedBucket = slowest ?? this.bucket;
      return true;
    }
    used.usedBucket = slowest;
    return true;
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

/**
 * local_rate_limit_per_downstream_connection: a connection's own buckets, made by the first
 * such config one of its requests uses and kept for the connection's life (Envoy's
 * Filter::getPerConnectionRateLimiter, under one filter-state key per connection: a later
 * config on the same connection shares them). Stats stay the config's.
 */
const PER_CONNECTION = new WeakMap<object, LocalRateLimiter>();

function perConnectionLimiter(limiter: LocalRateLimiter, connection: object | undefined, server: ServerContext): LocalRateLimiter {
  if (connection === undefined) return limiter;
  let own = PER_CONNECTION.get(connection);
  if (own === undefined) PER_CONNECTION.set(connection, (own = new LocalRateLimiter(limiter.config, server)));
  return own;
}

export class LocalRateLimitFilter implements StreamFilter, UsedBucket {
  private decoderCallbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  /** The bucket this request drew from, for the x-ratelimit headers (Envoy's token_bucket_context_); set by the limiter. */
  usedBucket: TokenBucket | undefined;
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
    const descriptors = limiter.hasDescriptors ? this.requestDescriptors(headers, limiter.config) : NO_DESCRIPTORS;
    const buckets = limiter.config.perDownstreamConnection ? perConnectionLimiter(limiter, this.decoderCallbacks.streamInfo.downstreamConnection, this.server) : limiter;
    if (buckets.requestAllowed(descriptors, approximateNow(this.server.runtime), this)) {
      stats.ok.inc();
      return FilterHeadersStatus.Continue;
    }
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

  /**
   * The request's descriptors: from the config's own rate_limits when it has some (Envoy's
   * FilterConfig::populateDescriptors), else from the route's and virtual host's
   * (Filter::populateDescriptors).
   */
  private requestDescriptors(headers: RequestHeaders, config: LocalRateLimitConfig): RateLimitDescriptor[] {
    const callbacks = this.decoderCallbacks;
    const match = callbacks.route;
    const forward = match !== undefined && match.route.action.type === "route";
    if (config.rateLimits === undefined && !forward) return [];
    const context = {
      localServiceCluster: this.server.localClusterName,
      destinationCluster: forward ? routeCluster(callbacks, this.server.runtime) : "",
      // A Unix socket peer has no IP: no remote_address descriptor (Envoy's RemoteAddressAction: not Ip).
      remoteAddress: callbacks.streamInfo.downstreamRemoteIp || (callbacks.downstreamRemoteAddress?.family === "unix" ? "" : (callbacks.downstreamRemoteAddress?.address ?? "")),
    };
    if (config.rateLimits !== undefined) {
      const out: RateLimitDescriptor[] = [];
      // Every one of them applies (their stage is ANY_STAGE): the filter's stage selects among the route's only.
      populateDescriptors(config.rateLimits, config.stage ?? 0, headers, context, out);
      return out;
    }
    if (match === undefined || match.route.action.type !== "route") return [];
    return routeDescriptors(match.route.action.route, match.virtualHost, config.stage ?? 0, config.vhRateLimits ?? "OVERRIDE", headers, context);
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
      // Envoy's XRateLimitHeaders from the bucket's TokenBucketContext (local_ratelimit.cc encodeHeaders).
      headers.add("x-ratelimit-limit", String(bucket.maxTokens));
      headers.add("x-ratelimit-remaining", String(bucket.remainingTokens(now)));
      headers.add("x-ratelimit-reset", String(bucket.resetSeconds(now)));
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
