import type { LaunchWorker } from "./worker-supervisor.ts";

/** Workers started with node:child_process (Bun and Deno): `command args…`, stdio shared with the supervisor. */
export async function spawnLauncher(command: string, args: readonly string[]): Promise<LaunchWorker> {
  const { spawn } = await import("node:child_process");
  return (env) => {
    const child = spawn(command, args, { stdio: "inherit", env: { ...process.env, ...env } });
    return {
      pid: child.pid,
      kill: (signal) => void child.kill(signal),
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
