import { allocBytes, bodyBytes } from "../../util/byte-slab.ts";
import { EMPTY_BYTES, keepBytes } from "../../util/bytes.ts";
import { RequestHeaders, type ResponseHeaders } from "../message.ts";
import { parseAbsoluteUrl } from "./absolute-url.ts";
import { authorityIsValid } from "../headers-util.ts";
import type { CodecError, RequestDecoder, ResponseEncoder, ServerConnection, ServerConnectionCallbacks } from "./codec.ts";
import { headEncoder } from "./head-encoder.ts";
import { writeEncoded, type ByteSink } from "../../network/byte-sink.ts";
import { HPE_OK, HPE_USER, HPE_PAUSED, HPE_PAUSED_UPGRADE, HEADERS_UPGRADE, LlhttpParser, PARSER_REQUEST } from "./llhttp.ts";
import { isChunkedOnly, MessageParser } from "./message-parser.ts";
import { statusLine } from "./status-text.ts";
import { StreamEncoderImpl } from "./stream-encoder.ts";

export interface ServerCodecLimits {
  maxRequestHeadersBytes: number;
  maxHeadersCount: number;
  /** Http1ProtocolOptions.header_key_format.proper_case_words: response header names in Proper-Case. */
  properCaseHeaderKeys?: boolean;
  /** Http1ProtocolOptions.accept_http_10: an HTTP/1.0 request is answered with an HTTP/1.0 status line. */
  acceptHttp10?: boolean;
  /** Http1ProtocolOptions.enable_trailers: request trailers passed on, response trailers written (default: both dropped). */
  enableTrailers?: boolean;
}

/**
 * HTTP/1.1 server side of a downstream connection (Envoy's `Http1::ServerConnectionImpl`):
 * parses requests with llhttp, one at a time — after a request's last byte parsing
 * pauses, and pipelined bytes wait until its response is complete (`resume`) — and
 * answers each through its `ResponseEncoderImpl`.
 */
export class Http1ServerCodec extends MessageParser<RequestHeaders> implements ServerConnection {
  private readonly parser: LlhttpParser;
  /** The one response encoder, reused by each request in turn. */
  readonly responseEncoder: ResponseEncoderImpl;
  private url = "";
  private request: RequestHeaders | undefined;
  private decoder: RequestDecoder | undefined;
  /** Headers held until message-complete because the request has no body (so endStream can be true). */
  private headersHeld = false;
  /** Bytes after a complete request, parsed once its response is done. */
  private pending: Uint8Array | undefined;
  private pendingEnd = false;
  private paused = false;
  /** llhttp is executing: a resume() from a callback (a response sent synchronously) waits for it to return. */
  private parsing = false;
  private resumeRequested = false;
  /** @internal The parser stopped at an Upgrade or CONNECT head: what the client sends next is raw bytes. */
  upgraded = false;
  /** The current request's h2c upgrade was declined: llhttp's upgrade pause after it is passed over. */
  private upgradeDeclined = false;
  /** @internal The upgrade was answered with something other than 101 (or a 2xx to CONNECT): no tunnel; the raw bytes are dropped. */
  upgradeRefused = false;
  /** Set when a request is well-formed for llhttp but not for HTTP semantics: Envoy's local reply for it. */
  private requestError: CodecError | undefined;
  /** A codec error was reported: nothing more is parsed. */
  private failed = false;
  /** False once this connection must close after the current response. */
  keepAlive = true;
  /** The current request was fully received. */
  requestComplete = false;

  constructor(
    sink: ByteSink,
    private readonly callbacks: ServerConnectionCallbacks,
    limits: ServerCodecLimits,
  ) {
    super(limits.maxRequestHeadersBytes, limits.maxHeadersCount, NO_REQUEST);
    this.parser = new LlhttpParser(PARSER_REQUEST, this);
    this.keepTrailers = limits.enableTrailers === true;
    this.responseEncoder = new ResponseEncoderImpl(sink, this, limits.properCaseHeaderKeys ?? false, limits.acceptHttp10 ?? false, this.keepTrailers);
  }

  protected newHead(): RequestHeaders {
    return new RequestHeaders();
  }

