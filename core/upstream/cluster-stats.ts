import type { Counter } from "../stats/counter.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { Histogram } from "../stats/histogram.ts";
import type { StatsScope, StatsStore } from "../stats/stats-store.ts";

/** Envoy's cluster stats, `cluster.<name>.*`, held by the cluster and updated by its pools and the router. */
export class ClusterStats {
  readonly upstreamCxTotal: Counter;
  readonly upstreamCxHttp1Total: Counter;
  readonly upstreamCxHttp2Total: Counter;
  readonly upstreamCxActive: Gauge;
  readonly upstreamCxConnectFail: Counter;
  readonly upstreamCxConnectTimeout: Counter;
  readonly upstreamCxDestroy: Counter;
  readonly upstreamCxDestroyRemote: Counter;
  readonly upstreamCxDestroyLocal: Counter;
  readonly upstreamCxDestroyWithActiveRq: Counter;
  readonly upstreamCxDestroyLocalWithActiveRq: Counter;
  readonly upstreamCxDestroyRemoteWithActiveRq: Counter;
  readonly upstreamCxOverflow: Counter;
  /** A request or connection for which the load balancer found no host (Envoy's cluster manager, httpConnPoolImpl / tcpConnPoolImpl). */
  readonly upstreamCxNoneHealthy: Counter;
  /** Envoy's ALL_CLUSTER_TRAFFIC_STATS original_dst_host_invalid, on every cluster (only an ORIGINAL_DST cluster's balancer counts it). */
  readonly originalDstHostInvalid: Counter;
  /** tcp_proxy gave up connecting: max_connect_attempts used up (Envoy's tcp_proxy onConnectMaxAttempts). */
  readonly upstreamCxConnectAttemptsExceeded: Counter;
  readonly upstreamCxIdleTimeout: Counter;
  /** Connections retired after max_requests_per_connection requests. */
  readonly upstreamCxMaxRequests: Counter;
  /** Connections drained by max_connection_duration. */
  readonly upstreamCxMaxDurationReached: Counter;
  readonly upstreamCxLengthMs: Histogram;
  readonly upstreamCxConnectMs: Histogram;
  readonly upstreamCxRxBytesTotal: Counter;
  readonly upstreamCxTxBytesTotal: Counter;
  readonly upstreamCxProtocolError: Counter;
  readonly upstreamRqTotal: Counter;
  readonly upstreamRqActive: Gauge;
  readonly upstreamRqPendingTotal: Counter;
  readonly upstreamRqPendingActive: Gauge;
  readonly upstreamRqPendingOverflow: Counter;
  /** Requests given up before a pool connection was theirs (Envoy: conn_pool_base.cc onPendingStreamCancel). */
  readonly upstreamRqCancelled: Counter;
  /**
   * An HTTP/2 upstream stream reset by the proxy, by the upstream, or under a connection
   * that failed or closed (Envoy's MultiplexedActiveClientBase::onStreamReset; its HTTP/1
   * pool counts none of them).
   */
  readonly upstreamRqTxReset: Counter;
  readonly upstreamRqRxReset: Counter;
  readonly upstreamRqPendingFailureEject: Counter;
  readonly upstreamRqTime: Histogram;
  readonly upstreamRqTimeout: Counter;
  readonly upstreamRqRetry: Counter;
  readonly upstreamRqRetrySuccess: Counter;
  readonly upstreamRqRetryOverflow: Counter;
  readonly upstreamRqRetryLimitExceeded: Counter;
  readonly upstreamRqRetryBackoffExponential: Counter;
  readonly upstreamRqRetryBackoffRatelimited: Counter;
  readonly upstreamRqPerTryTimeout: Counter;
  readonly upstreamRqPerTryIdleTimeout: Counter;
  /** Retry or mirror buffering given up: the request body passed the buffer limit. */
  readonly retryOrShadowAbandoned: Counter;
  /** Internal redirects the router followed, or tried to and passed the 3xx through (Envoy's router.cc, setupRedirect). */
  readonly upstreamInternalRedirectSucceededTotal: Counter;
  readonly upstreamInternalRedirectFailedTotal: Counter;
  readonly upstreamRqCompleted: Counter;
  readonly membershipHealthy: Gauge;
  readonly membershipDegraded: Gauge;
  readonly membershipExcluded: Gauge;
  readonly membershipChange: Counter;
  readonly membershipTotal: Gauge;
  /** Discovery's config updates (Envoy's ClusterInfo config update stats; DNS resolutions here). */
  readonly updateAttempt: Counter;
  readonly updateSuccess: Counter;
  readonly updateFailure: Counter;
  /** An update that carried no hosts at all (EDS's; never counted by DNS discovery, as in Envoy). */
  readonly updateEmpty: Counter;
  /** An update that changed no host: the load balancer was not rebuilt. */
  readonly updateNoRebuild: Counter;
  /** upstream_rq_<code> and upstream_rq_<class>xx, created on first use. */
  private readonly byCode = new Map<number, Counter>();
  private readonly byClass: Counter[];
  /** retry.upstream_rq_<code> and retry.upstream_rq_<class>xx: responses that were retried (made on the first). */
  private retryCodes: Map<number, Counter> | undefined;
  /** retry.upstream_rq_completed (made on the first retried response, as the codes are). */
  private retryCompleted: Counter | undefined;

