/**
 * The zipkin tracer's code, loaded only when a config names it: an HTTP connection manager
 * with `tracing.provider` envoy.tracers.zipkin has it imported before its listener is built
 * (extensions.ts, the HCM's dependencies), so a start without a tracer never evaluates it.
 */
import type { finalizeDownstreamSpan, setCustomTags } from "../http/conn-manager/stream-span.ts";
import type { zipkinDriverFor } from "./zipkin.ts";

export interface ZipkinModule {
  readonly zipkinDriverFor: typeof zipkinDriverFor;
  readonly finalizeDownstreamSpan: typeof finalizeDownstreamSpan;
  readonly setCustomTags: typeof setCustomTags;
}

/** Set once loadZipkin() resolved; every HCM with a zipkin provider is built after that. */
export let zipkinModule: ZipkinModule | undefined;
let loading: Promise<void> | undefined;

/** Undefined when already loaded (no turn of the event loop added). */
export function loadZipkin(): Promise<void> | undefined {
  if (zipkinModule !== undefined) return undefined;
  return (loading ??= Promise.all([import("./zipkin.ts"), import("../http/conn-manager/stream-span.ts")]).then(([zipkin, span]) => {
    zipkinModule = { zipkinDriverFor: zipkin.zipkinDriverFor, finalizeDownstreamSpan: span.finalizeDownstreamSpan, setCustomTags: span.setCustomTags };
  }));
}
