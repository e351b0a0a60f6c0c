/**
 * Envoy's external processing filter (source/extensions/filters/http/ext_proc/ext_proc.cc,
 * processor_state.cc, client_impl.cc): each request opens one bidirectional gRPC stream,
 * envoy.service.ext_proc.v3.ExternalProcessor/Process, to the grpc_service's cluster
 * (always HTTP/2: ClusterManager.grpcStreamConnPool), on its first message. As the
 * processing mode says, the request headers, the buffered request body, the response
 * headers and the buffered response body are sent, one message at a time, each held until
 * the processor answers (or message_timeout passes):
 * - a HeadersResponse / BodyResponse's CommonResponse mutates the headers (ext-proc-mutation.ts,
 *   Envoy's default mutation rules), replaces the body (body_mutation), may ask to clear
 *   the route cache; CONTINUE_AND_REPLACE on headers takes the body mutation as the whole
 *   body and sends no body message;
 * - an ImmediateResponse ends the request with a local reply (its status, default 200,
 *   headers, body, grpc_status and details);
 * - a message out of turn is spurious: the processor is ignored for the rest of the request;
 * - mode_override, with allow_mode_override, changes the mode while headers are awaited.
 * A failed stream is a 500 (details ext_proc_error_gRPC_error_<status>), a message timeout
 * a 504 (ext_proc_error_per-message_timeout_exceeded), unless failure_mode_allow lets the
 * request go on without the processor. A stream the processor closes cleanly leaves the
 * rest of the request unprocessed.
 * Stats: http.<hcm stat_prefix>.ext_proc.[<stat_prefix>.]{streams_started, stream_msgs_sent,
 * stream_msgs_received, spurious_msgs_received, streams_closed, streams_failed,
 * failure_mode_allowed, message_timeouts, rejected_header_mutations, clear_route_cache_ignored,
 * clear_route_cache_disabled}.
 */
import type { ExtProcConfig, ExtProcPerRouteConfig, ExtProcProcessingMode } from "../../config/bootstrap.ts";
import type { Timer, TimerTarget } from "../../event/timers.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Counter } from "../../stats/counter.ts";
import { latin1Decode } from "../../util/latin1.ts";
import { PerConfig } from "../../util/per-config.ts";
import { ProtoDecodeError } from "../../util/protobuf-wire.ts";
import { GrpcStatus, toGrpcTimeout } from "../grpc-common.ts";
import { GrpcAsyncStream, type GrpcStreamCallbacks } from "../grpc-async-stream.ts";
import type { HeaderMap } from "../header-map.ts";
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
import type { HttpFilterChainContext } from "./http-filter-registry.ts";
import { applyHeaderMutation, headersForProcessor, immediateHeaderAllowed, MutationChecker } from "./ext-proc-mutation.ts";
import {
  decodeProcessingResponse,
  encodeBodyRequest,
  encodeHeadersRequest,
  PROCESS_METHOD,
  ProcessingKind,
  ResponseKind,
  type CommonResponse,
  type ImmediateResponse,
  type ModeOverride,
} from "./ext-proc-proto.ts";

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
  }
}

/** What one ext_proc filter's streams share. */
export class ExtProcFilterConfig {
  readonly stats: ExtProcStats;
  /** mutation_rules, for the processor's header mutations (not an immediate response's: Envoy checks those with fixed rules). */
  readonly mutationChecker: MutationChecker;
  readonly initialMetadata: readonly (readonly [string, string])[];

  constructor(
    readonly config: ExtProcConfig,
    readonly server: ServerContext,
    chain: HttpFilterChainContext,
  ) {
    this.stats = new ExtProcStats(server, `http.${chain.statPrefix}.ext_proc.${config.statPrefix === "" ? "" : config.statPrefix + "."}`);
    this.mutationChecker = new MutationChecker(config.mutationRules);
    const metadata = [...config.grpc.initialMetadata];
    // GrpcService.timeout: the deadline of the whole call, as Envoy's AsyncStreamImpl sends it.
    if (config.grpcTimeoutMs !== undefined && config.grpcTimeoutMs > 0) metadata.push(["grpc-timeout", toGrpcTimeout(config.grpcTimeoutMs)]);
    this.initialMetadata = metadata;
  }
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
} as const;
export type CallState = (typeof CallState)[keyof typeof CallState];

/** One direction: the request (decoding) or the response (encoding). */
class Direction {
  state: CallState = CallState.Idle;
  /** Headers are held by this filter until processing lets them go. */
  stopped = false;
  /** Inside this direction's filter call: a continue becomes the call's return value. */
  inCall = false;
  continueInCall = false;
  /** The whole body is in (endStream seen on headers, data or trailers). */
  complete = false;
  /** The body is being held here for the processor (or a replacement). */
  buffering = false;
  /** CONTINUE_AND_REPLACE on headers: the body to put in place of the one that comes. */
  replacement: Uint8Array | undefined;
  headers: RequestHeaders | ResponseHeaders | undefined;

