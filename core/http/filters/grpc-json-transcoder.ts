/**
 * envoy.filters.http.grpc_json_transcoder (Envoy's extensions/filters/http/grpc_json_transcoder/
 * json_transcoder_filter.cc): a JSON/REST request that a google.api.http rule of the
 * configured services maps to a gRPC method is sent upstream as that gRPC call, and the gRPC
 * response comes back as JSON.
 *
 * The request: `POST /pkg.Service/Method`, application/grpc, te: trailers, the original path
 * and method kept in x-envoy-original-path / x-envoy-original-method, the route matched
 * again (unless match_incoming_request_route); its JSON body (bounded by
 * max_request_body_size or the stream's buffer limit) with the path and query bindings
 * becomes the gRPC message — for a client-streaming method, a JSON array is one message per
 * element, sent as each is whole; an HttpBody takes the raw body and its content-type. A gRPC request, or one no rule
 * maps, passes untouched (reject_unknown_method: 404).
 *
 * The response: a unary one is held and becomes one JSON object (content-length set, the HTTP
 * status from grpc-status, grpc-status and grpc-message copied to the headers); a streamed one
 * a JSON array written as frames arrive (or one object per line); an HttpBody its data with its
 * content-type. convert_grpc_status: a failed call without a body answers the
 * google.rpc.Status as JSON. A response that is not gRPC passes untouched.
 */
import type { GrpcJsonTranscoderConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import { PerConfig } from "../../util/per-config.ts";
import { utf8Encode } from "../../util/utf8.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
} from "../filter.ts";
import { encodeGrpcFrame, GRPC_FH_DEFAULT, GrpcFrameDecoder, type GrpcFrame } from "../grpc-frame.ts";
import { grpcToHttpStatus, isGrpcRequestHeaders, isGrpcContentType, parseGrpcStatus } from "../grpc-common.ts";
import type { HeaderMap } from "../header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import { buildTranscoder, resolveBindings, type MethodInfo, type Transcoder } from "../../grpc-json/transcoder-config.ts";
import { TranscodeError, type FieldBinding } from "../../grpc-json/descriptors.ts";
import { JsonTooLongError } from "../../grpc-json/json-out.ts";
import { JsonArrayStream } from "../../grpc-json/json-array-stream.ts";
import { encodeJsonRequest, grpcStatusJson, httpBodyBindingsMessage, httpBodyRequestMessage, isCodecError, parseHttpBody, responseMessageJson } from "../../grpc-json/transcoding.ts";

/** The transcoder (descriptor pool and path matcher) of each config object: built once. */
const TRANSCODERS = new PerConfig<GrpcJsonTranscoderConfig, Transcoder | undefined>((config) => (config.services.length === 0 ? undefined : buildTranscoder(config)));

/** Build a config's transcoder now (at listener or route table build). */
export function prepareGrpcJsonTranscoder(config: GrpcJsonTranscoderConfig): void {
  TRANSCODERS.get(config);
}

/** The largest message a client stream of HttpBody sends: a larger chunk is cut (json_transcoder_filter.cc MaxStreamedPieceSize). */
const MAX_STREAMED_PIECE_SIZE = 1024 * 1024;

/** Buffer limit when the stream has none (0): a transcoded body is still held whole. */
const FALLBACK_LIMIT = 64 * 1024 * 1024;

const EARLY_FAILURE = "early_grpc_json_transcode_failure";
const FAILURE = "grpc_json_transcode_failure";
const REQUEST_TOO_LARGE = "Request rejected because the transcoder's internal buffer size exceeds the configured limit.";
/** The filter sends no grpc-accept-encoding, so a compressed message is an upstream's mistake. */
const COMPRESSED = "Compressed gRPC messages are not transcoded";
const RESPONSE_TOO_LARGE = "Response not transcoded because the transcoder's internal buffer size exceeds the configured limit.";

