/**
 * Imported first by main.ts, before anything else loads: the kit's process guards
 * (runtimes/kit/process-guards.ts) over Deno's own APIs. SIGUSR1 cannot open a debugger
 * (inspector-guard.ts: the listener now, node:inspector once the proxy listens, or at the
 * first SIGUSR1: main.ts calls loadInspectorGuard), SIGHUP cannot end it while it starts, and the proxy stops with the package
 * script that started it (launcher-watch.ts).
 */
import { guardInspector } from "../kit/inspector-guard.ts";
import { holdEarlySighup } from "../kit/early-sighup.ts";
import { stopWithLauncher } from "../kit/launcher-watch.ts";
import { denoProcessHost } from "./deno-process-host.ts";

guardInspector(denoProcessHost, "later");
// SIGHUP cannot end a process that is starting (early-sighup.ts).
holdEarlySighup(denoProcessHost);
stopWithLauncher(denoProcessHost);
