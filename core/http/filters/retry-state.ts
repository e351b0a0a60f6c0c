/**
 * One request's retry state (Envoy's `RetryStateImpl`, source/common/router/retry_state_impl.cc):
 * the route's retry policy merged with the request's x-envoy-retry-* headers, what may be
 * retried (a response's status and headers, a reset's reason), the retries left, the
 * cluster's retries circuit breaker or budget, the jittered back-off, and the hosts
 * already tried (the previous_hosts predicate).
 */
import type { HeaderMatcherConfig, RetryPolicyConfig } from "../../config/bootstrap.ts";
import { parseRetryGrpcOn, parseRetryOn, RETRY_ON_GRPC, RetryOn } from "../../config/retry-on.ts";
import type { Dispatcher } from "../../event/dispatcher.ts";
import type { Timer, TimerTarget } from "../../event/timers.ts";
import type { Cluster } from "../../upstream/cluster.ts";
import type { Host } from "../../upstream/host.ts";
import type { PrioritySet } from "../../upstream/host-set.ts";
import type { HostPriorityMapping, LoadBalancerContext, PriorityLoad } from "../../upstream/load-balancer.ts";
import { PreviousPrioritiesRetryPriority } from "../../upstream/previous-priorities-retry-priority.ts";
import { JitteredExponentialBackOffStrategy, jitteredLowerBoundBackOffMs } from "../../util/backoff-strategy.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import { compileHeaderMatcher, type HeaderSource } from "../route/header-matcher.ts";
import { StreamResetReason } from "../stream-reset-reason.ts";
import { metadataLabelMatch } from "../../upstream/metadata-match.ts";

/**
 * What an attempt tells the load balancer of its retry state (Envoy's router as
 * LoadBalancerContext, Filter::shouldSelectAnotherHost and determinePriorityLoad): the retry
 * host predicates and the retry priority apply to retries only; a first attempt, or one
 * without a retry state, picks as without a policy. For the async HTTP client's requests and
 * the gRPC streams (async-client.ts, grpc-async-stream.ts).
 */
export function retryHostSelection(
  state: RetryState | undefined,
  isRetry: boolean,
): Required<Pick<LoadBalancerContext, "shouldSelectAnotherHost" | "hostSelectionRetryCount" | "determinePriorityLoad">> {
  const retry = isRetry ? state : undefined;
  return {
    shouldSelectAnotherHost: (host) => retry !== undefined && retry.shouldSelectAnotherHost(host),
    hostSelectionRetryCount: () => (retry !== undefined ? retry.hostSelectionMaxAttempts : 1),
    determinePriorityLoad: (prioritySet, original, priorityOf) => (retry !== undefined ? retry.priorityLoadForRetry(prioritySet, original, priorityOf) : original),
  };
}

/** What shouldRetry* decided (Envoy's `RetryStatus`). */
export const RetryStatus = {
  /** Not a condition to retry on. */
  No: 0,
  /** The retries circuit breaker (max_retries or the budget) is open: flag UO. */
  NoOverflow: 1,
  /** num_retries (or x-envoy-max-retries) used up: flag URX. */
  NoRetryLimitExceeded: 2,
  /** A retry is scheduled: the callbacks' doRetry() runs after the back-off. */
  Yes: 3,
} as const;
export type RetryStatus = (typeof RetryStatus)[keyof typeof RetryStatus];

/** Who performs a scheduled retry (the router). */
export interface RetryCallbacks {
  doRetry(): void;
}

/** A policy's parts that are compiled once, not per request. */
interface CompiledPolicy {
  retriableHeaders: ((headers: HeaderSource) => boolean)[];
  retriableRequestHeaders: ((headers: HeaderSource) => boolean)[];
}

const compiled = new WeakMap<RetryPolicyConfig, CompiledPolicy>();

function compile(policy: RetryPolicyConfig): CompiledPolicy {
  let c = compiled.get(policy);
  if (!c) {
    c = {
      retriableHeaders: policy.retriableHeaders.map(compileHeaderMatcher),
      retriableRequestHeaders: policy.retriableRequestHeaders.map(compileHeaderMatcher),
    };
    compiled.set(policy, c);
  }
  return c;
}

/**
 * A route without retry_policy: no condition, and one retry once a request header adds
 * a condition (Envoy's RetryPolicyImpl defaults: "so that when retries get enabled
 * through the x-envoy-retry-on header we default to 1 retry").
 */
export const DEFAULT_RETRY_POLICY: RetryPolicyConfig = {
  retryOn: 0,
  numRetries: 1,
  perTryTimeoutMs: 0,
  perTryIdleTimeoutMs: 0,
  baseIntervalMs: 25,
  maxIntervalMs: 250,
  previousHosts: false,
  hostSelectionRetryMaxAttempts: 1,
  retriableStatusCodes: [],
  retriableHeaders: [],
  retriableRequestHeaders: [],
};

