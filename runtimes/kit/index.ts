/**
 * The adapter kit: pieces port adapters share, runtime-neutral (they use only the
 * port's types and standard JavaScript). `npm run build:core` bundles them into
 * dist/polyvoy-adapter-kit.mjs beside the core; see runtimes/README.md.
 * (process-services.ts is not here: it uses node: modules, for the adapters of
 * runtimes that implement them.)
 */
export { WriteQueue } from "./write-queue.ts";
export { ReadDisableCount } from "./read-disable-count.ts";
export { toPortError } from "./errors.ts";
export { SerialAppendFile } from "./serial-append-file.ts";
export { detachedHandler } from "./detached-handler.ts";
export { raiseMallocThresholds } from "./malloc-thresholds.ts";
export { randomBytes } from "./random-bytes.ts";
export { HeldReads, type PausableReads } from "./held-reads.ts";
