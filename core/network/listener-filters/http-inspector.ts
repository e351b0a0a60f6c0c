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
    const found = inspect(bytes);
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

/** The protocol the first bytes show; "more" while undecided; undefined: not HTTP. */
function inspect(bytes: Uint8Array): "h2c" | "http/1.1" | "http/1.0" | "more" | undefined {
  const prefaceLength = Math.min(bytes.length, HTTP2_PREFACE.length);
  let preface = true;
  for (let i = 0; i < prefaceLength && preface; i++) preface = bytes[i] === HTTP2_PREFACE.charCodeAt(i);
  if (preface) return bytes.length < HTTP2_PREFACE.length ? "more" : "h2c";
  if (bytes[0] === 0x0d || bytes[0] === 0x0a) return undefined;
  const newline = bytes.indexOf(0x0a);
  const end = newline < 0 ? bytes.length : newline;
  let line = "";
  for (let i = 0; i < end; i++) line += String.fromCharCode(bytes[i]!);
  if (line.endsWith("\r")) line = line.slice(0, -1);
  const parts = line.split(" ");
  // What is there so far must be able to start a request line (the parser would stop at the first bad byte).
  if (!TCHAR.test(parts[0]!) && !(parts.length === 1 && parts[0] === "")) return undefined;
  if (newline < 0) return parts.length > 3 ? undefined : "more";
  if (parts.length !== 3 || parts[1] === "") return undefined;
  const version = /^HTTP\/(\d)\.(\d)$/.exec(parts[2]!);
  if (!version) return undefined;
  return version[1] === "1" && version[2] === "1" ? "http/1.1" : "http/1.0";
}
