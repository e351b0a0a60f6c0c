import { bodyBytes } from "../../util/byte-slab.ts";
import { EMPTY_BYTES } from "../../util/bytes.ts";
import { type RequestHeaders, ResponseHeaders } from "../message.ts";
import type { ClientConnection, RequestEncoder, ResponseDecoder } from "./codec.ts";
import { requestHeadEncoder } from "./head-encoder.ts";
import { writeEncoded, type ByteSink } from "../../network/byte-sink.ts";
import {
  HEADERS_PROCEED,
  HEADERS_SKIP_BODY,
  HEADERS_UPGRADE,
  HPE_OK,
  HPE_PAUSED_UPGRADE,
  HPE_USER,
  LlhttpParser,
  PARSER_RESPONSE,
} from "./llhttp.ts";
import { isChunkedOnly, MessageParser } from "./message-parser.ts";
import { StreamEncoderImpl } from "./stream-encoder.ts";

/** The head between responses (never added to: each response's begins fresh). */
const NO_RESPONSE = new ResponseHeaders(0);

/** The fields the codec adds to a head, reused: a head is encoded synchronously, never nested. */
const EXTRA: string[] = [];

/** Methods whose requests carry a body by convention: Envoy sends `content-length: 0` when they end at the headers. */
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

/** Upstream response heads are not limited by the downstream's max_request_headers_kb; Envoy caps them at 60 KiB too. */
const MAX_RESPONSE_HEAD_BYTES = 60 * 1024;
const MAX_RESPONSE_HEADERS = 100;

/**
 * HTTP/1.1 client side of an upstream connection (Envoy's `Http1::ClientConnectionImpl`):
 * sends one request at a time through its `RequestEncoderImpl` and parses the response
 * with llhttp. Interim 1xx responses are swallowed (polyvoy answers
 * `Expect: 100-continue` itself, as Envoy does by default); HEAD, 204 and 304 responses
 * have no body; a response without framing is read until the upstream closes. A
 * response the request cannot have (a 101 to no upgrade) or framed with a transfer
 * coding other than chunked is a protocol error: the router answers 503 (UPE).
 */
export class Http1ClientCodec extends MessageParser<ResponseHeaders> implements ClientConnection {
  private readonly parser: LlhttpParser;
  /** The one request encoder, reused by each stream in turn. */
  private readonly requestEncoder: RequestEncoderImpl;
  private decoder: ResponseDecoder | undefined;
  private interim = false;
  private headersHeld: ResponseHeaders | undefined;
  private upgraded = false;
  /** Whether the connection may carry another request after this response. */
  keepAlive = true;
  /** The upstream's `Keep-Alive: timeout=N`, in ms, when it sent one. */
  keepAliveTimeoutMs: number | undefined;
  responseComplete = false;
  /** Bytes of the current response seen (headers included), so a reset can tell "before any response". */
  responseStarted = false;
  /** Set when the upstream sent bytes that are not a valid response. */
  protocolError: string | undefined;
  /**
   * The body parsed from the current read, handed on when the read parsed whole (Envoy's
   * buffered_body_, dispatchBufferedBody at the end of ConnectionImpl::dispatch): a read that
   * fails part way passes none of its body on.
   */
  private readonly bodyOfRead: Uint8Array[] = [];

  /** `enableTrailers`: the cluster's Http1ProtocolOptions.enable_trailers (default: trailers dropped both ways). */
  constructor(sink: ByteSink, enableTrailers = false) {
    super(MAX_RESPONSE_HEAD_BYTES, MAX_RESPONSE_HEADERS, NO_RESPONSE);
    this.keepTrailers = enableTrailers;
    this.parser = new LlhttpParser(PARSER_RESPONSE, this);
    this.requestEncoder = new RequestEncoderImpl(sink, enableTrailers);
  }

  protected newHead(): ResponseHeaders {
    return new ResponseHeaders(0);
  }

  /** Start a request on this connection; its response goes to `decoder`. */
  newStream(decoder: ResponseDecoder): RequestEncoder {
    this.decoder = decoder;
    this.responseComplete = false;
    this.responseStarted = false;
    this.keepAlive = true;
    this.headersHeld = undefined;
    return this.requestEncoder;
  }

