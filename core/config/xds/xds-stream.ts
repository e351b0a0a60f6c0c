/**
 * Envoy's GrpcStream (source/extensions/config_subscription/grpc/grpc_stream.h): the
 * xDS stream's life around a GrpcAsyncStream — open it, hand each message on, and when it
 * ends open it again after a jittered back-off (base 500 ms, max 30 s: Envoy's
 * RETRY_INITIAL_DELAY_MS and RETRY_MAX_DELAY_MS), the back-off reset by the first
 * message. Stats `control_plane.connected_state` (1 from the stream's start to its end, as
 * Envoy's establishNewStream sets it),
 * `control_plane.rate_limit_enforced` and `control_plane.pending_requests` (Envoy's names;
 * 0: polyvoy does not rate-limit its requests).
 * Used by both muxes: state of the world (grpc-mux.ts) and incremental (delta-grpc-mux.ts).
 */
import { GrpcStatus } from "../../http/grpc-common.ts";
import { GrpcAsyncStream, type GrpcStreamCallbacks } from "../../http/grpc-async-stream.ts";
import type { TimerHandle } from "../../port.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Gauge } from "../../stats/gauge.ts";
import { JitteredExponentialBackOffStrategy } from "../../util/backoff-strategy.ts";
import type { GoogleGrpcTargetConfig, GrpcServiceTarget } from "../bootstrap.ts";

/** The largest message taken (Envoy's is unbounded; a bound is ours). */
export const MAX_XDS_MESSAGE_BYTES = 64 * 1024 * 1024;
export const XDS_BACKOFF_BASE_MS = 500;
export const XDS_BACKOFF_MAX_MS = 30_000;

export interface XdsStreamCallbacks {
  /** A stream was opened (the first, or again after a failure): send what every type wants. */
  onStreamEstablished(): void;
  /**
   * The current stream has its connection and its headers went out: messages sent now are
   * written at once (before, they wait in the call's bounded queue). grpc-mux.ts keeps its
   * requests owed until then, so none is queued.
   */
  onReady?(): void;
  /** One message of the current stream. */
  onMessage(message: Uint8Array): void;
  /** The current stream ended (Envoy's onEstablishmentFailure / ConnectionFailure); a new one follows after the back-off. */
  onStreamClosed(reason: string): void;
}

/** The gRPC call under the stream (GrpcAsyncStream; a unit test drives a fake server side through it). */
export interface XdsCall {
  start(clusterName: string, method: string, authority: string, initialMetadata: readonly (readonly [string, string])[], google?: GoogleGrpcTargetConfig): void;
  sendMessage(message: Uint8Array): boolean;
  reset(): void;
  /** True while the stream's write buffer is above its high watermark (the peer is not reading). */
  readonly aboveWriteBufferHighWatermark?: boolean;
}

/** Makes the call for one stream (default: a GrpcAsyncStream over the cluster manager). */
export type OpenXdsCall = (callbacks: GrpcStreamCallbacks, maxMessageBytes: number) => XdsCall;

export class XdsStream {
  private stream: XdsCall | undefined;
  private retryTimer: TimerHandle | undefined;
  private readonly backoff: JitteredExponentialBackOffStrategy;
  private stopped = false;
  private isReady = false;
  private readonly connectedState: Gauge;
  /** Set by the mux that keeps requests owed (grpc-mux.ts); 0: polyvoy does not rate-limit its requests. */
  readonly pendingRequests: Gauge;

  constructor(
    private readonly server: ServerContext,
    private readonly target: GrpcServiceTarget,
    readonly method: string,
    private readonly callbacks: XdsStreamCallbacks,
    private readonly openCall: OpenXdsCall = (callbacks, maxMessageBytes) => new GrpcAsyncStream(server, callbacks, maxMessageBytes),
  ) {
    this.backoff = new JitteredExponentialBackOffStrategy(XDS_BACKOFF_BASE_MS, XDS_BACKOFF_MAX_MS, server.runtime);
    const scope = server.stats.scope("control_plane.");
    this.connectedState = scope.gauge("connected_state");
    scope.counter("rate_limit_enforced");
    this.pendingRequests = scope.gauge("pending_requests");
  }

  /** A stream is open (messages sent now go on it). */
  get open(): boolean {
    return this.stream !== undefined;
  }

  /** The current stream is open and ready (onReady came). */
  get ready(): boolean {
    return this.isReady;
  }

  /** Open the stream unless one is open or waits for its back-off. */
  ensureOpen(): void {
    if (this.stream === undefined && this.retryTimer === undefined) this.establish();
  }

  /**
   * Send on the current stream; false when none is open (the next one resends the state).
   * A request the stream cannot take (its queue before the connection is up is full) is not
   * dropped silently: the stream restarts, and the new one asks for the whole state again.
   */
  send(message: Uint8Array): boolean {
    const stream = this.stream;
    if (stream === undefined) return false;
    if (stream.sendMessage(message)) return true;
    this.server.log.warn(`xds: ${this.method}: too many requests queued before the stream was ready: restarting it`);
    this.fail(GrpcStatus.ResourceExhausted, "request queue full");
    return false;
  }

  /** End the current stream as failed (a response that cannot be read, too much queued): a new one follows. */
  fail(status: number, reason: string): void {
    const stream = this.stream;
    if (stream === undefined) return;
    stream.reset();
    this.onRemoteClose(stream, status, reason);
  }

  /** A token for the current stream: messages applied later check it is still the same. */
  get generation(): object | undefined {
    return this.stream;
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== undefined) this.server.runtime.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.stream?.reset();
    this.stream = undefined;
    this.isReady = false;
    this.connectedState.set(0);
  }

  private establish(): void {
    if (this.stopped) return;
    this.isReady = false;
    const stream: XdsCall = this.openCall(
      {
        onReady: () => {
          if (this.stream !== stream) return;
          this.isReady = true;
          this.callbacks.onReady?.();
        },
        onReceiveMessage: (message) => {
          if (this.stream !== stream) return;
          // The stream works: the next failure waits from the base again (Envoy resets on the first response).
          this.backoff.reset();
          this.callbacks.onMessage(message);
        },
        onRemoteClose: (status, message) => this.onRemoteClose(stream, status, message),
      },
      MAX_XDS_MESSAGE_BYTES,
    );
    this.stream = stream;
    this.server.log.debug(`xds: opening ${this.method} to cluster '${this.target.clusterName}'`);
    stream.start(this.target.clusterName, this.method, this.target.authority, this.target.initialMetadata, this.target.google);
    if (this.stream !== stream) return;
    this.connectedState.set(1);
    this.callbacks.onStreamEstablished();
  }

  private onRemoteClose(stream: XdsCall, status: number, message: string): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    this.isReady = false;
    this.connectedState.set(0);
    if (this.stopped) return;
    this.server.log.warn(`xds: ${this.method} to cluster '${this.target.clusterName}' closed: gRPC status ${status}${message ? ` ${message}` : ""}`);
    this.callbacks.onStreamClosed(message || `gRPC status ${status}`);
    this.retryTimer = this.server.runtime.setTimeout(() => {
      this.retryTimer = undefined;
      this.establish();
    }, this.backoff.nextBackOffMs());
  }
}