  /** Feed bytes read from the connection; `endStream` is the client's FIN. */
  dispatch(data: Uint8Array, endStream: boolean): void {
    if (this.failed) return;
    if (this.upgraded) {
      if (!this.upgradeRefused) this.decoder?.decodeUpgradeData(data, endStream);
      return;
    }
    if (this.paused) {
      // Reading is disabled while a response is pending; at most what was in flight lands here.
      // Copied: the socket lent these bytes for this read only (port.ts: onData).
      if (data.byteLength > 0) this.pending = this.pending ? concat(this.pending, data) : keepBytes(data);
      if (endStream) this.holdEnd();
      return;
    }
    if (data.byteLength > 0) this.execute(data);
    // After a codec error the connection is done: its FIN adds no second error (Envoy's
    // codec stops dispatching at the first protocol error).
    if (!endStream || this.failed) return;
    // The FIN may follow an upgrade head or a complete request in the same read.
    if (this.upgraded) this.decoder?.decodeUpgradeData(EMPTY_BYTES, true);
    else if (this.paused) this.holdEnd();
    else this.onPeerEnd();
  }

  /**
   * A FIN behind a complete request: seen once the response is done and the bytes held
   * before it are parsed. With none held, no request can follow: this response is the last.
   */
  private holdEnd(): void {
    this.pendingEnd = true;
    if (!this.pending) this.keepAlive = false;
  }

  private execute(data: Uint8Array): void {
    for (;;) {
      this.setChunk(data);
      this.parsing = true;
      let errno: number;
      try {
        errno = this.settleLimit(this.parser.execute(data), this.parser);
      } finally {
        this.parsing = false;
        this.releaseChunk();
      }
      if (errno === HPE_OK) return;
      if (errno === HPE_PAUSED) {
        // Usually the request was the whole read: no view of nothing.
        const stoppedAt = this.parser.stoppedAt;
        const rest = stoppedAt < data.byteLength ? data.subarray(stoppedAt) : EMPTY_BYTES;
        if (!this.resumeRequested) {
          this.paused = true;
          // Copied: the socket lent these bytes for this read only (port.ts: onData).
          if (rest.byteLength > 0) this.pending = keepBytes(rest);
          return;
        }
        // The response was completed (and resume() called) from inside a callback, e.g.
        // a local reply to a request without a body: go straight on to the next request.
        this.resumeRequested = false;
        this.nextRequest();
        if (rest.byteLength === 0) return;
        data = rest;
        continue;
      }
      if (errno === HPE_PAUSED_UPGRADE && this.upgradeDeclined) {
        // An h2c upgrade served as HTTP/1.1: llhttp still took it for one; what follows is the next request.
        this.upgradeDeclined = false;
        this.parser.resumeAfterUpgrade();
        const rest = data.subarray(this.parser.stoppedAt);
        if (rest.byteLength === 0) return;
        data = rest;
        continue;
      }
      if (errno === HPE_PAUSED_UPGRADE) {
        this.upgraded = true;
        const rest = data.subarray(this.parser.stoppedAt);
        if (rest.byteLength > 0 && !this.upgradeRefused) this.decoder?.decodeUpgradeData(rest, false);
        return;
      }
      break;
    }
    this.failed = true;
    this.keepAlive = false;
    if (this.requestError) return this.callbacks.onCodecError(this.requestError);
    const tooLarge = this.limitError !== undefined;
    this.callbacks.onCodecError({
      status: tooLarge ? 431 : 400,
      details: tooLarge ? `http1.${this.limitError}` : "http1.codec_error",
      reason: tooLarge ? this.limitError! : this.parser.errorReason,
    });
  }

  /** The client sent FIN: no more requests; one cut short mid-message is an error. */
  private onPeerEnd(): void {
    this.keepAlive = false;
    if (this.request && !this.requestComplete) {
      this.callbacks.onCodecError({ status: 400, details: "http1.codec_error", reason: "client closed mid-request" });
    }
  }

