/**
 * envoy.filters.http.grpc_web (Envoy's extensions/filters/http/grpc_web/grpc_web_filter.cc):
 * a browser's gRPC-Web request (application/grpc-web[+proto], or -text: base64) goes
 * upstream as gRPC (application/grpc, te: trailers, grpc-accept-encoding), and the gRPC
 * response comes back as gRPC-Web: the trailers become the body's last frame (flag 0x80,
 * "name:value\r\n" lines), base64 for a client that accepts grpc-web-text. A response that
 * is not gRPC (an error page, a local reply) becomes a gRPC status a gRPC-Web client can
 * read. CORS is the cors filter's business. Stats: `cluster.<cluster>.grpc-web.<service>.<method>.*`.
 */
import type { ServerContext } from "../../server-context.ts";
import { decodeBase64Groups, encodeBase64 } from "../../util/base64.ts";
import { latin1Decode, latin1Encode } from "../../util/latin1.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
} from "../filter.ts";
import { GRPC_FH_TRAILERS, grpcFrameHeader } from "../grpc-frame.ts";
import { httpToGrpcStatus, isGrpcContentType, percentEncodeGrpcMessage } from "../grpc-common.ts";
import { GrpcRequestStats } from "../grpc-stats.ts";
import { routeCluster } from "../route/route-cluster.ts";
import type { HeaderMap } from "../header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";

const GRPC_WEB = "application/grpc-web";
const GRPC_WEB_TEXT = "application/grpc-web-text";
const GRPC_WEB_PROTO = "application/grpc-web+proto";
const GRPC_WEB_TEXT_PROTO = "application/grpc-web-text+proto";
/** Envoy's GrpcAcceptEncodingValues.Default. */
const GRPC_ACCEPT_ENCODING = "identity,deflate,gzip";
/**
 * How much of a non-gRPC response's body becomes its grpc-message when it came in several
 * chunks (Envoy's MAX_BUFFERED_PLAINTEXT_LENGTH; a body in one chunk is taken whole).
 */
const MAX_BUFFERED_PLAINTEXT_LENGTH = 16384;
const BAD_BASE64 = "Bad gRPC-web request, invalid base64 data.";

/** GrpcWebFilter::isGrpcWebRequest: exactly one of the four gRPC-Web content types (no +json, no parameters). */
function isGrpcWebContentType(type: string | undefined): boolean {
  return type === GRPC_WEB || type === GRPC_WEB_PROTO || type === GRPC_WEB_TEXT || type === GRPC_WEB_TEXT_PROTO;
}

/**
 * GrpcWebFilter::needsTransformationForNonProtoEncodedResponse: neither a gRPC response
 * (Grpc::Common::isGrpcResponseHeaders: headers only with a grpc-status, else 200 with a
 * gRPC content type) nor one already gRPC-Web (200, application/grpc-web[+proto], any case,
 * parameters ignored).
 */
function needsTransformation(headers: ResponseHeaders, endStream: boolean): boolean {
  const type = headers.get("content-type");
  if (endStream ? headers.has("grpc-status") : headers.status === 200 && isGrpcContentType(type)) return false;
  if (headers.status !== 200 || type === undefined) return true;
  const media = type.split(";", 1)[0]!.trimEnd().toLowerCase();
  return media !== GRPC_WEB_PROTO && media !== GRPC_WEB;
}

function isGrpcWebTextContentType(type: string | undefined): boolean {
  return type === GRPC_WEB_TEXT || type === GRPC_WEB_TEXT_PROTO;
}

export class GrpcWebFilter implements StreamFilter {
  private decoder: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private encoder: EncoderFilterCallbacks | undefined;
  private isGrpcWeb = false;
  private textRequest = false;
  private textResponse = false;
  /** Base64 characters of the request not yet a whole 4-character group. */
  private decodeRemainder: Uint8Array | undefined;
  /** Response bytes not yet a whole 3-byte group (text responses). */
  private encodeRemainder: Uint8Array | undefined;
  /** The response is not gRPC: its body becomes grpc-message, in these (held) headers. */
  private nonGrpcResponse: ResponseHeaders | undefined;
  private nonGrpcBody = "";
  /** Data calls of the non-gRPC body so far (one chunk is taken whole, several are capped). */
  private nonGrpcChunks = 0;
  /** Per-method stats, when the request names a gRPC method on a route to one cluster. */
  private stats: GrpcRequestStats | undefined;

