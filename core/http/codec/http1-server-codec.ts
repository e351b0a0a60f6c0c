import { allocBytes, bodyBytes } from "../../util/byte-slab.ts";
import { EMPTY_BYTES, keepBytes } from "../../util/bytes.ts";
import type { HeaderMap } from "../header-map.ts";
import { RequestHeaders, type ResponseHeaders } from "../message.ts";
import { LAST_CHUNK, writeChunk } from "./chunked.ts";
import type { CodecError, RequestDecoder, ResponseEncoder } from "./codec.ts";
import { headEncoder } from "./head-encoder.ts";
import { writeEncoded, type ByteSink } from "../../network/byte-sink.ts";
import { HPE_OK, HPE_USER, HPE_PAUSED, HPE_PAUSED_UPGRADE, HEADERS_UPGRADE, LlhttpParser, PARSER_REQUEST } from "./llhttp.ts";
import { MessageParser } from "./message-parser.ts";
import { statusLine } from "./status-text.ts";

/** What the server codec asks of the connection manager (Envoy's `ServerConnectionCallbacks`). */
export interface ServerCodecCallbacks {
  /** The first byte of a request arrived (its headers are not complete yet). */
  onRequestBegin(): void;
  /** A request's headers are complete; the returned decoder receives `request`. Its response goes out through `encoder`. */
  newStream(encoder: ResponseEncoder, request: RequestHeaders): RequestDecoder;
  /** The bytes are not HTTP/1.1 we accept, or a head is over a limit: answer it and close. */
  onCodecError(error: CodecError): void;
  /** The current response has been written completely. */
  onResponseComplete(): void;
}

export interface ServerCodecLimits {
  maxRequestHeadersBytes: number;
  maxHeadersCount: number;
}

/**
 * HTTP/1.1 server side of a downstream connection (Envoy's `Http1::ServerConnectionImpl`):
 * parses requests with llhttp, one at a time — after a request's last byte parsing
 * pauses, and pipelined bytes wait until its response is complete (`resume`) — and
 * frames responses: content-length when known, chunked otherwise (close-delimited
 * for HTTP/1.0), nothing for HEAD, 1xx, 204 and 304.
 */
export class Http1ServerCodec extends MessageParser<RequestHeaders> implements ResponseEncoder {
  private readonly parser: LlhttpParser;
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
  /** The parser stopped at an Upgrade or CONNECT head: what the client sends next is raw bytes. */
  private upgraded = false;
  /** The upgrade was answered with something other than 101 (or a 2xx to CONNECT): no tunnel; the raw bytes are dropped. */
  private upgradeRefused = false;
  /** Response framing of the current response. */
  private chunked = false;
  private bodyless = false;
  private responseStarted = false;
  /** Set when a request is well-formed for llhttp but not for HTTP semantics (answered with 400). */
  private invalidRequest: string | undefined;
  /** False once this connection must close after the current response. */
  keepAlive = true;
  /** The current request was fully received. */
  requestComplete = false;

  constructor(
    private readonly sink: ByteSink,
    private readonly callbacks: ServerCodecCallbacks,
    limits: ServerCodecLimits,
  ) {
    super(limits.maxRequestHeadersBytes, limits.maxHeadersCount, NO_REQUEST);
    this.parser = new LlhttpParser(PARSER_REQUEST, this);
  }

  protected newHead(): RequestHeaders {
    return new RequestHeaders();
  }