export class GrpcJsonTranscoderFilter implements StreamFilter {
  private decoder: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private encoder: EncoderFilterCallbacks | undefined;
  /** The config in force (the route's, else the filter's) and its transcoder, once a request is transcoded. */
  private active: GrpcJsonTranscoderConfig | undefined;
  private transcoder: Transcoder | undefined;
  private info: MethodInfo | undefined;
  private bindings: FieldBinding[] = [];
  /** An HttpBody request's bindings as a message, made in decodeHeaders (each message sent starts with them). */
  private httpBodyBindings: Uint8Array = new Uint8Array(0);
  private requestContentType = "";
  private downstreamHttp2 = false;
  /** A client stream's JSON array, cut into its elements as it comes. */
  private requestStream: JsonArrayStream | undefined;
  /** A client stream of HttpBody sent its first message (the one with the content-type). */
  private httpBodySent = false;
  /** The request body so far (JSON, or an HttpBody's raw data). */
  private requestChunks: Uint8Array[] = [];
  private requestBytes = 0;
  /** The response is not transcoded (not gRPC, or a failure already answered). */
  private error = false;
  private responseHeaders: ResponseHeaders | undefined;
  private frames: GrpcFrameDecoder | undefined;
  private responseBytes = 0;
  /** A unary response's JSON so far (held until the trailers). */
  private unaryOut = "";
  /** A unary HttpBody response's data. */
  private unaryBody: Uint8Array | undefined;
  /** Streamed messages written so far. */
  private streamed = 0;
  private hasBody = false;
  /** A streamed HttpBody response's headers went (its content-type from the first message). */
  private httpBodyHeadersSent = false;

