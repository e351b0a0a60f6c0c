/** polyvoy on Deno: `npx deno run -A runtimes/deno/main.ts -c envoy.yaml` */
import { runMain } from "../../core/main.ts";
import { createDenoRuntime } from "./deno-runtime.ts";
import { Deno } from "./deno-api.ts";

await runMain(createDenoRuntime(), Deno.args);
