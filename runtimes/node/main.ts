/** polyvoy on Node: `npx tsx runtimes/node/main.ts -c envoy.yaml` */
import { runMain } from "../../core/main.ts";
import { createNodeRuntime } from "./node-runtime.ts";

await runMain(createNodeRuntime(), process.argv.slice(2));
