/**
 * Imported first by every runtime's main.ts, before anything else loads: SIGUSR1
 * cannot open a debugger (inspector-guard.ts) and the proxy stops with the package
 * script that started it (launcher-watch.ts).
 */
import { guardInspector } from "./inspector-guard.ts";
import { stopWithLauncher } from "./launcher-watch.ts";

guardInspector();
stopWithLauncher();
