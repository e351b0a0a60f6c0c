/** `import "polyvoy"` on Deno: the Deno port adapter plus the core's API. */
export { createDenoRuntime } from "./deno-runtime.ts";
export * from "../../core/index.ts";
export * from "../kit/index.ts";
