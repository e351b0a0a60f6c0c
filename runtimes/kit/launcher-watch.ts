/**
 * Stop with the launcher. `npm start &` then `kill $!` signals npm, not the runtime npm
 * started (through a shell): when npm or that shell dies without passing the signal on,
 * the proxy is left running with its ports. Started from a package script (npm, pnpm
 * and yarn set `npm_lifecycle_event`), the proxy notices its parent is gone (it is
 * reparented: the parent pid changes) and stops as if sent SIGTERM. Started any other
 * way (a shell, systemd, a container) it does not watch: a daemon outlives its shell.
 */
import { nodeTimers } from "./builtins.ts";

const POLL_MS = 250;

let watching = false;

export function stopWithLauncher(): void {
  if (watching || !process.env.npm_lifecycle_event) return;
  watching = true;
  const parent = process.ppid;
  const timer = nodeTimers().setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.stderr.write(`polyvoy: the process that started it (pid ${parent}) is gone\n`);
    process.kill(process.pid, "SIGTERM");
  }, POLL_MS);
  timer.unref();
}
