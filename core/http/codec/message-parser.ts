import { EMPTY_BYTES } from "../../util/bytes.ts";
import { latin1Decode } from "../../util/latin1.ts";
import { HeaderMap } from "../header-map.ts";
import { knownHeaderName } from "./known-header-names.ts";
import { rememberValue, repeatedValue } from "./repeated-values.ts";
import { HPE_OK, HPE_PAUSED, HPE_PAUSED_UPGRADE, HPE_USER, type LlhttpHandler, type LlhttpParser } from "./llhttp.ts";

/**
 * What request and response parsing share: turning llhttp's spans into strings.
 * A field or value can arrive in several spans when it straddles reads, so pieces
 * are concatenated until the next field starts. Names are lowercased here, once.
 */
export abstract class MessageParser<Head extends HeaderMap> implements LlhttpHandler {
  /** The chunk being executed; spans index into it. */
  protected chunk: Uint8Array = EMPTY_BYTES;
  /** The message's head: a fresh one from each message's first byte (`noHead`, never added to, between messages). */
  protected head: Head;
  /** Bytes of the head so far (start line + fields), for the size limit. */
  protected headBytes = 0;
  protected inTrailers = false;
  protected trailers: HeaderMap | undefined;
  /**
   * Http1ProtocolOptions.enable_trailers: false (Envoy's default) reads trailer fields
   * within the same size budget and drops them (codec_impl.cc ignores them), so the
   * message ends with its body.
   */
  protected keepTrailers = false;
  private field = "";
  /** `field` is a known name, already lowercase (see known-header-names.ts). */
  private fieldIsLowercase = false;
  /** The value's last byte so far is SP or HTAB (optional whitespace to trim). */
  private valueEndsInWhitespace = false;
  private value = "";
  private readingValue = false;
  /** Set when a limit was crossed; the errno then returned is HPE_USER. */
  limitError: string | undefined;
  /** Where in the chunk the field that crossed max_headers_count ended, until settleLimit judges it; else -1. */
  private limitAt = -1;

  constructor(
    private readonly maxHeadBytes: number,
    private readonly maxHeadersCount: number,
    /** The head between messages, so no message's fields are held (newHead makes each message's). */
    private readonly noHead: Head,
  ) {
    this.head = noHead;
  }

  /** A fresh head for the message that begins (a request's or a response's). */
  protected abstract newHead(): Head;

  /**
   * Decoded text of the chunk from `windowStart` on: one decode per head, and each
   * field and value is a slice of it (decoding span by span cost more than parsing).
   */
  private windowText = "";
  private windowStart = 0;
  private windowValid = false;

  /** Set the chunk about to be executed (spans refer to it). */
  protected setChunk(chunk: Uint8Array): void {
    this.chunk = chunk;
    this.windowValid = false;
  }

  /**
   * The message is handed over and done with: let go of its fields, so an idle
   * connection does not keep its last request's map and strings.
   */
  protected releaseMessage(): void {
    this.head = this.noHead;
    this.trailers = undefined;
  }

  /** Parsing of the chunk is over: let go of it (an idle connection should not keep its last read). */
  protected releaseChunk(): void {
    this.chunk = EMPTY_BYTES;
    this.windowText = "";
    this.windowValid = false;
  }

  protected span(start: number, end: number): string {
    if (!this.windowValid || start < this.windowStart || end - this.windowStart > this.windowText.length) {
      // A window from here: the rest of the chunk, up to HEAD_WINDOW bytes (more when
      // the span itself is longer), so a large body behind a head is not decoded. A
      // small chunk is decoded whole (from 0: no view to make).
      const from = this.chunk.byteLength <= HEAD_WINDOW ? 0 : start;
      const stop = Math.min(this.chunk.byteLength, Math.max(end, from + HEAD_WINDOW));
      this.windowText = latin1Decode(this.chunk, from, stop);
      this.windowStart = from;
      this.windowValid = true;
    }
    const offset = start - this.windowStart;
    return this.windowText.slice(offset, offset + end - start);
  }

  protected countHead(bytes: number): number {
    this.headBytes += bytes;
    if (this.headBytes > this.maxHeadBytes) {
      this.limitError = "headers_too_large";
      return HPE_USER;
    }
    return HPE_OK;
  }

  onMessageBegin(): number {
    this.head = this.newHead();
    this.headBytes = 0;
    this.inTrailers = false;
    this.trailers = undefined;
    this.field = "";
    this.value = "";
    this.readingValue = false;
    return HPE_OK;
  }

  onHeaderField(start: number, end: number): number {
    if (this.limitError) return HPE_USER;
    if (this.readingValue) {
      const error = this.completeField();
      if (error) return error;
    }
    if (this.field === "") {
      const known = knownHeaderName(this.chunk, start, end);
      this.fieldIsLowercase = known !== undefined;
      this.field = known ?? this.span(start, end);
    } else {
      // A field straddling two reads arrives in two spans.
      this.field += this.span(start, end);
      this.fieldIsLowercase = false;
    }
    return this.countHead(end - start);
  }