  /** The response to the current request is done: parse what was pipelined behind it. */
  resume(): void {
    if (this.parsing) {
      // From a callback: llhttp cannot be re-entered; execute() goes on once it returns.
      if (this.requestComplete) this.resumeRequested = true;
      return;
    }
    if (!this.paused) return;
    this.paused = false;
    this.nextRequest();
    const pending = this.pending;
    const pendingEnd = this.pendingEnd;
    this.pending = undefined;
    this.pendingEnd = false;
    this.dispatch(pending ?? EMPTY_BYTES, pendingEnd);
  }

  private nextRequest(): void {
    this.request = undefined;
    this.decoder = undefined;
    this.url = "";
    this.releaseMessage();
    this.parser.resume();
  }

  /** A request that llhttp accepts but HTTP semantics refuse: answered `status` with Envoy's details. */
  private refuse(status: CodecError["status"], details: string, reason: string): number {
    this.requestError = { status, details, reason };
    return HPE_USER;
  }

  // ---- llhttp events ----

  override onMessageBegin(): number {
    super.onMessageBegin();
    this.url = "";
    this.request = undefined;
    this.decoder = undefined;
    this.headersHeld = false;
    this.requestComplete = false;
    this.responseEncoder.reset();
    this.callbacks.onRequestBegin();
    return HPE_OK;
  }

  onUrl(start: number, end: number): number {
    this.url += this.span(start, end);
    return this.countHead(end - start);
  }

  onStatus(): number {
    return HPE_OK;
  }

  onHeadersComplete(_status: number, upgrade: boolean, shouldKeepAlive: boolean): number {
    const fieldError = this.completeField();
    if (fieldError) return fieldError;
    const request = this.head;
    const method = this.parser.method;
    request.method = method;
    request.protocol = this.parser.httpMinor === 0 ? "HTTP/1.0" : "HTTP/1.1";
    // RFC 9112 §3.2: Host becomes the authority; Envoy keeps it as :authority only.
    // More than one Host field is a 400 (same section).
    if (request.count("host") > 1) return this.refuse(400, "http1.codec_error", "multiple host headers");
    const host = request.get("host");
    if (host !== undefined) {
      request.authority = host;
      request.remove("host");
    }
    const pathError = this.handlePath(request, method);
    if (pathError) return pathError;
    // Envoy's codec checks the authority (HeaderUtility::requestHeadersValid): one with a
    // space, a control character or anything else no host[:port] holds is a 400, then close.
    if (request.authority !== undefined && !authorityIsValid(request.authority)) return this.refuse(400, "http.invalid_authority", "invalid authority");
    // RFC 9112 §6.1: a transfer coding we do not implement is a 501, as Envoy answers
    // any but `chunked` alone (codec_impl.cc); a CONNECT has no body to code (RFC 9110 §9.3.6).
    const te = request.get("transfer-encoding");
    if (te !== undefined && (method === "CONNECT" || !isChunkedOnly(te, request))) {
      return this.refuse(501, "http1.invalid_transfer_encoding", "unsupported transfer encoding");
    }
    this.request = request;
    this.responseEncoder.startResponseTo(request);
    this.keepAlive = shouldKeepAlive;
    // Fields after this point are trailers.
    this.startTrailers();
    // Envoy's codec ignores an h2c upgrade (HTTP/2 over cleartext is not offered): the
    // upgrade fields go and the request is served as HTTP/1.1 (codec_impl.cc, onHeadersCompleteImpl).
    if (upgrade && method !== "CONNECT" && isH2cUpgrade(request)) {
      stripH2cUpgrade(request);
      upgrade = false;
      this.upgradeDeclined = true;
    }
    this.decoder = this.callbacks.newStream(this.responseEncoder, request);
    if (upgrade) {
      // Upgrade or CONNECT: the stream goes on as raw bytes, without an end here.
      this.upgraded = true;
      request.upgrade = true;
      this.decoder.decodeHeaders(request, false);
      return HEADERS_UPGRADE;
    }
    // A request with no body is complete here: hold its headers until message-complete
    // so the decoder gets them with endStream (Envoy's deferred end-stream headers).
    const hasBody = te !== undefined || Number(request.get("content-length") ?? 0) > 0;
    if (hasBody) this.decoder.decodeHeaders(request, false);
    else this.headersHeld = true;
    return HPE_OK;
  }

