/**
 * The SkyWalking tracer's code, loaded only when a config names it: an HTTP connection
 * manager with `tracing.provider` envoy.tracers.skywalking has it imported before its
 * listener is built (extensions.ts, the HCM's dependencies), as opentelemetry-loader.ts does.
 */
import type { finalizeDownstreamSpan, setCustomTags } from "../http/conn-manager/stream-span.ts";
import type { skyWalkingTracerFor } from "./skywalking.ts";

export interface SkyWalkingModule {
  readonly skyWalkingTracerFor: typeof skyWalkingTracerFor;
  readonly finalizeDownstreamSpan: typeof finalizeDownstreamSpan;
  readonly setCustomTags: typeof setCustomTags;
}

/** Set once loadSkyWalking() resolved; every HCM with this provider is built after that. */
export let skyWalkingModule: SkyWalkingModule | undefined;
let loading: Promise<void> | undefined;

/** Undefined when already loaded (no turn of the event loop added). */
export function loadSkyWalking(): Promise<void> | undefined {
  if (skyWalkingModule !== undefined) return undefined;
  return (loading ??= Promise.all([import("./skywalking.ts"), import("../http/conn-manager/stream-span.ts")]).then(([sw, span]) => {
    skyWalkingModule = { skyWalkingTracerFor: sw.skyWalkingTracerFor, finalizeDownstreamSpan: span.finalizeDownstreamSpan, setCustomTags: span.setCustomTags };
  }));
}
