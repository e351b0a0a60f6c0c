/** polyvoy on Bun: `npx bun runtimes/bun/main.ts -c envoy.yaml` */
// First: SIGUSR1 must not open a debugger, and the proxy stops with its launcher.
import "../kit/process-guards.ts";
// Then: JavaScriptCore's JIT held back for the run-once code of start-up (until servingJitPolicy).
import { servingJitPolicy } from "./start-jit-policy.ts";
import { runMain } from "../../core/main.ts";
import { createBunRuntime } from "./bun-runtime.ts";
import { writeStderr } from "./bun-stderr.ts";
import { checkedConfigStore } from "../kit/checked-config-store.ts";
import { BUILD_ID } from "../kit/build-id.ts";

let runtime;
try {
  runtime = createBunRuntime();
} catch (err) {
  // A bad setting in the environment: one line, as a bad config gets, and nothing starts.
  writeStderr(`environment: ${(err as Error).message}\n`);
  process.exit(1);
}
// No top-level await: the package's entry is CommonJS, for Bun's bytecode
// (scripts/build-runtimes.mjs). runMain returns once the listeners serve: then the JIT's
// normal policy, and one full collection and JavaScriptCore's heap shrink give back what
// loading the config used (idle RSS, docs/performance.md, "Start-up on bun and deno").
// File reads go off the event loop then too: Server.start() tells the runtime (serving()).
void runMain(runtime, process.argv.slice(2), { checkedConfigs: checkedConfigStore(BUILD_ID) }).then(() => {
  servingJitPolicy();
  setTimeout(() => runtime.releaseFreeMemory?.(), 100).unref();
});