  constructor(readonly request: boolean) {}
}

export class ExtProcFilter implements StreamFilter, GrpcStreamCallbacks, TimerTarget {
  private decoderCallbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private encoderCallbacks: EncoderFilterCallbacks | undefined;
  private readonly decoding = new Direction(true);
  private readonly encoding = new Direction(false);
  private stream: GrpcAsyncStream | undefined;
  /** The processor is done with (closed, failed, timed out, spurious, immediate response). */
  private processingComplete = false;
  private disabled = false;
  private mode: ExtProcProcessingMode;
  private timer: Timer | undefined;
  private sentLocalReply = false;

  constructor(private readonly shared: ExtProcFilterConfig) {
    this.mode = shared.config.processingMode;
  }

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoderCallbacks = callbacks;
  }

  setEncoderFilterCallbacks(callbacks: EncoderFilterCallbacks): void {
    this.encoderCallbacks = callbacks;
  }

  // ---- the request ----

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    const perRoute = this.decoderCallbacks.route === undefined ? undefined : this.decoderCallbacks.mostSpecificPerFilterConfig<ExtProcPerRouteConfig>();
    this.disabled = perRoute?.disabled === true;
    const dir = this.decoding;
    dir.headers = headers;
    dir.complete = endStream;
    if (this.disabled) return FilterHeadersStatus.Continue;
    return this.onHeaders(dir, endStream, this.mode.requestHeaders, this.mode.requestBodyBuffered);
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    return this.onData(this.decoding, data, endStream);
  }

  decodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    return this.onTrailers(this.decoding);
  }

  // ---- the response ----

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus {
    const dir = this.encoding;
    dir.headers = headers;
    dir.complete = endStream;
    // A local reply of ours (an immediate response, an error) is not sent to the processor.
    if (this.disabled || this.sentLocalReply) return FilterHeadersStatus.Continue;
    return this.onHeaders(dir, endStream, this.mode.responseHeaders, this.mode.responseBodyBuffered);
  }

  encodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    return this.onData(this.encoding, data, endStream);
  }

  encodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    return this.onTrailers(this.encoding);
  }

  onDestroy(): void {
    this.processingComplete = true;
    this.disableTimer();
    this.closeStream();
  }

  // ---- one direction's calls (Envoy's ProcessorState) ----

  private onHeaders(dir: Direction, endStream: boolean, sendHeaders: boolean, bodyBuffered: boolean): FilterHeadersStatus {
    if (this.processingComplete) return FilterHeadersStatus.Continue;
    if (sendHeaders) {
      dir.stopped = true;
      dir.inCall = true;
      dir.state = CallState.HeadersCallback;
      const kind = dir.request ? ProcessingKind.RequestHeaders : ProcessingKind.ResponseHeaders;
      this.send(encodeHeadersRequest(kind, headersForProcessor(dir.headers!), endStream));
      return this.endHeadersCall(dir);
    }
    if (bodyBuffered && !endStream) {
      dir.stopped = true;
      dir.buffering = true;
      dir.state = CallState.BufferingBody;
      return FilterHeadersStatus.StopIteration;
    }
    return FilterHeadersStatus.Continue;
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
    if (this.processingComplete && !dir.stopped) return FilterDataStatus.Continue;
    if (dir.state === CallState.HeadersCallback) {
      // The headers' answer decides what the body does: hold it meanwhile.
      dir.buffering = true;
      return FilterDataStatus.StopIterationAndBuffer;
    }
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

  private onTrailers(dir: Direction): FilterTrailersStatus {
    dir.complete = true;
    if (dir.state === CallState.BufferingBody && !this.processingComplete) {
      // The body is complete at the trailers (Envoy sends it, end_of_stream false, then trailers if asked).
      dir.inCall = true;
      this.sendBufferedBody(dir, undefined, false);
      dir.inCall = false;
      if (dir.continueInCall) {
        dir.continueInCall = false;
        return FilterTrailersStatus.Continue;
      }
      return FilterTrailersStatus.StopIteration;
    }
    return dir.stopped || dir.state !== CallState.Idle ? FilterTrailersStatus.StopIteration : FilterTrailersStatus.Continue;
  }

  /** The buffered body (and the last chunk, not in the buffer yet) goes to the processor. */
  private sendBufferedBody(dir: Direction, last: Uint8Array | undefined, endOfStream: boolean): void {
    const buffered = dir.request ? this.decoderCallbacks.decodingBuffer() : this.encoderCallbacks!.encodingBuffer();
    const head = buffered === undefined ? new Uint8Array(0) : buffered.toBytes();
    let body = head;
    if (last !== undefined && last.byteLength > 0) {
      body = new Uint8Array(head.byteLength + last.byteLength);
      body.set(head, 0);
      body.set(last, head.byteLength);
    }
    dir.state = CallState.BufferedBodyCallback;
    this.send(encodeBodyRequest(dir.request ? ProcessingKind.RequestBody : ProcessingKind.ResponseBody, body, endOfStream));
  }

  // ---- the stream ----

  private send(message: Uint8Array): void {
    const shared = this.shared;
    if (this.stream === undefined) {
      shared.stats.streamsStarted.inc();
      this.stream = new GrpcAsyncStream(shared.server, this, MAX_MESSAGE_BYTES, true);
      const grpc = shared.config.grpc;
      this.stream.start(grpc.clusterName, PROCESS_METHOD, grpc.authority, shared.initialMetadata, grpc.google);
      // The start may have failed at once (no such cluster, no healthy host).
      if (this.processingComplete) return;
    }
    this.stream.sendMessage(message);
    shared.stats.streamMsgsSent.inc();
    this.enableTimer(shared.config.messageTimeoutMs);
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
    // override_message_timeout: polyvoy refuses max_message_timeout, so as Envoy without it, the request is ignored.
    if (response.overrideMessageTimeoutMs !== undefined) return;
    const inHeaders = this.decoding.state === CallState.HeadersCallback || this.encoding.state === CallState.HeadersCallback;
    if (this.shared.config.allowModeOverride && inHeaders && response.modeOverride !== undefined) this.overrideMode(response.modeOverride);
    let status: "ok" | "spurious" | string;
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
      case ResponseKind.ImmediateResponse:
        this.shared.stats.streamMsgsReceived.inc();
        this.finish();
        this.sendImmediateResponse(response.immediate!);
        return;
      default:
        // Trailers were never sent; anything else is out of turn.
        status = "spurious";
    }
    const stats = this.shared.stats;
    if (status === "ok") {
      stats.streamMsgsReceived.inc();
    } else if (status === "spurious") {
      // ext_proc.cc: ignore the processor for the rest of the request, let the request go on.
      stats.spuriousMsgsReceived.inc();
      this.finish();
      this.clearAsyncState();
    } else {
      // Any other error (a header mutation refused): a 500 with the error as details.
      stats.streamMsgsReceived.inc();
      this.finish();
      this.sendImmediateResponse({ status: 500, headers: undefined, body: new Uint8Array(0), grpcStatus: undefined, details: status });
    }
  }

  /** @internal GrpcStreamCallbacks: the call ended. */
  onRemoteClose(status: number, _message: string): void {
    this.stream = undefined;
    if (status === GrpcStatus.Ok) return this.onGrpcClose();
    const stats = this.shared.stats;
    stats.streamsFailed.inc();
    if (this.processingComplete) return;
    if (this.shared.config.failureModeAllow) {
      this.onGrpcClose();
      stats.failureModeAllowed.inc();
      return;
    }
    this.finish();
    this.sendImmediateResponse({ status: 500, headers: undefined, body: new Uint8Array(0), grpcStatus: undefined, details: `${ERROR_PREFIX}_gRPC_error_${status}` });
  }

  /** Envoy's onGrpcClose: the processor is done; what waited goes on unprocessed. */
  private onGrpcClose(): void {
    this.processingComplete = true;
    this.shared.stats.streamsClosed.inc();
    this.closeStream();
    this.clearAsyncState();
  }

  /** @internal TimerTarget: Envoy's onMessageTimeout. */
  onTimer(): void {
    this.timer = undefined;
    const stats = this.shared.stats;
    stats.messageTimeouts.inc();
    if (this.shared.config.failureModeAllow) {
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

  // ---- answers ----

  /** ProcessorState::handleHeadersResponse. */
  private onHeadersResponse(dir: Direction, common: CommonResponse): "ok" | "spurious" | string {
    if (dir.state !== CallState.HeadersCallback) return "spurious";
    this.disableTimer();
    const replacing = common.status === CONTINUE_AND_REPLACE;
    if (common.headerMutation !== undefined) {
      const error = applyHeaderMutation(common.headerMutation, dir.headers!, replacing, this.shared.stats.rejectedHeaderMutations, this.shared.mutationChecker);
      if (error !== undefined) return error;
    }
    this.clearRouteCache(dir, common);
    if (replacing) {
      // The body mutation is the whole body; no body message is sent (processor_state.cc).
      const body = common.bodyMutation ?? new Uint8Array(0);
      dir.state = CallState.Idle;
      if (dir.complete) {
        if (body.byteLength > 0 || this.bufferedLength(dir) > 0) this.replaceBuffered(dir, body);
      } else {
        dir.replacement = body;
      }
      this.continueDirection(dir);
      return "ok";
    }
    const bodyBuffered = dir.request ? this.mode.requestBodyBuffered : this.mode.responseBodyBuffered;
    const hasBody = !(dir.complete && this.bufferedLength(dir) === 0);
    if (bodyBuffered && hasBody && !this.processingComplete) {
      if (dir.complete) {
        // The body came while the headers' answer was awaited: it goes now.
        this.sendBufferedBody(dir, undefined, true);
      } else {
        dir.state = CallState.BufferingBody;
      }
      return "ok";
    }
    dir.state = CallState.Idle;
    this.continueDirection(dir);
    return "ok";
  }

  /** ProcessorState::handleBodyResponse (BUFFERED). */
  private onBodyResponse(dir: Direction, common: CommonResponse): "ok" | "spurious" | string {
    if (dir.state !== CallState.BufferedBodyCallback) return "spurious";
    this.disableTimer();
    // The headers are still held: a body answer may change them too.
    if (common.headerMutation !== undefined) {
      const error = applyHeaderMutation(common.headerMutation, dir.headers!, common.status === CONTINUE_AND_REPLACE, this.shared.stats.rejectedHeaderMutations, this.shared.mutationChecker);
      if (error !== undefined) return error;
    }
    if (common.bodyMutation !== undefined) this.replaceBuffered(dir, common.bodyMutation);
    this.clearRouteCache(dir, common);
    dir.state = CallState.Idle;
    this.continueDirection(dir);
    return "ok";
  }

  private clearRouteCache(dir: Direction, common: CommonResponse): void {
    if (!common.clearRouteCache) return;
    const stats = this.shared.stats;
    if (!dir.request) stats.clearRouteCacheIgnored.inc();
    else if (this.shared.config.disableClearRouteCache) stats.clearRouteCacheDisabled.inc();
    else this.decoderCallbacks.clearRouteCache();
  }

  private bufferedLength(dir: Direction): number {
    return (dir.request ? this.decoderCallbacks.decodingBuffer() : this.encoderCallbacks!.encodingBuffer())?.length ?? 0;
  }

  /** The held body becomes `body`; a content-length follows it (the headers are still held). */
  private replaceBuffered(dir: Direction, body: Uint8Array): void {
    const buffer = dir.request ? this.decoderCallbacks.decodingBuffer() : this.encoderCallbacks!.encodingBuffer();
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

  /** ProcessingMode from mode_override: the modes this filter implements only (others keep the current one). */
  private overrideMode(m: ModeOverride): void {
    const mode = { ...this.mode };
    // HeaderSendMode: DEFAULT 0, SEND 1, SKIP 2. BodySendMode: NONE 0, BUFFERED 2.
    if (m.requestHeaderMode !== 0) mode.requestHeaders = m.requestHeaderMode !== 2;
    if (m.responseHeaderMode !== 0) mode.responseHeaders = m.responseHeaderMode !== 2;
    if (m.requestBodyMode === 0 || m.requestBodyMode === 2) mode.requestBodyBuffered = m.requestBodyMode === 2;
    if (m.responseBodyMode === 0 || m.responseBodyMode === 2) mode.responseBodyBuffered = m.responseBodyMode === 2;
    this.mode = mode;
  }

  /** Envoy's sendImmediateResponse: a local reply with the processor's status, headers, body, grpc_status and details. */
  private sendImmediateResponse(response: ImmediateResponse): void {
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
    this.disableTimer();
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

  /** Envoy's clearAsyncState: whatever waited for the processor goes on. */
  private clearAsyncState(): void {
    this.disableTimer();
    for (const dir of [this.decoding, this.encoding]) {
      if (dir.state === CallState.Idle && !dir.stopped) continue;
      dir.state = CallState.Idle;
      this.continueDirection(dir);
    }
  }

  private continueDirection(dir: Direction): void {
    if (!dir.stopped) return;
    dir.stopped = false;
    if (dir.inCall) {
      dir.continueInCall = true;
      return;
    }
    if (dir.request) this.decoderCallbacks.continueDecoding();
    else this.encoderCallbacks!.continueEncoding();
  }

  private enableTimer(ms: number): void {
    this.timer ??= this.shared.server.timers.create(this);
    this.timer.enable(ms);
  }

  private disableTimer(): void {
    this.timer?.disable();
  }
}
