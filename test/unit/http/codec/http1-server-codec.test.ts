import { afterEach, describe, expect, test } from "vitest";
import type { CodecError, RequestDecoder, ResponseEncoder, ServerConnectionCallbacks } from "../../../../core/http/codec/codec.ts";
import { Http1ServerCodec, type ServerCodecLimits } from "../../../../core/http/codec/http1-server-codec.ts";
import type { ByteSink } from "../../../../core/network/byte-sink.ts";
import { HeaderMap } from "../../../../core/http/header-map.ts";
import { type RequestHeaders, ResponseHeaders } from "../../../../core/http/message.ts";

/** Text as latin1 bytes (one byte per code unit), as the wire carries it. */
const bytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const latin1 = (data: Uint8Array): string => Array.from(data, (b) => String.fromCharCode(b)).join("");

/** A decoder event, in a comparable form. */
type Event =
  | { kind: "headers"; method: string; path: string; authority: string; protocol: string; headers: [string, string][]; end: boolean }
  | { kind: "data"; data: string; end: boolean }
  | { kind: "trailers"; trailers: [string, string][] }
  | { kind: "upgrade"; data: string; end: boolean };

class Sink implements ByteSink {
  writes: { data: string; end: boolean }[] = [];
  write(data: Uint8Array, endStream: boolean): void {
    this.writes.push({ data: latin1(data), end: endStream });
  }
  get text(): string {
    return this.writes.map((w) => w.data).join("");
  }
  take(): string {
    const text = this.text;
    this.writes = [];
    return text;
  }
}

class Recorder implements RequestDecoder {
  events: Event[] = [];
  request: RequestHeaders | undefined;
  constructor(
    readonly encoder: ResponseEncoder,
    private readonly hooks: Hooks,
  ) {}
  decodeHeaders(headers: RequestHeaders, endStream: boolean): void {
    this.request = headers;
    this.events.push({
      kind: "headers",
      method: headers.method,
      path: headers.path,
      authority: headers.authority,
      protocol: headers.protocol,
      headers: headers.entries(),
      end: endStream,
    });
    this.hooks.onHeaders?.(this, endStream);
  }
  decodeData(data: Uint8Array, endStream: boolean): void {
    this.events.push({ kind: "data", data: latin1(data), end: endStream });
    if (endStream) this.hooks.onEnd?.(this);
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.events.push({ kind: "trailers", trailers: trailers.entries() });
    this.hooks.onEnd?.(this);
  }
  decodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.events.push({ kind: "upgrade", data: latin1(data), end: endStream });
  }
}

interface Hooks {
  onHeaders?(stream: Recorder, endStream: boolean): void;
  onEnd?(stream: Recorder): void;
  onResponseComplete?(harness: Harness): void;
}

class Harness implements ServerConnectionCallbacks {
  readonly sink = new Sink();
  readonly codec: Http1ServerCodec;
  streams: Recorder[] = [];
  errors: CodecError[] = [];
  responsesComplete = 0;
  requestsBegun = 0;
  constructor(
    // enable_trailers on: the trailer tests below read them; the default (off) has its own test.
    limits: ServerCodecLimits = { maxRequestHeadersBytes: 60 * 1024, maxHeadersCount: 100, enableTrailers: true },
    readonly hooks: Hooks = {},
  ) {
    this.codec = new Http1ServerCodec(this.sink, this, limits);
    harnesses.push(this);
  }
  onRequestBegin(): void {
    this.requestsBegun++;
  }
  newStream(encoder: ResponseEncoder): RequestDecoder {
    const stream = new Recorder(encoder, this.hooks);
    this.streams.push(stream);
    return stream;
  }
  onCodecError(error: CodecError): void {
    this.errors.push(error);
  }
  onResponseComplete(): void {
    this.responsesComplete++;
    this.hooks.onResponseComplete?.(this);
  }
  feed(text: string | Uint8Array, endStream = false): this {
    this.codec.dispatch(typeof text === "string" ? bytes(text) : text, endStream);
    return this;
  }
  get stream(): Recorder {
    return this.streams[this.streams.length - 1]!;
  }
  /** Every stream's events, data merged so chunking does not matter. */
  normalized(): Event[][] {
    return this.streams.map((s) => mergeData(s.events));
  }
}

const harnesses: Harness[] = [];
afterEach(() => {
  for (const h of harnesses.splice(0)) h.codec.destroy();
});

/** Adjacent non-final data events merged into one, and empty non-final ones dropped. */
function mergeData(events: Event[]): Event[] {
  const out: Event[] = [];
  for (const event of events) {
    const last = out[out.length - 1];
    if (event.kind === "data" && last?.kind === "data" && !last.end) {
      out[out.length - 1] = { kind: "data", data: last.data + event.data, end: event.end };
    } else if (event.kind === "data" && event.data === "" && !event.end) {
      continue;
    } else {
      out.push(event);
    }
  }
  return out;
}

function response(status: number, ...pairs: [string, string][]): ResponseHeaders {
  const headers = new ResponseHeaders(status);
  for (const [name, value] of pairs) headers.add(name, value);
  return headers;
}

/** Feeds `request` in the given pieces to a fresh codec and returns the normalized events and errors. */
function feedPieces(pieces: Uint8Array[], limits?: { maxRequestHeadersBytes: number; maxHeadersCount: number }) {
  const h = new Harness(limits);
  for (const piece of pieces) h.feed(piece);
  return { events: h.normalized(), errors: h.errors };
}

