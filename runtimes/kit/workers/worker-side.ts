/**
 * The worker's half of --concurrency: announce itself to the supervisor once its server
 * has started, and stop when the supervisor is gone (a SIGKILLed supervisor must not
 * leave workers holding the listeners' ports).
 */
import type { SocketAddress } from "../../../core/port.ts";
import type { ProcessHost } from "../process-host.ts";
import { WORKER_ENV, announcementPath, startConfigPath, type Announcement, type WorkerEnvironment } from "./worker-identity.ts";

const SUPERVISOR_POLL_MS = 250;

let holding = false;

/**
 * Write the announcement whole: to a temp name, then renamed over the old one, so the
 * supervisor never reads half of it. A started worker then stays until it is told to stop
 * (it exits itself then: core/main.ts), even with nothing of its own to wait on: a pipe or
 * UDP listener served by worker 0 alone leaves the others no socket, and the supervisor
 * takes a worker's exit for a crash.
 */
export async function announce(worker: WorkerEnvironment, admin: SocketAddress | undefined, host: ProcessHost): Promise<void> {
  if (!holding) {
    holding = true;
    host.holdOpen();
  }
  // Imported here, in workers only: a single process never loads it (runtimes/README.md).
  const { rename, writeFile } = await import("node:fs/promises");
  const pid = host.pid();
  const announcement: Announcement = { pid, ...(admin && { admin: { address: admin.address, port: admin.port } }) };
  const path = announcementPath(worker.folder, worker.index);
  await writeFile(`${path}.${pid}.tmp`, JSON.stringify(announcement));
  await rename(`${path}.${pid}.tmp`, path);
}

/** The config text the supervisor handed over (worker-supervisor.ts), or undefined when it handed none (the worker reads the config file itself). */
export async function readStartConfig(worker: WorkerEnvironment): Promise<string | undefined> {
  const { readFile } = await import("node:fs/promises");
  try {
    return await readFile(startConfigPath(worker.folder), "utf8");
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return undefined;
    throw err;
  }
}

let watching = false;

/**
 * Reparented (the supervisor died): stop at once, as on SIGINT (no --drain-time-s drain: a
 * new supervisor may be waiting for the ports). The supervisor's pid comes from
 * the environment it set (WORKER_ENV.supervisor): a supervisor that died before this worker
 * first looked left it reparented already, which its parent at this moment would not show.
 */
export function stopWithSupervisor(host: ProcessHost): void {
  if (watching) return;
  watching = true;
  const named = Number(host.env(WORKER_ENV.supervisor));
  const supervisor = Number.isSafeInteger(named) && named > 0 ? named : host.ppid();
  const gone = (): boolean => {
    if (host.ppid() === supervisor) return false;
    host.writeError(`polyvoy: worker ${host.pid()}: its supervisor (pid ${supervisor}) is gone\n`);
    host.terminateSelf("SIGINT");
    return true;
  };
  if (gone()) return;
  const stop = host.every(SUPERVISOR_POLL_MS, () => {
    if (gone()) stop();
  });
}