  /** Feed bytes from the upstream; `endStream` is its FIN. Returns false on a protocol error. */
  dispatch(data: Uint8Array, endStream: boolean): boolean {
    if (this.upgraded) {
      this.decoder?.decodeUpgradeData(data, endStream);
      return true;
    }
    if (data.byteLength > 0) {
      // Bytes with no request outstanding go to llhttp too: it skips the CRLFs allowed
      // between messages (RFC 9112 §2.2), and a response that begins is refused in
      // onMessageBegin, as Envoy's codec does, however the reads are cut.
      this.setChunk(data);
      if (this.decoder) this.responseStarted = true;
      const errno = this.settleLimit(this.parser.execute(data), this.parser);
      this.releaseChunk();
      if (errno === HPE_OK || errno === HPE_PAUSED_UPGRADE) this.flushBody();
      else this.bodyOfRead.length = 0;
      if (errno === HPE_PAUSED_UPGRADE) {
        this.upgraded = true;
        const rest = data.subarray(this.parser.stoppedAt);
        if (rest.byteLength > 0) this.decoder?.decodeUpgradeData(rest, false);
      } else if (errno !== HPE_OK) {
        this.protocolError ??= this.limitError ?? this.parser.errorReason;
        this.keepAlive = false;
        return false;
      }
    }
    if (endStream) {
      this.keepAlive = false;
      // The FIN may come in the same read as the 101 (or CONNECT 2xx) head.
      if (this.upgraded) {
        this.decoder?.decodeUpgradeData(EMPTY_BYTES, true);
        return true;
      }
      // A body delimited by the connection's close ends here.
      if (this.decoder && this.responseStarted && !this.responseComplete && this.parser.needsEof) this.parser.finish();
    }
    return true;
  }

  /** The upstream's response is not one the request allows: `details` says why. */
  private refuse(details: string): number {
    this.protocolError = details;
    return HPE_USER;
  }

  // ---- llhttp events ----

  override onMessageBegin(): number {
    // Another response behind the one just completed, in the same read: the upstream
    // answered a request never sent, so the connection is out of step (Envoy: protocol error).
    if (!this.decoder) return this.refuse("response with no request");
    super.onMessageBegin();
    this.interim = false;
    return HPE_OK;
  }

  onUrl(): number {
    return HPE_OK;
  }

  onStatus(start: number, end: number): number {
    return this.countHead(end - start);
  }

  onHeadersComplete(status: number, _upgrade: boolean, shouldKeepAlive: boolean): number {
    const fieldError = this.completeField();
    if (fieldError) return fieldError;
    this.startTrailers();
    const response = this.head;
    const encoder = this.requestEncoder;
    // Any transfer coding but chunked alone: Envoy refuses it (codec_impl.cc,
    // http1.invalid_transfer_encoding) rather than pass on a coded body unlabelled.
    const te = response.get("transfer-encoding");
    if (te !== undefined && !isChunkedOnly(te, response)) return this.refuse("http1.invalid_transfer_encoding");
    // A 1xx or 204 has no body and may not announce one (RFC 9110 §8.6, RFC 9112 §6.1):
    // Envoy refuses framing fields on it, papering over `content-length: 0` (codec_impl.cc).
    if (status < 200 || status === 204) {
      if (te !== undefined) return this.refuse("http1.transfer_encoding_not_allowed");
      const length = response.get("content-length");
      if (length !== undefined) {
        if (length !== "0") return this.refuse("http1.content_length_not_allowed");
        response.remove("content-length");
      }
    }
    if (status >= 100 && status < 200 && status !== 101) {
      this.interim = true;
      return HEADERS_PROCEED;
    }
    // A 101 answers an upgrade (RFC 9110 §15.2.2): to any other request the bytes
    // behind it are not this request's response, and the connection cannot go on.
    if (status === 101 && !encoder.upgradeRequest) return this.refuse("upgrade_without_request");
    this.keepAlive = shouldKeepAlive;
    response.status = status;
    this.keepAliveTimeoutMs = keepAliveTimeout(response.get("keep-alive"));
    // llhttp always stops after a 101 head (HPE_PAUSED_UPGRADE); a 2xx to CONNECT opens a
    // tunnel too (RFC 9110 §9.3.6), which only the codec knows: have llhttp stop there as well.
    if (status === 101 || (encoder.connectRequest && status >= 200 && status < 300)) {
      this.upgraded = true;
      this.decoder?.decodeHeaders(response, false);
      return HEADERS_UPGRADE;
    }
    const bodyless = encoder.headRequest || status === 204 || status === 304 || response.get("content-length") === "0";
    if (bodyless) {
      this.headersHeld = response;
      return encoder.headRequest ? HEADERS_SKIP_BODY : HEADERS_PROCEED;
    }
    this.decoder?.decodeHeaders(response, false);
    return HEADERS_PROCEED;
  }