  /**
   * The request target (Envoy's `ServerConnectionImpl::handlePath`): origin-form is the
   * path as is. An absolute-form target (RFC 9112 §3.2.2) names the authority the request
   * is for: it replaces Host (RFC 9112 §3.2.2: a proxy ignores the Host field then), and the
   * path goes on in origin-form, so routing and the upstream see the same authority.
   * CONNECT's authority-form target is left as its path.
   */
  private handlePath(request: RequestHeaders, method: string): number {
    const url = this.url;
    const first = url.charCodeAt(0);
    if (first === 47 /* / */ || method === "CONNECT" || (first === 42 /* * */ && method === "OPTIONS")) {
      request.path = url;
      return HPE_OK;
    }
    const absolute = parseAbsoluteUrl(url);
    if (absolute === undefined) return this.refuse(400, "http1.invalid_url", "invalid url in request line");
    // Envoy accepts http and https only (Utility::schemeIsValid).
    if (!absolute.httpScheme) return this.refuse(400, "http1.invalid_scheme", "invalid scheme");
    request.authority = absolute.authority;
    request.path = absolute.path;
    // Envoy's handlePath: the target's scheme is the request's :scheme (lowercased).
    request.scheme = absolute.scheme;
    request.schemeFromTarget = true;
    return HPE_OK;
  }

  onBody(start: number, end: number): number {
    this.decoder?.decodeData(bodyBytes(this.chunk, start, end), false);
    return HPE_OK;
  }

  onMessageComplete(): number {
    // llhttp completes an upgrade head as a message before pausing for the upgrade: the
    // request is not over, and pausing here would hide HPE_PAUSED_UPGRADE.
    if (this.upgraded) return HPE_OK;
    const fieldError = this.completeField();
    if (fieldError) return fieldError;
    this.requestComplete = true;
    const decoder = this.decoder;
    if (this.headersHeld) {
      this.headersHeld = false;
      decoder?.decodeHeaders(this.request!, true);
    } else if (this.trailers) {
      decoder?.decodeTrailers(this.trailers);
    } else {
      decoder?.decodeData(EMPTY_BYTES, true);
    }
    // One request at a time: stop here until the response is complete.
    return HPE_PAUSED;
  }

  get isUpgraded(): boolean {
    return this.upgraded && !this.upgradeRefused;
  }

  get headInProgress(): boolean {
    return this.head !== NO_REQUEST && this.request === undefined && !this.failed;
  }

  get responseInProgress(): boolean {
    return this.responseEncoder.startedResponse;
  }

  get responseFramedByClose(): boolean {
    return this.responseEncoder.startedResponse && this.responseEncoder.framedByClose;
  }

  /** @internal The response encoder wrote a whole response. */
  onResponseComplete(): void {
    this.callbacks.onResponseComplete();
  }

  destroy(): void {
    this.parser.destroy();
  }
}

/**
 * The response side of Envoy's `Http1::ResponseEncoderImpl`: the status line, then
 * framing by the shared stream encoder — content-length when known, chunked otherwise
 * (close-delimited for HTTP/1.0), nothing for HEAD, 1xx, 204, 304 and tunnels — and
 * the connection field that says whether the connection stays open.
 */
class ResponseEncoderImpl extends StreamEncoderImpl implements ResponseEncoder {
  /** A final response head went out and its end has not. */
  startedResponse = false;
  /** That head's body runs until the connection closes (HTTP/1.0 and no content-length; a tunnel). */
  framedByClose = false;
  private isResponseToHeadRequest = false;
  private isResponseToConnectRequest = false;
  private http10 = false;

  constructor(
    sink: ByteSink,
    private readonly connection: Http1ServerCodec,
    private readonly properCase: boolean,
    private readonly supportsHttp10: boolean,
    writeTrailers: boolean,
  ) {
    super(sink, writeTrailers);
  }

  /** A new request began: nothing is known of it yet (a reply now answers bytes that never made a request). */
  reset(): void {
    this.startedResponse = false;
    this.framedByClose = false;
    this.chunkEncoding = false;
    this.bodyless = false;
    this.isResponseToHeadRequest = this.isResponseToConnectRequest = this.http10 = false;
  }

