/**
 * Envoy's OpenTelemetry stats sink (envoy.stat_sinks.open_telemetry,
 * source/extensions/stat_sinks/open_telemetry/open_telemetry_impl.cc and config.cc): each
 * stats flush becomes one ExportMetricsServiceRequest (otlp-metrics-flusher.ts), sent as one
 * unary opentelemetry.proto.collector.metrics.v1.MetricsService/Export call on grpc_service
 * (OpenTelemetryGrpcMetricsExporterImpl::send). Nothing is retried or queued beyond the call:
 * a failed export is dropped with a debug line ("export failure; status: …, message: …", as
 * Envoy's onFailure), and a response's partial_success is logged at debug, as Envoy's onSuccess.
 *
 * Bounds Envoy does not have: each call has a deadline (grpc_service.timeout; unset or 0s,
 * DEFAULT_EXPORT_TIMEOUT_MS) and at most MAX_EXPORTS_IN_FLIGHT calls are in flight. Every
 * flush is exported, as Envoy's: when the cap is reached the oldest call is cancelled (a
 * warning the first time, debug after) and the deltas it carried go with the new export, so
 * a collector that never answers still gets every flush, the final one at shutdown too. An
 * export that fails loses its deltas, as in Envoy.
 */
import type { GrpcServiceTarget } from "../config/bootstrap.ts";
import type { GrpcUnaryCallbacks } from "../http/grpc-async-client.ts";
import type { Logger } from "../log.ts";
import { ProtoReader, WireType } from "../util/protobuf-wire.ts";
import { utf8Decode } from "../util/utf8.ts";
import type { OtlpMetricsFlusher, SentDeltas } from "./otlp-metrics-flusher.ts";
import type { MetricSnapshot, StatsSink } from "./sink.ts";

export const OTLP_METRICS_EXPORT_METHOD = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
/** Export calls in flight at once; a flush beyond them cancels the oldest. */
export const MAX_EXPORTS_IN_FLIGHT = 4;
/**
 * An export's deadline when grpc_service has no timeout: the OTLP exporters' default
 * (OTEL_EXPORTER_OTLP_TIMEOUT, opentelemetry-specification protocol/exporter.md), as the
 * opentelemetry tracer's. Envoy's sink sets none.
 */
export const DEFAULT_EXPORT_TIMEOUT_MS = 10_000;

/** The part of core/http/grpc-async-client.ts's GrpcAsyncClient the sink uses. */
export interface UnaryGrpcClient {
  send(target: GrpcServiceTarget, method: string, message: Uint8Array, callbacks: GrpcUnaryCallbacks, timeoutMs: number): { cancel(): void } | undefined;
}

/** An export waiting for its answer, and the deltas it carries (restored if it is cancelled). */
interface InFlightExport {
  readonly call: { cancel(): void };
  readonly deltas: SentDeltas | undefined;
}

export class OpenTelemetrySink implements StatsSink {
  /** Oldest first. */
  private readonly inFlight: InFlightExport[] = [];
  private whenIdle: (() => void) | undefined;
  private stopped = false;
  private warnedCap = false;
  /** Envoy's proxy_start_time_ns_: when the sink was made, the start of every CUMULATIVE point. */
  private readonly createdNs: bigint;
  /** Envoy's last_flush_time_ns_: the start of the next DELTA points; first the sink's creation. */
  private lastFlushNs: bigint;

  constructor(
    private readonly flusher: OtlpMetricsFlusher,
    private readonly target: GrpcServiceTarget,
    /** Each call's deadline in ms. */
    private readonly timeoutMs: number,
    private readonly client: UnaryGrpcClient,
    /** Wall-clock ms since the epoch (the port's clock): the snapshot's time. */
    private readonly wallClock: () => number,
    private readonly log: Logger,
  ) {
    this.createdNs = toUnixNano(wallClock());
    this.lastFlushNs = this.createdNs;
  }

  async start(): Promise<void> {}

  onHistogramComplete(): void {}

