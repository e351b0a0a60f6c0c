import type { RetryBudgetConfig } from "../config/bootstrap.ts";
import type { RuntimeSnapshot } from "../runtime/runtime-loader.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { StatsScope } from "../stats/stats-store.ts";

/** What a circuit breaker reads its runtime override from (absent: the configured value). */
export type ResourceRuntime = Pick<RuntimeSnapshot, "getInteger" | "getDouble" | "get">;

/**
 * One circuit breaker (Envoy's `ResourceManagerImpl::ResourceImpl`): a live count checked
 * against its threshold before it grows, and its `*_open` gauge, 1 while the count is at
 * the threshold (nothing more is admitted), else 0. The threshold is the runtime key
 * `circuit_breakers.<cluster>.<priority>.<field>` when set, else the configured one, read
 * at every check as Envoy's BasicResourceLimitImpl::max() does, so /runtime_modify
 * changes it live (resource_manager_impl.h). With `track_remaining`, its `remaining_*`
 * gauge: how many more are admitted (the limit less the count, never below 0;
 * ResourceImpl::updateRemaining).
 */
export class Resource {
  count = 0;

  constructor(
    private readonly configured: number,
    private readonly open: Gauge | undefined,
    protected readonly remaining?: Gauge,
    private readonly runtime?: ResourceRuntime,
    private readonly runtimeKey?: string,
  ) {
    open?.set(configured > 0 ? 0 : 1);
    remaining?.set(configured);
  }

  /** The threshold now (the runtime's override or the configured value). */
  get max(): number {
    return this.runtime && this.runtimeKey ? this.runtime.getInteger(this.runtimeKey, this.configured) : this.configured;
  }

  /** The limit now (a retry budget's moves with the load). */
  get limit(): number {
    return this.max;
  }

  canCreate(): boolean {
    return this.count < this.limit;
  }

  inc(): void {
    this.count++;
    this.open?.set(this.count >= this.max ? 1 : 0);
    this.updateRemaining();
  }

  dec(): void {
    this.count--;
    this.open?.set(this.count >= this.max ? 1 : 0);
    this.updateRemaining();
  }

  protected updateRemaining(): void {
    if (this.remaining === undefined) return;
    const limit = this.limit;
    this.remaining.set(limit > this.count ? limit - this.count : 0);
  }
}

/**
 * The retries circuit breaker (Envoy's `RetryBudgetImpl`, resource_manager_impl.h):
 * max_retries concurrent retries, or — with a retry budget — at most budget_percent of
 * the cluster's active plus pending requests (truncated), never fewer than
 * min_retry_concurrency. The budget is in use (useRetryBudget) when the config sets
 * budget_percent or min_retry_concurrency, or when a runtime layer holds either key
 * `<prefix>retry_budget.budget_percent` / `.min_retry_concurrency` — any value, a number or
 * not, since Envoy asks `snapshot().get(key).has_value()`. Each value is then read at every
 * check with getDouble / getInteger, whose fallback is the configured field or Envoy's
 * default (20 %, 3): a key that is not a number turns the budget on at that fallback.
 * The count and the rq_retry_open gauge stay with max_retries either way (max_retry_resource_,
 * kept so toggling the budget loses no state), and while the budget is in use
 * remaining_retries reads 0 (clearRemainingGauge: it would depend on other resources).
 */
export class RetryResource extends Resource {
  private readonly percentKey: string | undefined;
  private readonly minKey: string | undefined;

  constructor(
    maxRetries: number,
    open: Gauge | undefined,
    private readonly budget: RetryBudgetConfig | undefined,
    private readonly requests: Resource,
    private readonly pendingRequests: Resource,
    remaining?: Gauge,
    private readonly budgetRuntime?: ResourceRuntime,
    runtimeKey?: string,
    budgetKey?: string,
  ) {
    super(maxRetries, open, remaining, budgetRuntime, runtimeKey);
    this.percentKey = budgetKey === undefined ? undefined : `${budgetKey}budget_percent`;
    this.minKey = budgetKey === undefined ? undefined : `${budgetKey}min_retry_concurrency`;
  }

  /** Envoy's RetryBudgetImpl::useRetryBudget: a configured field or a runtime key present. */
  get usesBudget(): boolean {
    if (this.budget !== undefined && (this.budget.budgetPercent !== undefined || this.budget.minRetryConcurrency !== undefined)) return true;
    const rt = this.budgetRuntime;
    if (rt === undefined || this.percentKey === undefined || this.minKey === undefined) return false;
    return rt.get(this.percentKey) !== undefined || rt.get(this.minKey) !== undefined;
  }

