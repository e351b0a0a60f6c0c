import { bodyBytes } from "../../util/byte-slab.ts";
import { EMPTY_BYTES } from "../../util/bytes.ts";
import type { HeaderMap } from "../header-map.ts";
import { type RequestHeaders, ResponseHeaders } from "../message.ts";
import { LAST_CHUNK, writeChunk } from "./chunked.ts";
import type { RequestEncoder, ResponseDecoder } from "./codec.ts";
import { headEncoder, requestHeadEncoder } from "./head-encoder.ts";
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
import { MessageParser } from "./message-parser.ts";

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
 * encodes one request at a time and parses its response with llhttp. Interim 1xx
 * responses are swallowed (polyvoy answers `Expect: 100-continue` itself, as Envoy
 * does by default); HEAD, 204 and 304 responses have no body; a response without
 * framing is read until the upstream closes.
 */
export class Http1ClientCodec extends MessageParser<ResponseHeaders> implements RequestEncoder {
  private readonly parser: LlhttpParser;
  private decoder: ResponseDecoder | undefined;
  private method = "GET";
  private chunked = false;
  private status = 0;
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

  constructor(private readonly sink: ByteSink) {
    super(MAX_RESPONSE_HEAD_BYTES, MAX_RESPONSE_HEADERS, NO_RESPONSE);
    this.parser = new LlhttpParser(PARSER_RESPONSE, this);
  }

  protected newHead(): ResponseHeaders {
    return new ResponseHeaders(0);
  }

  /** Start a request on this connection; its response goes to `decoder`. */
  startRequest(decoder: ResponseDecoder): RequestEncoder {
    this.decoder = decoder;
    this.responseComplete = false;
    this.responseStarted = false;
    this.keepAlive = true;
    this.headersHeld = undefined;
    return this;
  }

  /** Feed bytes from the upstream; `endStream` is its FIN. Returns false on a protocol error. */
  dispatch(data: Uint8Array, endStream: boolean): boolean {
    if (this.upgraded) {
      this.decoder?.decodeUpgradeData(data, endStream);
      return true;
    }
    if (data.byteLength > 0) {
      if (!this.decoder) {
        // Bytes with no request outstanding: the connection is unusable.
        this.protocolError = "response with no request";
        this.keepAlive = false;
        return false;
      }
      this.setChunk(data);
      this.responseStarted = true;
      const errno = this.parser.execute(data);
      this.releaseChunk();
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

  // ---- RequestEncoder ----

  encodeHeaders(request: RequestHeaders, endStream: boolean): void {
    this.method = request.method;
    const extra = EXTRA;
    extra.length = 0;
    this.chunked = false;
    // An upgrade's or CONNECT's head is followed by raw bytes, not a framed body (RFC 9110 §9.3.6).
    const upgrade = request.upgrade;
    if (!request.has("content-length") && !upgrade) {
      if (endStream) {
        if (BODY_METHODS.has(request.method)) extra.push("content-length", "0");
      } else {
        extra.push("transfer-encoding", "chunked");
        this.chunked = true;
      }
    }
    writeEncoded(this.sink, requestHeadEncoder(request.method, request.path, request, extra, request.authority));
  }

  encodeData(data: Uint8Array, endStream: boolean): void {
    if (data.byteLength > 0) {
      if (this.chunked) writeChunk(this.sink, data);
      else this.sink.write(data, false);
    }
    if (endStream && this.chunked) this.sink.write(LAST_CHUNK, false);
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (this.chunked) writeEncoded(this.sink, headEncoder("0", trailers));
  }

  encodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.sink.write(data, endStream);
  }

  // ---- llhttp events ----

  override onMessageBegin(): number {
    // Another response behind the one just completed, in the same read: the upstream
    // answered a request never sent, so the connection is out of step (Envoy: protocol error).
    if (!this.decoder) {
      this.protocolError = "response with no request";
      return HPE_USER;
    }
    super.onMessageBegin();
    this.status = 0;
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
    this.status = status;
    if (status >= 100 && status < 200 && status !== 101) {
      this.interim = true;
      return HEADERS_PROCEED;
    }
    this.keepAlive = shouldKeepAlive;
    const response = this.head;
    response.status = status;
    this.keepAliveTimeoutMs = keepAliveTimeout(response.get("keep-alive"));
    // llhttp always stops after a 101 head (HPE_PAUSED_UPGRADE); a 2xx to CONNECT opens a
    // tunnel too (RFC 9110 §9.3.6), which only the codec knows: have llhttp stop there as well.
    if (status === 101 || (this.method === "CONNECT" && status >= 200 && status < 300)) {
      this.upgraded = true;
      this.decoder?.decodeHeaders(response, false);
      return HEADERS_UPGRADE;
    }
    const bodyless = this.method === "HEAD" || status === 204 || status === 304 || response.get("content-length") === "0";
    if (bodyless) {
      this.headersHeld = response;
      return this.method === "HEAD" ? HEADERS_SKIP_BODY : HEADERS_PROCEED;
    }
    this.decoder?.decodeHeaders(response, false);
    return HEADERS_PROCEED;
  }

  onBody(start: number, end: number): number {
    this.decoder?.decodeData(bodyBytes(this.chunk, start, end), false);
    return HPE_OK;
  }

  onMessageComplete(): number {
    // llhttp completes an interim head, and an upgrade head before pausing for the upgrade:
    // neither ends the response.
    if (this.interim || this.upgraded) return HPE_OK;
    const fieldError = this.completeField();
    if (fieldError) return fieldError;
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

const KEEP_ALIVE_TIMEOUT = /(?:^|[,\s])timeout\s*=\s*(\d+)/i;

/** `Keep-Alive: timeout=5, max=100` → 5000 ms. */
function keepAliveTimeout(value: string | undefined): number | undefined {
  const match = value?.match(KEEP_ALIVE_TIMEOUT);
  return match ? Number(match[1]) * 1000 : undefined;
}
