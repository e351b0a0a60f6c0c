/**
 * A small incremental HTTP/1.1 parser for the memory runtime's test peers (the upstream
 * server and the downstream client): independent of the core's llhttp codec, so it can
 * judge what the proxy puts on the wire. It takes bytes in any split (down to one byte
 * at a time) and handles content-length, chunked (with trailers) and close-delimited
 * bodies, and interim 1xx responses.
 */

export interface HttpHead {
  readonly startLine: string;
  /** Requests: the method and target. */
  readonly method: string;
  readonly path: string;
  /** Responses: the status code. */
  readonly status: number;
  /** Header fields in order, names lowercased. */
  readonly headers: readonly [string, string][];
  get(name: string): string | undefined;
}

export interface HttpMessage extends HttpHead {
  readonly body: Uint8Array;
  readonly trailers: readonly [string, string][];
  /** Body text (latin1). */
  text(): string;
}

type State = "head" | "length" | "chunk-size" | "chunk-data" | "chunk-crlf" | "trailers" | "close" | "error";

const CR = 13;
const LF = 10;

const EMPTY = new Uint8Array(0);

/** A growable byte buffer with a read position. */
class Bytes {
  data = EMPTY;
  start = 0;
  end = 0;

  get length(): number {
    return this.end - this.start;
  }

  push(chunk: Uint8Array): void {
    if (this.end + chunk.byteLength > this.data.byteLength) {
      const needed = this.length + chunk.byteLength;
      if (needed > this.data.byteLength / 2) {
        const bigger = new Uint8Array(Math.max(needed * 2, 256));
        bigger.set(this.data.subarray(this.start, this.end));
        this.data = bigger;
      } else {
        this.data.copyWithin(0, this.start, this.end);
      }
      this.end -= this.start;
      this.start = 0;
    }
    this.data.set(chunk, this.end);
    this.end += chunk.byteLength;
  }

  /** Index (relative to start) of CRLF at or after `from`, or -1. */
  indexOfCrlf(from: number): number {
    const d = this.data;
    for (let i = this.start + Math.max(0, from); i + 1 < this.end; i++) if (d[i] === CR && d[i + 1] === LF) return i - this.start;
    return -1;
  }

  take(n: number): Uint8Array {
    const out = this.data.subarray(this.start, this.start + n);
    this.start += n;
    if (this.start === this.end) this.start = this.end = 0;
    return out;
  }

  text(n: number): string {
    return latin1(this.take(n));
  }
}

export function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

export function latin1Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

class Head implements HttpHead {
  constructor(
    readonly startLine: string,
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly headers: [string, string][],
  ) {}

  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    const values = this.headers.filter(([n]) => n === lower).map(([, v]) => v);
    return values.length ? values.join(", ") : undefined;
  }
}

class Message extends Head implements HttpMessage {
  constructor(
    head: Head,
    readonly body: Uint8Array,
    readonly trailers: [string, string][],
  ) {
    super(head.startLine, head.method, head.path, head.status, head.headers);
  }

  text(): string {
    return latin1(this.body);
  }
}

export class HttpParser {
  /** Messages completed so far, in order. */
  readonly messages: HttpMessage[] = [];
  /** The head of the message being received, once its head is complete. */
  current: HttpHead | undefined;
  /** Set when the bytes are not HTTP/1.1 this parser accepts. */
  error: string | undefined;
  /** Bytes of the current message's body received so far. */
  bodyReceived = 0;
  onHead: ((head: HttpHead) => void) | undefined;
  onMessage: ((message: HttpMessage) => void) | undefined;

  private readonly buffer = new Bytes();
  private state: State = "head";
  private scanFrom = 0;
  private remaining = 0;
  private body = new Bytes();
  private trailers: [string, string][] = [];
  /** Methods of requests sent, so responses to HEAD are known to be bodyless (response parsers). */
  private readonly pendingMethods: string[] = [];

  constructor(readonly kind: "request" | "response") {}

  /** Tell a response parser the method of the next request sent (for HEAD). */
  expectResponseTo(method: string): void {
    this.pendingMethods.push(method);
  }

  push(data: Uint8Array): void {
    if (this.state === "error") return;
    this.buffer.push(data);
    this.run();
  }

  /** The peer sent FIN: a close-delimited body ends here. False when a message was cut short. */
  end(): boolean {
    if (this.state === "close") {
      this.complete();
      return true;
    }
    return this.state === "head" && this.buffer.length === 0;
  }

  /** A message is under way (head or body bytes received, not complete). */
  get inProgress(): boolean {
    return this.state !== "head" || this.buffer.length > 0;
  }

  private fail(reason: string): void {
    this.error = reason;
    this.state = "error";
  }

