/** A polyvoy Server built from an Envoy bootstrap and started on a memory runtime. */
import { loadBootstrap } from "../../../core/config/load.ts";
import { Logger, type LogLevel } from "../../../core/log.ts";
import { Server } from "../../../core/server.ts";
import type { Cluster } from "../../../core/upstream/cluster.ts";
import type { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

export async function startProxy(runtime: MemoryRuntime, config: object, logLevel: LogLevel = "warn"): Promise<Server> {
  const bootstrap = loadBootstrap(JSON.stringify(config), "json");
  const server = new Server(runtime, bootstrap, new Logger(runtime, logLevel));
  await server.start();
  return server;
}

/** The circuit-breaker counters of a cluster (live connections, pending and active requests). */
export function resourceCounters(server: Server, cluster: string): { connections: number; pendingRequests: number; requests: number } {
  const resources = (server.clusterManager.get(cluster) as Cluster).resources;
  return { connections: resources.connections.count, pendingRequests: resources.pendingRequests.count, requests: resources.requests.count };
}

/** Connections the proxy's listeners still hold. */
export function activeDownstreamConnections(server: Server): number {
  return server.listeners.reduce((n, listener) => n + listener.activeConnections, 0);
}

/** Upstream connections the cluster's pools still hold, over all hosts. */
export function pooledConnections(server: Server, cluster: string): number {
  const c = server.clusterManager.get(cluster) as Cluster;
  return c.hosts.reduce((n, host) => n + server.clusterManager.httpConnPool(c, host).connectionCount, 0);
}
