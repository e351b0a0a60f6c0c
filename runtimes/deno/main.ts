/** polyvoy on Deno: `npx deno run -A runtimes/deno/main.ts -c envoy.yaml` */
// First: SIGUSR1 must not open a debugger, and the proxy stops with its launcher.
import "./deno-guards.ts";
import { runMain } from "../../core/main.ts";
import { createDenoRuntime } from "./deno-runtime.ts";
import { Deno } from "./deno-api.ts";
import { collectOnceAfterStart } from "./collect-after-start.ts";
import { loadInspectorGuard } from "../kit/inspector-guard.ts";
import { denoCheckedConfigStore } from "./deno-checked-config-store.ts";
import { BUILD_ID } from "../kit/build-id.ts";

await runMain(createDenoRuntime(), Deno.args, { checkedConfigs: denoCheckedConfigStore(BUILD_ID) });
// runMain returns once the listeners serve (or the process is ending). What start-up did
// without: node:inspector for the SIGUSR1 guard, then one collection.
loadInspectorGuard();
collectOnceAfterStart(100, (id) => Deno.unrefTimer(id));
