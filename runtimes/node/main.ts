/** polyvoy on Node: `node --import tsx runtimes/node/main.ts -c envoy.yaml` (the proxy is the process you start, so signals reach it; the tsx CLI would stand between). */
// First: SIGUSR1 must not open a debugger, and the proxy stops with its launcher.
import "../kit/process-guards.ts";
import { runMain } from "../../core/main.ts";
import { createNodeRuntime } from "./node-runtime.ts";
import { checkedConfigStore } from "../kit/checked-config-store.ts";
import { BUILD_ID } from "../kit/build-id.ts";

// No top-level await: the package bundles this entry as a script (scripts/build-runtimes.mjs)
// so that bin/polyvoy.js can start it with V8's code cache (bin/node-code-cache.js).
// runMain reports its own failures and exits; anything else is an unhandled rejection,
// which ends node as an uncaught error would.
/** Settles once start-up is over (the listeners serve): bin/node-code-cache.js writes V8's code cache then. */
export const started: Promise<void> = runMain(createNodeRuntime(), process.argv.slice(2), { checkedConfigs: checkedConfigStore(BUILD_ID) });
