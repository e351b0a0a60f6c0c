/**
 * The Datadog tracer's code, loaded only when a config names it: an HTTP connection
 * manager with `tracing.provider` envoy.tracers.datadog has it imported before its
 * listener is built (extensions.ts, the HCM's dependencies), as opentelemetry-loader.ts does.
 */
import type { finalizeDownstreamSpan, setCustomTags } from "../http/conn-manager/stream-span.ts";
import type { datadogTracerFor } from "./datadog.ts";

export interface DatadogModule {
  readonly datadogTracerFor: typeof datadogTracerFor;
  readonly finalizeDownstreamSpan: typeof finalizeDownstreamSpan;
  readonly setCustomTags: typeof setCustomTags;
}

/** Set once loadDatadog() resolved; every HCM with this provider is built after that. */
export let datadogModule: DatadogModule | undefined;
let loading: Promise<void> | undefined;

/** Undefined when already loaded (no turn of the event loop added). */
export function loadDatadog(): Promise<void> | undefined {
  if (datadogModule !== undefined) return undefined;
  return (loading ??= Promise.all([import("./datadog.ts"), import("../http/conn-manager/stream-span.ts")]).then(([dd, span]) => {
    datadogModule = { datadogTracerFor: dd.datadogTracerFor, finalizeDownstreamSpan: span.finalizeDownstreamSpan, setCustomTags: span.setCustomTags };
  }));
}