  /** Feed bytes read from the connection; `endStream` is the client's FIN. */
  dispatch(data: Uint8Array, endStream: boolean): void {
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
    if (!endStream) return;
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
        errno = this.parser.execute(data);
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
      if (errno === HPE_PAUSED_UPGRADE) {
        this.upgraded = true;
        const rest = data.subarray(this.parser.stoppedAt);
        if (rest.byteLength > 0 && !this.upgradeRefused) this.decoder?.decodeUpgradeData(rest, false);
        return;
      }
      break;
    }
    this.keepAlive = false;
    const tooLarge = this.limitError !== undefined;
    this.callbacks.onCodecError({
      status: tooLarge ? 431 : 400,
      details: tooLarge ? `http1.${this.limitError}` : "http1.codec_error",
      reason: tooLarge ? this.limitError! : (this.invalidRequest ?? this.parser.errorReason),
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

  // ---- llhttp events ----

  override onMessageBegin(): number {
    super.onMessageBegin();
    this.url = "";
    this.request = undefined;
    this.decoder = undefined;
    this.headersHeld = false;
    this.requestComplete = false;
    this.responseStarted = false;
    this.chunked = false;
    this.bodyless = false;
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
    this.request = request;
    request.method = this.parser.method;
    request.path = this.url;
    request.protocol = this.parser.httpMinor === 0 ? "HTTP/1.0" : "HTTP/1.1";
    // RFC 9112 §3.2: Host becomes the authority; Envoy keeps it as :authority only.
    // More than one Host field is a 400 (same section).
    if (request.count("host") > 1) {
      this.invalidRequest = "multiple host headers";
      return HPE_USER;
    }
    const host = request.get("host");
    if (host !== undefined) {
      request.authority = host;
      request.remove("host");
    }
    this.keepAlive = shouldKeepAlive;
    // Fields after this point are trailers.
    this.startTrailers();
    this.decoder = this.callbacks.newStream(this, request);
    if (upgrade) {
      // Upgrade or CONNECT: the stream goes on as raw bytes, without an end here.
      this.upgraded = true;
      request.upgrade = true;
      this.decoder.decodeHeaders(request, false);
      return HEADERS_UPGRADE;
    }
    // A request with no body is complete here: hold its headers until message-complete
    // so the decoder gets them with endStream (Envoy's deferred end-stream headers).
    const hasBody = request.has("transfer-encoding") || Number(request.get("content-length") ?? 0) > 0;
    if (hasBody) this.decoder.decodeHeaders(request, false);
    else this.headersHeld = true;
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

  // ---- ResponseEncoder ----

  encodeHeaders(response: ResponseHeaders, endStream: boolean): void {
    const status = response.status;
    if (status >= 100 && status < 200 && status !== 101) {
      writeEncoded(this.sink, headEncoder(statusLine(status), response));
      return;
    }
    this.responseStarted = true;
    const method = this.request?.method;
    // A 101, or a 2xx to CONNECT, makes the connection a tunnel: no framing (RFC 9110 §9.3.6).
    const tunnel = status === 101 || (method === "CONNECT" && status >= 200 && status < 300);
    // Any other answer refuses the upgrade; the raw bytes behind the head can never be
    // parsed as HTTP/1, so the connection closes after it, as Envoy's does.
    if (this.upgraded && !tunnel) this.upgradeRefused = true;
    this.bodyless = tunnel || method === "HEAD" || status === 204 || status === 304;
    const http10 = this.request?.protocol === "HTTP/1.0";
    // A response finished before its request was read in full leaves the rest of the
    // request unread on the wire: close the connection afterwards.
    if (!this.requestComplete && !tunnel) this.keepAlive = false;
    const extra = EXTRA;
    extra.length = 0;
    this.chunked = false;
    if (!this.bodyless && !response.has("content-length")) {
      if (endStream) extra.push("content-length", "0");
      else if (http10) this.keepAlive = false; // HTTP/1.0 has no chunked coding: delimit by close
      else {
        extra.push("transfer-encoding", "chunked");
        this.chunked = true;
      }
    }
    if (!tunnel) {
      if (!this.keepAlive) extra.push("connection", "close");
      // HTTP/1.0 persistence must be announced by both sides (RFC 9112 §C.2.2), as Envoy does.
      else if (http10) extra.push("connection", "keep-alive");
    }
    writeEncoded(this.sink, headEncoder(statusLine(status), response, extra));
    if (endStream) this.complete();
  }

  encodeData(data: Uint8Array, endStream: boolean): void {
    if (!this.bodyless && data.byteLength > 0) {
      if (this.chunked) writeChunk(this.sink, data);
      else this.sink.write(data, false);
    }
    if (endStream) {
      if (this.chunked && !this.bodyless) this.sink.write(LAST_CHUNK, false);
      this.complete();
    }
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (this.chunked && !this.bodyless) writeEncoded(this.sink, headEncoder("0", trailers));
    this.complete();
  }

  encodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.sink.write(data, endStream);
  }

  /** Switch this connection to raw bytes both ways (after a 101 went out). */
  startUpgrade(): void {
    this.upgraded = true;
  }

  get isUpgraded(): boolean {
    return this.upgraded && !this.upgradeRefused;
  }

  get responseInProgress(): boolean {
    return this.responseStarted;
  }

  private complete(): void {
    this.responseStarted = false;
    this.callbacks.onResponseComplete();
  }

  destroy(): void {
    this.parser.destroy();
  }
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
