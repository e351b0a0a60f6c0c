/** polyvoy on Node: `node --import tsx runtimes/node/main.ts -c envoy.yaml` (the proxy is the process you start, so signals reach it; the tsx CLI would stand between). */
// First: SIGUSR1 must not open a debugger, and the proxy stops with its launcher.
import "../kit/process-guards.ts";
import { runMain } from "../../core/main.ts";
import { createNodeRuntime } from "./node-runtime.ts";

await runMain(createNodeRuntime(), process.argv.slice(2));
