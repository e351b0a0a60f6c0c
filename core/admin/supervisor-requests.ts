/**
 * The requests a supervisor of worker processes (--concurrency) makes to each worker's own
 * admin, which are no admin endpoint of Envoy's: a worker's raw stats snapshot
 * (core/admin/worker-stats.ts) and the merged stats flush its sinks send
 * (core/stats/merged-flush.ts; runtimes/kit/workers/sink-flush.ts). A worker answers them
 * only to a request with its supervisor's token; anyone else gets 404, as for a path that
 * does not exist, and the supervisor's public admin never passes them on.
 */

/** Where a worker's supervisor sends the merged stats flush (--concurrency; runtimes/kit/workers/sink-flush.ts). */
export const SINKS_FLUSH_PATH = "/stats/sinks_flush";
/** Where a worker's supervisor reads the worker's raw stats (--concurrency; core/admin/worker-stats.ts). */
export const WORKER_SNAPSHOT_PATH = "/stats?format=worker";
/**
 * The header of the supervisor's own requests to a worker's admin: its random secret
 * (WorkerIdentity.supervisorToken). The two worker-only requests are answered only with it.
 */
export const SUPERVISOR_TOKEN_HEADER = "x-polyvoy-supervisor-token";
/** The supervisor's requests to a worker (the merged flush, a worker's raw snapshot). */
export function isSupervisorOnlyPath(path: string, query: ReadonlyMap<string, string>): boolean {
  return path === SINKS_FLUSH_PATH || (path === "/stats" && query.get("format") === "worker");
}