  constructor(private readonly server: ServerContext) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoder = callbacks;
  }

  setEncoderFilterCallbacks(callbacks: EncoderFilterCallbacks): void {
    this.encoder = callbacks;
  }

  // ---- the request ----

  decodeHeaders(headers: RequestHeaders): FilterHeadersStatus {
    const type = headers.get("content-type");
    if (!isGrpcWebContentType(type)) return FilterHeadersStatus.Continue;
    this.isGrpcWeb = true;
    this.stats = GrpcRequestStats.forRequest(this.server.stats, routeCluster(this.decoder, this.server.runtime), headers.path, "grpc-web");
    this.textRequest = isGrpcWebTextContentType(type);
    this.textResponse = isGrpcWebTextContentType(headers.get("accept"));
    headers.remove("content-length");
    // grpc_web_filter.cc decodeHeaders: exactly application/grpc upstream, whatever the
    // +proto suffix; grpc-accept-encoding only when the client sent none (its own is kept).
    headers.set("content-type", "application/grpc");
    headers.set("te", "trailers");
    if (!headers.has("grpc-accept-encoding")) headers.set("grpc-accept-encoding", GRPC_ACCEPT_ENCODING);
    return FilterHeadersStatus.Continue;
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (!this.isGrpcWeb || !this.textRequest) return FilterDataStatus.Continue;
    const text = concat(this.decodeRemainder, data);
    const whole = endStream ? text.length : text.length - (text.length % 4);
    this.decodeRemainder = whole < text.length ? text.slice(whole) : undefined;
    if (whole === 0 && !endStream) return FilterDataStatus.StopIterationNoBuffer;
    const decoded = decodeBase64Groups(text.subarray(0, whole));
    if (decoded === undefined) {
      this.decoder.sendLocalReply(400, BAD_BASE64, whole % 4 !== 0 ? "grpc_base_64_decode_failed_bad_size" : "grpc_base_64_decode_failed");
      return FilterDataStatus.StopIterationNoBuffer;
    }
    this.decoder.replaceDecodedData(decoded);
    return FilterDataStatus.Continue;
  }

  decodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  // ---- the response ----

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus {
    if (!this.isGrpcWeb) return FilterHeadersStatus.Continue;
    this.stats?.charge(headers.get("grpc-status"));
    const transform = needsTransformation(headers, endStream);
    headers.remove("content-length");
    headers.set("content-type", this.textResponse ? GRPC_WEB_TEXT_PROTO : GRPC_WEB_PROTO);
    // A header-only response is left as it is, even one that is not gRPC (grpc_web_filter.cc encodeHeaders).
    if (endStream || !transform) return FilterHeadersStatus.Continue;
    // Not gRPC (an error page, a local reply): held until its body, which becomes grpc-message.
    this.nonGrpcResponse = headers;
    return FilterHeadersStatus.StopIteration;
  }

  encodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (!this.isGrpcWeb) return FilterDataStatus.Continue;
    const encoder = this.encoder!;
    if (this.nonGrpcResponse !== undefined) {
      const first = this.nonGrpcChunks++ === 0;
      // One chunk that ends the body is taken whole; otherwise at most MAX_BUFFERED_PLAINTEXT_LENGTH bytes.
      const room = first && endStream ? data.length : MAX_BUFFERED_PLAINTEXT_LENGTH - this.nonGrpcBody.length;
      if (room > 0) this.nonGrpcBody += latin1Decode(data, 0, Math.min(data.length, room));
      if (!endStream) return FilterDataStatus.StopIterationNoBuffer;
      this.finishNonGrpcResponse();
      encoder.replaceEncodedData(new Uint8Array(0));
      return FilterDataStatus.Continue;
    }
    if (!this.textResponse) return FilterDataStatus.Continue;
    const bytes = concat(this.encodeRemainder, data);
    const whole = endStream ? bytes.length : bytes.length - (bytes.length % 3);
    this.encodeRemainder = whole < bytes.length ? bytes.slice(whole) : undefined;
    // Nothing to send yet: an empty chunk would end an HTTP/1.1 chunked body.
    if (whole === 0 && !endStream) return FilterDataStatus.StopIterationNoBuffer;
    encoder.replaceEncodedData(latin1Encode(encodeBase64(bytes.subarray(0, whole))));
    return FilterDataStatus.Continue;
  }

  /** The trailers become the body's last frame (PROTOCOL-WEB.md); the HTTP trailers go empty. */
  encodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    if (!this.isGrpcWeb) return FilterTrailersStatus.Continue;
    if (this.nonGrpcResponse !== undefined) {
      this.finishNonGrpcResponse();
      clear(trailers);
      return FilterTrailersStatus.Continue;
    }
    this.stats?.charge(trailers.get("grpc-status"));
    let block = "";
    for (const [name, value] of trailers.entries()) block += `${name}:${value}\r\n`;
    const payload = latin1Encode(block);
    const frame = concat(grpcFrameHeader(GRPC_FH_TRAILERS, payload.length), payload);
    let out = frame;
    if (this.textResponse) {
      // What is left of the body ends its own base64 chunk (padded); the trailer frame is another.
      const rest = this.encodeRemainder;
      this.encodeRemainder = undefined;
      out = latin1Encode((rest !== undefined ? encodeBase64(rest) : "") + encodeBase64(frame));
    }
    this.encoder!.addEncodedData(out, true);
    clear(trailers);
    return FilterTrailersStatus.Continue;
  }

  /**
   * Envoy's setTransformedNonProtoEncodedResponseHeaders: grpc-message the body
   * (percent-encoded), grpc-status the HTTP status mapped (replacing any), content-length 0;
   * the HTTP status stays.
   */
  private finishNonGrpcResponse(): void {
    const headers = this.nonGrpcResponse!;
    this.nonGrpcResponse = undefined;
    headers.set("grpc-message", percentEncodeGrpcMessage(this.nonGrpcBody));
    headers.set("grpc-status", String(httpToGrpcStatus(headers.status)));
    headers.set("content-length", "0");
  }

  onDestroy(): void {
    this.decodeRemainder = undefined;
    this.encodeRemainder = undefined;
    this.nonGrpcResponse = undefined;
  }
}

function concat(a: Uint8Array | undefined, b: Uint8Array): Uint8Array {
  if (a === undefined || a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function clear(map: HeaderMap): void {
  for (const [name] of [...map.entries()]) map.remove(name);
}
