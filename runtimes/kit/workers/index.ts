/**
 * The port's `workers` capability (core/port.ts, WorkerProcesses) for an adapter: the
 * adapter says how a worker is started (node:cluster on Node, a child process with
 * SO_REUSEPORT listeners on Bun and Deno); the rest is shared.
 */
import type { SignalName, WorkerProcesses } from "../../../core/port.ts";
import type { LaunchWorker } from "./worker-supervisor.ts";
import { announce, readStartConfig, stopWithSupervisor } from "./worker-side.ts";
import { WORKER_ENV, workerFromEnvironment } from "./worker-identity.ts";
import { nodeProcessHost, type ProcessHost } from "../process-host.ts";

export type { LaunchWorker, WorkerChild } from "./worker-supervisor.ts";
export { spawnLauncher } from "./spawn-launcher.ts";

/**
 * `launcher(argv)` makes the function that starts one worker running this program with the
 * command line `argv`; `host` is the process (node's `process` unless the adapter gives its own).
 */
export function workerProcesses(
  launcher: (argv: readonly string[]) => Promise<LaunchWorker>,
  onSignal: (signal: SignalName, callback: () => void) => void,
  sharing: WorkerProcesses["sharing"],
  host: ProcessHost = nodeProcessHost,
): WorkerProcesses {
  const worker = workerFromEnvironment(host);
  if (worker) stopWithSupervisor(host);
  return {
    worker: worker && { index: worker.index, count: worker.count, ...(worker.supervisorToken !== undefined && { supervisorToken: worker.supervisorToken }) },
    sharing,
    async supervise(options) {
      // Loaded only here: a single process (no --concurrency) never loads the supervisor and its admin.
      const { WorkerSupervisor } = await import("./worker-supervisor.ts");
      const launch = await launcher(options.argv);
      // Each worker is told its supervisor's pid: one whose supervisor died before it looked is not left running (worker-side.ts).
      return new WorkerSupervisor(options, (env) => launch({ ...env, [WORKER_ENV.supervisor]: String(host.pid()) }), onSignal).run();
    },
    async announceStarted(admin) {
      if (worker) await announce(worker, admin, host);
    },
    async startConfig() {
      return worker ? readStartConfig(worker) : undefined;
    },
  };
}
