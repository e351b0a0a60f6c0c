/**
 * The OpenTelemetry tracer's code, loaded only when a config names it: an HTTP connection
 * manager with `tracing.provider` envoy.tracers.opentelemetry has it imported before its
 * listener is built (extensions.ts, the HCM's dependencies), as zipkin-loader.ts does.
 */
import type { finalizeDownstreamSpan, setCustomTags } from "../http/conn-manager/stream-span.ts";
import type { openTelemetryTracerFor } from "./opentelemetry.ts";

export interface OpenTelemetryModule {
  readonly openTelemetryTracerFor: typeof openTelemetryTracerFor;
  readonly finalizeDownstreamSpan: typeof finalizeDownstreamSpan;
  readonly setCustomTags: typeof setCustomTags;
}

/** Set once loadOpenTelemetry() resolved; every HCM with this provider is built after that. */
export let openTelemetryModule: OpenTelemetryModule | undefined;
let loading: Promise<void> | undefined;

/** Undefined when already loaded (no turn of the event loop added). */
export function loadOpenTelemetry(): Promise<void> | undefined {
  if (openTelemetryModule !== undefined) return undefined;
  return (loading ??= Promise.all([import("./opentelemetry.ts"), import("../http/conn-manager/stream-span.ts")]).then(([otel, span]) => {
    openTelemetryModule = { openTelemetryTracerFor: otel.openTelemetryTracerFor, finalizeDownstreamSpan: span.finalizeDownstreamSpan, setCustomTags: span.setCustomTags };
  }));
}