  constructor(
    private readonly config: GrpcJsonTranscoderConfig,
    _server: ServerContext,
  ) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoder = callbacks;
  }

  setEncoderFilterCallbacks(callbacks: EncoderFilterCallbacks): void {
    this.encoder = callbacks;
  }

  // ---- the request ----

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    const config = this.decoder.mostSpecificPerFilterConfig<GrpcJsonTranscoderConfig>() ?? this.config;
    const transcoder = TRANSCODERS.get(config);
    // Disabled (no services), or already gRPC: passed through.
    if (transcoder === undefined || isGrpcRequestHeaders(headers)) return FilterHeadersStatus.Continue;
    const full = headers.path;
    const q = full.indexOf("?");
    const path = q >= 0 ? full.slice(0, q) : full;
    const match = transcoder.matcher.lookup(headers.method, path, q >= 0 ? full.slice(q + 1) : "");
    if (match === undefined) {
      // request_validation_options of the config in force, the route's if it has one (json_transcoder_filter.cc decodeHeaders: per_route_config_).
      if (!config.rejectUnknownMethod) return FilterHeadersStatus.Continue;
      this.error = true;
      this.decoder.sendLocalReply(404, `Could not resolve ${path} to a method.`, `${EARLY_FAILURE}{NOT_FOUND}`);
      return FilterHeadersStatus.StopIteration;
    }
    const info = match.value;
    const resolved = resolveBindings(info.method.input, match.bindings, config.ignoreUnknownQueryParameters);
    if ("error" in resolved) {
      if (!config.rejectUnknownQueryParameters) return FilterHeadersStatus.Continue;
      this.error = true;
      this.decoder.sendLocalReply(400, resolved.error, `${EARLY_FAILURE}{INVALID_ARGUMENT}`);
      return FilterHeadersStatus.StopIteration;
    }
    this.active = config;
    this.transcoder = transcoder;
    this.info = info;
    // An HttpBody is passed as it is: bindings into it are dropped (json_transcoder_filter.cc createTranscoder).
    const bodyField = info.body === "*" ? "" : info.body;
    this.bindings = info.requestIsHttpBody ? resolved.bindings.filter((b) => bodyField !== "" && !matchesField(info, b.fieldPath[0]!, bodyField)) : resolved.bindings;
    if (info.requestIsHttpBody) {
      // Envoy converts an HttpBody request's bindings here (checkAndRejectIfRequestTranscoderFailed in decodeHeaders).
      const fromBindings = httpBodyBindingsMessage(transcoder.pool, info, this.bindings, config);
      if ("error" in fromBindings) {
        this.error = true;
        this.decoder.sendLocalReply(400, fromBindings.error, `${EARLY_FAILURE}{INVALID_ARGUMENT}`);
        return FilterHeadersStatus.StopIteration;
      }
      this.httpBodyBindings = fromBindings.message;
    }
    this.requestContentType = headers.get("content-type") ?? "";
    this.downstreamHttp2 = headers.protocol === "HTTP/2" || headers.protocol === "HTTP/3";

    headers.remove("content-length");
    headers.set("content-type", "application/grpc");
    headers.set("x-envoy-original-path", full);
    headers.add("x-envoy-original-method", headers.method);
    headers.path = info.method.grpcPath;
    headers.method = "POST";
    headers.set("te", "trailers");
    if (!config.matchIncomingRequestRoute) this.decoder.clearRouteCache();

    // A client stream's elements go up as each is whole; another body is held until it ends.
    if (info.method.clientStreaming && !info.requestIsHttpBody) this.requestStream = new JsonArrayStream();
    if (endStream) {
      // A client stream without a body is no message.
      if (this.requestStream !== undefined) return FilterHeadersStatus.Continue;
      const frames = this.requestFrames(new Uint8Array(0), EARLY_FAILURE);
      if (frames === undefined) return FilterHeadersStatus.StopIteration;
      if (frames.length > 0) this.decoder.addDecodedData(frames, true);
    }
    return FilterHeadersStatus.Continue;
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (this.info === undefined || this.error) return FilterDataStatus.Continue;
    if (this.requestStream !== undefined) return this.decodeStreamData(this.requestStream, data, endStream);
    if (this.info.requestIsHttpBody && this.info.method.clientStreaming) return this.decodeHttpBodyStreamData(data);
    this.requestBytes += data.length;
    if (this.requestBytes > this.requestLimit()) return this.requestTooLarge();
    this.requestChunks.push(data);
    if (!endStream) return FilterDataStatus.StopIterationNoBuffer;
    const frames = this.requestFrames(this.takeRequestBody(), FAILURE);
    if (frames === undefined) return FilterDataStatus.StopIterationNoBuffer;
    this.decoder.replaceDecodedData(frames);
    return FilterDataStatus.Continue;
  }

  /** A client stream's data: the frames of the elements it completes (Envoy: readToBuffer after each chunk). */
  private decodeStreamData(stream: JsonArrayStream, data: Uint8Array, endStream: boolean): FilterDataStatus {
    let frames: Uint8Array[];
    try {
      const elements = stream.push(data);
      if (stream.held > this.requestLimit()) return this.requestTooLarge();
      if (endStream) stream.finish();
      frames = [];
      for (const element of elements) {
        const encoded = encodeJsonRequest(this.transcoder!.pool, this.info!, element, this.bindings, this.active!);
        if ("error" in encoded) return this.requestFailed(encoded.error);
        frames.push(encodeGrpcFrame(GRPC_FH_DEFAULT, encoded.message));
      }
    } catch (error) {
      if (!isCodecError(error)) throw error;
      return this.requestFailed(error.message);
    }
    if (frames.length === 0 && !endStream) return FilterDataStatus.StopIterationNoBuffer;
    this.decoder.replaceDecodedData(concat(frames, frames.reduce((n, f) => n + f.length, 0)));
    return FilterDataStatus.Continue;
  }

  /**
   * A client stream of HttpBody: each chunk of the body is one message (a chunk over
   * MAX_STREAMED_PIECE_SIZE several), the first with the request's content-type and the
   * bindings (maybeSendHttpBodyRequestMessage). Nothing is held, so no limit applies (Envoy has none here).
   */
  private decodeHttpBodyStreamData(data: Uint8Array): FilterDataStatus {
    if (this.httpBodySent && data.length === 0) return FilterDataStatus.Continue;
    const frames: Uint8Array[] = [];
    let at = 0;
    do {
      const piece = data.subarray(at, at + MAX_STREAMED_PIECE_SIZE);
      const first = !this.httpBodySent;
      this.httpBodySent = true;
      frames.push(encodeGrpcFrame(GRPC_FH_DEFAULT, httpBodyRequestMessage(this.info!, first ? this.requestContentType : "", piece, first ? this.httpBodyBindings : new Uint8Array(0))));
      at += piece.length;
    } while (at < data.length);
    this.decoder.replaceDecodedData(concat(frames, frames.reduce((n, f) => n + f.length, 0)));
    return FilterDataStatus.Continue;
  }

  /** max_request_body_size, else the stream's buffer limit. */
  private requestLimit(): number {
    return this.active!.maxRequestBodySize ?? (this.decoder.decoderBufferLimit || FALLBACK_LIMIT);
  }

  private requestTooLarge(): FilterDataStatus {
    this.error = true;
    this.decoder.sendLocalReply(413, REQUEST_TOO_LARGE, `${FAILURE}{request_buffer_size_limit_reached}`);
    return FilterDataStatus.StopIterationNoBuffer;
  }

  /** Envoy's checkAndRejectIfRequestTranscoderFailed: 400 with the transcoder's message. */
  private requestFailed(message: string): FilterDataStatus {
    this.error = true;
    this.decoder.sendLocalReply(400, message, `${FAILURE}{INVALID_ARGUMENT}`);
    return FilterDataStatus.StopIterationNoBuffer;
  }

  decodeTrailers(): FilterTrailersStatus {
    if (this.info === undefined || this.error) return FilterTrailersStatus.Continue;
    if (this.httpBodySent) return FilterTrailersStatus.Continue;
    if (this.requestStream !== undefined) {
      try {
        this.requestStream.finish();
      } catch (error) {
        if (!isCodecError(error)) throw error;
        this.requestFailed(error.message);
        return FilterTrailersStatus.StopIteration;
      }
      return FilterTrailersStatus.Continue;
    }
    const frames = this.requestFrames(this.takeRequestBody(), FAILURE);
    if (frames === undefined) return FilterTrailersStatus.StopIteration;
    if (frames.length > 0) this.decoder.addDecodedData(frames, true);
    return FilterTrailersStatus.Continue;
  }

  private takeRequestBody(): Uint8Array {
    const body = concat(this.requestChunks, this.requestBytes);
    this.requestChunks = [];
    return body;
  }

  /** The whole request body as gRPC frames; undefined after answering 400 (Envoy's checkAndRejectIfRequestTranscoderFailed). */
  private requestFrames(body: Uint8Array, details: string): Uint8Array | undefined {
    const info = this.info!;
    const transcoder = this.transcoder!;
    const config = this.active!;
    if (info.requestIsHttpBody) return encodeGrpcFrame(GRPC_FH_DEFAULT, httpBodyRequestMessage(info, this.requestContentType, body, this.httpBodyBindings));
    const encoded = encodeJsonRequest(transcoder.pool, info, body, this.bindings, config);
    if ("error" in encoded) {
      this.error = true;
      this.decoder.sendLocalReply(400, encoded.error, `${details}{INVALID_ARGUMENT}`);
      return undefined;
    }
    return encodeGrpcFrame(GRPC_FH_DEFAULT, encoded.message);
  }

  // ---- the response ----

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus {
    if (this.info === undefined || this.error) return FilterHeadersStatus.Continue;
    // Grpc::Common::isGrpcResponseHeaders: headers only with a grpc-status, else 200 with a gRPC content type.
    if (endStream ? !headers.has("grpc-status") : headers.status !== 200 || !isGrpcContentType(headers.get("content-type"))) {
      this.error = true;
      return FilterHeadersStatus.Continue;
    }
    this.responseHeaders = headers;
    const info = this.info;
    // Any flags: the decoder then fails only on a frame over the limit; a compressed one is refused as it is read.
    this.frames = new GrpcFrameDecoder(this.responseLimit(), () => true);
    if (endStream) {
      // A trailers-only response: the headers are its trailers.
      if (info.method.serverStreaming) headers.set("content-type", "application/json");
      this.doTrailers(headers, true);
      return FilterHeadersStatus.Continue;
    }
    headers.set("content-type", "application/json");
    headers.remove("content-length");
    // A streamed JSON array goes as it comes; a unary answer (and a streamed HttpBody's, whose
    // content-type its first message says) is held.
    if (info.method.serverStreaming && !info.responseIsHttpBody) return FilterHeadersStatus.Continue;
    return FilterHeadersStatus.StopIteration;
  }

  encodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (this.info === undefined || this.error || this.frames === undefined) return FilterDataStatus.Continue;
    const encoder = this.encoder!;
    const info = this.info;
    this.hasBody = true;
    const frames = this.frames.decode(data);
    // A frame over the limit is refused by the decoder; so is the whole of a held response.
    this.responseBytes += data.length;
    if (frames === undefined) return this.responseFailed(RESPONSE_TOO_LARGE);
    if (!info.method.serverStreaming && this.responseBytes > this.responseLimit()) return this.responseFailed(RESPONSE_TOO_LARGE);
    const streaming = info.method.serverStreaming;
    let out: string | Uint8Array;
    try {
      out = info.responseIsHttpBody ? this.httpBodyOut(frames) : this.jsonOut(frames, endStream);
    } catch (error) {
      // The JSON past the limit, or past what the engine can hold (a RangeError): Envoy's
      // encoderBufferLimitReached counts the JSON held as well as the gRPC bytes.
      if (error instanceof JsonTooLongError || error instanceof RangeError) return this.responseFailed(RESPONSE_TOO_LARGE);
      // A message the codec cannot read (Envoy's ResponseStatus() not ok: 502).
      if (!isCodecError(error)) throw error;
      return this.responseFailed(error.message);
    }
    if (!streaming) {
      if (typeof out === "string") this.unaryOut += out;
      if (!endStream) return FilterDataStatus.StopIterationNoBuffer;
      // No trailers: the response ends with its data (not proper gRPC; Envoy passes it so).
      const body = info.responseIsHttpBody ? (this.unaryBody ?? new Uint8Array(0)) : this.unaryJson();
      if (body === undefined) return this.responseFailed(RESPONSE_TOO_LARGE);
      encoder.replaceEncodedData(body);
      return FilterDataStatus.Continue;
    }
    const bytes = typeof out === "string" ? utf8Encode(out) : out;
    if (bytes.length > this.responseLimit()) return this.responseFailed(RESPONSE_TOO_LARGE);
    // Nothing to send yet: an empty chunk would end an HTTP/1.1 chunked body.
    if (bytes.length === 0 && !endStream) return FilterDataStatus.StopIterationNoBuffer;
    if (info.responseIsHttpBody && !this.httpBodyHeadersSent) return FilterDataStatus.StopIterationNoBuffer;
    encoder.replaceEncodedData(bytes);
    return FilterDataStatus.Continue;
  }

  /** A unary response's JSON as UTF-8; undefined when its bytes pass the limit (a character may be three). */
  private unaryJson(): Uint8Array | undefined {
    const bytes = utf8Encode(this.unaryOut);
    return bytes.length > this.responseLimit() ? undefined : bytes;
  }

  encodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    if (this.info === undefined || this.error || this.responseHeaders === undefined) return FilterTrailersStatus.Continue;
    this.doTrailers(trailers, false);
    return FilterTrailersStatus.Continue;
  }

  /** max_response_body_size, else the stream's buffer limit. */
  private responseLimit(): number {
    return this.active!.maxResponseBodySize ?? (this.encoder!.encoderBufferLimit || FALLBACK_LIMIT);
  }

  /** Envoy's checkAndRejectIfResponseTranscoderFailed / encoderBufferLimitReached: a local reply while the headers are held, else a reset. */
  private responseFailed(message: string): FilterDataStatus {
    this.error = true;
    const tooLarge = message === RESPONSE_TOO_LARGE;
    this.encoder!.sendLocalReply(tooLarge ? 500 : 502, message, `${FAILURE}{${tooLarge ? "response_buffer_size_limit_reached" : "INTERNAL"}}`);
    return FilterDataStatus.StopIterationNoBuffer;
  }

  /** Each message as JSON: a unary response's object; a stream's array elements (or lines). */
  private jsonOut(frames: readonly GrpcFrame[], endStream: boolean): string {
    const { pool, info, config } = this.context();
    let out = "";
    const lines = config.printOptions.streamNewlineDelimited;
    // The JSON held counts against the limit (a unary response's, or this chunk's of a stream), characters bounding the printer's work.
    const limit = this.responseLimit() - this.unaryOut.length;
    for (const frame of frames) {
      if (frame.flags !== GRPC_FH_DEFAULT) throw new TranscodeError(COMPRESSED);
      const json = responseMessageJson(pool, info.method.output, frame.data, config.printOptions, limit - out.length);
      if (!info.method.serverStreaming) out += json;
      else if (lines) out += `${json}\n`;
      else out += `${this.streamed === 0 ? "[" : ","}${json}`;
      this.streamed++;
    }
    if (endStream && info.method.serverStreaming) out += this.closeStream();
    return out;
  }

  /** The end of a streamed JSON array: "]", or "[]" when no message came; nothing for lines. */
  private closeStream(): string {
    if (this.active!.printOptions.streamNewlineDelimited) return "";
    return this.streamed === 0 ? "[]" : "]";
  }

  /** buildResponseFromHttpBodyOutput: each HttpBody's data; the first one's content-type is the response's. */
  private httpBodyOut(frames: readonly GrpcFrame[]): Uint8Array {
    const info = this.info!;
    const chunks: Uint8Array[] = [];
    for (const frame of frames) {
      if (frame.flags !== GRPC_FH_DEFAULT) throw new TranscodeError(COMPRESSED);
      if (frame.data.length === 0) continue;
      const body = parseHttpBody(frame.data, info.responseBodyFieldNumber);
      if (!info.method.serverStreaming) {
        // One message: its content type and length.
        this.responseHeaders!.set("content-type", body.contentType);
        this.responseHeaders!.set("content-length", String(body.data.length));
        this.unaryBody = body.data;
        return body.data;
      }
      if (!this.httpBodyHeadersSent) {
        this.responseHeaders!.set("content-type", body.contentType);
        this.httpBodyHeadersSent = true;
      }
      chunks.push(body.data);
    }
    return concat(chunks, chunks.reduce((n, c) => n + c.length, 0));
  }

  private context(): { pool: Transcoder["pool"]; info: MethodInfo; config: GrpcJsonTranscoderConfig } {
    return { pool: this.transcoder!.pool, info: this.info!, config: this.active! };
  }

  /**
   * JsonTranscoderFilter::doTrailers: the rest of the JSON; for a held (unary or trailers-only)
   * response its HTTP status from grpc-status (503 when none or not a number), grpc-status and
   * grpc-message copied to the headers, and a content-length.
   */
  private doTrailers(trailers: HeaderMap, trailersOnly: boolean): void {
    const info = this.info!;
    const headers = this.responseHeaders!;
    const grpcStatus = parseGrpcStatus(trailers.get("grpc-status"));
    if (grpcStatus !== undefined && this.maybeConvertGrpcStatus(grpcStatus, trailers, trailersOnly)) return;
    const encoder = this.encoder!;
    let rest: Uint8Array | undefined;
    if (info.responseIsHttpBody) rest = info.method.serverStreaming ? undefined : this.unaryBody;
    else if (info.method.serverStreaming) rest = utf8Encode(this.closeStream());
    else if (this.unaryOut !== "") {
      rest = this.unaryJson();
      if (rest === undefined) {
        this.responseFailed(RESPONSE_TOO_LARGE);
        return;
      }
    }
    if (rest !== undefined && rest.length > 0) encoder.addEncodedData(rest, true);
    if (info.method.serverStreaming && !trailersOnly) return;
    if (grpcStatus === undefined) headers.status = 503;
    else {
      headers.status = grpcToHttpStatus(grpcStatus);
      if (!trailersOnly) headers.set("grpc-status", String(grpcStatus));
    }
    if (!trailersOnly) {
      const message = trailers.get("grpc-message");
      if (message !== undefined) headers.set("grpc-message", message);
    }
    if (!this.downstreamHttp2) headers.remove("trailer");
    if (!info.method.serverStreaming) headers.set("content-length", String(rest?.length ?? 0));
  }

  /**
   * convert_grpc_status: a call that failed before any body answers its google.rpc.Status as
   * JSON — grpc-status-details-bin's, else one made of grpc-status and grpc-message.
   */
  private maybeConvertGrpcStatus(grpcStatus: number, trailers: HeaderMap, trailersOnly: boolean): boolean {
    const config = this.active!;
    if (!config.convertGrpcStatus || this.hasBody || grpcStatus === 0) return false;
    const json = grpcStatusJson(this.transcoder!.pool, grpcStatus, trailers.get("grpc-status-details-bin"), trailers.get("grpc-message"), config.printOptions);
    if (json === undefined) return false;
    const headers = this.responseHeaders!;
    headers.status = grpcToHttpStatus(grpcStatus);
    if (trailersOnly) {
      headers.remove("grpc-status");
      headers.remove("grpc-message");
      headers.remove("grpc-status-details-bin");
    }
    if (!this.downstreamHttp2) headers.remove("trailer");
    const body = utf8Encode(json);
    headers.set("content-type", "application/json");
    headers.set("content-length", String(body.length));
    this.encoder!.addEncodedData(body, false);
    return true;
  }

  onDestroy(): void {
    this.requestChunks = [];
    this.responseHeaders = undefined;
    this.frames = undefined;
    this.unaryBody = undefined;
  }
}

/** A binding's first field is the body field (by .proto or JSON name). */
function matchesField(info: MethodInfo, name: string, bodyField: string): boolean {
  const field = info.method.input.field(name);
  return field !== undefined && field === info.method.input.field(bodyField);
}

function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
