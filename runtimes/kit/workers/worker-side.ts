/**
 * The worker's half of --concurrency: announce itself to the supervisor once its server
 * has started, and stop when the supervisor is gone (a SIGKILLed supervisor must not
 * leave workers holding the listeners' ports).
 */
import { nodeFsPromises, nodeTimers } from "../builtins.ts";
import type { SocketAddress } from "../../../core/port.ts";
import { announcementPath, type Announcement, type WorkerEnvironment } from "./worker-identity.ts";

const SUPERVISOR_POLL_MS = 250;

/** Write the announcement whole: to a temp name, then renamed over the old one, so the supervisor never reads half of it. */
export async function announce(worker: WorkerEnvironment, admin: SocketAddress | undefined): Promise<void> {
  const announcement: Announcement = { pid: process.pid, ...(admin && { admin: { address: admin.address, port: admin.port } }) };
  const path = announcementPath(worker.folder, worker.index);
  const { rename, writeFile } = nodeFsPromises();
  await writeFile(`${path}.${process.pid}.tmp`, JSON.stringify(announcement));
  await rename(`${path}.${process.pid}.tmp`, path);
}

let watching = false;

/** Reparented (the supervisor died): stop as if sent SIGTERM. */
export function stopWithSupervisor(): void {
  if (watching) return;
  watching = true;
  const supervisor = process.ppid;
  const timer = nodeTimers().setInterval(() => {
    if (process.ppid === supervisor) return;
    clearInterval(timer);
    process.stderr.write(`polyvoy: worker ${process.pid}: its supervisor (pid ${supervisor}) is gone\n`);
    process.kill(process.pid, "SIGTERM");
  }, SUPERVISOR_POLL_MS);
  timer.unref();
}
