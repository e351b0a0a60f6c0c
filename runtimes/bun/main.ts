/** polyvoy on Bun: `npx bun runtimes/bun/main.ts -c envoy.yaml` */
// First: JavaScriptCore's JIT held back while the bundle initialises and the proxy starts.
import { restoreJITPolicy } from "./start-jit-policy.ts";
// Then: SIGUSR1 must not open a debugger, and the proxy stops with its launcher.
import "../kit/process-guards.ts";
import { runMain } from "../../core/main.ts";
import { createBunRuntime } from "./bun-runtime.ts";
import { writeStderr } from "./bun-stderr.ts";

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
// normal thresholds, and after a moment one full collection and JavaScriptCore's heap
// shrink give back what loading the config used (idle RSS, docs/performance.md,
// "Start-up on bun and deno"). A supervisor of workers returns only when it ends: its
// thresholds come back on start-jit-policy.ts's timer.
void runMain(runtime, process.argv.slice(2)).then(() => {
  restoreJITPolicy();
  setTimeout(() => runtime.releaseFreeMemory?.(), 100).unref();
});
