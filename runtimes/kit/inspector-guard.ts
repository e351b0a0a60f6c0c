/**
 * Keep SIGUSR1 from opening the runtime's debugger. Node opens its inspector on
 * 127.0.0.1:9229 when it receives SIGUSR1, and Deno does the same since 2.9.2
 * (denoland/deno#35738); any local user who can reach that port can then run code
 * inside the proxy. polyvoy uses SIGUSR1 as Envoy does, to reopen access logs
 * (core/main.ts), and logrotate recipes send it.
 *
 * Node does not start its inspector while a JavaScript SIGUSR1 listener is installed
 * (checked on node 20; `--disable-sigusr1` does the same from Node 22.14 on), so
 * installing one, first thing, is enough there. Deno opens it whatever JavaScript
 * listens: there the listener closes the inspector as soon as it appears (within
 * milliseconds; on any runtime that opens one anyway, node included), unless it was
 * already open when the guard was installed (the user started the runtime with
 * --inspect: they asked for a debugger). Bun opens no inspector on a signal; the
 * listener keeps SIGUSR1 from killing it before the core asks for the signal, and
 * node:inspector is not loaded there (it costs Bun some 20 ms of start-up).
 * node:inspector is imported after the listener is installed, off the start-up path: until
 * it has loaded, a SIGUSR1 waits for it.
 */
import { nodeTimers } from "./builtins.ts";

/** How long after a SIGUSR1 an inspector the runtime opens is watched for. */
const WATCH_MS = 1000;

let installed = false;
let openAtStart = false;
let inspector: typeof import("node:inspector") | undefined;
let inspectorLoaded: Promise<void> | undefined;
/** A SIGUSR1 came before node:inspector loaded: an inspector open then is the signal's doing, not the user's. */
let signalledBeforeLoad = false;

/** Install the guard (idempotent): main.ts files call it first thing, adapters again on creation. */
export function guardInspector(): void {
  if (installed) return;
  installed = true;
  process.on("SIGUSR1", onSigusr1);
  if (typeof (globalThis as { Bun?: unknown }).Bun !== "undefined") return;
  inspectorLoaded = import("node:inspector").then(
    (module) => {
      inspector = module;
      openAtStart = !signalledBeforeLoad && inspectorUrl() !== undefined;
    },
    () => undefined,
  );
}

function onSigusr1(): void {
  if (!inspector) {
    signalledBeforeLoad = true;
    void inspectorLoaded?.then(() => inspector && onSigusr1());
    return;
  }
  if (openAtStart) return;
  const deadline = Date.now() + WATCH_MS;
  const check = (): void => {
    const url = inspectorUrl();
    if (url !== undefined) {
      try {
        inspector!.close();
      } catch {
        // nothing more we can do; the warning says so
      }
      process.stderr.write(`polyvoy: the runtime opened its inspector on SIGUSR1 (${url}); ${inspectorUrl() === undefined ? "closed it" : "could not close it"}\n`);
      return;
    }
    if (Date.now() < deadline) nodeTimers().setTimeout(check, 1).unref();
  };
  check();
}

function inspectorUrl(): string | undefined {
  try {
    return inspector?.url() ?? undefined;
  } catch {
    return undefined;
  }
}