  onBody(start: number, end: number): number {
    this.bodyOfRead.push(bodyBytes(this.chunk, start, end));
    return HPE_OK;
  }

  private flushBody(): void {
    const body = this.bodyOfRead;
    if (body.length === 0) return;
    const decoder = this.decoder;
    for (let i = 0; i < body.length; i++) decoder?.decodeData(body[i]!, false);
    body.length = 0;
  }

  onMessageComplete(): number {
    // llhttp completes an interim head, and an upgrade head before pausing for the upgrade:
    // neither ends the response.
    if (this.interim || this.upgraded) return HPE_OK;
    const fieldError = this.completeField();
    if (fieldError) return fieldError;
    // Envoy's onMessageComplete dispatches the buffered body before the end.
    this.flushBody();
    this.responseComplete = true;
    const decoder = this.decoder;
    this.decoder = undefined;
    if (this.headersHeld) {
      const held = this.headersHeld;
      this.headersHeld = undefined;
      decoder?.decodeHeaders(held, true);
    } else if (this.trailers) {
      decoder?.decodeTrailers(this.trailers);
    } else {
      decoder?.decodeData(EMPTY_BYTES, true);
    }
    this.releaseMessage();
    return HPE_OK;
  }

  /** After a 101 (or a 2xx to CONNECT) the connection carries raw bytes. */
  get isUpgraded(): boolean {
    return this.upgraded;
  }

  destroy(): void {
    this.parser.destroy();
  }
}

/**
 * The request side of Envoy's `Http1::RequestEncoderImpl`: the request line and Host,
 * then framing by the shared stream encoder — the request's content-length, chunked
 * for a body of unknown length, nothing for an upgrade or CONNECT (raw bytes follow).
 * What it records of the request tells the codec which responses it may have.
 */
class RequestEncoderImpl extends StreamEncoderImpl implements RequestEncoder {
  /** The request was HEAD: its response has no body whatever its framing says. */
  headRequest = false;
  /** The request was CONNECT: a 2xx opens a tunnel. */
  connectRequest = false;
  /** The request asked for an upgrade (or was CONNECT): only then may a 101 answer it. */
  upgradeRequest = false;

  encodeHeaders(request: RequestHeaders, endStream: boolean): void {
    const method = request.method;
    this.headRequest = method === "HEAD";
    this.connectRequest = method === "CONNECT";
    // An upgrade's or CONNECT's head is followed by raw bytes, not a framed body (RFC 9110 §9.3.6).
    this.upgradeRequest = this.bodyless = request.upgrade;
    const extra = EXTRA;
    extra.length = 0;
    this.frame(request, endStream, extra, BODY_METHODS.has(method), true);
    writeEncoded(this.sink, requestHeadEncoder(method, request.path, request, extra, request.authority));
    if (endStream) this.endEncode();
  }

  /** The upstream connection tracks the request's end itself (the pool's ActiveClient). */
  protected onEncodeComplete(): void {}
}

const KEEP_ALIVE_TIMEOUT = /(?:^|[,\s])timeout\s*=\s*(\d+)/i;

/** `Keep-Alive: timeout=5, max=100` → 5000 ms. */
function keepAliveTimeout(value: string | undefined): number | undefined {
  const match = value?.match(KEEP_ALIVE_TIMEOUT);
  return match ? Number(match[1]) * 1000 : undefined;
}
