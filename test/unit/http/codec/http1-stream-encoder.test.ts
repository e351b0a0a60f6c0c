/**
 * The stream encoder both HTTP/1 directions share (stream-encoder.ts): the same framing
 * rules for a response and a request, and a round trip through the other direction's
 * parser for random messages (fast-check): what one codec encodes, the other decodes
 * as sent — fields in order, body bytes, trailers when the body is chunked.
 */
import { afterEach, describe, expect, test } from "vitest";
import fc from "fast-check";
import type { RequestDecoder, ResponseDecoder, ResponseEncoder, ServerConnectionCallbacks, StreamEncoder } from "../../../../core/http/codec/codec.ts";
import { Http1ClientCodec } from "../../../../core/http/codec/http1-client-codec.ts";
import { Http1ServerCodec } from "../../../../core/http/codec/http1-server-codec.ts";
import { HeaderMap } from "../../../../core/http/header-map.ts";
import { RequestHeaders, ResponseHeaders } from "../../../../core/http/message.ts";
import type { ByteSink } from "../../../../core/network/byte-sink.ts";

const bytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const latin1 = (data: Uint8Array): string => Array.from(data, (b) => String.fromCharCode(b)).join("");

class Sink implements ByteSink {
  chunks: Uint8Array[] = [];
  write(data: Uint8Array): void {
    this.chunks.push(data.slice());
  }
  take(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.byteLength, 0));
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.byteLength;
    }
    this.chunks = [];
    return out;
  }
}

/** What a decoder saw, in a comparable form. */
interface Seen {
  head?: HeaderMap;
  body: string;
  trailers?: [string, string][];
  ended: boolean;
}

class Decoder implements RequestDecoder, ResponseDecoder {
  seen: Seen = { body: "", ended: false };
  decodeHeaders(headers: RequestHeaders | ResponseHeaders, endStream: boolean): void {
    this.seen.head = headers;
    if (endStream) this.seen.ended = true;
  }
  decodeData(data: Uint8Array, endStream: boolean): void {
    this.seen.body += latin1(data);
    if (endStream) this.seen.ended = true;
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.seen.trailers = trailers.entries();
    this.seen.ended = true;
  }
  decodeUpgradeData(): void {
    throw new Error("no upgrade here");
  }
}

class Server implements ServerConnectionCallbacks {
  readonly sink = new Sink();
  readonly codec = new Http1ServerCodec(this.sink, this, { maxRequestHeadersBytes: 60 * 1024, maxHeadersCount: 100, enableTrailers: true });
  readonly decoder = new Decoder();
  encoder: ResponseEncoder | undefined;
  errors: string[] = [];
  onRequestBegin(): void {}
  newStream(encoder: ResponseEncoder): RequestDecoder {
    this.encoder = encoder;
    return this.decoder;
  }
  onCodecError(error: { details: string; reason: string }): void {
    this.errors.push(`${error.details}: ${error.reason}`);
  }
  onResponseComplete(): void {}
}

const codecs: { destroy(): void }[] = [];
afterEach(() => {
  for (const codec of codecs.splice(0)) codec.destroy();
});

function server(): Server {
  const s = new Server();
  codecs.push(s.codec);
  return s;
}

function client(): { codec: Http1ClientCodec; sink: Sink } {
  const sink = new Sink();
  const codec = new Http1ClientCodec(sink, true);
  codecs.push(codec);
  return { codec, sink };
}

/** A message: fields, body pieces, and how it ends. */
interface Message {
  fields: [string, string][];
  pieces: string[];
  /** "headers": no body, ends at the head; "data": ends with the last piece; "trailers": ends with trailers. */
  end: "headers" | "data" | "trailers";
  trailers: [string, string][];
  /** Sent with its own content-length (then trailers cannot be carried). */
  knownLength: boolean;
}

/** Send `message` through an encoder: the head by `encodeHead`, then the body and the end. */
function encodeMessage(message: Message, encoder: StreamEncoder, encodeHead: (endStream: boolean) => void): void {
  encodeHead(message.end === "headers");
  if (message.end === "headers") return;
  message.pieces.forEach((piece, i) => encoder.encodeData(bytes(piece), message.end === "data" && i === message.pieces.length - 1));
  if (message.end === "data" && message.pieces.length === 0) encoder.encodeData(new Uint8Array(0), true);
  if (message.end === "trailers") {
    const trailers = new HeaderMap();
    for (const [name, value] of message.trailers) trailers.add(name, value);
    encoder.encodeTrailers(trailers);
  }
}

function withFields<T extends HeaderMap>(head: T, message: Message): T {
  for (const [name, value] of message.fields) head.add(name, value);
  if (message.knownLength) head.add("content-length", String(message.end === "headers" ? 0 : message.pieces.join("").length));
  return head;
}

/** Field names a message may carry that are not framing or connection fields (the codec writes those). */
const fieldName = fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/).filter((n) => !FRAMING.has(n));
const FRAMING = new Set(["content-length", "transfer-encoding", "connection", "host", "keep-alive", "upgrade", "te", "trailer", "expect"]);
/** Field values as llhttp gives them back: visible ASCII and inner spaces, no surrounding whitespace. */
const fieldValue = fc.stringMatching(/^([!-~]([ -~]{0,10}[!-~])?)?$/);
const message: fc.Arbitrary<Message> = fc.record({
  fields: fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 6 }),
  pieces: fc.array(fc.string({ unit: "binary-ascii", maxLength: 40 }), { maxLength: 5 }),
  end: fc.constantFrom("headers", "data", "trailers"),
  trailers: fc.array(fc.tuple(fieldName, fieldValue), { minLength: 1, maxLength: 3 }),
  knownLength: fc.boolean(),
});

