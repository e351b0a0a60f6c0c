/**
 * What the kit's process-level pieces ask of the runtime's own process: the inspector guard
 * (inspector-guard.ts), the launcher and supervisor watches (launcher-watch.ts,
 * workers/worker-side.ts) and a worker's identity (workers/worker-identity.ts). On node and
 * Bun it is `process` (`nodeProcessHost`); the deno adapter gives its own over Deno's APIs
 * (runtimes/deno/deno-process-host.ts), because on Deno loading node:process and node:timers
 * costs some 30 ms of every start (runtimes/README.md, "Deno: no node: module on the start
 * path").
 */
import type { SignalName } from "../../core/port.ts";

export interface ProcessHost {
  /** An environment variable, undefined when unset (or unreadable). */
  env(name: string): string | undefined;
  pid(): number;
  /** The parent's pid now (it changes when the parent dies and the process is reparented). */
  ppid(): number;
  onSignal(signal: SignalName, callback: () => void): void;
  /** Write a line to stderr. */
  writeError(line: string): void;
  /** Send this process SIGTERM, or `signal` (its listeners then stop it as that signal does). */
  terminateSelf(signal?: "SIGTERM" | "SIGINT"): void;
  /** `callback` every `ms`, not keeping the process alive; the function returned stops it. */
  every(ms: number, callback: () => void): () => void;
  /** `callback` once after `ms`, not keeping the process alive. */
  after(ms: number, callback: () => void): void;
  /** Keep the process alive with nothing else to do (a started worker: workers/worker-side.ts); it ends only by exiting. */
  holdOpen(): void;
}

/** The period of holdOpen's timer: the longest a timer takes (2^31-1 ms), so it wakes the process almost never. */
export const HOLD_OPEN_MS = 2 ** 31 - 1;

/**
 * Node's and Bun's: the global `process` and timers, read when called (the same objects
 * node:process and node:timers export there).
 */
export const nodeProcessHost: ProcessHost = {
  env: (name) => process.env[name],
  pid: () => process.pid,
  ppid: () => process.ppid,
  onSignal(signal, callback) {
    process.on(signal, callback);
  },
  writeError(line) {
    process.stderr.write(line);
  },
  terminateSelf(signal = "SIGTERM") {
    process.kill(process.pid, signal);
  },
  every(ms, callback) {
    const timer = setInterval(callback, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
  after(ms, callback) {
    setTimeout(callback, ms).unref();
  },
  holdOpen() {
    setInterval(() => {}, HOLD_OPEN_MS);
  },
};
