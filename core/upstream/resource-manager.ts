import type { RuntimeSnapshot } from "../runtime/runtime-loader.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { StatsScope } from "../stats/stats-store.ts";

/** What a circuit breaker reads its runtime override from (absent: the configured value). */
export type ResourceRuntime = Pick<RuntimeSnapshot, "getInteger" | "getDouble">;

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
 * max_retries concurrent retries, or — with a retry_budget — at most budget_percent of
 * the cluster's active plus pending requests, never fewer than min_retry_concurrency.
 * The rq_retry_open gauge follows max_retries either way, as in Envoy. The budget's runtime
 * keys `<prefix>retry_budget.budget_percent` / `.min_retry_concurrency` are read at every
 * check; either one set turns the budget on even without a configured retry_budget, with
 * Envoy's defaults 20% and 3 for the other (RetryBudgetImpl::useRetryBudget and max()).
 */
export class RetryResource extends Resource {
  constructor(
    maxRetries: number,
    open: Gauge | undefined,
    private readonly budget: { budgetPercent: number; minRetryConcurrency: number } | undefined,
    private readonly requests: Resource,
    private readonly pendingRequests: Resource,
    remaining?: Gauge,
    private readonly budgetRuntime?: ResourceRuntime,
    runtimeKey?: string,
    private readonly budgetKey?: string,
  ) {
    super(maxRetries, open, remaining, budgetRuntime, runtimeKey);
    // Envoy's RetryBudgetImpl sets remaining_retries from its budget (no load yet: the floor).
    this.updateRemaining();
  }

  /** The limit now: the budget moves with the cluster's load. */
  override get limit(): number {
    const budget = this.budget;
    const rt = this.budgetRuntime;
    const percentKey = this.budgetKey === undefined ? undefined : `${this.budgetKey}budget_percent`;
    const minKey = this.budgetKey === undefined ? undefined : `${this.budgetKey}min_retry_concurrency`;
    const fromRuntime = rt !== undefined && percentKey !== undefined && minKey !== undefined && (isSet(rt, percentKey) || isSet(rt, minKey));
    if (!budget && !fromRuntime) return this.max;
    const active = this.requests.count + this.pendingRequests.count;
    const percent = rt ? rt.getDouble(percentKey, budget?.budgetPercent ?? 20) : budget!.budgetPercent;
    const minConcurrency = rt ? rt.getInteger(minKey, budget?.minRetryConcurrency ?? 3) : budget!.minRetryConcurrency;
    return Math.max(Math.floor((percent / 100) * active), minConcurrency);
  }
}

/** Whether a layer sets `key` to a number (NaN is no value a layer holds: the default comes back only when unset). */
function isSet(runtime: ResourceRuntime, key: string): boolean {
  return !Number.isNaN(runtime.getDouble(key, Number.NaN));
}

/** A priority's thresholds (envoy.config.cluster.v3.CircuitBreakers.Thresholds). */
export interface ResourceLimits {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries?: number;
  retryBudget?: { budgetPercent: number; minRetryConcurrency: number };
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
      /** false: no `*_open` gauges (a priority no route uses, made for its remaining_* gauges and runtime keys only). */
      openGauges?: boolean;
    } = {},
  ) {
    const runtime = options.runtime;
    const rt = runtime?.runtime;
    const key = (field: string) => (runtime ? runtime.prefix + field : undefined);
    const open = (name: string): Gauge | undefined => (options.openGauges !== false ? scope?.gauge(name) : undefined);
    const remaining = (name: string): Gauge | undefined => (limits.trackRemaining ? scope?.gauge(name) : undefined);
    this.connections = new Resource(limits.maxConnections, open("cx_open"), remaining("remaining_cx"), rt, key("max_connections"));
    this.pendingRequests = new Resource(limits.maxPendingRequests, open("rq_pending_open"), remaining("remaining_pending"), rt, key("max_pending_requests"));
    this.requests = new Resource(limits.maxRequests, open("rq_open"), remaining("remaining_rq"), rt, key("max_requests"));
    // Envoy's default max_retries is 3 (envoy.config.cluster.v3.CircuitBreakers.Thresholds).
    this.retries = new RetryResource(limits.maxRetries ?? 3, open("rq_retry_open"), limits.retryBudget, this.requests, this.pendingRequests, remaining("remaining_retries"), rt, key("max_retries"), key("retry_budget."));
  }
}
