import type { Counter } from "../../stats/counter.ts";
import type { StatsStore } from "../../stats/stats-store.ts";
import { FilterStatus } from "../filter.ts";
import type { ListenerFilter, ListenerFilterBuffer, ListenerFilterCallbacks } from "./listener-filter.ts";

/** Envoy's http_inspector MAX_INSPECT_SIZE: a request line not ended within 8 KiB closes the connection. */
export const MAX_INSPECT_SIZE = 8192;

const HTTP2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/** Envoy's http_inspector stats, `http_inspector.*`. */
export class HttpInspectorStats {
  readonly readError: Counter;
  readonly http10Found: Counter;
  readonly http11Found: Counter;
  readonly http2Found: Counter;
  readonly httpNotFound: Counter;

  constructor(store: StatsStore) {
    const scope = store.scope("http_inspector.");
    this.readError = scope.counter("read_error");
    this.http10Found = scope.counter("http10_found");
    this.http11Found = scope.counter("http11_found");
    this.http2Found = scope.counter("http2_found");
    this.httpNotFound = scope.counter("http_not_found");
  }
}

/** RFC 9110 §5.6.2 tchar: what a method is made of. */
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * envoy.filters.listener.http_inspector
 * (source/extensions/filters/listener/http_inspector/http_inspector.cc): on a raw_buffer
 * connection, the HTTP/2 preface sets the application protocol h2c; an HTTP/1 request
 * line sets http/1.1 or http/1.0. Anything else is left alone (http_not_found). Reads
 * without consuming.
 */
export class HttpInspector implements ListenerFilter {
  readonly maxReadBytes = MAX_INSPECT_SIZE;
  private callbacks!: ListenerFilterCallbacks;
  private readonly sniffer = new RequestLineSniffer();

  constructor(private readonly stats: HttpInspectorStats) {}

  onAccept(callbacks: ListenerFilterCallbacks): FilterStatus {
    const transport = callbacks.socket.detectedTransportProtocol;
    // Over TLS the bytes are ciphertext: nothing to see.
    if (transport !== "" && transport !== "raw_buffer") return FilterStatus.Continue;
    this.callbacks = callbacks;
    return FilterStatus.StopIteration;
  }

  onData(buffer: ListenerFilterBuffer): FilterStatus {
    const bytes = buffer.bytes;
    const found = this.sniffer.inspect(bytes);
    if (found === "more") {
      if (bytes.length < MAX_INSPECT_SIZE) return FilterStatus.StopIteration;
      this.stats.readError.inc();
      this.callbacks.close();
      return FilterStatus.StopIteration;
    }
    const stats = this.stats;
    if (found === undefined) stats.httpNotFound.inc();
    else {
      (found === "h2c" ? stats.http2Found : found === "http/1.1" ? stats.http11Found : stats.http10Found).inc();
      this.callbacks.socket.setRequestedApplicationProtocols([found]);
    }
    return FilterStatus.Continue;
  }
}

const SPACE = 0x20;
const CR = 0x0d;
const LF = 0x0a;

/**
 * What the first bytes of a connection show: the HTTP/2 preface, an HTTP/1 request line, or
 * neither. Called with the whole peeked buffer each time more arrives (the listener filter
 * buffer only grows); it reads only the bytes it has not seen, so a request line sent a byte
 * at a time costs its length, not its length squared.
 */
export class RequestLineSniffer {
  /** Bytes of the buffer already read into `line`. */
  private scanned = 0;
  /** The request line so far, without its LF. */
  private line = "";
  private spaces = 0;
  /** Whether every byte before the first space is an RFC 9110 tchar. */
  private methodIsToken = true;

  /** The protocol the bytes show; "more" while undecided; undefined: not HTTP. */
  inspect(bytes: Uint8Array): "h2c" | "http/1.1" | "http/1.0" | "more" | undefined {
    const prefaceLength = Math.min(bytes.length, HTTP2_PREFACE.length);
    let preface = true;
    for (let i = 0; i < prefaceLength && preface; i++) preface = bytes[i] === HTTP2_PREFACE.charCodeAt(i);
    if (preface) return bytes.length < HTTP2_PREFACE.length ? "more" : "h2c";
    if (bytes[0] === CR || bytes[0] === LF) return undefined;
    let newline = -1;
    for (let i = this.scanned; i < bytes.length; i++) {
      const byte = bytes[i]!;
      if (byte === LF) {
        newline = i;
        break;
      }
      if (byte === SPACE) this.spaces++;
      else if (this.spaces === 0 && !TCHAR.test(String.fromCharCode(byte))) this.methodIsToken = false;
      this.line += String.fromCharCode(byte);
    }
    this.scanned = newline < 0 ? bytes.length : newline;
    // What is there so far must be able to start a request line (the parser would stop at the
    // first bad byte): a method of tchars, or nothing yet.
    const emptyMethod = this.line.length === 0 || this.line.charCodeAt(0) === SPACE;
    if (!this.methodIsToken || (emptyMethod && this.spaces > 0)) return undefined;
    if (newline < 0) return this.spaces > 2 ? undefined : "more";
    const line = this.line.endsWith("\r") ? this.line.slice(0, -1) : this.line;
    const parts = line.split(" ");
    if (parts.length !== 3 || parts[1] === "") return undefined;
    const version = /^HTTP\/(\d)\.(\d)$/.exec(parts[2]!);
    if (!version) return undefined;
    return version[1] === "1" && version[2] === "1" ? "http/1.1" : "http/1.0";
  }
}
