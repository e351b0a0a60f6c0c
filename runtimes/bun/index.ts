/** `import "polyvoy"` on Bun: the Bun port adapter plus the core's API. */
export { createBunRuntime } from "./bun-runtime.ts";
export * from "../../core/index.ts";
export * from "../kit/index.ts";