  constructor(
    store: StatsStore,
    name: string,
    private readonly scope: StatsScope = store.scope(`cluster.${name}.`),
  ) {
    this.upstreamCxTotal = scope.counter("upstream_cx_total");
    this.upstreamCxHttp1Total = scope.counter("upstream_cx_http1_total");
    this.upstreamCxHttp2Total = scope.counter("upstream_cx_http2_total");
    this.upstreamCxActive = scope.gauge("upstream_cx_active");
    this.upstreamCxConnectFail = scope.counter("upstream_cx_connect_fail");
    this.upstreamCxConnectTimeout = scope.counter("upstream_cx_connect_timeout");
    this.upstreamCxDestroy = scope.counter("upstream_cx_destroy");
    this.upstreamCxDestroyRemote = scope.counter("upstream_cx_destroy_remote");
    this.upstreamCxDestroyLocal = scope.counter("upstream_cx_destroy_local");
    this.upstreamCxDestroyWithActiveRq = scope.counter("upstream_cx_destroy_with_active_rq");
    this.upstreamCxDestroyLocalWithActiveRq = scope.counter("upstream_cx_destroy_local_with_active_rq");
    this.upstreamCxDestroyRemoteWithActiveRq = scope.counter("upstream_cx_destroy_remote_with_active_rq");
    this.upstreamCxOverflow = scope.counter("upstream_cx_overflow");
    this.upstreamCxNoneHealthy = scope.counter("upstream_cx_none_healthy");
    this.originalDstHostInvalid = scope.counter("original_dst_host_invalid");
    this.upstreamCxConnectAttemptsExceeded = scope.counter("upstream_cx_connect_attempts_exceeded");
    this.upstreamCxIdleTimeout = scope.counter("upstream_cx_idle_timeout");
    this.upstreamCxMaxRequests = scope.counter("upstream_cx_max_requests");
    this.upstreamCxMaxDurationReached = scope.counter("upstream_cx_max_duration_reached");
    this.upstreamCxLengthMs = scope.histogram("upstream_cx_length_ms");
    this.upstreamCxConnectMs = scope.histogram("upstream_cx_connect_ms");
    this.upstreamCxRxBytesTotal = scope.counter("upstream_cx_rx_bytes_total");
    this.upstreamCxTxBytesTotal = scope.counter("upstream_cx_tx_bytes_total");
    this.upstreamCxProtocolError = scope.counter("upstream_cx_protocol_error");
    this.upstreamRqTotal = scope.counter("upstream_rq_total");
    this.upstreamRqActive = scope.gauge("upstream_rq_active");
    this.upstreamRqPendingTotal = scope.counter("upstream_rq_pending_total");
    this.upstreamRqPendingActive = scope.gauge("upstream_rq_pending_active");
    this.upstreamRqPendingOverflow = scope.counter("upstream_rq_pending_overflow");
    this.upstreamRqCancelled = scope.counter("upstream_rq_cancelled");
    this.upstreamRqTxReset = scope.counter("upstream_rq_tx_reset");
    this.upstreamRqRxReset = scope.counter("upstream_rq_rx_reset");
    this.upstreamRqPendingFailureEject = scope.counter("upstream_rq_pending_failure_eject");
    this.upstreamRqTime = scope.histogram("upstream_rq_time");
    this.upstreamRqTimeout = scope.counter("upstream_rq_timeout");
    this.upstreamRqRetry = scope.counter("upstream_rq_retry");
    this.upstreamRqRetrySuccess = scope.counter("upstream_rq_retry_success");
    this.upstreamRqRetryOverflow = scope.counter("upstream_rq_retry_overflow");
    this.upstreamRqRetryLimitExceeded = scope.counter("upstream_rq_retry_limit_exceeded");
    this.upstreamRqRetryBackoffExponential = scope.counter("upstream_rq_retry_backoff_exponential");
    this.upstreamRqRetryBackoffRatelimited = scope.counter("upstream_rq_retry_backoff_ratelimited");
    this.upstreamRqPerTryTimeout = scope.counter("upstream_rq_per_try_timeout");
    this.upstreamRqPerTryIdleTimeout = scope.counter("upstream_rq_per_try_idle_timeout");
    this.retryOrShadowAbandoned = scope.counter("retry_or_shadow_abandoned");
    this.upstreamInternalRedirectSucceededTotal = scope.counter("upstream_internal_redirect_succeeded_total");
    this.upstreamInternalRedirectFailedTotal = scope.counter("upstream_internal_redirect_failed_total");
    this.upstreamRqCompleted = scope.counter("upstream_rq_completed");
    this.membershipHealthy = scope.gauge("membership_healthy");
    this.membershipDegraded = scope.gauge("membership_degraded");
    this.membershipExcluded = scope.gauge("membership_excluded");
    this.membershipChange = scope.counter("membership_change");
    this.membershipTotal = scope.gauge("membership_total");
    this.updateAttempt = scope.counter("update_attempt");
    this.updateSuccess = scope.counter("update_success");
    this.updateFailure = scope.counter("update_failure");
    this.updateEmpty = scope.counter("update_empty");
    this.updateNoRebuild = scope.counter("update_no_rebuild");
    this.byClass = [1, 2, 3, 4, 5].map((c) => scope.counter(`upstream_rq_${c}xx`));
  }