  private run(): void {
    const buffer = this.buffer;
    for (;;) {
      switch (this.state) {
        case "head": {
          if (buffer.length === 0) return;
          const at = this.findHeadEnd();
          if (at < 0) {
            if (buffer.length > 80 * 1024) this.fail("head too large");
            return;
          }
          const text = buffer.text(at + 4);
          this.scanFrom = 0;
          if (!this.startMessage(text.slice(0, -4))) return;
          break;
        }
        case "length":
        case "chunk-data": {
          if (buffer.length === 0) return;
          const n = Math.min(this.remaining, buffer.length);
          this.body.push(buffer.take(n));
          this.bodyReceived += n;
          this.remaining -= n;
          if (this.remaining > 0) return;
          if (this.state === "length") this.complete();
          else this.state = "chunk-crlf";
          break;
        }
        case "chunk-crlf": {
          if (buffer.length < 2) return;
          const crlf = buffer.take(2);
          if (crlf[0] !== CR || crlf[1] !== LF) return this.fail("missing CRLF after chunk data");
          this.state = "chunk-size";
          break;
        }
        case "chunk-size": {
          const at = buffer.indexOfCrlf(0);
          if (at < 0) return;
          const line = buffer.text(at + 2).slice(0, -2);
          const size = parseInt(line.split(";")[0]!.trim(), 16);
          if (!/^[0-9a-fA-F]+/.test(line) || !Number.isFinite(size)) return this.fail(`bad chunk size ${JSON.stringify(line)}`);
          if (size === 0) this.state = "trailers";
          else {
            this.remaining = size;
            this.state = "chunk-data";
          }
          break;
        }
        case "trailers": {
          const at = buffer.indexOfCrlf(0);
          if (at < 0) return;
          const line = buffer.text(at + 2).slice(0, -2);
          if (line === "") {
            this.complete();
            break;
          }
          const colon = line.indexOf(":");
          this.trailers.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
          break;
        }
        case "close": {
          if (buffer.length === 0) return;
          const n = buffer.length;
          this.body.push(buffer.take(n));
          this.bodyReceived += n;
          return;
        }
        case "error":
          return;
      }
    }
  }

  private findHeadEnd(): number {
    const b = this.buffer;
    const d = b.data;
    for (let i = b.start + this.scanFrom; i + 3 < b.end; i++) {
      if (d[i] === CR && d[i + 1] === LF && d[i + 2] === CR && d[i + 3] === LF) return i - b.start;
    }
    this.scanFrom = Math.max(0, b.length - 3);
    return -1;
  }

  /** Parse a head; false on error. */
  private startMessage(text: string): boolean {
    const lines = text.split("\r\n");
    const startLine = lines[0]!;
    const headers: [string, string][] = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) {
        this.fail(`bad header line ${JSON.stringify(line)}`);
        return false;
      }
      headers.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
    }
    let method = "";
    let path = "";
    let status = 0;
    if (this.kind === "request") {
      const m = startLine.match(/^([A-Z]+) (\S+) HTTP\/1\.[01]$/);
      if (!m) {
        this.fail(`bad request line ${JSON.stringify(startLine)}`);
        return false;
      }
      method = m[1]!;
      path = m[2]!;
    } else {
      const m = startLine.match(/^HTTP\/1\.[01] (\d{3})(?: .*)?$/);
      if (!m) {
        this.fail(`bad status line ${JSON.stringify(startLine)}`);
        return false;
      }
      status = Number(m[1]);
    }
    const head = new Head(startLine, method, path, status, headers);
    // Interim responses (100 Continue, …) are not the response.
    if (this.kind === "response" && status >= 100 && status < 200 && status !== 101) return true;
    this.current = head;
    this.body = new Bytes();
    this.bodyReceived = 0;
    this.trailers = [];
    const te = head.get("transfer-encoding");
    const cl = head.get("content-length");
    const requestMethod = this.kind === "response" ? this.pendingMethods.shift() : undefined;
    this.onHead?.(head);
    if (this.kind === "response" && (requestMethod === "HEAD" || status === 204 || status === 304)) {
      this.complete();
    } else if (te !== undefined) {
      if (te.toLowerCase() !== "chunked") {
        this.fail(`unsupported transfer-encoding ${te}`);
        return false;
      }
      if (cl !== undefined) {
        this.fail("both transfer-encoding and content-length");
        return false;
      }
      this.state = "chunk-size";
    } else if (cl !== undefined) {
      if (!/^\d+$/.test(cl)) {
        this.fail(`bad content-length ${cl}`);
        return false;
      }
      this.remaining = Number(cl);
      if (this.remaining === 0) this.complete();
      else this.state = "length";
    } else if (this.kind === "response") {
      this.state = "close";
    } else {
      this.complete();
    }
    return true;
  }

  private complete(): void {
    const head = this.current as Head;
    const body = this.body.length ? this.body.take(this.body.length).slice() : EMPTY;
    const message = new Message(head, body, this.trailers);
    this.messages.push(message);
    this.current = undefined;
    this.state = "head";
    this.onMessage?.(message);
  }
}

/** Serialize a request or response head (+ body). */
export function encodeMessage(startLine: string, headers: [string, string][] | Record<string, string>, body?: Uint8Array | string): Uint8Array {
  const fields = Array.isArray(headers) ? headers : Object.entries(headers);
  const head = `${startLine}\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n`;
  const bodyBytes = typeof body === "string" ? latin1Bytes(body) : body;
  const headBytes = latin1Bytes(head);
  if (!bodyBytes || bodyBytes.byteLength === 0) return headBytes;
  const out = new Uint8Array(headBytes.byteLength + bodyBytes.byteLength);
  out.set(headBytes, 0);
  out.set(bodyBytes, headBytes.byteLength);
  return out;
}

/** Deterministic bytes, so a body can be checked without keeping a copy. */
export function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed + (i >> 12)) & 0xff;
  return out;
}

/** Index of the first differing byte, or -1 when equal. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}
