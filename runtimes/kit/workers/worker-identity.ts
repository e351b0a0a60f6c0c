/**
 * How a worker process knows it is one (--concurrency): its supervisor starts it with
 * these variables in its environment, and it announces itself in the supervisor's
 * private folder once its server has started (announce.ts).
 */
import type { WorkerIdentity } from "../../../core/port.ts";
import { nodeProcessHost, type ProcessHost } from "../process-host.ts";

export const WORKER_ENV = {
  index: "POLYVOY_WORKER_INDEX",
  count: "POLYVOY_WORKER_COUNT",
  folder: "POLYVOY_WORKER_DIR",
  /** The supervisor's pid (worker-side.ts: a worker whose parent is another process stops). */
  supervisor: "POLYVOY_SUPERVISOR_PID",
  /** The supervisor's random secret for its stats requests to the worker's admin (WorkerIdentity.supervisorToken). */
  token: "POLYVOY_SUPERVISOR_TOKEN",
} as const;

export interface WorkerEnvironment extends WorkerIdentity {
  /** The supervisor's private folder, where the worker announces itself. */
  readonly folder: string;
}

/** This process's place among the workers, when a supervisor started it; undefined otherwise. */
export function workerFromEnvironment(host: Pick<ProcessHost, "env"> = nodeProcessHost): WorkerEnvironment | undefined {
  const index = Number(host.env(WORKER_ENV.index));
  const count = Number(host.env(WORKER_ENV.count));
  const folder = host.env(WORKER_ENV.folder);
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(count) || index < 0 || index >= count || !folder) return undefined;
  const token = host.env(WORKER_ENV.token);
  return { index, count, folder, ...(token && { supervisorToken: token }) };
}

/** The file a worker announces itself in. */
export function announcementPath(folder: string, index: number): string {
  return `${folder}/worker-${index}.json`;
}

/** The config text the supervisor hands its workers when the config file can be read only once (SuperviseOptions.startConfig). */
export function startConfigPath(folder: string): string {
  return `${folder}/start-config`;
}

/** What a worker announces: its pid, and where its own admin listens (absent without an admin). */
export interface Announcement {
  readonly pid: number;
  readonly admin?: { readonly address: string; readonly port: number };
}