  /** Count an upstream response by exact code and class (Envoy's upstream_rq_200, upstream_rq_2xx). */
  countResponse(status: number): void {
    let counter = this.byCode.get(status);
    if (!counter) {
      counter = this.scope.counter(`upstream_rq_${status}`);
      this.byCode.set(status, counter);
    }
    counter.inc();
    this.byClass[Math.floor(status / 100) - 1]?.inc();
  }

  /**
   * The router's charge of a response (or of the local reply standing for one) beyond the
   * basic counts: Envoy's CodeStatsImpl::chargeResponseStat writes each category's
   * upstream_rq_completed, upstream_rq_<N>xx and upstream_rq_<code> — `canary.` for a canary
   * host, and `internal.` or `external.` by the request's x-envoy-internal
   * (source/common/http/codes.cc, writeCategory).
   */
  countResponseCategories(status: number, internal: boolean, canary: boolean): void {
    if (canary) this.categoryCounters("canary").count(status);
    this.categoryCounters(internal ? "internal" : "external").count(status);
  }

  /**
   * Envoy's CodeStatsImpl::chargeResponseStat as a filter calls it for a local reply that
   * stands for the route cluster's answer (ratelimit.cc Filter::complete on OVER_LIMIT,
   * ext_authz.cc Filter::onComplete on Denied): upstream_rq_completed, upstream_rq_<N>xx,
   * upstream_rq_<code>, and the same under `internal.` — those filters pass
   * internal_request true, whatever the request's x-envoy-internal — never `canary.`.
   */
  chargeFilterResponse(status: number): void {
    this.countResponse(status);
    this.upstreamRqCompleted.inc();
    this.countResponseCategories(status, true, false);
  }

  /** Envoy's chargeResponseTiming beyond upstream_rq_time: the same categories' upstream_rq_time. */
  recordResponseTimeCategories(ms: number, internal: boolean, canary: boolean): void {
    if (canary) this.categoryCounters("canary").time.record(ms);
    this.categoryCounters(internal ? "internal" : "external").time.record(ms);
  }

  private categories: Map<string, ResponseCategory> | undefined;

  private categoryCounters(category: "canary" | "internal" | "external"): ResponseCategory {
    const categories = (this.categories ??= new Map());
    let found = categories.get(category);
    if (found === undefined) {
      found = new ResponseCategory(this.scope, `${category}.`);
      categories.set(category, found);
    }
    return found;
  }

  /**
   * Count a response the router retried instead of passing on (Envoy's
   * chargeBasicResponseStat under the `retry.` prefix, source/common/http/codes.cc:
   * retry.upstream_rq_completed first, then retry.upstream_rq_5xx and retry.upstream_rq_503).
   */
  countRetriedResponse(status: number): void {
    (this.retryCompleted ??= this.scope.counter("retry.upstream_rq_completed")).inc();
    const codes = (this.retryCodes ??= new Map());
    let counter = codes.get(status);
    if (!counter) {
      counter = this.scope.counter(`retry.upstream_rq_${status}`);
      codes.set(status, counter);
    }
    counter.inc();
    const klass = Math.floor(status / 100);
    if (klass >= 1 && klass <= 5) this.scope.counter(`retry.upstream_rq_${klass}xx`).inc();
  }
}

/** One category's response counters (created on first use, as Envoy's dynamic stat names are) and its upstream_rq_time. */
class ResponseCategory {
  private readonly completed: Counter;
  private readonly byCode = new Map<number, Counter>();
  private readonly byClass = new Map<number, Counter>();
  readonly time: Histogram;

  constructor(
    private readonly scope: StatsScope,
    private readonly prefix: string,
  ) {
    this.completed = scope.counter(`${prefix}upstream_rq_completed`);
    this.time = scope.histogram(`${prefix}upstream_rq_time`);
  }

  count(status: number): void {
    this.completed.inc();
    const klass = Math.floor(status / 100);
    // Envoy's upstreamRqGroup: no group for a code outside 1xx-5xx.
    if (klass >= 1 && klass <= 5) {
      let group = this.byClass.get(klass);
      if (group === undefined) this.byClass.set(klass, (group = this.scope.counter(`${this.prefix}upstream_rq_${klass}xx`)));
      group.inc();
    }
    let code = this.byCode.get(status);
    if (code === undefined) this.byCode.set(status, (code = this.scope.counter(`${this.prefix}upstream_rq_${status}`)));
    code.inc();
  }
}

