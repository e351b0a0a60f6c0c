/**
 * Imported first by every runtime's main.ts, before anything else loads: SIGUSR1
 * cannot open a debugger (inspector-guard.ts), SIGHUP cannot end a process that is
 * starting (early-sighup.ts) and the proxy stops with the package script that started it
 * (launcher-watch.ts).
 */
import { guardInspector } from "./inspector-guard.ts";
import { holdEarlySighup } from "./early-sighup.ts";
import { stopWithLauncher } from "./launcher-watch.ts";
import { nodeProcessHost } from "./process-host.ts";

guardInspector();
holdEarlySighup(nodeProcessHost);
stopWithLauncher();