  onHeaderValue(start: number, end: number): number {
    this.readingValue = true;
    if (this.value !== "") {
      // The rest of a value that straddles two reads.
      this.value += this.span(start, end);
    } else if (this.fieldIsLowercase) {
      // A known name: its value is often the one the last message carried (repeated-values.ts).
      const repeated = repeatedValue(this.field, this.chunk, start, end);
      if (repeated !== undefined) this.value = repeated;
      else rememberValue(this.field, (this.value = this.span(start, end)), this.chunk, start, end);
    } else {
      this.value = this.span(start, end);
    }
    // Looked up in the bytes: cheaper than in the string, and usually there is none. An
    // empty span (the value's end, when a read ended right after its last byte) leaves the
    // value's last byte as it was.
    if (end > start) {
      const last = this.chunk[end - 1];
      this.valueEndsInWhitespace = last === 32 || last === 9;
    }
    const error = this.countHead(end - start);
    if (error) return error;
    // The field is added, and counted, as its value completes, so max_headers_count is
    // judged at the same byte however the reads are cut (Envoy's balsa_parser.cc hands its
    // codec whole fields, counted in completeLastHeader). llhttp ends a value's span at its
    // CR (an empty value's at the next line's first byte); a span that reaches the read's
    // end may go on in the next read, and one that ends elsewhere ends at an error. llhttp
    // may still refuse the line at that very byte (an overflowing Content-Length): a field
    // over the limit is refused once llhttp goes past it (settleLimit).
    if (end < this.chunk.byteLength) {
      const next = this.chunk[end];
      if ((next === 13 || next === 10 || this.value === "") && this.completeField() !== HPE_OK) this.limitAt = end;
    }
    return HPE_OK;
  }

  /**
   * What parsing a chunk came to (llhttp's errno), with a field over max_headers_count
   * judged: llhttp went past the field's end, or found an error after it, so the limit
   * stands (HPE_USER); an error at the field's end itself means the line was never
   * accepted, and that error stands. Call after each execute.
   */
  protected settleLimit(errno: number, parser: LlhttpParser): number {
    const at = this.limitAt;
    if (at < 0) return errno;
    this.limitAt = -1;
    if (errno === HPE_USER || errno === HPE_OK || errno === HPE_PAUSED || errno === HPE_PAUSED_UPGRADE) return HPE_USER;
    if (parser.stoppedAt > at) return HPE_USER;
    this.limitError = undefined;
    return errno;
  }

  /** Fields after this are trailers, with a size budget of their own (Envoy checks headers and trailers apart). */
  protected startTrailers(): void {
    this.inTrailers = true;
    this.headBytes = 0;
  }

  /** Add the field read so far (its value complete) to the head or trailers; also at headers-complete and message-complete. */
  protected completeField(): number {
    if (this.limitError) return HPE_USER;
    if (!this.readingValue && this.field === "") return HPE_OK;
    if (this.inTrailers && !this.keepTrailers) {
      this.field = "";
      this.value = "";
      this.readingValue = false;
      this.valueEndsInWhitespace = false;
      return HPE_OK;
    }
    const target = this.inTrailers ? (this.trailers ??= new HeaderMap()) : this.head;
    const value = this.valueEndsInWhitespace ? trimTrailingWhitespace(this.value) : this.value;
    target.add(this.fieldIsLowercase ? this.field : this.field.toLowerCase(), value);
    this.field = "";
    this.value = "";
    this.readingValue = false;
    this.valueEndsInWhitespace = false;
    if (target.size > this.maxHeadersCount) {
      this.limitError = "too_many_headers";
      return HPE_USER;
    }
    return HPE_OK;
  }

  abstract onUrl(start: number, end: number): number;
  abstract onStatus(start: number, end: number): number;
  abstract onHeadersComplete(statusCode: number, upgrade: boolean, shouldKeepAlive: boolean): number;
  abstract onBody(start: number, end: number): number;
  abstract onMessageComplete(): number;
}

/**
 * The message's Transfer-Encoding is `chunked` alone, in one field, in any case: the
 * only transfer coding Envoy's HTTP/1 codec implements (codec_impl.cc refuses any
 * other: RFC 9112 §6.1 lets a recipient refuse codings it does not understand). A
 * coding below `chunked` would otherwise pass on as an unlabelled body.
 */
export function isChunkedOnly(value: string, head: HeaderMap): boolean {
  return value.length === 7 && value.toLowerCase() === "chunked" && head.count("transfer-encoding") === 1;
}

/** Bytes decoded at once for spans (a typical head fits in one window). */
const HEAD_WINDOW = 2048;

/**
 * RFC 9112 §5: the field value excludes trailing whitespace (OWS). llhttp skips the
 * leading OWS but reports the trailing one, so strip SP and HTAB here, as Envoy and
 * Node do; nothing else (0xA0 is obs-text, not whitespace).
 */
function trimTrailingWhitespace(value: string): string {
  let end = value.length;
  while (end > 0) {
    const c = value.charCodeAt(end - 1);
    if (c !== 32 && c !== 9) break;
    end--;
  }
  return end === value.length ? value : value.slice(0, end);
}