  flush(snapshot: MetricSnapshot): void {
    if (this.stopped) return;
    if (this.inFlight.length >= MAX_EXPORTS_IN_FLIGHT) this.cancelOldest();
    const now = toUnixNano(this.wallClock());
    const { request, deltas } = this.flusher.flush(snapshot, this.lastFlushNs, this.createdNs, now);
    this.lastFlushNs = now;
    let entry: InFlightExport | undefined;
    const done = (): void => {
      if (entry !== undefined) {
        const at = this.inFlight.indexOf(entry);
        if (at >= 0) this.inFlight.splice(at, 1);
      }
      if (this.inFlight.length === 0) this.whenIdle?.();
    };
    const call = this.client.send(
      this.target,
      OTLP_METRICS_EXPORT_METHOD,
      request,
      {
        onSuccess: (response) => {
          done();
          const partial = partialSuccess(response);
          if (partial !== undefined && this.log.debugOn) this.log.debug(`open telemetry stats sink: export response with partial success; ${partial.rejected} rejected, collector message: ${partial.message}`);
        },
        onFailure: (status, message) => {
          done();
          if (this.log.debugOn) this.log.debug(`open telemetry stats sink: export failure; status: ${status}, message: ${message}`);
        },
      },
      this.timeoutMs,
    );
    // undefined: already answered (no host, no cluster), its callbacks called.
    if (call === undefined) return;
    entry = { call, deltas };
    this.inFlight.push(entry);
  }

  /**
   * The cap reached: the oldest call is given up on rather than the new flush held, so a
   * collector that never answers (with no deadline but ours) still gets every flush. Its
   * deltas were not acknowledged: they go with the next export (a collector that took them
   * without answering counts them twice; one that did not loses nothing).
   */
  private cancelOldest(): void {
    const oldest = this.inFlight.shift()!;
    oldest.call.cancel();
    if (oldest.deltas !== undefined) this.flusher.restore(oldest.deltas);
    const line = `open telemetry stats sink: ${MAX_EXPORTS_IN_FLIGHT} exports to cluster '${this.target.clusterName}' in flight, the oldest cancelled; its deltas go with this flush's export`;
    if (!this.warnedCap) {
      this.warnedCap = true;
      this.log.warn(`${line} (logged at debug from now on)`);
    } else if (this.log.debugOn) this.log.debug(line);
  }

  /** At shutdown, after the final flush: resolves once every export has its answer (each has a deadline). */
  idle(): Promise<void> {
    this.stopped = true;
    if (this.inFlight.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.whenIdle = resolve;
    });
  }

  stop(): void {
    this.stopped = true;
    for (const { call } of this.inFlight.splice(0)) call.cancel();
    this.whenIdle?.();
  }
}

/** Milliseconds since the epoch as nanoseconds (microsecond precision). */
export function toUnixNano(ms: number): bigint {
  return BigInt(Math.round(ms * 1000)) * 1000n;
}

/**
 * ExportMetricsServiceResponse.partial_success (field 1: ExportMetricsPartialSuccess {
 * rejected_data_points = 1 (int64), error_message = 2 }), when the collector set it.
 */
function partialSuccess(response: Uint8Array): { rejected: number; message: string } | undefined {
  try {
    const reader = new ProtoReader(response);
    while (reader.next()) {
      if (reader.field !== 1 || reader.wire !== WireType.Len) {
        reader.skip();
        continue;
      }
      const inner = new ProtoReader(reader.lengthDelimited());
      let rejected = 0;
      let message = "";
      while (inner.next()) {
        if (inner.field === 1 && inner.wire === WireType.Varint) rejected = Number(BigInt.asIntN(64, inner.varint64()));
        else if (inner.field === 2 && inner.wire === WireType.Len) message = utf8Decode(inner.lengthDelimited());
        else inner.skip();
      }
      return { rejected, message };
    }
  } catch {
    // A response that is not the message: nothing to say about it.
  }
  return undefined;
}
