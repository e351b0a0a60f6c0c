/** polyvoy on Node: `npx tsx runtimes/node/main.ts -c envoy.yaml` */
// First: SIGUSR1 must not open a debugger, and the proxy stops with its launcher.
import "../kit/process-guards.ts";
import { runMain } from "../../core/main.ts";
import { createNodeRuntime } from "./node-runtime.ts";

await runMain(createNodeRuntime(), process.argv.slice(2));