/** Asserts that every one-byte-at-a-time and every two-way split gives the same result as one chunk. */
function expectSplitInvariant(request: string): ReturnType<typeof feedPieces> {
  const all = bytes(request);
  const whole = feedPieces([all]);
  expect(feedPieces(Array.from(all, (_, i) => all.subarray(i, i + 1)))).toEqual(whole);
  for (let cut = 1; cut < all.length; cut++) {
    expect(feedPieces([all.subarray(0, cut), all.subarray(cut)]), `split at ${cut}`).toEqual(whole);
  }
  return whole;
}

const GET = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n";

describe("Http1ServerCodec: requests", () => {
  test("a simple GET: headers with endStream, pseudo-headers from the request line and Host", () => {
    const h = new Harness().feed(GET);
    expect(h.errors).toEqual([]);
    expect(h.streams).toHaveLength(1);
    expect(h.stream.events).toEqual([
      {
        kind: "headers",
        method: "GET",
        path: "/index.html?q=1",
        authority: "example.com",
        protocol: "HTTP/1.1",
        headers: [
          ["user-agent", "test"],
          ["accept", "*/*"],
        ],
        end: true,
      },
    ]);
    expect(h.stream.request!.has("host")).toBe(false);
    expect(h.stream.request!.header(":authority")).toBe("example.com");
    expect(h.codec.keepAlive).toBe(true);
    expect(h.codec.requestComplete).toBe(true);
  });

  test("header names are lowercased, values kept verbatim (surrounding whitespace trimmed)", () => {
    const h = new Harness().feed("GET / HTTP/1.1\r\nHOST: a\r\nX-MiXeD-Case: VaLuE\r\nX-Spaces:   v  w \r\nX-Empty:\r\nX-Next: n\r\n\r\n");
    const headers = h.stream.events[0]!.kind === "headers" ? h.stream.events[0]!.headers : [];
    expect(headers).toEqual([
      ["x-mixed-case", "VaLuE"],
      ["x-spaces", "v  w"],
      ["x-empty", ""],
      ["x-next", "n"],
    ]);
  });

  test("a known field's value is read right whether or not it repeats the last message's (repeated-values.ts)", () => {
    const userAgent = (raw: string) => {
      const h = new Harness().feed(`GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: ${raw}\r\n\r\n`);
      return h.stream.request!.get("user-agent");
    };
    expect(userAgent("probe-1")).toBe("probe-1");
    expect(userAgent("probe-1")).toBe("probe-1"); // the same bytes again
    expect(userAgent("probe-2")).toBe("probe-2"); // one byte differs
    expect(userAgent("probe-2 ")).toBe("probe-2"); // trailing whitespace is trimmed either way
    expect(userAgent("probe-2")).toBe("probe-2");
    expect(userAgent("probe-22")).toBe("probe-22"); // longer
    expect(userAgent("probe-")).toBe("probe-"); // shorter
  });

  test("a value split across reads right after the bytes of the remembered value is read whole", () => {
    new Harness().feed("GET / HTTP/1.1\r\nHost: a\r\nAccept: text/htm\r\n\r\n");
    const request = bytes("GET / HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\n\r\n");
    const cut = "GET / HTTP/1.1\r\nHost: a\r\nAccept: text/htm".length;
    const h = new Harness().feed(request.subarray(0, cut)).feed(request.subarray(cut));
    expect(h.stream.request!.get("accept")).toBe("text/html");
  });

  test("a remembered value is a copy: a read buffer reused for the next message does not change it", () => {
    const text = "GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: reuse-1\r\n\r\n";
    const buffer = bytes(text);
    // Node's and deno's adapters reuse their read buffers, and a Node Buffer's slice is a view.
    Object.defineProperty(buffer, "slice", { value: (start?: number, end?: number) => buffer.subarray(start, end) });
    expect(new Harness().feed(buffer).stream.request!.get("user-agent")).toBe("reuse-1");
    buffer.set(bytes("reuse-2"), text.indexOf("reuse-1"));
    expect(new Harness().feed(buffer).stream.request!.get("user-agent")).toBe("reuse-2");
  });

  test("header values are bytes as latin1", () => {
    const h = new Harness().feed(Uint8Array.from([...bytes("GET / HTTP/1.1\r\nHost: a\r\nX-L: caf"), 0xe9, ...bytes("\r\n\r\n")]));
    expect(h.stream.request!.get("x-l")).toBe("café");
  });

  test("HTTP/1.0: protocol, no keep-alive unless asked for", () => {
    const h = new Harness().feed("GET / HTTP/1.0\r\n\r\n");
    expect(h.stream.events).toMatchObject([{ kind: "headers", protocol: "HTTP/1.0", authority: "", end: true }]);
    expect(h.codec.keepAlive).toBe(false);

    const k = new Harness().feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    expect(k.stream.events).toMatchObject([{ kind: "headers", protocol: "HTTP/1.0", end: true }]);
    expect(k.codec.keepAlive).toBe(true);
  });

  test("Connection: close → keepAlive false", () => {
    const h = new Harness().feed("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    expect(h.stream.events).toMatchObject([{ kind: "headers", end: true }]);
    expect(h.codec.keepAlive).toBe(false);
  });

  test("Content-Length: 0 is a request without a body", () => {
    const h = new Harness().feed("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    expect(h.stream.events).toMatchObject([{ kind: "headers", method: "POST", end: true }]);
  });

  test("POST with Content-Length: headers, then data, then an empty end", () => {
    const h = new Harness().feed("POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello");
    expect(h.stream.events).toEqual([
      { kind: "headers", method: "POST", path: "/submit", authority: "a", protocol: "HTTP/1.1", headers: [["content-length", "11"]], end: false },
      { kind: "data", data: "hello", end: false },
    ]);
    expect(h.codec.requestComplete).toBe(false);
    h.feed(" world");
    expect(h.stream.events.slice(2)).toEqual([
      { kind: "data", data: " world", end: false },
      { kind: "data", data: "", end: true },
    ]);
    expect(h.codec.requestComplete).toBe(true);
  });

  test("a Content-Length body split at every byte boundary decodes the same", () => {
    const whole = expectSplitInvariant("POST /submit HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n0123456789");
    expect(whole.errors).toEqual([]);
    expect(whole.events).toEqual([
      [
        {
          kind: "headers",
          method: "POST",
          path: "/submit",
          authority: "example.com",
          protocol: "HTTP/1.1",
          headers: [
            ["content-type", "text/plain"],
            ["content-length", "10"],
          ],
          end: false,
        },
        { kind: "data", data: "0123456789", end: true },
      ],
    ]);
  });

  test("a GET split at every byte boundary decodes the same", () => {
    const whole = expectSplitInvariant(GET);
    expect(whole.events).toMatchObject([[{ kind: "headers", path: "/index.html?q=1", authority: "example.com", end: true }]]);
  });

  test("chunked body with trailers → data, then decodeTrailers", () => {
    const h = new Harness().feed(
      "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n",
    );
    expect(h.errors).toEqual([]);
    expect(mergeData(h.stream.events)).toEqual([
      { kind: "headers", method: "POST", path: "/up", authority: "a", protocol: "HTTP/1.1", headers: [["transfer-encoding", "chunked"]], end: false },
      { kind: "data", data: "hello world", end: false },
      {
        kind: "trailers",
        trailers: [
          ["x-checksum", "abc"],
          ["x-other", "1"],
        ],
      },
    ]);
    // Trailers end the stream: no data(endStream) after them.
    expect(h.stream.events.filter((e) => e.kind === "data" && e.end)).toEqual([]);
    expect(h.codec.requestComplete).toBe(true);
  });

  test("without enable_trailers (Envoy's default) trailer fields are read and dropped: the body ends the request", () => {
    const h = new Harness({ maxRequestHeadersBytes: 120, maxHeadersCount: 100 }).feed(
      "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n",
    );
    expect(h.errors).toEqual([]);
    expect(mergeData(h.stream.events)).toMatchObject([{ kind: "headers", end: false }, { kind: "data", data: "hello", end: true }]);
    expect(h.codec.requestComplete).toBe(true);
    // Still within the size budget, though dropped.
    const big = new Harness({ maxRequestHeadersBytes: 120, maxHeadersCount: 100 }).feed(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: ${"t".repeat(200)}\r\n\r\n`);
    expect(big.errors).toMatchObject([{ status: 431, details: "http1.headers_too_large" }]);
  });

  test("chunked body without trailers ends with empty data", () => {
    const h = new Harness().feed("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    expect(mergeData(h.stream.events)).toMatchObject([{ kind: "headers", end: false }, { kind: "data", data: "abc", end: true }]);
  });

  test("a chunked body with trailers split at every byte boundary decodes the same", () => {
    const whole = expectSplitInvariant(
      "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n",
    );
    expect(whole.errors).toEqual([]);
    expect(whole.events[0]).toEqual([
      { kind: "headers", method: "POST", path: "/up", authority: "a", protocol: "HTTP/1.1", headers: [["transfer-encoding", "chunked"]], end: false },
      { kind: "data", data: "hello world", end: false },
      { kind: "trailers", trailers: [["x-checksum", "abc"]] },
    ]);
  });

  test("the client's FIN mid-request is an error; after a complete request it is not", () => {
    const h = new Harness().feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", true);
    expect(h.errors).toMatchObject([{ status: 400, details: "http1.codec_error" }]);
    expect(h.codec.keepAlive).toBe(false);

    const ok = new Harness().feed(GET, true);
    expect(ok.errors).toEqual([]);
    expect(ok.stream.events).toMatchObject([{ kind: "headers", end: true }]);
    expect(ok.codec.keepAlive).toBe(false);
  });
  test.each(["DELETE", "GET", "HEAD", "POST", "PUT", "OPTIONS", "TRACE", "PATCH", "PURGE", "PROPFIND", "M-SEARCH", "QUERY"])(
    "method %s",
    (method) => {
      const h = new Harness().feed(`${method} /m HTTP/1.1\r\nHost: a\r\n\r\n`);
      expect(h.errors).toEqual([]);
      expect(h.stream.request!.method).toBe(method);
    },
  );

  test("headInProgress: from a request's first byte until its head is complete (the connection manager resets such a stream at a FIN)", () => {
    const h = new Harness();
    expect(h.codec.headInProgress).toBe(false);
    h.feed("GET / HT");
    expect(h.codec.headInProgress).toBe(true);
    h.feed("TP/1.1\r\nHost: a\r\n\r\n");
    expect(h.codec.headInProgress).toBe(false);
    h.stream.encoder.encodeHeaders(response(200), true);
    h.codec.resume();
    expect(h.codec.headInProgress).toBe(false);
    // A FIN in the head is no codec error: the bytes were fine, there were not enough of them.
    h.feed("GET /b HTTP/1.1\r\nHo", true);
    expect(h.errors).toEqual([]);
    expect(h.codec.headInProgress).toBe(true);
    expect(new Harness().feed("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n").codec.headInProgress).toBe(false);
  });

  test("a FIN right behind a complete request: the response is the last one", () => {
    const h = new Harness().feed(GET, true);
    expect(h.codec.keepAlive).toBe(false);
    h.stream.encoder.encodeHeaders(response(200), true);
    expect(h.sink.text).toBe("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");

    // The same with the FIN arriving on its own while the response is pending.
    const later = new Harness().feed(GET);
    later.feed(new Uint8Array(0), true);
    expect(later.codec.keepAlive).toBe(false);
    expect(later.errors).toEqual([]);
  });
});

describe("Http1ServerCodec: pipelining", () => {
  const TWO = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\n";

  test("two requests in one chunk: the second waits until the first's response is complete", () => {
    const h = new Harness().feed(TWO);
    expect(h.streams).toHaveLength(1);
    expect(h.stream.events).toMatchObject([{ kind: "headers", path: "/a", end: true }]);
    h.streams[0]!.encoder.encodeHeaders(response(200), true);
    expect(h.responsesComplete).toBe(1);
    expect(h.streams).toHaveLength(1);
    h.codec.resume();
    expect(h.streams).toHaveLength(2);
    expect(h.streams[1]!.events).toMatchObject([{ kind: "headers", path: "/b", authority: "b", end: true }]);
    h.streams[1]!.encoder.encodeHeaders(response(204), true);
    h.codec.resume();
    expect(h.streams).toHaveLength(2);
    expect(h.sink.text).toBe("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
  });

  test("bytes that arrive while a response is pending are parsed on resume, FIN included", () => {
    const h = new Harness().feed("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HT");
    h.feed("TP/1.1\r\nHost: b\r\n\r\n");
    h.feed("GET /c HTTP/1.1\r\nHost: c\r\n\r\n", true);
    expect(h.streams).toHaveLength(1);
    for (const path of ["/a", "/b", "/c"]) {
      expect(h.stream.events).toMatchObject([{ kind: "headers", path, end: true }]);
      h.stream.encoder.encodeHeaders(response(200), true);
      h.codec.resume();
    }
    expect(h.streams).toHaveLength(3);
    expect(h.errors).toEqual([]);
    expect(h.codec.keepAlive).toBe(false); // the FIN
  });

  test("pending bytes are copied: the caller may reuse its read buffer", () => {
    const chunk = bytes(TWO);
    const h = new Harness().feed(chunk);
    chunk.fill(0x58); // "X"
    h.stream.encoder.encodeHeaders(response(200), true);
    h.codec.resume();
    expect(h.errors).toEqual([]);
    expect(h.streams[1]!.events).toMatchObject([{ kind: "headers", path: "/b", end: true }]);
  });

  test("a response sent from inside decodeHeaders, resumed from onResponseComplete, lets the next request through", () => {
    // A local reply (direct response, 404) completes the response synchronously, while
    // the codec is still parsing; the connection manager resumes from onResponseComplete.
    const h = new Harness(undefined, {
      onHeaders: (stream, end) => {
        if (end) stream.encoder.encodeHeaders(response(404), true);
      },
      onResponseComplete: (harness) => harness.codec.resume(),
    });
    h.feed(TWO);
    expect(h.errors).toEqual([]);
    expect(h.streams.map((s) => s.events[0])).toMatchObject([{ path: "/a" }, { path: "/b" }]);
    expect(h.responsesComplete).toBe(2);
    h.feed("GET /c HTTP/1.1\r\nHost: c\r\n\r\n");
    expect(h.streams).toHaveLength(3);
    expect(h.sink.text).toBe("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".repeat(3));
  });

  test("many pipelined requests answered synchronously", () => {
    const h = new Harness(undefined, {
      onHeaders: (stream, end) => {
        if (end) stream.encoder.encodeHeaders(response(200), true);
      },
      onResponseComplete: (harness) => harness.codec.resume(),
    });
    h.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(500));
    expect(h.streams).toHaveLength(500);
    expect(h.errors).toEqual([]);
  });

  test("pipelined requests with bodies, split at every boundary, decode the same", () => {
    const request =
      "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcPOST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
    const run = (pieces: Uint8Array[]) => {
      const h = new Harness();
      for (const piece of pieces) {
        h.feed(piece);
      }
      for (let i = 0; i < 3 && h.streams[i]; i++) {
        h.streams[i]!.encoder.encodeHeaders(response(200), true);
        h.codec.resume();
      }
      return { events: h.normalized(), errors: h.errors, out: h.sink.text };
    };
    const all = bytes(request);
    const whole = run([all]);
    expect(whole.events.map((e) => e[0])).toMatchObject([{ path: "/1" }, { path: "/2" }, { path: "/3" }]);
    expect(whole.events[0]).toMatchObject([{ kind: "headers" }, { kind: "data", data: "abc", end: true }]);
    expect(whole.events[1]).toMatchObject([{ kind: "headers" }, { kind: "data", data: "de", end: true }]);
    for (let cut = 1; cut < all.length; cut++) expect(run([all.subarray(0, cut), all.subarray(cut)]), `split at ${cut}`).toEqual(whole);
  });
});

describe("Http1ServerCodec: errors", () => {
  test("a malformed request line → 400 http1.codec_error", () => {
    const h = new Harness().feed("GARBAGE\r\n\r\n");
    expect(h.errors).toHaveLength(1);
    expect(h.errors[0]).toMatchObject({ status: 400, details: "http1.codec_error" });
    expect(h.errors[0]!.reason).not.toBe("");
    expect(h.streams).toHaveLength(0);
    expect(h.codec.keepAlive).toBe(false);
  });

  test.each([
    ["bad version", "GET / HTTP/9.9\r\n\r\n"],
    ["space in header name", "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n"],
    ["obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"],
    ["bare LF", "GET / HTTP/1.1\nHost: a\n\n"],
    ["CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
    ["two Content-Lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"],
    ["bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
    ["bad Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n"],
  ])("%s → 400 http1.codec_error", (_name, request) => {
    const h = new Harness().feed(request);
    expect(h.errors).toHaveLength(1);
    expect(h.errors[0]).toMatchObject({ status: 400, details: "http1.codec_error" });
    expect(h.codec.keepAlive).toBe(false);
  });

  test("both Content-Length and Transfer-Encoding never reach the decoder", () => {
    const h = new Harness().feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    expect(h.errors[0]).toMatchObject({ status: 400, details: "http1.codec_error" });
    expect(h.streams).toHaveLength(0);
  });

  test("a head over maxRequestHeadersBytes → 431 http1.headers_too_large", () => {
    const limits = { maxRequestHeadersBytes: 100, maxHeadersCount: 100 };
    const h = new Harness(limits).feed(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"v".repeat(200)}\r\n\r\n`);
    expect(h.errors).toEqual([{ status: 431, details: "http1.headers_too_large", reason: "headers_too_large" }]);
    expect(h.streams).toHaveLength(0);
    expect(h.codec.keepAlive).toBe(false);

    const ok = new Harness(limits).feed(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"v".repeat(50)}\r\n\r\n`);
    expect(ok.errors).toEqual([]);
  });

  test("the size limit holds when the head arrives a byte at a time", () => {
    const limits = { maxRequestHeadersBytes: 100, maxHeadersCount: 100 };
    const request = bytes(`GET / HTTP/1.1\r\nHost: a\r\n${"X-A: 0123456789\r\n".repeat(20)}\r\n`);
    const h = new Harness(limits);
    for (let i = 0; i < request.length && h.errors.length === 0; i++) h.feed(request.subarray(i, i + 1));
    expect(h.errors).toMatchObject([{ status: 431, details: "http1.headers_too_large" }]);
  });

  test("a long URL counts against the limit", () => {
    const h = new Harness({ maxRequestHeadersBytes: 100, maxHeadersCount: 100 }).feed(`GET /${"a".repeat(200)} HTTP/1.1\r\nHost: a\r\n\r\n`);
    expect(h.errors).toMatchObject([{ status: 431, details: "http1.headers_too_large" }]);
  });

  test("more than maxHeadersCount fields → 431; exactly the count is fine", () => {
    const limits = { maxRequestHeadersBytes: 60 * 1024, maxHeadersCount: 5 };
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: ${i}\r\n`).join("");
    const over = new Harness(limits).feed(`GET / HTTP/1.1\r\n${fields(6)}\r\n`);
    expect(over.errors).toMatchObject([{ status: 431, details: "http1.too_many_headers" }]);
    expect(over.streams).toHaveLength(0);
    const at = new Harness(limits).feed(`GET / HTTP/1.1\r\n${fields(5)}\r\n`);
    expect(at.errors).toEqual([]);
    expect(at.stream.request!.size).toBe(5);
  });

  test("trailers have their own size budget, as Envoy counts headers and trailers apart", () => {
    const limits = { maxRequestHeadersBytes: 120, maxHeadersCount: 100, enableTrailers: true };
    const h = new Harness(limits).feed(
      `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-A: ${"a".repeat(60)}\r\n\r\n0\r\nX-T: ${"t".repeat(60)}\r\n\r\n`,
    );
    expect(h.errors).toEqual([]);
    expect(h.stream.events.at(-1)).toEqual({ kind: "trailers", trailers: [["x-t", "t".repeat(60)]] });
    const big = new Harness(limits).feed(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: ${"t".repeat(200)}\r\n\r\n`);
    expect(big.errors).toMatchObject([{ status: 431, details: "http1.headers_too_large" }]);
  });

  test("a 100 KB URL under a large limit decodes (no argument-count overflow)", () => {
    const path = `/${"p".repeat(100_000)}`;
    const h = new Harness({ maxRequestHeadersBytes: 1024 * 1024, maxHeadersCount: 100 }).feed(`GET ${path} HTTP/1.1\r\nHost: a\r\nX: ${"v".repeat(100_000)}\r\n\r\n`);
    expect(h.errors).toEqual([]);
    expect(h.stream.request!.path).toBe(path);
    expect(h.stream.request!.get("x")).toHaveLength(100_000);
  });
});

describe("Http1ServerCodec: response framing", () => {
  /** A codec with one request decoded (the given one, GET by default). */
  function withRequest(request = GET): Harness {
    const h = new Harness().feed(request);
    expect(h.errors).toEqual([]);
    return h;
  }

  test("exact bytes of a simple response with content-length", () => {
    const h = withRequest();
    h.stream.encoder.encodeHeaders(response(200, ["content-length", "2"]), false);
    h.stream.encoder.encodeData(bytes("hi"), true);
    expect(h.sink.text).toBe("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi");
    expect(h.sink.writes.every((w) => !w.end)).toBe(true);
    expect(h.responsesComplete).toBe(1);
    expect(h.codec.keepAlive).toBe(true);
  });

  test("header order and unknown status text", () => {
    const h = withRequest();
    h.stream.encoder.encodeHeaders(response(299, ["b", "2"], ["a", "1"], ["b", "3"]), true);
    expect(h.sink.text).toBe("HTTP/1.1 299 Unknown\r\nb: 2\r\na: 1\r\nb: 3\r\ncontent-length: 0\r\n\r\n");
  });

  test("no content-length and a body → transfer-encoding: chunked and chunk framing", () => {
    const h = withRequest();
    h.stream.encoder.encodeHeaders(response(200, ["content-type", "text/plain"]), false);
    h.stream.encoder.encodeData(bytes("hello"), false);
    h.stream.encoder.encodeData(new Uint8Array(0), false);
    h.stream.encoder.encodeData(bytes("0123456789abcdefg"), false);
    expect(h.responsesComplete).toBe(0);
    h.stream.encoder.encodeData(new Uint8Array(0), true);
    expect(h.sink.text).toBe(
      "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n11\r\n0123456789abcdefg\r\n0\r\n\r\n",
    );
    expect(h.responsesComplete).toBe(1);
    expect(h.codec.keepAlive).toBe(true);
  });

  test("the last chunk may carry data", () => {
    const h = withRequest();
    h.stream.encoder.encodeHeaders(response(200), false);
    h.stream.encoder.encodeData(bytes("abc"), true);
    expect(h.sink.text).toBe("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  });

  test("chunked response with trailers", () => {
    const h = withRequest();
    h.stream.encoder.encodeHeaders(response(200), false);
    h.stream.encoder.encodeData(bytes("abc"), false);
    const trailers = new HeaderMap();
    trailers.add("x-checksum", "123");
    h.stream.encoder.encodeTrailers(trailers);
    expect(h.sink.text).toBe("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-checksum: 123\r\n\r\n");
    expect(h.responsesComplete).toBe(1);
  });

  test("without enable_trailers (Envoy's default) response trailers are not written: the last chunk alone", () => {
    const h = new Harness({ maxRequestHeadersBytes: 60 * 1024, maxHeadersCount: 100 }).feed(GET);
    h.stream.encoder.encodeHeaders(response(200), false);
    h.stream.encoder.encodeData(bytes("abc"), false);
    const trailers = new HeaderMap();
    trailers.add("x-checksum", "123");
    h.stream.encoder.encodeTrailers(trailers);
    expect(h.sink.text).toBe("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    expect(h.responsesComplete).toBe(1);
  });

  test("endStream at the headers → content-length: 0", () => {
    const h = withRequest();
    h.stream.encoder.encodeHeaders(response(200, ["x", "y"]), true);
    expect(h.sink.text).toBe("HTTP/1.1 200 OK\r\nx: y\r\ncontent-length: 0\r\n\r\n");
    expect(h.responsesComplete).toBe(1);
  });

  test("HEAD: no body bytes; the upstream's content-length is kept, else the informational transfer-encoding: chunked (Envoy's encodeHeadersBase)", () => {
    const h = withRequest("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    h.stream.encoder.encodeHeaders(response(200, ["content-length", "42"]), false);
    h.stream.encoder.encodeData(bytes("should not be sent"), true);
    expect(h.sink.text).toBe("HTTP/1.1 200 OK\r\ncontent-length: 42\r\n\r\n");
    expect(h.responsesComplete).toBe(1);
    expect(h.codec.keepAlive).toBe(true);

    const g = withRequest("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    g.stream.encoder.encodeHeaders(response(200), false);
    g.stream.encoder.encodeData(new Uint8Array(0), true);
    expect(g.sink.text).toBe("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");

    const e = withRequest("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    e.stream.encoder.encodeHeaders(response(200), true);
    expect(e.sink.text).toBe("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
    expect(e.codec.keepAlive).toBe(true);

    // HTTP/1.0 has no chunked coding: nothing is added.
    const o = withRequest("HEAD / HTTP/1.0\r\nHost: a\r\n\r\n");
    o.stream.encoder.encodeHeaders(response(200), true);
    expect(o.sink.text).not.toMatch(/transfer-encoding/);
  });

  test.each([204, 304])("%i: no body bytes and no added framing", (status) => {
    const h = withRequest();
    h.stream.encoder.encodeHeaders(response(status, ["etag", "x"]), false);
    h.stream.encoder.encodeData(bytes("nope"), false);
    const trailers = new HeaderMap();
    trailers.add("t", "1");
    h.stream.encoder.encodeTrailers(trailers);
    expect(h.sink.text).toBe(`HTTP/1.1 ${status} ${status === 204 ? "No Content" : "Not Modified"}\r\netag: x\r\n\r\n`);
    expect(h.responsesComplete).toBe(1);

    const e = withRequest();
    e.stream.encoder.encodeHeaders(response(status), true);
    expect(e.sink.text).toBe(`HTTP/1.1 ${status} ${status === 204 ? "No Content" : "Not Modified"}\r\n\r\n`);
  });

  test("HTTP/1.0 request, streamed response body → delimited by close: connection: close, keepAlive false", () => {
    const h = withRequest("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    expect(h.codec.keepAlive).toBe(true);
    h.stream.encoder.encodeHeaders(response(200), false);
    h.stream.encoder.encodeData(bytes("abc"), true);
    expect(h.sink.text).toBe("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nabc");
    expect(h.codec.keepAlive).toBe(false);
  });

  test("HTTP/1.0 keep-alive with a known length stays open and says so", () => {
    const h = withRequest("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    h.stream.encoder.encodeHeaders(response(200, ["content-length", "3"]), false);
    h.stream.encoder.encodeData(bytes("abc"), true);
    expect(h.sink.text).toBe("HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: keep-alive\r\n\r\nabc");
    expect(h.codec.keepAlive).toBe(true);
  });

  test("HTTP/1.0 without keep-alive → connection: close", () => {
    const h = withRequest("GET / HTTP/1.0\r\n\r\n");
    h.stream.encoder.encodeHeaders(response(200, ["content-length", "3"]), false);
    h.stream.encoder.encodeData(bytes("abc"), true);
    expect(h.sink.text).toBe("HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc");
  });

  test("Connection: close request → the response says connection: close", () => {
    const h = withRequest("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    h.stream.encoder.encodeHeaders(response(200), true);
    expect(h.sink.text).toBe("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    expect(h.codec.keepAlive).toBe(false);
  });

  test("a response completed before the request body was read → connection: close", () => {
    const h = new Harness().feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\npartial");
    expect(h.codec.requestComplete).toBe(false);
    h.stream.encoder.encodeHeaders(response(413), true);
    expect(h.sink.text).toBe("HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    expect(h.codec.keepAlive).toBe(false);
    expect(h.responsesComplete).toBe(1);
  });

  test("1xx interim responses go out without completing the response", () => {
    const h = withRequest("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    h.stream.encoder.encodeHeaders(response(100), false);
    expect(h.sink.take()).toBe("HTTP/1.1 100 Continue\r\n\r\n");
    expect(h.responsesComplete).toBe(0);
    expect(h.codec.responseInProgress).toBe(false);
    h.feed("abc");
    h.stream.encoder.encodeHeaders(response(200, ["content-length", "0"]), true);
    expect(h.sink.text).toBe("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    expect(h.codec.keepAlive).toBe(true);
  });

  test("responseInProgress is true between headers and the end", () => {
    const h = withRequest();
    expect(h.codec.responseInProgress).toBe(false);
    h.stream.encoder.encodeHeaders(response(200), false);
    expect(h.codec.responseInProgress).toBe(true);
    h.stream.encoder.encodeData(bytes("x"), true);
    expect(h.codec.responseInProgress).toBe(false);
  });

  test("a codec error's local reply (no request parsed) closes", () => {
    const h = new Harness().feed("NOT HTTP\r\n\r\n");
    h.codec.responseEncoder.encodeHeaders(response(400, ["content-length", "11"]), false);
    h.codec.responseEncoder.encodeData(bytes("Bad Request"), true);
    expect(h.sink.text).toBe("HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\nconnection: close\r\n\r\nBad Request");
  });
});

describe("Http1ServerCodec: upgrade", () => {
  const UPGRADE = "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\n\r\n";

  test("decodeHeaders(endStream=false), then the bytes that follow go to decodeUpgradeData", () => {
    const h = new Harness().feed(`${UPGRADE}\x81\x02hi`);
    expect(h.errors).toEqual([]);
    expect(h.stream.events).toEqual([
      {
        kind: "headers",
        method: "GET",
        path: "/ws",
        authority: "a",
        protocol: "HTTP/1.1",
        headers: [
          ["upgrade", "websocket"],
          ["connection", "Upgrade"],
          ["sec-websocket-key", "k"],
        ],
        end: false,
      },
      { kind: "upgrade", data: "\x81\x02hi", end: false },
    ]);
    expect(h.codec.isUpgraded).toBe(true);
    h.feed("more");
    h.feed(new Uint8Array(0), true);
    expect(h.stream.events.slice(2)).toEqual([
      { kind: "upgrade", data: "more", end: false },
      { kind: "upgrade", data: "", end: true },
    ]);
    expect(h.errors).toEqual([]);
  });

  test("a FIN in the same read as the upgrade head reaches decodeUpgradeData", () => {
    const h = new Harness().feed(`${UPGRADE}last`, true);
    expect(h.stream.events.slice(1)).toEqual([
      { kind: "upgrade", data: "last", end: false },
      { kind: "upgrade", data: "", end: true },
    ]);
    expect(h.errors).toEqual([]);
  });

  test("a refused upgrade answered from inside decodeHeaders drops the raw bytes behind the head", () => {
    const h = new Harness(undefined, { onHeaders: (stream) => stream.encoder.encodeHeaders(response(404), true) });
    h.feed(`${UPGRADE}raw`);
    expect(h.stream.events.filter((e) => e.kind === "upgrade")).toEqual([]);
    expect(h.codec.keepAlive).toBe(false);
    expect(h.codec.isUpgraded).toBe(false);
  });

  test("GET-looking bytes after the upgrade head are not parsed as HTTP", () => {
    const h = new Harness().feed(`${UPGRADE}GET / HTTP/1.1\r\nHost: a\r\n\r\n`);
    expect(h.streams).toHaveLength(1);
    expect(h.stream.events.at(-1)).toEqual({ kind: "upgrade", data: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", end: false });
  });

  test("split at every byte boundary", () => {
    const all = bytes(`${UPGRADE}raw bytes`);
    const run = (pieces: Uint8Array[]) => {
      const h = new Harness();
      for (const piece of pieces) h.feed(piece);
      const events = h.stream.events;
      const upgrade = events.filter((e) => e.kind === "upgrade").map((e) => (e.kind === "upgrade" ? e.data : "")).join("");
      return { head: events[0], rest: events.slice(1).filter((e) => e.kind !== "upgrade"), upgrade, errors: h.errors };
    };
    const whole = run([all]);
    expect(whole.upgrade).toBe("raw bytes");
    for (let cut = 1; cut < all.length; cut++) expect(run([all.subarray(0, cut), all.subarray(cut)]), `split at ${cut}`).toEqual(whole);
  });

  test("101 goes out as is, then raw bytes both ways", () => {
    const h = new Harness().feed(UPGRADE);
    h.stream.encoder.encodeHeaders(response(101, ["upgrade", "websocket"], ["connection", "Upgrade"]), false);
    expect(h.sink.take()).toBe("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n");
    h.stream.encoder.encodeUpgradeData(bytes("server bytes"), false);
    h.stream.encoder.encodeUpgradeData(bytes("bye"), true);
    expect(h.sink.writes).toEqual([
      { data: "server bytes", end: false },
      { data: "bye", end: true },
    ]);
    expect(h.responsesComplete).toBe(0);
  });

  test("an upgrade refused with a non-101 response closes the connection", () => {
    // The bytes after the head are not HTTP/1 (RFC 9110 §7.8): nothing more can be parsed.
    const h = new Harness().feed(UPGRADE);
    h.stream.encoder.encodeHeaders(response(403), true);
    expect(h.sink.text).toBe("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    expect(h.codec.keepAlive).toBe(false);
    expect(h.codec.isUpgraded).toBe(false);
    expect(h.responsesComplete).toBe(1);
    // Whatever the client still sends is dropped.
    h.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    expect(h.streams).toHaveLength(1);
    expect(h.stream.events.filter((e) => e.kind === "upgrade")).toEqual([]);
  });

  test("CONNECT: headers without end, tunnel bytes as upgrade data, 2xx with no framing", () => {
    const h = new Harness().feed("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01");
    expect(h.stream.events).toEqual([
      { kind: "headers", method: "CONNECT", path: "example.com:443", authority: "example.com:443", protocol: "HTTP/1.1", headers: [], end: false },
      { kind: "upgrade", data: "\x16\x03\x01", end: false },
    ]);
    h.stream.encoder.encodeHeaders(response(200), false);
    // RFC 9110 §9.3.6: no Content-Length or Transfer-Encoding in a 2xx to CONNECT.
    expect(h.sink.text).toBe("HTTP/1.1 200 OK\r\n\r\n");
  });
});

test("onRequestBegin fires at a request's first byte, before its headers are complete; a duplicate Host is a 400", () => {
  const h = new Harness();
  h.feed("GE");
  expect(h.requestsBegun).toBe(1);
  expect(h.streams).toHaveLength(0);
  h.feed("T / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  expect(h.errors).toEqual([{ status: 400, details: "http1.codec_error", reason: "multiple host headers" }]);
});

describe("Http1ServerCodec: transfer codings (Envoy refuses all but chunked alone)", () => {
  test.each([
    ["a coding below chunked", "Transfer-Encoding: gzip, chunked"],
    ["a coding without chunked", "Transfer-Encoding: gzip"],
    ["identity", "Transfer-Encoding: identity"],
    ["two fields", "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked"],
  ])("%s → 501 http1.invalid_transfer_encoding, before any stream", (_name, field) => {
    const h = new Harness().feed(`POST / HTTP/1.1\r\nHost: a\r\n${field}\r\n\r\n3\r\nabc\r\n0\r\n\r\n`);
    expect(h.errors).toEqual([{ status: 501, details: "http1.invalid_transfer_encoding", reason: "unsupported transfer encoding" }]);
    expect(h.streams).toHaveLength(0);
    expect(h.codec.keepAlive).toBe(false);
  });

  test("CONNECT with a transfer coding → 501", () => {
    const h = new Harness().feed("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nTransfer-Encoding: chunked\r\n\r\n");
    expect(h.errors).toMatchObject([{ status: 501, details: "http1.invalid_transfer_encoding" }]);
    expect(h.streams).toHaveLength(0);
  });

  test("chunked in any case is the body's framing", () => {
    const h = new Harness().feed("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    expect(h.errors).toEqual([]);
    expect(h.normalized()[0]).toMatchObject([{ kind: "headers", end: false }, { kind: "data", data: "abc", end: true }]);
  });
});

describe("Http1ServerCodec: absolute-form targets (Envoy's handlePath)", () => {
  const head = (target: string, method = "GET") => new Harness().feed(`${method} ${target} HTTP/1.1\r\nHost: a.test\r\nX: y\r\n\r\n`);

  test.each([
    ["http://other.test/x?y=1", "other.test", "/x?y=1"],
    ["http://other.test:8080/x", "other.test:8080", "/x"],
    ["http://other.test", "other.test", "/"],
    ["http://other.test?q=1", "other.test", "/?q=1"],
    ["HTTPS://Other.Test/", "Other.Test", "/"],
    ["http://user:pw@other.test/x", "other.test", "/x"],
    ["http://[::1]:8080/x", "[::1]:8080", "/x"],
    ["http://10.0.0.1/x", "10.0.0.1", "/x"],
  ])("%s → :authority %s, origin-form %s, Host replaced", (target, authority, path) => {
    const h = head(target);
    expect(h.errors).toEqual([]);
    expect(h.stream.events[0]).toMatchObject({ kind: "headers", authority, path, headers: [["x", "y"]] });
  });

  test("without a Host field the URL's authority is the authority", () => {
    const h = new Harness().feed("GET http://b.test/p HTTP/1.0\r\n\r\n");
    expect(h.stream.events[0]).toMatchObject({ authority: "b.test", path: "/p", protocol: "HTTP/1.0" });
  });

  test.each([
    ["*", "http1.invalid_url"],
    ["http://a.test:99999/", "http1.invalid_url"],
    ["http://a.test:/", "http1.invalid_url"],
    ["ftp://a.test/x", "http1.invalid_scheme"],
  ])("%s → 400 %s", (target, details) => {
    const h = head(target);
    expect(h.errors).toMatchObject([{ status: 400, details }]);
    expect(h.streams).toHaveLength(0);
    expect(h.codec.keepAlive).toBe(false);
  });

  test("OPTIONS * and origin-form stay as sent", () => {
    expect(head("*", "OPTIONS").stream.events[0]).toMatchObject({ path: "*", authority: "a.test" });
    expect(head("/a/b?c").stream.events[0]).toMatchObject({ path: "/a/b?c", authority: "a.test" });
  });
});
