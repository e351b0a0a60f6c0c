import type { Gauge } from "../stats/gauge.ts";
import type { StatsScope } from "../stats/stats-store.ts";

/**
 * One circuit breaker (Envoy's `ResourceManagerImpl::ResourceImpl`): a live count checked
 * against its threshold before it grows, and its `*_open` gauge, 1 while the count is at
 * the threshold (nothing more is admitted), else 0.
 */
export class Resource {
  count = 0;

  constructor(
    readonly max: number,
    private readonly open: Gauge | undefined,
  ) {
    open?.set(max > 0 ? 0 : 1);
  }

  canCreate(): boolean {
    return this.count < this.max;
  }

  inc(): void {
    this.count++;
    if (this.open && this.count >= this.max) this.open.set(1);
  }

  dec(): void {
    this.count--;
    if (this.open && this.count === this.max - 1) this.open.set(0);
  }
}

/**
 * The retries circuit breaker (Envoy's `RetryBudgetImpl`, resource_manager_impl.h):
 * max_retries concurrent retries, or — with a retry_budget — at most budget_percent of
 * the cluster's active plus pending requests, never fewer than min_retry_concurrency.
 * The rq_retry_open gauge follows max_retries either way, as in Envoy.
 */
export class RetryResource extends Resource {
  constructor(
    maxRetries: number,
    open: Gauge | undefined,
    private readonly budget: { budgetPercent: number; minRetryConcurrency: number } | undefined,
    private readonly requests: Resource,
    private readonly pendingRequests: Resource,
  ) {
    super(maxRetries, open);
  }

  /** The limit now: the budget moves with the cluster's load. */
  get limit(): number {
    const budget = this.budget;
    if (!budget) return this.max;
    const active = this.requests.count + this.pendingRequests.count;
    return Math.max(Math.floor((budget.budgetPercent / 100) * active), budget.minRetryConcurrency);
  }

  override canCreate(): boolean {
    return this.count < this.limit;
  }
}

/**
 * A cluster's circuit breakers (Envoy's `ResourceManager` for priority DEFAULT): live
 * counts of connections, pending requests, requests and retries across all of the
 * cluster's hosts, with Envoy's `circuit_breakers.default.{cx,rq_pending,rq,rq_retry}_open` gauges.
 */
export class ResourceManager {
  readonly connections: Resource;
  readonly pendingRequests: Resource;
  readonly requests: Resource;
  readonly retries: RetryResource;

  constructor(
    limits: {
      maxConnections: number;
      maxPendingRequests: number;
      maxRequests: number;
      maxRetries?: number;
      retryBudget?: { budgetPercent: number; minRetryConcurrency: number };
    },
    scope?: StatsScope,
  ) {
    this.connections = new Resource(limits.maxConnections, scope?.gauge("cx_open"));
    this.pendingRequests = new Resource(limits.maxPendingRequests, scope?.gauge("rq_pending_open"));
    this.requests = new Resource(limits.maxRequests, scope?.gauge("rq_open"));
    // Envoy's default max_retries is 3 (envoy.config.cluster.v3.CircuitBreakers.Thresholds).
    this.retries = new RetryResource(limits.maxRetries ?? 3, scope?.gauge("rq_retry_open"), limits.retryBudget, this.requests, this.pendingRequests);
  }
}