/** What the other side must see of `message`. */
function expectSeen(seen: Seen, sent: Message): void {
  const body = sent.end === "headers" ? "" : sent.pieces.join("");
  expect(seen.ended).toBe(true);
  expect(seen.body).toBe(body);
  const fields = seen.head!.entries().filter(([name]) => !FRAMING.has(name));
  expect(fields).toEqual(sent.fields);
  // Trailers ride on a chunked body only: a known length or an empty message drops them.
  const carried = sent.end === "trailers" && !sent.knownLength;
  if (carried) expect(seen.trailers).toEqual(sent.trailers);
  else expect(seen.trailers).toBeUndefined();
}

describe("the shared stream encoder: framing", () => {
  test("a response and a request of unknown length are chunked alike, trailers after the last chunk", () => {
    const s = server();
    s.codec.dispatch(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), false);
    const trailers = new HeaderMap();
    trailers.add("x-t", "1");
    s.encoder!.encodeHeaders(new ResponseHeaders(200), false);
    s.encoder!.encodeData(bytes("abc"), false);
    s.encoder!.encodeTrailers(trailers);
    const response = latin1(s.sink.take());

    const c = client();
    const request = new RequestHeaders();
    request.method = "POST";
    request.authority = "a";
    const encoder = c.codec.newStream(new Decoder());
    encoder.encodeHeaders(request, false);
    encoder.encodeData(bytes("abc"), false);
    encoder.encodeTrailers(trailers);
    const sent = latin1(c.sink.take());

    const body = "transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-t: 1\r\n\r\n";
    expect(response).toBe(`HTTP/1.1 200 OK\r\n${body}`);
    expect(sent).toBe(`POST / HTTP/1.1\r\nhost: a\r\n${body}`);
  });

  test("a known length: the bytes as they are, no last chunk, trailers dropped", () => {
    const c = client();
    const request = new RequestHeaders();
    request.method = "PUT";
    request.add("content-length", "3");
    const encoder = c.codec.newStream(new Decoder());
    encoder.encodeHeaders(request, false);
    encoder.encodeData(bytes("ab"), false);
    encoder.encodeData(bytes("c"), false);
    encoder.encodeTrailers(new HeaderMap());
    expect(latin1(c.sink.take())).toBe("PUT / HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc");
  });

  test("a known length: no byte past it goes out, however much a filter hands over (the rest would be read as the next message)", () => {
    const c = client();
    const request = new RequestHeaders();
    request.method = "POST";
    request.add("content-length", "5");
    const encoder = c.codec.newStream(new Decoder());
    encoder.encodeHeaders(request, false);
    encoder.encodeData(bytes("abc"), false);
    encoder.encodeData(bytes("de\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: a\r\n\r\n"), false);
    encoder.encodeData(bytes("more"), true);
    expect(latin1(c.sink.take())).toBe("POST / HTTP/1.1\r\ncontent-length: 5\r\n\r\nabcde");
  });

  test("an empty end of stream writes only the last chunk", () => {
    const s = server();
    s.codec.dispatch(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), false);
    s.encoder!.encodeHeaders(new ResponseHeaders(200), false);
    s.encoder!.encodeData(new Uint8Array(0), false);
    s.encoder!.encodeData(new Uint8Array(0), true);
    expect(latin1(s.sink.take())).toBe("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n");
  });
});

describe("the shared stream encoder: round trips (fast-check)", () => {
  test("a response the server codec encodes, the client codec decodes as sent", () => {
    fc.assert(
      fc.property(message, fc.integer({ min: 200, max: 599 }).filter((s) => s !== 204 && s !== 304), (sent, status) => {
        const s = server();
        s.codec.dispatch(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), false);
        encodeMessage(sent, s.encoder!, (endStream) => s.encoder!.encodeHeaders(withFields(new ResponseHeaders(status), sent), endStream));
        const c = client();
        const decoder = new Decoder();
        c.codec.newStream(decoder).encodeHeaders(new RequestHeaders(), true);
        expect(c.codec.dispatch(s.sink.take(), false)).toBe(true);
        expect((decoder.seen.head as ResponseHeaders).status).toBe(status);
        expectSeen(decoder.seen, sent);
        expect(c.codec.keepAlive).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  test("a request the client codec encodes, the server codec decodes as sent", () => {
    fc.assert(
      fc.property(message, fc.constantFrom("GET", "POST", "PUT", "DELETE", "OPTIONS"), fc.stringMatching(/^\/[a-z0-9/?=&.-]{0,20}$/), (sent, method, path) => {
        const c = client();
        const request = withFields(new RequestHeaders(), sent);
        request.method = method;
        request.path = path;
        request.authority = "up.test";
        const encoder = c.codec.newStream(new Decoder());
        encodeMessage(sent, encoder, (endStream) => encoder.encodeHeaders(request, endStream));
        const s = server();
        s.codec.dispatch(c.sink.take(), false);
        expect(s.errors).toEqual([]);
        const head = s.decoder.seen.head as RequestHeaders;
        expect([head.method, head.path, head.authority]).toEqual([method, path, "up.test"]);
        expectSeen(s.decoder.seen, sent);
      }),
      { numRuns: 200 },
    );
  });
});
