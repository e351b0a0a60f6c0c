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
 * A cluster's circuit breakers (Envoy's `ResourceManager` for priority DEFAULT): live
 * counts of connections, pending requests and requests across all of the cluster's
 * hosts, with Envoy's `circuit_breakers.default.{cx,rq_pending,rq}_open` gauges.
 */
export class ResourceManager {
  readonly connections: Resource;
  readonly pendingRequests: Resource;
  readonly requests: Resource;

  constructor(limits: { maxConnections: number; maxPendingRequests: number; maxRequests: number }, scope?: StatsScope) {
    this.connections = new Resource(limits.maxConnections, scope?.gauge("cx_open"));
    this.pendingRequests = new Resource(limits.maxPendingRequests, scope?.gauge("rq_pending_open"));
    this.requests = new Resource(limits.maxRequests, scope?.gauge("rq_open"));
  }
}
