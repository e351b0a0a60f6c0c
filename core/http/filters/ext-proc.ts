/**
 * Envoy's external processing filter (source/extensions/filters/http/ext_proc/ext_proc.cc,
 * processor_state.cc, client_impl.cc): each request opens one bidirectional gRPC stream,
 * envoy.service.ext_proc.v3.ExternalProcessor/Process, to the grpc_service's cluster
 * (always HTTP/2: ClusterManager.grpcStreamConnPool), on its first message. As the
 * processing mode says, each direction's headers, body and trailers are sent, each held
 * until the processor answers (or message_timeout passes). The body goes whole (BUFFERED),
 * up to the buffer limit (BUFFERED_PARTIAL), or chunk by chunk as it comes (STREAMED: the
 * chunks wait in a queue bounded by the buffer limit — the sender is paused over it — and
 * each answer's body passes on in order, ext-proc-chunk-queue.ts), or as it comes without
 * being kept (FULL_DUPLEX_STREAMED: the processor's streamed_response pieces are the body);
 * a route's ExtProcPerRoute may disable the filter or override its mode, processor and
 * failure mode (ext-proc-route.ts):
 * - a HeadersResponse / BodyResponse's CommonResponse mutates the headers (ext-proc-mutation.ts,
 *   Envoy's default mutation rules), replaces the body (body_mutation), may ask to clear
 *   the route cache; CONTINUE_AND_REPLACE on headers takes the body mutation as the whole
 *   body and sends no body message;
 * - an ImmediateResponse ends the request with a local reply (its status, default 200,
 *   headers, body, grpc_status and details);
 * - a message out of turn is spurious: a 500 (details Envoy's "spurious message...");
 * - mode_override, with allow_mode_override, changes the mode while headers are awaited.
 * A failed stream is a 500 (details ext_proc_error_gRPC_error_<status>), a message timeout
 * a 504 (ext_proc_error_per-message_timeout_exceeded), unless failure_mode_allow lets the
 * request go on without the processor (never once a full duplex body went to it: failOpen).
 * A stream the processor closes cleanly leaves the
 * rest of the request unprocessed.
 * Stats: http.<hcm stat_prefix>.ext_proc.[<stat_prefix>.]{streams_started, stream_msgs_sent,
 * stream_msgs_received, spurious_msgs_received, streams_closed, streams_failed,
 * failure_mode_allowed, message_timeouts, rejected_header_mutations, clear_route_cache_ignored,
 * clear_route_cache_disabled, override_message_timeout_received, override_message_timeout_ignored}.
 */
import type { ExtProcBodyMode, ExtProcConfig, ExtProcPerRouteConfig, ExtProcProcessingMode, GrpcServiceTarget } from "../../config/bootstrap.ts";
import type { Timer, TimerTarget } from "../../event/timers.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Counter } from "../../stats/counter.ts";
import { EMPTY_BYTES } from "../../util/bytes.ts";
import { latin1Decode } from "../../util/latin1.ts";
import { PerConfig } from "../../util/per-config.ts";
import { ProtoDecodeError } from "../../util/protobuf-wire.ts";
import { GrpcStatus, toGrpcTimeout } from "../grpc-common.ts";
import { GrpcAsyncStream, type GrpcStreamCallbacks } from "../grpc-async-stream.ts";
import type { HeaderMap } from "../header-map.ts";
import type { BodyBuffer } from "../body-buffer.ts";
import { ChunkQueue } from "./ext-proc-chunk-queue.ts";
import { mergeExtProcPerRoute, mergeMetadata } from "./ext-proc-route.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
} from "../filter.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import { filterStatsScope, type HttpFilterChainContext } from "./http-filter-registry.ts";
import { applyHeaderMutation, headersForProcessor, immediateHeaderAllowed, MutationChecker } from "./ext-proc-mutation.ts";
import {
  decodeProcessingResponse,
  encodeBodyRequest,
  encodeHeadersRequest,
  encodeTrailersRequest,
  PROCESS_METHOD,
  ProcessingKind,
  ResponseKind,
  type CommonResponse,
  type HeaderMutation,
  type ImmediateResponse,
  type ModeOverride,
  type StreamedBodyResponse,
} from "./ext-proc-proto.ts";
import { sanitizeStatsPrefix } from "../../stats/sanitize-stats-name.ts";

