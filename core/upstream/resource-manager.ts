/**
 * A cluster's circuit breakers (Envoy's `ResourceManager` for priority DEFAULT):
 * live counts of connections, pending requests and requests across all of the
 * cluster's hosts, each checked against its threshold before it grows.
 */
export class ResourceManager {
  connections = 0;
  pendingRequests = 0;
  requests = 0;

  constructor(readonly limits: { maxConnections: number; maxPendingRequests: number; maxRequests: number }) {}

  canCreateConnection(): boolean {
    return this.connections < this.limits.maxConnections;
  }

  canQueueRequest(): boolean {
    return this.pendingRequests < this.limits.maxPendingRequests;
  }

  canStartRequest(): boolean {
    return this.requests < this.limits.maxRequests;
  }
}
