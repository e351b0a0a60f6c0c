/**
 * The HCM's trace decision without a tracer (Envoy's
 * ConnectionManagerUtility::mutateTracingRequestHeader and the UUID request-id extension,
 * source/extensions/request_id/uuid/config.cc): with `tracing` configured, a request not
 * already marked is marked client-forced (x-client-trace-id, within client_sampling),
 * service-forced (x-envoy-force-trace) or sampled (its id modulo 10 000 within
 * random_sampling), then unmarked if outside overall_sampling. The mark is the 15th
 * character of the x-request-id UUID, so the proxies after this one see the decision;
 * each decision counts in http.<prefix>.tracing.*.
 */
import type { TracingConfig } from "../../config/bootstrap.ts";
import type { RuntimeSnapshot } from "../../runtime/runtime-loader.ts";
import type { Counter } from "../../stats/counter.ts";
import type { StatsStore } from "../../stats/stats-store.ts";
import type { RequestHeaders } from "../message.ts";

/** Tracing::Reason, as the UUID extension packs it into the request id. */
export const enum TraceReason {
  NotTraceable,
  Sampling,
  ServiceForced,
  ClientForced,
}

/** Where the reason is kept in a UUID (TRACE_BYTE_POSITION), and its characters. */
const TRACE_BYTE_POSITION = 14;
const UUID_LENGTH = 36;
const TRACE_FORCED = "9";
const TRACE_SAMPLED = "a";
const TRACE_CLIENT = "b";
const NO_TRACE = "4";

/** http.<prefix>.tracing.* (Envoy's CONN_MAN_TRACING_STATS). */
export class TracingStats {
  readonly clientEnabled: Counter;
  readonly healthCheck: Counter;
  readonly notTraceable: Counter;
  readonly randomSampling: Counter;
  readonly serviceForced: Counter;
  constructor(store: StatsStore, statPrefix: string) {
    const scope = store.scope(`http.${statPrefix}.tracing.`);
    this.clientEnabled = scope.counter("client_enabled");
    this.healthCheck = scope.counter("health_check");
    this.notTraceable = scope.counter("not_traceable");
    this.randomSampling = scope.counter("random_sampling");
    this.serviceForced = scope.counter("service_forced");
  }

  /** ConnectionManagerImpl::chargeTracingStats. */
  charge(reason: TraceReason): void {
    switch (reason) {
      case TraceReason.ClientForced:
        return this.clientEnabled.inc();
      case TraceReason.NotTraceable:
        return this.notTraceable.inc();
      case TraceReason.Sampling:
        return this.randomSampling.inc();
      case TraceReason.ServiceForced:
        return this.serviceForced.inc();
    }
  }
}

/** UUIDRequestIDExtension::getTraceReason. */
export function traceReason(id: string | undefined): TraceReason {
  if (id === undefined || id.length !== UUID_LENGTH) return TraceReason.NotTraceable;
  switch (id[TRACE_BYTE_POSITION]) {
    case TRACE_FORCED:
      return TraceReason.ServiceForced;
    case TRACE_SAMPLED:
      return TraceReason.Sampling;
    case TRACE_CLIENT:
      return TraceReason.ClientForced;
    default:
      return TraceReason.NotTraceable;
  }
}

/** UUIDRequestIDExtension::setTraceReason: only a UUID-length id is changed. */
function setTraceReason(headers: RequestHeaders, id: string, reason: TraceReason): void {
  if (id.length !== UUID_LENGTH) return;
  const mark = reason === TraceReason.ServiceForced ? TRACE_FORCED : reason === TraceReason.Sampling ? TRACE_SAMPLED : reason === TraceReason.ClientForced ? TRACE_CLIENT : NO_TRACE;
  headers.set("x-request-id", id.slice(0, TRACE_BYTE_POSITION) + mark + id.slice(TRACE_BYTE_POSITION + 1));
}

/** Decide and mark the request; returns the reason (the stats are charged by the caller). */
export function mutateTracingRequestHeader(headers: RequestHeaders, config: TracingConfig, runtime: RuntimeSnapshot): TraceReason {
  const id = headers.get("x-request-id");
  // UUIDRequestIDExtension::getInteger: the first 8 hex digits; a missing or corrupt id is never traced.
  if (id === undefined || id.length < 8 || !/^[0-9a-fA-F]{8}/.test(id)) return TraceReason.NotTraceable;
  const result = parseInt(id.slice(0, 8), 16) % 10_000;
  let reason = traceReason(id);
  if (reason === TraceReason.NotTraceable) {
    if (headers.has("x-client-trace-id") && runtime.featureEnabled(config.clientSampling)) reason = TraceReason.ClientForced;
    else if (headers.has("x-envoy-force-trace")) reason = TraceReason.ServiceForced;
    else if (runtime.featureEnabledFor(config.randomSampling, result)) reason = TraceReason.Sampling;
    if (reason !== TraceReason.NotTraceable) setTraceReason(headers, id, reason);
  }
  if (reason !== TraceReason.NotTraceable && !runtime.featureEnabledFor(config.overallSampling, result)) {
    reason = TraceReason.NotTraceable;
    setTraceReason(headers, id, reason);
  }
  return reason;
}