/** Envoy's ErrorPrefix for local-reply details. */
const ERROR_PREFIX = "ext_proc_error";
/** ext_proc.cc DefaultImmediateStatus. */
const DEFAULT_IMMEDIATE_STATUS = 200;
/** The largest message taken from the processor (Envoy's is unbounded; a bound is ours, as ext_authz's). */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** How long a finished request's stream waits for the processor's trailers before a reset (Envoy's deferred_close_timeout default). */
const DEFERRED_CLOSE_MS = 5000;
/** CommonResponse.ResponseStatus CONTINUE_AND_REPLACE. */
const CONTINUE_AND_REPLACE = 1;
/**
 * An answer out of turn (Envoy's FailedPrecondition status from processor_state.cc), with
 * Envoy's message: the local reply's details when it fails the request.
 */
class Spurious {
  constructor(readonly message: string) {}
}
const SPURIOUS = new Spurious("spurious message");
/** One answer's outcome: done, out of turn, or an error (a refused mutation: the local reply's details). */
type AnswerStatus = "ok" | Spurious | string;
/** ProcessingMode.BodySendMode by number. */
const BODY_MODES: readonly ExtProcBodyMode[] = ["NONE", "STREAMED", "BUFFERED", "BUFFERED_PARTIAL", "FULL_DUPLEX_STREAMED"];

export class ExtProcStats {
  readonly streamsStarted: Counter;
  readonly streamMsgsSent: Counter;
  readonly streamMsgsReceived: Counter;
  readonly spuriousMsgsReceived: Counter;
  readonly streamsClosed: Counter;
  readonly streamsFailed: Counter;
  readonly failureModeAllowed: Counter;
  readonly messageTimeouts: Counter;
  readonly rejectedHeaderMutations: Counter;
  readonly clearRouteCacheIgnored: Counter;
  readonly clearRouteCacheDisabled: Counter;
  readonly clearRouteCacheUpstreamIgnored: Counter;
  readonly sendImmediateRespUpstreamIgnored: Counter;
  readonly overrideMessageTimeoutReceived: Counter;
  readonly overrideMessageTimeoutIgnored: Counter;

  constructor(server: ServerContext, prefix: string) {
    const c = (name: string) => server.stats.counter(prefix + name);
    this.streamsStarted = c("streams_started");
    this.streamMsgsSent = c("stream_msgs_sent");
    this.streamMsgsReceived = c("stream_msgs_received");
    this.spuriousMsgsReceived = c("spurious_msgs_received");
    this.streamsClosed = c("streams_closed");
    this.streamsFailed = c("streams_failed");
    this.failureModeAllowed = c("failure_mode_allowed");
    this.messageTimeouts = c("message_timeouts");
    this.rejectedHeaderMutations = c("rejected_header_mutations");
    this.clearRouteCacheIgnored = c("clear_route_cache_ignored");
    this.clearRouteCacheDisabled = c("clear_route_cache_disabled");
    this.clearRouteCacheUpstreamIgnored = c("clear_route_cache_upstream_ignored");
    this.sendImmediateRespUpstreamIgnored = c("send_immediate_resp_upstream_ignored");
    this.overrideMessageTimeoutReceived = c("override_message_timeout_received");
    this.overrideMessageTimeoutIgnored = c("override_message_timeout_ignored");
  }
}

/** What one ext_proc filter's streams share. */
export class ExtProcFilterConfig {
  readonly stats: ExtProcStats;
  /** mutation_rules, for the processor's header mutations (not an immediate response's: Envoy checks those with fixed rules). */
  readonly mutationChecker: MutationChecker;
  readonly initialMetadata: readonly (readonly [string, string])[];
  /** Envoy's FilterConfig::isUpstream: the filter runs in an upstream chain (no local reply, no route cache to clear). */
  readonly isUpstream: boolean;

  constructor(
    readonly config: ExtProcConfig,
    readonly server: ServerContext,
    chain: HttpFilterChainContext,
  ) {
    this.stats = new ExtProcStats(server, sanitizeStatsPrefix(`${filterStatsScope(chain)}ext_proc.${config.statPrefix === "" ? "" : config.statPrefix + "."}`));
    this.mutationChecker = new MutationChecker(config.mutationRules);
    this.initialMetadata = streamMetadata(config.grpc.initialMetadata, config.grpcTimeoutMs);
    this.isUpstream = chain.upstream === true;
  }
}

/** The stream's headers: the service's initial_metadata and, with GrpcService.timeout, the deadline of the whole call (as Envoy's AsyncStreamImpl sends it). */
function streamMetadata(initial: readonly (readonly [string, string])[], timeoutMs: number | undefined): readonly (readonly [string, string])[] {
  const metadata = [...initial];
  if (timeoutMs !== undefined && timeoutMs > 0) metadata.push(["grpc-timeout", toGrpcTimeout(timeoutMs)]);
  return metadata;
}

const CONFIGS = new PerConfig((config: ExtProcConfig, server: ServerContext, chain: HttpFilterChainContext) => new ExtProcFilterConfig(config, server, chain));

export function extProcFilterConfig(config: ExtProcConfig, server: ServerContext, chain: HttpFilterChainContext): ExtProcFilterConfig {
  return CONFIGS.get(config, server, chain);
}

/** One direction's state (Envoy's ProcessorState::CallbackState). */
export const CallState = {
  Idle: 0,
  /** Headers were sent; their answer is awaited. */
  HeadersCallback: 1,
  /** The body is being buffered until it is complete (BUFFERED). */
  BufferingBody: 2,
  /** The buffered body was sent; its answer is awaited. */
  BufferedBodyCallback: 3,
  /** Streamed chunks were sent; their answers are awaited, in order (STREAMED). */
  StreamedBodyCallback: 4,
  /** The body up to the buffer limit was sent; its answer is awaited (BUFFERED_PARTIAL). */
  BufferedPartialBodyCallback: 5,
  /** The trailers were sent; their answer is awaited. */
  TrailersCallback: 6,
} as const;
export type CallState = (typeof CallState)[keyof typeof CallState];

/** One direction: the request (decoding) or the response (encoding); Envoy's ProcessorState. */
class Direction implements TimerTarget {
  state: CallState = CallState.Idle;
  /** Headers (or trailers) are held by this filter until processing lets them go. */
  stopped = false;
  /** The headers have not gone on yet: a body answer may still change them (Envoy's headers_). */
  headersHeld = false;
  /** Inside this direction's filter call: a continue becomes the call's return value. */
  inCall = false;
  continueInCall = false;
  /** The whole body is in (endStream seen on headers, data or trailers). */
  complete = false;
  /** The headers ended the stream (Envoy's no_body_). */
  noBody = false;
  /** CONTINUE_AND_REPLACE on headers: the body to put in place of the one that comes. */
  replacement: Uint8Array | undefined;
  headers: RequestHeaders | ResponseHeaders | undefined;
  trailers: HeaderMap | undefined;
  bodyMode: ExtProcBodyMode;
  sendTrailers: boolean;
  /** STREAMED / BUFFERED_PARTIAL chunks awaiting their answers. */
  readonly queue = new ChunkQueue();
  /** This direction's sender is paused for the queue (Envoy's watermark_requested_). */
  watermarkRequested = false;
  /** BUFFERED_PARTIAL: the part was answered; the rest of the body goes on unprocessed. */
  partialBodyProcessed = false;
  timer: Timer | undefined;
  /** override_message_timeout was taken for the message awaited (Envoy's new_timeout_received_). */
  newTimeoutReceived = false;
  /** FULL_DUPLEX_STREAMED: body went to the processor (Envoy's bodyReceived), its streamed answers awaited. */
  duplexBodySent = false;
  /** FULL_DUPLEX_STREAMED: the trailers went to the processor; their answer is awaited. */
  duplexTrailersSent = false;

  constructor(
    readonly request: boolean,
    private readonly owner: ExtProcFilter,
    mode: ExtProcProcessingMode,
  ) {
    this.bodyMode = request ? mode.requestBody : mode.responseBody;
    this.sendTrailers = request ? mode.requestTrailers : mode.responseTrailers;
  }

  /** Envoy's setProcessingMode. */
  setMode(mode: ExtProcProcessingMode): void {
    this.bodyMode = this.request ? mode.requestBody : mode.responseBody;
    this.sendTrailers = this.request ? mode.requestTrailers : mode.responseTrailers;
  }

  get fullDuplex(): boolean {
    return this.bodyMode === "FULL_DUPLEX_STREAMED";
  }

  /** @internal TimerTarget: this direction's message timer (Envoy keeps one per ProcessorState). */
  onTimer(): void {
    this.owner.onMessageTimeout();
  }
}

export class ExtProcFilter implements StreamFilter, GrpcStreamCallbacks {
  private decoderCallbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private encoderCallbacks: EncoderFilterCallbacks | undefined;
  private readonly decoding: Direction;
  private readonly encoding: Direction;
  private stream: GrpcAsyncStream | undefined;
  /** The processor is done with (closed, failed, timed out, spurious, immediate response). */
  private processingComplete = false;
  private disabled = false;
  private mode: ExtProcProcessingMode;
  private sentLocalReply = false;
  /** The processor and the failure mode, the filter's unless a route's ExtProcOverrides changed them. */
  private grpc: GrpcServiceTarget;
  private initialMetadata: readonly (readonly [string, string])[];
  private failureModeAllow: boolean;
  /** The route's ExtProcPerRoute was taken (Envoy's route_config_merged_). */
  private routeConfigMerged = false;

  constructor(private readonly shared: ExtProcFilterConfig) {
    this.mode = shared.config.processingMode;
    this.grpc = shared.config.grpc;
    this.initialMetadata = shared.initialMetadata;
    this.failureModeAllow = shared.config.failureModeAllow;
    this.decoding = new Direction(true, this, this.mode);
    this.encoding = new Direction(false, this, this.mode);
  }

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoderCallbacks = callbacks;
  }

  setEncoderFilterCallbacks(callbacks: EncoderFilterCallbacks): void {
    this.encoderCallbacks = callbacks;
  }

  // ---- the request ----

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    this.mergePerRouteConfig();
    const dir = this.decoding;
    dir.headers = headers;
    dir.complete = endStream;
    if (this.disabled) return FilterHeadersStatus.Continue;
    return this.onHeaders(dir, endStream, this.mode.requestHeaders);
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (this.disabled) return FilterDataStatus.Continue;
    return this.onData(this.decoding, data, endStream);
  }

  decodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    if (this.disabled) return FilterTrailersStatus.Continue;
    return this.onTrailers(this.decoding, trailers);
  }

  // ---- the response ----

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus {
    // A local reply from a filter before this one comes here without decodeHeaders: the route's config still applies (ext_proc.cc encodeHeaders).
    this.mergePerRouteConfig();
    const dir = this.encoding;
    dir.headers = headers;
    dir.complete = endStream;
    // A local reply of ours (an immediate response, an error) is not sent to the processor.
    if (this.disabled || this.sentLocalReply) return FilterHeadersStatus.Continue;
    return this.onHeaders(dir, endStream, this.mode.responseHeaders);
  }

  encodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (this.disabled || this.sentLocalReply) return FilterDataStatus.Continue;
    return this.onData(this.encoding, data, endStream);
  }

  encodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    if (this.disabled || this.sentLocalReply) return FilterTrailersStatus.Continue;
    return this.onTrailers(this.encoding, trailers);
  }

  /**
   * Envoy's mergePerRouteConfig, at the request headers, or the response headers of a local
   * reply sent before them (once: a route cache clear later does not change it):
   * ExtProcPerRoute of every level, merged (ext-proc-route.ts).
   */
  private mergePerRouteConfig(): void {
    if (this.routeConfigMerged) return;
    this.routeConfigMerged = true;
    if (this.decoderCallbacks.route === undefined) return;
    const merged = mergeExtProcPerRoute(this.decoderCallbacks.perFilterConfigs<ExtProcPerRouteConfig>());
    if (merged === undefined) return;
    if (merged.disabled) {
      this.disabled = true;
      return;
    }
    if (merged.processingMode !== undefined) {
      this.mode = merged.processingMode;
      this.decoding.setMode(this.mode);
      this.encoding.setMode(this.mode);
    }
    if (merged.failureModeAllow !== undefined) this.failureModeAllow = merged.failureModeAllow;
    if (merged.grpc === undefined && merged.grpcInitialMetadata.length === 0) return;
    const service = merged.grpc ?? this.shared.config.grpc;
    const timeoutMs = merged.grpc !== undefined ? merged.grpcTimeoutMs : this.shared.config.grpcTimeoutMs;
    // grpc_initial_metadata goes into the service's initial_metadata (Envoy's mergeHeaderValuesField).
    this.grpc = { ...service, initialMetadata: mergeMetadata(service.initialMetadata, merged.grpcInitialMetadata) };
    this.initialMetadata = streamMetadata(this.grpc.initialMetadata, timeoutMs);
  }

  onDestroy(): void {
    this.processingComplete = true;
    this.disableTimer(this.decoding);
    this.disableTimer(this.encoding);
    this.closeStream();
  }

  // ---- one direction's calls (Envoy's Filter::onHeaders / onData / onTrailers) ----

  private onHeaders(dir: Direction, endStream: boolean, sendHeaders: boolean): FilterHeadersStatus {
    if (this.processingComplete) return FilterHeadersStatus.Continue;
    dir.noBody = endStream;
    if (sendHeaders) {
      dir.stopped = true;
      dir.headersHeld = true;
      dir.inCall = true;
      const kind = dir.request ? ProcessingKind.RequestHeaders : ProcessingKind.ResponseHeaders;
      this.send(dir, CallState.HeadersCallback, encodeHeadersRequest(kind, headersForProcessor(dir.headers!), endStream));
      this.removeContentLengthIfStreamed(dir);
      return this.endHeadersCall(dir);
    }
    this.removeContentLengthIfStreamed(dir);
    if (dir.bodyMode === "BUFFERED" && !endStream) {
      dir.stopped = true;
      dir.headersHeld = true;
      dir.state = CallState.BufferingBody;
      return FilterHeadersStatus.StopIteration;
    }
    return FilterHeadersStatus.Continue;
  }

  /**
   * Envoy's shouldRemoveContentLength: a streamed or partly buffered body may be changed
   * chunk by chunk after the headers went on, so their content-length could not be trusted
   * (HTTP/1 then goes chunked).
   */
  private removeContentLengthIfStreamed(dir: Direction): void {
    if (this.processingComplete) return;
    if (this.shouldRemoveContentLength(dir)) dir.headers!.remove("content-length");
  }

  private shouldRemoveContentLength(dir: Direction): boolean {
    return dir.bodyMode === "STREAMED" || dir.bodyMode === "BUFFERED_PARTIAL" || dir.bodyMode === "FULL_DUPLEX_STREAMED";
  }

  private endHeadersCall(dir: Direction): FilterHeadersStatus {
    dir.inCall = false;
    if (this.sentLocalReply) return FilterHeadersStatus.StopIteration;
    if (dir.continueInCall) {
      dir.continueInCall = false;
      return FilterHeadersStatus.Continue;
    }
    return FilterHeadersStatus.StopIteration;
  }

  private onData(dir: Direction, data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (endStream) dir.complete = true;
    if (dir.replacement !== undefined) {
      // CONTINUE_AND_REPLACE: the body that comes is dropped; the replacement goes at its end.
      if (!endStream) return FilterDataStatus.StopIterationNoBuffer;
      this.replaceData(dir, dir.replacement);
      dir.replacement = undefined;
      return FilterDataStatus.Continue;
    }
    if (this.processingComplete) return dir.stopped ? FilterDataStatus.StopIterationAndBuffer : FilterDataStatus.Continue;
    // Full duplex: the body goes as it comes, even while the headers' answer is awaited.
    if (dir.fullDuplex) return this.onDuplexData(dir, data, endStream);
    if (dir.state === CallState.HeadersCallback) {
      // The headers' answer decides what the body does: hold it meanwhile, pausing the sender over the limit (ext_proc.cc).
      return FilterDataStatus.StopIterationAndWatermark;
    }
    switch (dir.bodyMode) {
      case "BUFFERED":
        return this.onBufferedData(dir, data, endStream);
      case "STREAMED":
        return this.onStreamedData(dir, data, endStream);
      case "BUFFERED_PARTIAL":
        return this.onPartialData(dir, data, endStream);
      default:
        return dir.stopped ? FilterDataStatus.StopIterationAndBuffer : FilterDataStatus.Continue;
    }
  }

  private onBufferedData(dir: Direction, data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (dir.state === CallState.BufferingBody) {
      if (!endStream) return FilterDataStatus.StopIterationAndBuffer;
      dir.inCall = true;
      this.sendBufferedBody(dir, data, true);
      dir.inCall = false;
      if (this.sentLocalReply) return FilterDataStatus.StopIterationNoBuffer;
      if (dir.continueInCall) {
        dir.continueInCall = false;
        return FilterDataStatus.Continue;
      }
      return FilterDataStatus.StopIterationAndBuffer;
    }
    if (dir.state === CallState.BufferedBodyCallback) return FilterDataStatus.StopIterationAndBuffer;
    return dir.stopped ? FilterDataStatus.StopIterationAndBuffer : FilterDataStatus.Continue;
  }

  /**
   * STREAMED (ext_proc.cc onData): the chunk is sent and held in the queue; the filters
   * after this one get it when its answer comes (injected, in order). Envoy passes an
   * empty buffer on meanwhile; polyvoy passes nothing (an empty chunk is no body).
   */
  private onStreamedData(dir: Direction, data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (!this.openStream()) return this.sentLocalReply ? FilterDataStatus.StopIterationNoBuffer : FilterDataStatus.Continue;
    const body = encodeBodyRequest(this.bodyKind(dir), data, endStream);
    this.enqueue(dir, data, endStream);
    // The end is passed on once the last chunk's answer came (Envoy's setPaused).
    if (endStream) dir.stopped = true;
    this.send(dir, CallState.StreamedBodyCallback, body);
    return FilterDataStatus.StopIterationNoBuffer;
  }

  /**
   * FULL_DUPLEX_STREAMED (ext_proc.cc onData): each chunk goes to the processor as it comes
   * and is not kept — what passes on is what the processor sends back as streamed_response,
   * in its own grouping (onDuplexBodyResponse). The end is held until the processor's
   * end_of_stream. The sender is paused while the processor's stream is backed up
   * (onGrpcStreamAboveWriteBufferHighWatermark).
   */
  private onDuplexData(dir: Direction, data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (!this.openStream()) return this.sentLocalReply ? FilterDataStatus.StopIterationNoBuffer : FilterDataStatus.Continue;
    dir.duplexBodySent = true;
    if (endStream) dir.stopped = true;
    if (dir.state !== CallState.HeadersCallback) dir.state = CallState.StreamedBodyCallback;
    this.sendDuplex(dir, encodeBodyRequest(this.bodyKind(dir), data, endStream));
    return FilterDataStatus.StopIterationNoBuffer;
  }

  /**
   * One full duplex message: the direction's state is the caller's; no message timer
   * (processor_state.cc onStartProcessorCall skips it in this mode). Until the processor's
   * stream has its connection, what is sent waits in the stream's queue, which the stream's
   * watermarks do not cover: the sender is paused meanwhile (resumed by onReady). A message
   * the queue cannot take fails the stream — the body is not kept, so it cannot go on without it.
   */
  private sendDuplex(dir: Direction, message: Uint8Array): void {
    const stream = this.stream!;
    if (!stream.sendMessage(message)) {
      // The stream may have ended within the send (a retried stream whose messages outgrew the
      // retry buffer during a back-off): onRemoteClose has counted and answered that failure once.
      if (this.stream !== stream) return;
      stream.reset();
      return this.onRemoteClose(GrpcStatus.Internal, "the processor's stream could not take the message");
    }
    this.shared.stats.streamMsgsSent.inc();
    if (!stream.ready && !dir.complete) this.requestWatermark(dir);
  }

  /**
   * BUFFERED_PARTIAL (ext_proc.cc onData): chunks are queued until the end or the buffer
   * limit, then all of it goes as one message (end_of_stream false when more follows);
   * what comes while its answer is awaited is queued and passed on after it; once answered,
   * the rest of the body goes on unprocessed.
   */
  private onPartialData(dir: Direction, data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (dir.partialBodyProcessed) {
      dir.headersHeld = false;
      return FilterDataStatus.Continue;
    }
    if (dir.state === CallState.BufferedPartialBodyCallback) {
      this.enqueue(dir, data, endStream);
      dir.stopped = true;
      return FilterDataStatus.StopIterationNoBuffer;
    }
    if (!this.openStream()) return this.sentLocalReply ? FilterDataStatus.StopIterationNoBuffer : FilterDataStatus.Continue;
    this.enqueue(dir, data, endStream);
    if (endStream || this.queueOverHighLimit(dir)) this.sendPartialBody(dir, undefined);
    return FilterDataStatus.StopIterationNoBuffer;
  }

  private onTrailers(dir: Direction, trailers: HeaderMap): FilterTrailersStatus {
    if (dir.replacement !== undefined) {
      // CONTINUE_AND_REPLACE's body, when the body ends at trailers: it goes ahead of them.
      const body = dir.replacement;
      dir.replacement = undefined;
      if (body.byteLength > 0) {
        if (dir.request) this.decoderCallbacks.addDecodedData(body, false);
        else this.encoderCallbacks!.addEncodedData(body, false);
      }
      return FilterTrailersStatus.Continue;
    }
    if (this.processingComplete) return dir.stopped ? FilterTrailersStatus.StopIteration : FilterTrailersStatus.Continue;
    const bodyDelivered = dir.complete;
    dir.complete = true;
    dir.trailers = trailers;
    // Full duplex: the trailers end the body for the processor; they go at once and wait for their
    // answer — whatever the trailer mode once body went (a route's mode or a mode_override may
    // say SKIP, which Envoy's config check only refuses at the filter level): else the processor
    // would never learn the body's end and the request would hang.
    if (dir.fullDuplex && (dir.sendTrailers || dir.duplexBodySent)) {
      if (!this.openStream()) return this.sentLocalReply ? FilterTrailersStatus.StopIteration : FilterTrailersStatus.Continue;
      dir.stopped = true;
      dir.duplexTrailersSent = true;
      const kind = dir.request ? ProcessingKind.RequestTrailers : ProcessingKind.ResponseTrailers;
      this.sendDuplex(dir, encodeTrailersRequest(kind, trailers.entries()));
      return FilterTrailersStatus.StopIteration;
    }
    if (dir.state !== CallState.Idle && dir.state !== CallState.BufferingBody) {
      // A message is still awaited: the trailers wait for it (ext_proc.cc onTrailers).
      dir.stopped = true;
      return FilterTrailersStatus.StopIteration;
    }
    const buffered = dir.bodyMode === "BUFFERED" && dir.state === CallState.BufferingBody;
    const partial = dir.bodyMode === "BUFFERED_PARTIAL" && !dir.queue.empty;
    if (!bodyDelivered && (buffered || partial)) {
      // The body is complete at the trailers: it goes now, end_of_stream false, the trailers after its answer.
      dir.inCall = true;
      if (buffered) this.sendBufferedBody(dir, undefined, false);
      else this.sendPartialBody(dir, false);
      return this.endTrailersCall(dir);
    }
    if (!dir.sendTrailers) {
      dir.stopped = false;
      return FilterTrailersStatus.Continue;
    }
    if (!this.openStream()) return this.sentLocalReply ? FilterTrailersStatus.StopIteration : FilterTrailersStatus.Continue;
    dir.stopped = true;
    dir.inCall = true;
    this.sendTrailers(dir);
    return this.endTrailersCall(dir);
  }

  private endTrailersCall(dir: Direction): FilterTrailersStatus {
    dir.inCall = false;
    dir.stopped = true;
    if (this.sentLocalReply) return FilterTrailersStatus.StopIteration;
    if (dir.continueInCall) {
      dir.continueInCall = false;
      dir.stopped = false;
      return FilterTrailersStatus.Continue;
    }
    return FilterTrailersStatus.StopIteration;
  }

  private bodyKind(dir: Direction): ProcessingKind {
    return dir.request ? ProcessingKind.RequestBody : ProcessingKind.ResponseBody;
  }

  /** The buffered body (and the last chunk, not in the buffer yet) goes to the processor. */
  private sendBufferedBody(dir: Direction, last: Uint8Array | undefined, endOfStream: boolean): void {
    const buffered = this.buffer(dir);
    const head = buffered === undefined ? new Uint8Array(0) : buffered.toBytes();
    let body = head;
    if (last !== undefined && last.byteLength > 0) {
      body = new Uint8Array(head.byteLength + last.byteLength);
      body.set(head, 0);
      body.set(last, head.byteLength);
    }
    this.send(dir, CallState.BufferedBodyCallback, encodeBodyRequest(this.bodyKind(dir), body, endOfStream));
  }

  /** BUFFERED_PARTIAL: what the queue holds, as one message (Envoy's sendStreamChunk); `endOfStream` undefined: the queue's own end. */
  private sendPartialBody(dir: Direction, endOfStream: boolean | undefined): void {
    const all = dir.queue.consolidate();
    dir.stopped = true;
    this.send(dir, CallState.BufferedPartialBodyCallback, encodeBodyRequest(this.bodyKind(dir), all.data, endOfStream ?? all.endStream));
  }

  private sendTrailers(dir: Direction): void {
    const kind = dir.request ? ProcessingKind.RequestTrailers : ProcessingKind.ResponseTrailers;
    this.send(dir, CallState.TrailersCallback, encodeTrailersRequest(kind, dir.trailers!.entries()));
  }

  // ---- the chunk queue and its watermarks (processor_state.cc) ----

  private enqueue(dir: Direction, data: Uint8Array, endStream: boolean): void {
    dir.queue.push(data, endStream);
    if (this.queueOverHighLimit(dir)) this.requestWatermark(dir);
  }

  private bufferLimit(dir: Direction): number {
    return dir.request ? this.decoderCallbacks.decoderBufferLimit : this.encoderCallbacks!.encoderBufferLimit;
  }

  /** processor_state.h queueOverHighLimit: more held than the stream's buffer limit (0: none). */
  private queueOverHighLimit(dir: Direction): boolean {
    const limit = this.bufferLimit(dir);
    return limit > 0 && dir.queue.bytesEnqueued > limit;
  }

  /** processor_state.h queueBelowLowLimit: under half the limit. */
  private queueBelowLowLimit(dir: Direction): boolean {
    const limit = this.bufferLimit(dir);
    return limit <= 0 || dir.queue.bytesEnqueued < limit / 2;
  }

  /** Pause this direction's sender: the downstream's reads, or the upstream through the router (Envoy's requestWatermark). */
  private requestWatermark(dir: Direction): void {
    if (dir.watermarkRequested) return;
    dir.watermarkRequested = true;
    if (dir.request) this.decoderCallbacks.readDisableDownstream(true);
    else this.encoderCallbacks!.onEncoderFilterAboveWriteBufferHighWatermark();
  }

  private clearWatermark(dir: Direction): void {
    if (!dir.watermarkRequested) return;
    dir.watermarkRequested = false;
    if (dir.request) this.decoderCallbacks.readDisableDownstream(false);
    else this.encoderCallbacks!.onEncoderFilterBelowWriteBufferLowWatermark();
  }

  /** Body to the filters after this one (Envoy's injectDataToFilterChain); the held headers go first. */
  private inject(dir: Direction, data: Uint8Array, endStream: boolean): void {
    dir.headersHeld = false;
    if (dir.request) this.decoderCallbacks.injectDecodedDataToFilterChain(data, endStream);
    else this.encoderCallbacks!.injectEncodedDataToFilterChain(data, endStream);
  }

  // ---- the stream ----

  /** Opens the stream on the first message (Envoy's openStream); false when the processor cannot be had (a local reply was sent, or failure_mode_allow let the request go on). */
  private openStream(): boolean {
    if (this.processingComplete) return false;
    if (this.stream !== undefined) return true;
    const shared = this.shared;
    shared.stats.streamsStarted.inc();
    const grpc = this.grpc;
    // client_impl.cc / ext_proc.cc openStream: setBufferBodyForRetry(grpc_service.has_retry_policy()),
    // and the GrpcService's retry_policy is the stream's (Grpc::AsyncStreamImpl takes its client's).
    this.stream = new GrpcAsyncStream(shared.server, this, MAX_MESSAGE_BYTES, true, grpc.retryPolicy);
    this.stream.start(grpc.clusterName, PROCESS_METHOD, grpc.authority, this.initialMetadata, grpc.google);
    // The start may have failed at once (no such cluster, no healthy host).
    return !this.processingComplete;
  }

  /** One message to the processor; `dir` awaits its answer in `state`, for message_timeout (Envoy's onStartProcessorCall). */
  private send(dir: Direction, state: CallState, message: Uint8Array): void {
    dir.state = state;
    if (!this.openStream()) return;
    this.stream!.sendMessage(message);
    this.shared.stats.streamMsgsSent.inc();
    // The stream may have ended within the send (a retried stream whose messages outgrew the retry buffer during a back-off): onRemoteClose has answered, no answer is awaited.
    if (this.stream === undefined) return;
    // processor_state.cc onStartProcessorCall: none in full duplex, where answers need not follow what is sent.
    if (!dir.fullDuplex) this.enableTimer(dir, this.shared.config.messageTimeoutMs);
    dir.newTimeoutReceived = false;
  }

  /** @internal GrpcStreamCallbacks */
  onReceiveMessage(bytes: Uint8Array): void {
    if (this.processingComplete) return;
    let response;
    try {
      response = decodeProcessingResponse(bytes);
    } catch (e) {
      if (!(e instanceof ProtoDecodeError)) throw e;
      // Envoy's gRPC client fails the stream on a message it cannot parse.
      this.stream?.reset();
      return this.onRemoteClose(GrpcStatus.Internal, "the processor's message could not be parsed");
    }
    if (response.overrideMessageTimeoutMs !== undefined) return this.onNewTimeout(response.overrideMessageTimeoutMs);
    const inHeaders = this.decoding.state === CallState.HeadersCallback || this.encoding.state === CallState.HeadersCallback;
    if (this.modeOverrideAllowed() && inHeaders && response.modeOverride !== undefined) this.overrideMode(response.modeOverride);
    let status: AnswerStatus;
    switch (response.kind) {
      case ResponseKind.RequestHeaders:
        status = this.onHeadersResponse(this.decoding, response.common!);
        break;
      case ResponseKind.ResponseHeaders:
        status = this.onHeadersResponse(this.encoding, response.common!);
        break;
      case ResponseKind.RequestBody:
        status = this.onBodyResponse(this.decoding, response.common!);
        break;
      case ResponseKind.ResponseBody:
        status = this.onBodyResponse(this.encoding, response.common!);
        break;
      case ResponseKind.RequestTrailers:
        status = this.onTrailersResponse(this.decoding, response.trailersMutation);
        break;
      case ResponseKind.ResponseTrailers:
        status = this.onTrailersResponse(this.encoding, response.trailersMutation);
        break;
      case ResponseKind.ImmediateResponse:
        this.shared.stats.streamMsgsReceived.inc();
        this.finish();
        this.sendImmediateResponse(response.immediate!);
        return;
      default:
        status = new Spurious("unhandled message");
    }
    const stats = this.shared.stats;
    if (status === "ok") {
      stats.streamMsgsReceived.inc();
    } else if (status instanceof Spurious) {
      stats.spuriousMsgsReceived.inc();
      if (this.failOpen()) {
        // ext_proc.cc: ignore the processor for the rest of the request, let the request go on —
        // closeStream(); clearAsyncState(): the chunks still queued pass on unprocessed (not finish(), which drops them).
        stats.failureModeAllowed.inc();
        this.processingComplete = true;
        this.closeStream();
        this.clearAsyncState();
      } else {
        // envoy.reloadable_features.ext_proc_fail_close_spurious_resp (on by default): handleErrorResponse, a 500.
        this.finish();
        this.sendImmediateResponse({ status: 500, headers: undefined, body: new Uint8Array(0), grpcStatus: undefined, details: status.message });
      }
    } else {
      // Any other error (a header mutation refused): a 500 with the error as details.
      stats.streamMsgsReceived.inc();
      this.finish();
      this.sendImmediateResponse({ status: 500, headers: undefined, body: new Uint8Array(0), grpcStatus: undefined, details: status });
    }
  }

  /**
   * Envoy's onNewTimeout: override_message_timeout restarts the awaited message's timer with
   * the new timeout, once per message, when within [1 ms, max_message_timeout] (0, the
   * default, takes none); otherwise it is ignored. Either way it is no answer.
   */
  private onNewTimeout(ms: number): void {
    const stats = this.shared.stats;
    if (ms < 1 || ms > this.shared.config.maxMessageTimeoutMs) return stats.overrideMessageTimeoutIgnored.inc();
    let restarted = false;
    for (const dir of [this.decoding, this.encoding]) {
      if (dir.timer === undefined || !dir.timer.enabled || dir.newTimeoutReceived) continue;
      dir.timer.enable(ms);
      dir.newTimeoutReceived = true;
      restarted = true;
    }
    if (restarted) stats.overrideMessageTimeoutReceived.inc();
    else stats.overrideMessageTimeoutIgnored.inc();
  }

  /**
   * @internal GrpcStreamCallbacks: the processor's stream is backed up. A full duplex body is
   * not queued here, so this is its flow control: its sender waits until the stream drains
   * (as Envoy's side stream's watermark callbacks).
   */
  onAboveWriteBufferHighWatermark(): void {
    for (const dir of [this.decoding, this.encoding]) if (dir.fullDuplex && !dir.complete) this.requestWatermark(dir);
  }

  /** @internal GrpcStreamCallbacks: the stream has its connection; a full duplex sender paused while it had none goes on, unless the stream is already backed up. */
  onReady(): void {
    if (this.stream === undefined || this.stream.aboveWriteBufferHighWatermark) return;
    for (const dir of [this.decoding, this.encoding]) if (dir.fullDuplex) this.clearWatermark(dir);
  }

  /** @internal GrpcStreamCallbacks */
  onBelowWriteBufferLowWatermark(): void {
    for (const dir of [this.decoding, this.encoding]) if (dir.fullDuplex) this.clearWatermark(dir);
  }

  /** @internal GrpcStreamCallbacks: the call ended. */
  onRemoteClose(status: number, _message: string): void {
    this.stream = undefined;
    if (status === GrpcStatus.Ok) return this.onGrpcClose();
    const stats = this.shared.stats;
    stats.streamsFailed.inc();
    if (this.processingComplete) return;
    if (this.failOpen()) {
      this.onGrpcClose();
      stats.failureModeAllowed.inc();
      return;
    }
    this.finish();
    this.sendImmediateResponse({ status: 500, headers: undefined, body: new Uint8Array(0), grpcStatus: undefined, details: `${ERROR_PREFIX}_gRPC_error_${status}` });
  }

  /**
   * Envoy's Filter::failureModeAllow: failure_mode_allow, unless a full duplex direction has
   * already given the processor body (or trailers) — it was not kept, so going on without the
   * processor would send the request or response on with its body missing.
   */
  private failOpen(): boolean {
    return this.failureModeAllow && ![this.decoding, this.encoding].some((d) => d.fullDuplex && (d.duplexBodySent || d.duplexTrailersSent));
  }

  /** Envoy's onGrpcClose: the processor is done; what waited goes on unprocessed. */
  private onGrpcClose(): void {
    this.processingComplete = true;
    this.shared.stats.streamsClosed.inc();
    this.closeStream();
    this.clearAsyncState();
  }

  /** @internal A direction's message timer fired: Envoy's onMessageTimeout. */
  onMessageTimeout(): void {
    if (this.processingComplete) return;
    const stats = this.shared.stats;
    stats.messageTimeouts.inc();
    if (this.failOpen()) {
      this.processingComplete = true;
      this.closeStream();
      stats.failureModeAllowed.inc();
      this.clearAsyncState();
      return;
    }
    this.finish();
    // envoy.reloadable_features.ext_proc_timeout_error (on by default): 504 rather than 500.
    this.sendImmediateResponse({ status: 504, headers: undefined, body: new Uint8Array(0), grpcStatus: undefined, details: `${ERROR_PREFIX}_per-message_timeout_exceeded` });
  }

  // ---- answers (processor_state.cc) ----

  /** ProcessorState::handleHeadersResponse. */
  private onHeadersResponse(dir: Direction, common: CommonResponse): AnswerStatus {
    if (dir.state !== CallState.HeadersCallback) return SPURIOUS;
    this.disableTimer(dir);
    const replacing = common.status === CONTINUE_AND_REPLACE;
    // The mode here is the one mode_override may just have set (Envoy applies it before the mutation).
    const streamed = this.shouldRemoveContentLength(dir);
    if (common.headerMutation !== undefined) {
      const error = applyHeaderMutation(common.headerMutation, dir.headers!, replacing, this.shared.stats.rejectedHeaderMutations, this.shared.mutationChecker, streamed);
      if (error !== undefined) return error;
    }
    // The headers are still held: a mode overridden to STREAMED / BUFFERED_PARTIAL drops content-length too.
    if (streamed) dir.headers!.remove("content-length");
    this.clearRouteCache(dir, common);
    dir.state = CallState.Idle;
    if (replacing) {
      // The body mutation is the whole body; nothing more of this direction goes to the processor (processor_state.cc).
      const body = common.bodyMutation ?? new Uint8Array(0);
      if (dir.complete) {
        if (body.byteLength > 0 || this.bufferedLength(dir) > 0) this.replaceBuffered(dir, body);
      } else {
        // handleHeadersResponse's modifyBufferedData: what came during the headers' call is replaced
        // too (else it would go ahead of the replacement); the rest is dropped as it comes (onData).
        this.buffer(dir)?.replace(EMPTY_BYTES);
        this.fixContentLength(dir, body.byteLength);
        dir.replacement = body;
      }
      dir.queue.clear();
      dir.bodyMode = "NONE";
      dir.sendTrailers = false;
      this.clearWatermark(dir);
      this.continueDirection(dir);
      return "ok";
    }
    if (!dir.noBody && dir.fullDuplex) {
      // Body held during the headers' call (the mode was another until this answer's mode_override) goes now.
      const held = this.buffer(dir);
      if (held !== undefined && held.length > 0 && this.openStream()) {
        dir.duplexBodySent = true;
        this.sendDuplex(dir, encodeBodyRequest(this.bodyKind(dir), held.take(), dir.complete && dir.trailers === undefined));
        if (this.processingComplete) return "ok";
      }
      // getCallbackStateAfterHeaderResp: streamed answers are awaited for the body already sent.
      if (dir.duplexBodySent) dir.state = CallState.StreamedBodyCallback;
      // The whole body (or the trailers) came meanwhile: the headers go with the processor's body, or its trailers' answer.
      if (dir.complete) return "ok";
      this.continueDirection(dir);
      return "ok";
    }
    if (!dir.noBody) {
      if (dir.complete && dir.bodyMode !== "NONE") {
        if (this.buffer(dir) !== undefined) {
          // The whole body came while the headers' answer was awaited: it goes as one message, whatever the mode.
          this.sendBufferedBody(dir, undefined, dir.trailers === undefined);
          return "ok";
        }
      } else if (dir.bodyMode === "BUFFERED") {
        dir.state = CallState.BufferingBody;
        return "ok";
      } else if (dir.bodyMode === "STREAMED") {
        this.sendBufferedDataStreamed(dir);
        return "ok";
      } else if (dir.bodyMode === "BUFFERED_PARTIAL") {
        // What came so far joins the queue; the headers stay held while it fills up to the limit.
        const held = this.buffer(dir);
        if (held !== undefined && held.length > 0) dir.queue.push(held.take(), false);
        if (this.queueOverHighLimit(dir)) this.sendPartialBody(dir, false);
        else this.clearWatermark(dir);
        return "ok";
      }
      if (dir.sendTrailers && dir.trailers !== undefined) {
        this.sendTrailers(dir);
        return "ok";
      }
    }
    this.continueDirection(dir);
    return "ok";
  }

  /** Envoy's sendBufferedDataInStreamedMode: the body held during the headers' call goes as one chunk, and the headers go on. */
  private sendBufferedDataStreamed(dir: Direction): void {
    const held = this.buffer(dir);
    if (held !== undefined && held.length > 0) {
      const data = held.take();
      const message = encodeBodyRequest(this.bodyKind(dir), data, false);
      this.enqueue(dir, data, false);
      this.send(dir, CallState.StreamedBodyCallback, message);
    }
    if (this.queueBelowLowLimit(dir)) this.clearWatermark(dir);
    this.continueDirection(dir);
  }

  /** ProcessorState::handleBodyResponse. */
  private onBodyResponse(dir: Direction, common: CommonResponse): AnswerStatus {
    // processor_state.cc handleStreamedBodyCallback: streamed_response only in full duplex, and only it there.
    if (common.streamedResponse !== undefined || dir.fullDuplex) {
      const streamed = common.streamedResponse;
      if (dir.state !== CallState.StreamedBodyCallback) return SPURIOUS;
      if (!dir.fullDuplex) return new Spurious("spurious message: streamed_response is received while body_mode_ is not FULL_DUPLEX_STREAMED");
      if (streamed === undefined) return new Spurious("spurious message: Normal body mutation response is received while body_mode_ is FULL_DUPLEX_STREAMED");
      return this.onDuplexBodyResponse(dir, streamed, common);
    }
    let shouldContinue = false;
    switch (dir.state) {
      case CallState.BufferedBodyCallback: {
        this.disableTimer(dir);
        // The headers are still held: a body answer may change them too.
        if (common.headerMutation !== undefined && dir.headersHeld) {
          const error = applyHeaderMutation(common.headerMutation, dir.headers!, common.status === CONTINUE_AND_REPLACE, this.shared.stats.rejectedHeaderMutations, this.shared.mutationChecker);
          if (error !== undefined) return error;
        }
        if (common.bodyMutation !== undefined) this.replaceBuffered(dir, common.bodyMutation);
        this.clearWatermark(dir);
        dir.state = CallState.Idle;
        shouldContinue = true;
        break;
      }
      case CallState.StreamedBodyCallback: {
        const chunk = dir.queue.pop()!;
        // Envoy's onFinishProcessorCall stops the timer even while later chunks are awaited, which
        // would leave a processor that stalls on one of them unbounded: their wait starts now.
        if (dir.queue.empty) this.disableTimer(dir);
        else this.enableTimer(dir, this.shared.config.messageTimeoutMs);
        const data = common.bodyMutation ?? chunk.data;
        if (data.byteLength > 0) this.inject(dir, data, chunk.endStream);
        if (this.queueBelowLowLimit(dir)) this.clearWatermark(dir);
        if (dir.queue.empty) dir.state = CallState.Idle;
        // The last chunk, or the last before trailers that wait: the rest goes on.
        shouldContinue = chunk.endStream || (dir.queue.empty && dir.trailers !== undefined);
        break;
      }
      case CallState.BufferedPartialBodyCallback: {
        this.disableTimer(dir);
        const chunk = dir.queue.pop()!;
        if (common.headerMutation !== undefined && dir.headersHeld) {
          const error = applyHeaderMutation(common.headerMutation, dir.headers!, false, this.shared.stats.rejectedHeaderMutations, this.shared.mutationChecker, true);
          if (error !== undefined) return error;
        }
        const data = common.bodyMutation ?? chunk.data;
        if (data.byteLength > 0) this.inject(dir, data, chunk.endStream);
        this.clearWatermark(dir);
        dir.state = CallState.Idle;
        dir.partialBodyProcessed = true;
        shouldContinue = true;
        // What came while the answer was awaited goes on after it, unprocessed.
        if (!dir.queue.empty) {
          const rest = dir.queue.consolidate();
          dir.queue.clear();
          if (rest.data.byteLength > 0) this.inject(dir, rest.data, rest.endStream);
        }
        break;
      }
      default:
        return SPURIOUS;
    }
    this.clearRouteCache(dir, common);
    if (dir.sendTrailers && dir.trailers !== undefined && dir.queue.empty && dir.state === CallState.Idle) {
      this.sendTrailers(dir);
      return "ok";
    }
    if (shouldContinue) this.continueDirection(dir);
    return "ok";
  }

  /**
   * ProcessorState::handleDuplexStreamedBodyResponse: a piece of the body, passed on as it
   * comes; its end_of_stream ends the direction's body and lets what was held go on.
   */
  private onDuplexBodyResponse(dir: Direction, streamed: StreamedBodyResponse, common: CommonResponse): "ok" {
    // Trailers that came end the body, not this piece.
    if (streamed.body.byteLength > 0) this.inject(dir, streamed.body, streamed.endOfStream && dir.trailers === undefined);
    this.clearRouteCache(dir, common);
    if (streamed.endOfStream) {
      dir.state = CallState.Idle;
      // Trailers sent and not yet answered go on with their answer (processor_state.cc finalizeBodyResponse).
      if (!dir.duplexTrailersSent) this.continueDirection(dir);
    }
    return "ok";
  }

  /** ProcessorState::handleTrailersResponse (in full duplex it may come while body answers are awaited). */
  private onTrailersResponse(dir: Direction, mutation: HeaderMutation | undefined): AnswerStatus {
    const duplex = dir.fullDuplex && dir.duplexTrailersSent;
    if (dir.state !== CallState.TrailersCallback && !duplex) return SPURIOUS;
    dir.duplexTrailersSent = false;
    this.disableTimer(dir);
    if (mutation !== undefined) {
      const error = applyHeaderMutation(mutation, dir.trailers!, false, this.shared.stats.rejectedHeaderMutations, this.shared.mutationChecker);
      if (error !== undefined) return error;
    }
    dir.state = CallState.Idle;
    this.continueDirection(dir);
    return "ok";
  }

  private clearRouteCache(dir: Direction, common: CommonResponse): void {
    if (!common.clearRouteCache) return;
    const stats = this.shared.stats;
    if (!dir.request) stats.clearRouteCacheIgnored.inc();
    // DecodingProcessorState::clearRouteCache (processor_state.cc): an upstream filter has no route cache to clear.
    else if (this.shared.isUpstream) stats.clearRouteCacheUpstreamIgnored.inc();
    else if (this.shared.config.disableClearRouteCache) stats.clearRouteCacheDisabled.inc();
    else this.decoderCallbacks.clearRouteCache();
  }

  private buffer(dir: Direction): BodyBuffer | undefined {
    return dir.request ? this.decoderCallbacks.decodingBuffer() : this.encoderCallbacks!.encodingBuffer();
  }

  private bufferedLength(dir: Direction): number {
    return this.buffer(dir)?.length ?? 0;
  }

  /** The held body becomes `body`; a content-length follows it (the headers are still held). */
  private replaceBuffered(dir: Direction, body: Uint8Array): void {
    const buffer = this.buffer(dir);
    if (buffer !== undefined) buffer.replace(body);
    else if (body.byteLength > 0) {
      if (dir.request) this.decoderCallbacks.addDecodedData(body, false);
      else this.encoderCallbacks!.addEncodedData(body, false);
    }
    this.fixContentLength(dir, body.byteLength);
  }

  /** Within a data call: the chunk is replaced by `body`. */
  private replaceData(dir: Direction, body: Uint8Array): void {
    if (dir.request) this.decoderCallbacks.replaceDecodedData(body);
    else this.encoderCallbacks!.replaceEncodedData(body);
  }

  private fixContentLength(dir: Direction, length: number): void {
    const headers = dir.headers;
    if (headers !== undefined && headers.has("content-length")) headers.set("content-length", String(length));
  }

  /** allow_mode_override, unless the filter's own mode is full duplex in either direction (ext_proc.cc onReceiveMessage ignores mode_override then). */
  private modeOverrideAllowed(): boolean {
    const own = this.shared.config.processingMode;
    return this.shared.config.allowModeOverride && own.requestBody !== "FULL_DUPLEX_STREAMED" && own.responseBody !== "FULL_DUPLEX_STREAMED";
  }

  /**
   * mode_override (Envoy's setProcessingMode on both directions with effectiveModeOverride):
   * a header or trailer mode DEFAULT keeps the filter's own (processing_mode, not a route's —
   * as Envoy); the body modes are always the override's.
   */
  private overrideMode(m: ModeOverride): void {
    const mode = { ...this.shared.config.processingMode };
    // HeaderSendMode: DEFAULT 0, SEND 1, SKIP 2.
    if (m.requestHeaderMode !== 0) mode.requestHeaders = m.requestHeaderMode !== 2;
    if (m.responseHeaderMode !== 0) mode.responseHeaders = m.responseHeaderMode !== 2;
    if (m.requestTrailerMode !== 0) mode.requestTrailers = m.requestTrailerMode === 1;
    if (m.responseTrailerMode !== 0) mode.responseTrailers = m.responseTrailerMode === 1;
    mode.requestBody = BODY_MODES[m.requestBodyMode] ?? mode.requestBody;
    mode.responseBody = BODY_MODES[m.responseBodyMode] ?? mode.responseBody;
    this.mode = mode;
    for (const dir of [this.decoding, this.encoding]) {
      // Envoy's setProcessingMode rewrites both directions' body modes; a direction whose body is
      // already under way (chunks queued or answers awaited) keeps its own, or its data would reorder.
      if (this.bodyModeMayChange(dir)) dir.bodyMode = dir.request ? mode.requestBody : mode.responseBody;
      dir.sendTrailers = dir.request ? mode.requestTrailers : mode.responseTrailers;
    }
  }

  /** A body mode may change while its direction is idle or awaiting its headers' answer, with nothing queued. */
  private bodyModeMayChange(dir: Direction): boolean {
    return (dir.state === CallState.Idle || dir.state === CallState.HeadersCallback) && dir.queue.empty && !dir.partialBodyProcessed && !dir.duplexBodySent;
  }

  /** Envoy's sendImmediateResponse: a local reply with the processor's status, headers, body, grpc_status and details. */
  private sendImmediateResponse(response: ImmediateResponse): void {
    // ext_proc.cc Filter::sendImmediateResponse: upstream there is no local reply; the
    // response and the errors that end in one (gRPC error, message timeout, a refused
    // mutation) are counted and dropped, and the attempt stays stopped where it was — the
    // processing is complete, nothing continues it — until the route's timeout or the
    // downstream ends it.
    if (this.shared.isUpstream) {
      this.shared.stats.sendImmediateRespUpstreamIgnored.inc();
      return;
    }
    let status = response.status ?? DEFAULT_IMMEDIATE_STATUS;
    if (status < 200 || status > 999) status = DEFAULT_IMMEDIATE_STATUS;
    const headers: [string, string][] = [];
    const mutation = response.headers;
    if (mutation !== undefined) {
      for (const h of mutation.setHeaders) {
        if (!h.name.startsWith(":") && immediateHeaderAllowed(h.name, h.value) && /^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(h.name)) headers.push([h.name, h.value]);
        else this.shared.stats.rejectedHeaderMutations.inc();
      }
    }
    this.sentLocalReply = true;
    // StringUtil::replaceAllEmptySpace.
    const details = response.details.replace(/\s/g, "_");
    this.decoderCallbacks.sendLocalReply(status, latin1Decode(response.body, 0, response.body.byteLength), details, undefined, headers, response.grpcStatus);
  }

  /** The processor is done with for this request. */
  private finish(): void {
    this.processingComplete = true;
    for (const dir of [this.decoding, this.encoding]) {
      this.disableTimer(dir);
      dir.queue.clear();
      this.clearWatermark(dir);
    }
    this.closeStream();
  }

  /**
   * Envoy's closeStream (ExternalProcessorStreamImpl::close): our side ends and nothing more
   * is wanted from the stream; the processor ends it with its trailers
   * (halfCloseAndDeleteOnRemoteClose), reset if it has not within DEFERRED_CLOSE_MS. Counted
   * in streams_closed.
   */
  private closeStream(): void {
    const stream = this.stream;
    if (stream === undefined) return;
    this.stream = undefined;
    stream.closeSendAndDeleteOnRemoteClose(DEFERRED_CLOSE_MS);
    this.shared.stats.streamsClosed.inc();
  }

  /** Envoy's clearAsyncState: whatever waited for the processor goes on — queued chunks unprocessed, then the held end or trailers. */
  private clearAsyncState(): void {
    for (const dir of [this.decoding, this.encoding]) {
      this.disableTimer(dir);
      if (!dir.queue.empty) {
        const rest = dir.queue.consolidate();
        dir.queue.clear();
        if (rest.data.byteLength > 0) this.inject(dir, rest.data, rest.endStream);
      }
      this.clearWatermark(dir);
      if (dir.state === CallState.Idle && !dir.stopped) continue;
      dir.state = CallState.Idle;
      this.continueDirection(dir);
    }
  }

  private continueDirection(dir: Direction): void {
    if (!dir.stopped) return;
    dir.stopped = false;
    dir.headersHeld = false;
    if (dir.inCall) {
      dir.continueInCall = true;
      return;
    }
    if (dir.request) this.decoderCallbacks.continueDecoding();
    else this.encoderCallbacks!.continueEncoding();
  }

  private enableTimer(dir: Direction, ms: number): void {
    dir.timer ??= this.shared.server.timers.create(dir);
    dir.timer.enable(ms);
  }

  private disableTimer(dir: Direction): void {
    dir.timer?.disable();
  }
}
