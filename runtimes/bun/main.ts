/** polyvoy on Bun: `npx bun runtimes/bun/main.ts -c envoy.yaml` */
import { runMain } from "../../core/main.ts";
import { createBunRuntime } from "./bun-runtime.ts";

await runMain(createBunRuntime(), process.argv.slice(2));
