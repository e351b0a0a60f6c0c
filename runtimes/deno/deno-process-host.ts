import { HOLD_OPEN_MS, type ProcessHost } from "../kit/process-host.ts";
import { Deno } from "./deno-api.ts";

const encoder = new TextEncoder();

/**
 * The kit's ProcessHost (runtimes/kit/process-host.ts) over Deno's own APIs: Deno's
 * `process` global and node:timers would load node compatibility (~30 ms) on every start
 * (runtimes/README.md, "Deno: no node: module on the start path").
 */
export const denoProcessHost: ProcessHost = {
  env(name) {
    try {
      return Deno.env.get(name);
    } catch {
      // no --allow-env: as if unset
      return undefined;
    }
  },
  pid: () => Deno.pid,
  ppid: () => Deno.ppid,
  onSignal(signal, callback) {
    Deno.addSignalListener(signal, callback);
  },
  writeError(line) {
    writeStderrSync(line);
  },
  terminateSelf(signal = "SIGTERM") {
    Deno.kill(Deno.pid, signal);
  },
  every(ms, callback) {
    const id = setInterval(callback, ms) as unknown as number;
    Deno.unrefTimer(id);
    return () => clearInterval(id);
  },
  after(ms, callback) {
    Deno.unrefTimer(setTimeout(callback, ms) as unknown as number);
  },
  holdOpen() {
    setInterval(() => {}, HOLD_OPEN_MS);
  },
};

/** Every byte of `line` to stderr, now (a pipe may take part of a write); a stderr that is gone loses the line, not the proxy. */
export function writeStderrSync(line: string): void {
  const bytes = encoder.encode(line);
  try {
    for (let at = 0; at < bytes.length; ) at += Deno.stderr.writeSync(bytes.subarray(at));
  } catch {
    // a broken pipe or closed stderr: nothing can be said there any more
  }
}