  /** The request this encoder answers next. */
  startResponseTo(request: RequestHeaders): void {
    this.isResponseToHeadRequest = request.method === "HEAD";
    this.isResponseToConnectRequest = request.method === "CONNECT";
    this.http10 = request.protocol === "HTTP/1.0";
  }

  encodeHeaders(response: ResponseHeaders, endStream: boolean): void {
    const status = response.status;
    if (status >= 100 && status < 200 && status !== 101) {
      // Interim: no framing, and the response goes on.
      writeEncoded(this.sink, headEncoder(statusLine(status, this.http10 && this.supportsHttp10), response, undefined, undefined, this.properCase));
      return;
    }
    this.startedResponse = true;
    const connection = this.connection;
    // A 101, or a 2xx to CONNECT, makes the connection a tunnel: no framing (RFC 9110 §9.3.6).
    const tunnel = status === 101 || (this.isResponseToConnectRequest && status >= 200 && status < 300);
    // Any other answer refuses the upgrade; the raw bytes behind the head can never be
    // parsed as HTTP/1, so the connection closes after it, as Envoy's does.
    if (connection.upgraded && !tunnel) connection.upgradeRefused = true;
    this.bodyless = tunnel || this.isResponseToHeadRequest || status === 204 || status === 304;
    // A response finished before its request was read in full leaves the rest of the
    // request unread on the wire: close the connection afterwards.
    if (!connection.requestComplete && !tunnel) connection.keepAlive = false;
    const extra = EXTRA;
    extra.length = 0;
    // HTTP/1.0 has no chunked coding: a body of unknown length is delimited by the close.
    const closeDelimited = !this.frame(response, endStream, extra, true, !this.http10);
    // A tunnel's bytes have no framing either: only a reset can tell its cut from its end.
    this.framedByClose = closeDelimited || tunnel;
    if (closeDelimited) connection.keepAlive = false;
    // A HEAD response of unknown length tells the framing a GET would have had, with no body
    // (Envoy's encodeHeadersBase: "an informational Transfer-Encoding: chunked header").
    else if (this.isResponseToHeadRequest && !tunnel && !this.http10 && status !== 204 && status !== 304 && !response.has("content-length")) {
      extra.push("transfer-encoding", "chunked");
    }
    if (!tunnel) {
      if (!connection.keepAlive) extra.push("connection", "close");
      // HTTP/1.0 persistence must be announced by both sides (RFC 9112 §C.2.2), as Envoy does.
      else if (this.http10) extra.push("connection", "keep-alive");
    }
    const line = statusLine(status, this.http10 && this.supportsHttp10);
    // A reason phrase of the filters' (the Lua filter's setHttp1ReasonPhrase) replaces the standard one.
    const reason = response.reasonPhrase;
    writeEncoded(this.sink, headEncoder(reason === undefined ? line : `${line.slice(0, line.indexOf(" ", 9))} ${reason}`, response, extra, undefined, this.properCase));
    if (endStream) this.endEncode();
  }

  protected onEncodeComplete(): void {
    this.startedResponse = false;
    this.connection.onResponseComplete();
  }
}

/** `Upgrade: h2c` exactly (case aside), as Envoy's test: a list of protocols is an upgrade like any other. */
function isH2cUpgrade(request: RequestHeaders): boolean {
  return request.count("upgrade") === 1 && request.get("upgrade")!.toLowerCase() === "h2c";
}

/**
 * Upgrade and HTTP2-Settings go, and their tokens leave Connection (dropped when nothing
 * is left); Envoy joins the remaining tokens with ",".
 */
function stripH2cUpgrade(request: RequestHeaders): void {
  request.remove("upgrade");
  request.remove("http2-settings");
  const connection = request.getJoined("connection", ",");
  if (connection === undefined) return;
  const kept = connection
    .split(",")
    .map((token) => token.trim())
    .filter((token) => token !== "" && !/^(upgrade|http2-settings)$/i.test(token));
  if (kept.length === 0) request.remove("connection");
  else request.set("connection", kept.join(","));
}

/** The head between requests (never added to: each request's begins fresh). */
const NO_REQUEST = new RequestHeaders();

/** The fields the codec adds to a head, reused: a head is encoded synchronously, never nested. */
const EXTRA: string[] = [];

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = allocBytes(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
