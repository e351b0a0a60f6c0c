/**
 * SIGHUP from the first module on. SIGHUP's default action ends a process, and the core
 * asks for it (a reload: core/main.ts; the supervisor passes it on: workers/) only once
 * its config is read: a SIGHUP sent to the process group while a worker (or the proxy)
 * starts killed it. Installed by each main.ts's first import (process-guards.ts,
 * runtimes/deno/deno-guards.ts), this listener keeps it alive, and the first listener the
 * core then asks for hears a SIGHUP that came before it once (a reload of a config read
 * after the signal changes nothing; of one read before, it is the reload asked for).
 */
import type { ProcessHost } from "./process-host.ts";

let installed = false;
/** The core has asked for SIGHUP: this listener has nothing more to do. */
let asked = false;
let heardEarly = false;

export function holdEarlySighup(host: ProcessHost): void {
  if (installed) return;
  installed = true;
  host.onSignal("SIGHUP", () => {
    if (!asked) heardEarly = true;
  });
}

/** The adapter's onSignal calls this with the core's first SIGHUP listener: it hears an earlier SIGHUP, once, at once. */
export function replayEarlySighup(callback: () => void): void {
  if (asked) return;
  asked = true;
  if (!heardEarly) return;
  heardEarly = false;
  queueMicrotask(callback);
}
