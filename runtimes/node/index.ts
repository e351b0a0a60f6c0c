/** `import "polyvoy"` on Node: the Node port adapter plus the core's API. */
export { createNodeRuntime } from "./node-runtime.ts";
export * from "../../core/index.ts";
export * from "../kit/index.ts";