  /** The limit now: max_retries, or the budget, which moves with the cluster's load. */
  override get limit(): number {
    if (!this.usesBudget) return this.max;
    this.clearRemaining();
    const rt = this.budgetRuntime;
    const active = this.requests.count + this.pendingRequests.count;
    const configuredPercent = this.budget?.budgetPercent ?? 20;
    const configuredMin = this.budget?.minRetryConcurrency ?? 3;
    const percent = rt ? rt.getDouble(this.percentKey, configuredPercent) : configuredPercent;
    const minConcurrency = rt ? rt.getInteger(this.minKey, configuredMin) : configuredMin;
    // std::max<uint64_t>(budget_percent / 100.0 * active, min): the product truncates to an integer.
    return Math.max(Math.max(0, Math.trunc((percent / 100) * active)), minConcurrency);
  }

  override inc(): void {
    super.inc();
    this.clearRemaining();
  }

  override dec(): void {
    super.dec();
    this.clearRemaining();
  }

  /** Without the budget, remaining_retries follows max_retries (ManagedResourceImpl::updateRemaining). */
  protected override updateRemaining(): void {
    if (this.remaining === undefined) return;
    const limit = this.max;
    this.remaining.set(limit > this.count ? limit - this.count : 0);
  }

  /** RetryBudgetImpl::clearRemainingGauge. */
  private clearRemaining(): void {
    if (this.remaining !== undefined && this.usesBudget) this.remaining.set(0);
  }
}

/** A priority's thresholds (envoy.config.cluster.v3.CircuitBreakers.Thresholds). */
export interface ResourceLimits {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries?: number;
  retryBudget?: RetryBudgetConfig;
  /** Make the `remaining_*` gauges (track_remaining). */
  trackRemaining?: boolean;
}

/** Where a ResourceManager reads its runtime overrides: Envoy's `circuit_breakers.<cluster>.<priority>.` keys. */
export interface ResourceManagerRuntime {
  readonly runtime: ResourceRuntime;
  /** `circuit_breakers.<cluster name>.<default|high>.` (cluster_manager_impl / upstream_impl.cc). */
  readonly prefix: string;
}

/** Envoy's runtime key prefix of a cluster's circuit breakers at a priority. */
export function circuitBreakersRuntimePrefix(clusterName: string, priority: "default" | "high"): string {
  return `circuit_breakers.${clusterName}.${priority}.`;
}

/**
 * A cluster's circuit breakers at one priority (Envoy's `ResourceManager`): live
 * counts of connections, pending requests, requests and retries across all of the
 * cluster's hosts, with Envoy's `circuit_breakers.<priority>.{cx,rq_pending,rq,rq_retry}_open` gauges,
 * and with `trackRemaining` its `remaining_{cx,pending,rq,retries}` gauges
 * (ClusterCircuitBreakersStats' REMAINING_GAUGEs, made only when track_remaining is set).
 * `remaining_cx_pools` is not made: its limit, max_connection_pools, is refused (see
 * docs/configuration.md).
 */
export class ResourceManager {
  readonly connections: Resource;
  readonly pendingRequests: Resource;
  readonly requests: Resource;
  readonly retries: RetryResource;

  constructor(
    limits: ResourceLimits,
    scope?: StatsScope,
    options: {
      runtime?: ResourceManagerRuntime | undefined;
    } = {},
  ) {
    const runtime = options.runtime;
    const rt = runtime?.runtime;
    const key = (field: string) => (runtime ? runtime.prefix + field : undefined);
    const open = (name: string): Gauge | undefined => scope?.gauge(name);
    const remaining = (name: string): Gauge | undefined => (limits.trackRemaining ? scope?.gauge(name) : undefined);
    this.connections = new Resource(limits.maxConnections, open("cx_open"), remaining("remaining_cx"), rt, key("max_connections"));
    this.pendingRequests = new Resource(limits.maxPendingRequests, open("rq_pending_open"), remaining("remaining_pending"), rt, key("max_pending_requests"));
    this.requests = new Resource(limits.maxRequests, open("rq_open"), remaining("remaining_rq"), rt, key("max_requests"));
    // Envoy's default max_retries is 3 (envoy.config.cluster.v3.CircuitBreakers.Thresholds).
    this.retries = new RetryResource(limits.maxRetries ?? 3, open("rq_retry_open"), limits.retryBudget, this.requests, this.pendingRequests, remaining("remaining_retries"), rt, key("max_retries"), key("retry_budget."));
  }
}
