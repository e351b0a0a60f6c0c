/**
 * Envoy's metrics service sink (envoy.stat_sinks.metrics_service,
 * source/extensions/stat_sinks/metrics_service/grpc_metrics_service_impl.cc): each stats
 * flush becomes one StreamMetricsMessage (api/envoy/service/metrics/v3/metrics_service.proto)
 * on a client-streaming envoy.service.metrics.v3.MetricsService/StreamMetrics call.
 *
 * As GrpcMetricsStreamerImpl::send: the call is opened by the first flush after there is
 * none, and that flush's message alone carries identifier.node (the bootstrap's node; "for
 * perf reasons, the identifier is only sent on establishing the stream"). When the call ends
 * (any status: Envoy's onRemoteClose drops the stream), the next flush opens another, so a
 * restarted server receives the node again. Responses are ignored, as Envoy's.
 *
 * Nothing waits without limit: while a new call is still connecting, it holds its first
 * message, and while the call's write buffer is above its high watermark (a server that
 * does not read), a flush is not encoded; its counter deltas and histogram values go out
 * with the next message (MetricsFlusher.hold), so nothing is lost while the stream lives —
 * as Envoy's, whose async stream buffers the messages instead. Only a stream that fails
 * loses what it held. At shutdown the call is half-closed after the final flush and the
 * server given CLOSE_TIMEOUT_MS to end it, then reset (Envoy resets it at once).
 *
 * Histogram values are not taken as they are recorded (Envoy's onHistogramComplete is a
 * no-op here): the flush reads each histogram's interval.
 */
import type { GrpcServiceTarget, NodeConfig } from "../config/bootstrap.ts";
import { encodeNode } from "../config/xds/discovery-node.ts";
import type { Timers } from "../event/timers.ts";
import type { Logger } from "../log.ts";
import { ProtoWriter } from "../util/protobuf-wire.ts";
import type { MetricsFlusher } from "./metrics-flusher.ts";
import type { MetricSnapshot, StatsSink } from "./sink.ts";

export const STREAM_METRICS_METHOD = "/envoy.service.metrics.v3.MetricsService/StreamMetrics";
/** The largest response taken: StreamMetricsResponse is empty. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** How long the server has to end the call after our half-close at shutdown before it is reset. */
const CLOSE_TIMEOUT_MS = 1000;

/** The part of core/http/grpc-async-stream.ts's GrpcAsyncStream the sink uses. */
export interface MetricsCall {
  start(clusterName: string, method: string, authority: string, initialMetadata: readonly (readonly [string, string])[], google?: GrpcServiceTarget["google"]): void;
  sendMessage(message: Uint8Array): boolean;
  closeSend(): void;
  closeSendAndDeleteOnRemoteClose(timeoutMs: number): void;
  reset(): void;
  readonly aboveWriteBufferHighWatermark?: boolean;
}

export interface MetricsCallCallbacks {
  onReady?(): void;
  onReceiveMessage(message: Uint8Array): void;
  onRemoteClose(status: number, message: string): void;
}

export type OpenMetricsCall = (callbacks: MetricsCallCallbacks, maxMessageBytes: number) => MetricsCall;

export class MetricsServiceSink implements StatsSink {
  private call: MetricsCall | undefined;
  /** The call has its connection (GrpcAsyncStream's onReady): messages go out at once. */
  private ready = false;
  private stopped = false;
  /** The shutdown's wait (idle()) for the server to end the half-closed call. */
  private whenClosed: (() => void) | undefined;

  constructor(
    private readonly flusher: MetricsFlusher,
    private readonly target: GrpcServiceTarget,
    /** The node of identifier.node; read at each new call. */
    private readonly node: () => NodeConfig | undefined,
    private readonly openCall: OpenMetricsCall,
    /** Wall-clock ms since the epoch: each metric's timestamp_ms (Envoy's snapshotTime()). */
    private readonly wallClock: () => number,
    private readonly log: Logger,
    /** The shutdown's bound on the server ending the call (CLOSE_TIMEOUT_MS). */
    private readonly timers: Timers,
  ) {}

  async start(): Promise<void> {}

  onHistogramComplete(): void {}

  flush(snapshot: MetricSnapshot): void {
    if (this.stopped) return;
    const call = this.call;
    // A call still connecting holds a message already; one that the server does not drain
    // cannot take more. Nothing is encoded: the next message carries what this one would have.
    if (call !== undefined && (!this.ready || call.aboveWriteBufferHighWatermark === true)) {
      this.flusher.hold(snapshot);
      if (this.log.debugOn) this.log.debug(`metrics service: the stream to cluster '${this.target.clusterName}' is ${this.ready ? "not draining" : "not connected yet"}; this flush goes out with the next`);
      return;
    }
    const writer = new ProtoWriter();
    if (call === undefined) writer.message(1, (identifier) => identifier.message(1, (node) => encodeNode(node, this.node())));
    this.flusher.flush(writer, 2, snapshot, Math.floor(this.wallClock()));
    const message = writer.finish();
    if (call !== undefined) {
      call.sendMessage(message);
      return;
    }
    this.openStream(message);
  }

  private openStream(first: Uint8Array): void {
    this.ready = false;
    const call: MetricsCall = this.openCall(
      {
        onReady: () => {
          if (this.call === call) this.ready = true;
        },
        onReceiveMessage: () => {},
        onRemoteClose: (status, message) => {
          if (this.call !== call) return;
          this.call = undefined;
          this.ready = false;
          this.whenClosed?.();
          if (!this.stopped) this.log.debug(`metrics service: ${STREAM_METRICS_METHOD} to cluster '${this.target.clusterName}' closed: gRPC status ${status}${message ? ` ${message}` : ""}; the next flush opens another`);
        },
      },
      MAX_RESPONSE_BYTES,
    );
    this.call = call;
    call.start(this.target.clusterName, STREAM_METRICS_METHOD, this.target.authority, this.target.initialMetadata, this.target.google);
    // Failed at once (no host, no cluster): the message is dropped, as Envoy's when start() gives no stream.
    if (this.call === call) call.sendMessage(first);
  }

  /**
   * At shutdown, after the final flush: the call half-closed and, once the server has ended
   * it (its response sent, so it does not see a cancel when the process exits), resolved.
   * A server that does not end it within CLOSE_TIMEOUT_MS has the call reset, so it does not
   * hold the shutdown for the whole grace period (Envoy resets the stream at shutdown and
   * does not wait at all). No flush is sent after.
   */
  idle(): Promise<void> {
    this.stopped = true;
    const call = this.call;
    if (call === undefined) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = this.timers.create(() => {
        if (this.call !== call) return;
        this.call = undefined;
        this.whenClosed = undefined;
        this.log.debug(`metrics service: ${STREAM_METRICS_METHOD} to cluster '${this.target.clusterName}' not ended by the server ${CLOSE_TIMEOUT_MS} ms after our half-close: reset`);
        call.reset();
        resolve();
      });
      this.whenClosed = () => {
        timer.disable();
        resolve();
      };
      call.closeSend();
      if (this.call === call) timer.enable(CLOSE_TIMEOUT_MS);
    });
  }

  /** Half-close (the server sees the end of the stream), reset if it does not end the call soon. */
  stop(): void {
    this.stopped = true;
    const call = this.call;
    this.call = undefined;
    call?.closeSendAndDeleteOnRemoteClose(CLOSE_TIMEOUT_MS);
  }
}
