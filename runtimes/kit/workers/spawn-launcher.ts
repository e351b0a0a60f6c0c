import type { LaunchWorker } from "./worker-supervisor.ts";

/** Workers started with node:child_process (Bun and Deno): `command args…`, stdio shared with the supervisor. */
export async function spawnLauncher(command: string, args: readonly string[]): Promise<LaunchWorker> {
  // Imported here, when workers are started: a single process never loads them (runtimes/README.md).
  const [{ spawn }, { default: ownProcess }] = await Promise.all([import("node:child_process"), import("node:process")]);
  return (env) => {
    // In the supervisor's process group, as node:cluster's workers are: a terminal's ^C or a
    // `kill -9 -<pgid>` reaches every worker at once, whatever state the supervisor is in.
    const child = spawn(command, args, { stdio: "inherit", env: { ...ownProcess.env, ...env } });
    let gone = false;
    child.on("exit", () => (gone = true));
    return {
      pid: child.pid,
      // By pid while the child lives, not child.kill(): Deno's node:child_process sends
      // only a child's first signal (then `killed` is set and kill() returns false, Deno
      // 2.9), so a worker sent SIGHUP never got the SIGTERM of a stop.
      kill(signal) {
        if (gone || child.pid === undefined) return;
        try {
          ownProcess.kill(child.pid, signal);
        } catch {
          // ESRCH: it exited and its exit event has not come yet.
        }
      },
      onExit(callback) {
        let exited = false;
        const once = (code: number | null, signal: string | null) => {
          if (exited) return;
          exited = true;
          callback(code, signal);
        };
        child.on("exit", once);
        // Could not be started at all (the executable gone): an exit as any other.
        child.on("error", () => once(null, null));
      },
    };
  };
}