/** The retry headers Envoy consumes, so they never reach the upstream (RetryStateImpl::create). */
const RETRY_HEADERS = [
  "x-envoy-retry-on",
  "x-envoy-retry-grpc-on",
  "x-envoy-max-retries",
  "x-envoy-hedge-on-per-try-timeout",
  "x-envoy-retriable-header-names",
  "x-envoy-retriable-status-codes",
  "x-envoy-upstream-rq-per-try-timeout-ms",
];

/** gRPC status codes (grpc/status.h) the gRPC retry conditions name. */
const GRPC_CANCELLED = 1;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_RESOURCE_EXHAUSTED = 8;
const GRPC_INTERNAL = 13;
const GRPC_UNAVAILABLE = 14;

/** A non-negative decimal integer, as absl::SimpleAtoi takes it (surrounding spaces allowed); undefined otherwise. */
export function parseUnsigned(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (!/^\+?\d+$/.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return Number.isSafeInteger(value) ? value : undefined;
}

export class RetryState implements TimerTarget {
  private retryOn: number;
  private retriesRemaining: number;
  private readonly retriableStatusCodes: readonly number[];
  private readonly retriableHeaders: readonly ((headers: HeaderSource) => boolean)[];
  private readonly backOff: JitteredExponentialBackOffStrategy;
  /** The rate-limited back-off the last retriable response asked for (ms), used once. */
  private rateLimitedBackOffMs = 0;
  /** previous_hosts: the hosts tried so far. */
  private readonly attemptedHosts: Set<Host> | undefined;
  /** retry_priority (previous_priorities). */
  private readonly retryPriority: PreviousPrioritiesRetryPriority | undefined;
  /** A retry was scheduled and holds a place in the retries circuit breaker (Envoy's armed callback_). */
  private armed = false;
  private timer: Timer | undefined;

  /**
   * The request's retry state, or undefined when nothing could make it retry. Consumes
   * the retry headers either way, as Envoy does.
   */
  static create(
    policy: RetryPolicyConfig | undefined,
    headers: RequestHeaders,
    cluster: Cluster,
    dispatcher: Dispatcher,
    callbacks: RetryCallbacks,
  ): RetryState | undefined {
    const p = policy ?? DEFAULT_RETRY_POLICY;
    let state: RetryState | undefined;
    if (p.retryOn !== 0 || headers.has("x-envoy-retry-on") || headers.has("x-envoy-retry-grpc-on")) {
      state = new RetryState(p, headers, cluster, dispatcher, callbacks);
    }
    for (const name of RETRY_HEADERS) headers.remove(name);
    return state;
  }

  private constructor(
    private readonly policy: RetryPolicyConfig,
    headers: RequestHeaders,
    private readonly cluster: Cluster,
    private readonly dispatcher: Dispatcher,
    private readonly callbacks: RetryCallbacks,
  ) {
    const c = compile(policy);
    this.retryOn = policy.retryOn;
    this.retriesRemaining = policy.numRetries;
    this.backOff = new JitteredExponentialBackOffStrategy(policy.baseIntervalMs, policy.maxIntervalMs, dispatcher.runtime);
    this.attemptedHosts = policy.previousHosts ? new Set() : undefined;
    const frequency = policy.previousPrioritiesUpdateFrequency;
    this.retryPriority = frequency !== undefined ? new PreviousPrioritiesRetryPriority(frequency) : undefined;
    // Merge in the headers: conditions add to the policy's.
    const retryOnHeader = headers.get("x-envoy-retry-on");
    if (retryOnHeader !== undefined) this.retryOn |= parseRetryOn(retryOnHeader).bits;
    const retryGrpcOnHeader = headers.get("x-envoy-retry-grpc-on");
    if (retryGrpcOnHeader !== undefined) this.retryOn |= parseRetryGrpcOn(retryGrpcOnHeader).bits;
    // retriable_request_headers: a request that matches none is not retried at all.
    if (c.retriableRequestHeaders.length > 0 && !c.retriableRequestHeaders.some((match) => match(headers))) this.retryOn = 0;
    // "The max retries header takes precedence if set."
    if (this.retryOn !== 0) {
      const max = parseUnsigned(headers.get("x-envoy-max-retries"));
      if (max !== undefined) this.retriesRemaining = max;
    }
    let codes: readonly number[] = policy.retriableStatusCodes;
    const codesHeader = headers.get("x-envoy-retriable-status-codes");
    if (codesHeader !== undefined) {
      const extra = codesHeader.split(",").map(parseUnsigned).filter((code): code is number => code !== undefined);
      if (extra.length > 0) codes = [...codes, ...extra];
    }
    this.retriableStatusCodes = codes;
    let matchers: readonly ((headers: HeaderSource) => boolean)[] = c.retriableHeaders;
    const namesHeader = headers.get("x-envoy-retriable-header-names");
    if (namesHeader !== undefined) {
      // Only presence matchers can be given by header (retry_state_impl.cc).
      const extra = namesHeader
        .split(",")
        .map((name) => name.trim().toLowerCase())
        .filter((name) => name !== "")
        .map((name): HeaderMatcherConfig => ({ name, invertMatch: false, kind: { type: "present", present: true } }))
        .map(compileHeaderMatcher);
      if (extra.length > 0) matchers = [...matchers, ...extra];
    }
    this.retriableHeaders = matchers;
  }

  /** Any condition to retry on (Envoy's `enabled()`): decides whether the body is kept for a replay. */
  get enabled(): boolean {
    return this.retryOn !== 0;
  }

  get hostSelectionMaxAttempts(): number {
    return this.policy.hostSelectionRetryMaxAttempts;
  }

  /** A host was chosen for an attempt (Envoy's `onHostAttempted`). */
  onHostAttempted(host: Host): void {
    this.attemptedHosts?.add(host);
    this.retryPriority?.onHostAttempted(host);
  }

  /** A retry's priority loads (Envoy's priorityLoadForRetry): the retry priority's, else the balancer's. */
  priorityLoadForRetry(prioritySet: PrioritySet, original: PriorityLoad, priorityOf?: HostPriorityMapping): PriorityLoad {
    return this.retryPriority ? this.retryPriority.determinePriorityLoad(prioritySet, original, priorityOf) : original;
  }

  /**
   * The retry host predicates (Envoy's RetryStateImpl::shouldSelectAnotherHost: any one
   * rejecting is enough): previous_hosts rejects a host already tried, omit_canary_hosts
   * a canary, omit_host_metadata a host whose `envoy.lb` metadata has all its labels.
   */
  shouldSelectAnotherHost(host: Host): boolean {
    if (this.attemptedHosts?.has(host)) return true;
    if (this.policy.omitCanaryHosts && host.canary) return true;
    const omit = this.policy.omitHostMetadata;
    if (omit !== undefined) for (const labels of omit) if (metadataLabelMatch(labels, host.metadata, false)) return true;
    return false;
  }

  /** A response's headers arrived: retry it? */
  shouldRetryHeaders(headers: ResponseHeaders): RetryStatus {
    const would = this.wouldRetryFromHeaders(headers);
    if (would && this.policy.rateLimitedRetryBackOff) this.rateLimitedBackOffMs = this.resetInterval(headers);
    return this.shouldRetry(would);
  }

  /** The attempt was reset (or its connection failed, or it timed out: LocalReset): retry it? */
  shouldRetryReset(reason: StreamResetReason, upstreamRequestStarted: boolean): RetryStatus {
    return this.shouldRetry(this.wouldRetryFromReset(reason, upstreamRequestStarted));
  }

  /**
   * A per-try timeout with hedge_on_per_try_timeout (Envoy's shouldHedgeRetryPerTryTimeout):
   * retried whenever retries are left, whatever retry_on says — no stream was reset, so the
   * reset conditions do not apply — after the usual back-off.
   */
  shouldHedgeRetryPerTryTimeout(): RetryStatus {
    return this.shouldRetry(true);
  }

  /** Whether `headers` meet a retry condition (Envoy's `wouldRetryFromHeaders`). */
  wouldRetryFromHeaders(headers: ResponseHeaders): boolean {
    const retryOn = this.retryOn;
    // "A response that contains the x-envoy-ratelimited header comes from an upstream
    // envoy. We retry these only when the envoy-ratelimited policy is in effect."
    if (headers.has("x-envoy-ratelimited")) return (retryOn & RetryOn.EnvoyRateLimited) !== 0;
    const status = headers.status;
    if (retryOn & RetryOn.FiveXX && status >= 500 && status <= 599) return true;
    if (retryOn & RetryOn.GatewayError && status >= 502 && status <= 504) return true;
    if (retryOn & RetryOn.Retriable4xx && status === 409) return true;
    if (retryOn & RetryOn.RetriableStatusCodes && this.retriableStatusCodes.includes(status)) return true;
    if (retryOn & RetryOn.RetriableHeaders) {
      for (const match of this.retriableHeaders) if (match(headers)) return true;
    }
    if (retryOn & RETRY_ON_GRPC) {
      const grpc = parseUnsigned(headers.get("grpc-status"));
      if (
        (grpc === GRPC_CANCELLED && retryOn & RetryOn.GrpcCancelled) ||
        (grpc === GRPC_DEADLINE_EXCEEDED && retryOn & RetryOn.GrpcDeadlineExceeded) ||
        (grpc === GRPC_RESOURCE_EXHAUSTED && retryOn & RetryOn.GrpcResourceExhausted) ||
        (grpc === GRPC_UNAVAILABLE && retryOn & RetryOn.GrpcUnavailable) ||
        (grpc === GRPC_INTERNAL && retryOn & RetryOn.GrpcInternal)
      ) {
        return true;
      }
    }
    return false;
  }

  /**
   * Whether a reset meets a retry condition (Envoy's `wouldRetryFromReset`): never an
   * overflow; connect-failure for a failed or timed-out connect; reset-before-request
   * while no byte went upstream; reset, 5xx and gateway-error for any reset (a reset
   * counts as a "5xx"); refused-stream for an HTTP/2 refusal, which HTTP/1 never has.
   */
  wouldRetryFromReset(reason: StreamResetReason, upstreamRequestStarted: boolean): boolean {
    if (reason === StreamResetReason.Overflow) return false;
    const retryOn = this.retryOn;
    const connectFailure =
      reason === StreamResetReason.LocalConnectionFailure || reason === StreamResetReason.RemoteConnectionFailure || reason === StreamResetReason.ConnectionTimeout;
    if (connectFailure && retryOn & RetryOn.ConnectFailure) return true;
    if (retryOn & RetryOn.ResetBeforeRequest && !upstreamRequestStarted) return true;
    if (retryOn & (RetryOn.Reset | RetryOn.FiveXX | RetryOn.GatewayError)) return true;
    if (retryOn & RetryOn.RefusedStream && reason === StreamResetReason.RemoteRefusedStreamReset) return true;
    return false;
  }

  /** The request is done with retrying (response passed on, or the stream ended): let go of the timer and the circuit breaker. */
  destroy(): void {
    this.timer?.disable();
    this.resetRetry();
  }

  /** @internal The back-off passed. */
  onTimer(): void {
    this.callbacks.doRetry();
  }

  /** Envoy's RetryStateImpl::shouldRetry. */
  private shouldRetry(wouldRetry: boolean): RetryStatus {
    const stats = this.cluster.stats;
    // A retry was armed and this attempt needs none: the retry succeeded.
    if (this.armed && !wouldRetry) stats.upstreamRqRetrySuccess.inc();
    this.resetRetry();
    if (!wouldRetry) return RetryStatus.No;
    if (this.retriesRemaining === 0) {
      stats.upstreamRqRetryLimitExceeded.inc();
      return RetryStatus.NoRetryLimitExceeded;
    }
    this.retriesRemaining--;
    const retries = this.cluster.resources.retries;
    if (!retries.canCreate()) {
      stats.upstreamRqRetryOverflow.inc();
      return RetryStatus.NoOverflow;
    }
    this.armed = true;
    retries.inc();
    stats.upstreamRqRetry.inc();
    this.enableBackoffTimer();
    return RetryStatus.Yes;
  }

  private resetRetry(): void {
    if (!this.armed) return;
    this.armed = false;
    this.cluster.resources.retries.dec();
  }

  private enableBackoffTimer(): void {
    const timer = (this.timer ??= this.dispatcher.timers.create(this));
    if (this.rateLimitedBackOffMs > 0) {
      // Only for the response that asked for it.
      timer.enable(jitteredLowerBoundBackOffMs(this.rateLimitedBackOffMs, this.dispatcher.runtime));
      this.rateLimitedBackOffMs = 0;
      this.cluster.stats.upstreamRqRetryBackoffRatelimited.inc();
    } else {
      timer.enable(this.backOff.nextBackOffMs());
      this.cluster.stats.upstreamRqRetryBackoffExponential.inc();
    }
  }

  /**
   * rate_limited_retry_back_off: the first reset header that parses to an interval within
   * max_interval (Envoy's ResetHeaderParserImpl); 0 when none does, or it is 1 ms or less.
   */
  private resetInterval(headers: ResponseHeaders): number {
    const config = this.policy.rateLimitedRetryBackOff!;
    for (const header of config.resetHeaders) {
      const value = parseUnsigned(headers.get(header.name));
      if (value === undefined) continue;
      let seconds = value;
      if (header.format === "UNIX_TIMESTAMP") {
        const now = Math.floor(this.dispatcher.runtime.wallClock() / 1000);
        if (value < now) continue;
        seconds = value - now;
      }
      const ms = seconds * 1000;
      if (ms <= config.maxIntervalMs) return ms > 1 ? ms : 0;
    }
    return 0;
  }
}
