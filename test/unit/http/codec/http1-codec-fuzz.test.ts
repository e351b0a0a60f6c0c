/**
 * Fuzzing the HTTP/1 codecs (issue #32, "Protections to add"): Http1ServerCodec and
 * Http1ClientCodec driven directly, as the connection manager and the router drive
 * them, with generated, mutated and random byte streams (the smuggling and malformed
 * cases of the unit and e2e tests as seeds) cut into random reads. Properties:
 *
 * - nothing throws out of the codec;
 * - the same bytes in any reads give the same events, errors and responses (one read,
 *   random cuts, one byte at a time), and answering from inside a callback or after
 *   the read gives the same too;
 * - every stream is well-formed (headers, data…, exactly one end; nothing after it) and
 *   ends in a response, a protocol error, or the client's close before its end;
 * - one interpretation of a message: nothing with both Content-Length and
 *   Transfer-Encoding, two Content-Lengths, or a Transfer-Encoding not ending in chunked
 *   reaches a decoder, and a body is exactly as long as its Content-Length says;
 * - bounded memory: what the server codec holds between reads is at most the read
 *   that completed a request, and a head never grows past its limit.
 *
 * A bounded run in CI; a longer one by hand, e.g. `FC_NUM_RUNS=50000`, replay a failure
 * with the FC_SEED (and FC_PATH) fast-check prints (see test/support/fuzz.ts).
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { CodecError, RequestDecoder, ResponseDecoder, ResponseEncoder, ServerConnectionCallbacks } from "../../../../core/http/codec/codec.ts";
import { Http1ClientCodec } from "../../../../core/http/codec/http1-client-codec.ts";
import { Http1ServerCodec } from "../../../../core/http/codec/http1-server-codec.ts";
import type { HeaderMap } from "../../../../core/http/header-map.ts";
import { RequestHeaders, ResponseHeaders } from "../../../../core/http/message.ts";
import type { ByteSink } from "../../../../core/network/byte-sink.ts";
import { bytewise, concatBytes, cutsArb, fuzzParameters, fuzzTimeout, latin1, latin1Bytes, mutate, mutationArb, splitAt, WIRE_TOKENS } from "../../../support/fuzz.ts";

// ------------------------------------------------------------------ seeds

/** Requests from the codec, wire and hardening tests: well-formed, smuggling attempts and malformed. */
const REQUEST_SEEDS = [
  "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n",
  "GET / HTTP/1.1\r\nHOST: a\r\nX-MiXeD-Case: VaLuE\r\nX-Spaces:   v  w \r\nX-Empty:\r\nX-Next: n\r\n\r\n",
  "POST /submit HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n0123456789",
  "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n",
  "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcPOST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n",
  "GET /slow/1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /slow/3 HTTP/1.1\r\nHost: a\r\n\r\nGET /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
  "GET / HTTP/1.0\r\n\r\n",
  "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
  "PUT /expect HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nabcd",
  "GET /hop HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Drop-Me\r\nX-Drop-Me: gone\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nX-Kept: yes\r\n\r\n",
  "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\n\r\n\x81\x02hi",
  "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\nraw",
  "GET http://other.test/x HTTP/1.1\r\nHost: a.test\r\n\r\n",
  // Smuggling and malformed (http-hardening, http-wire, http1-server-codec tests).
  "POST /smuggle HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: internal\r\n\r\n",
  "POST /public HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2e\r\nGET /admin HTTP/1.1\r\nHost: internal\r\n\r\n\r\n0\r\n\r\n",
  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
  "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc",
  "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
  "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n",
  "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
  "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n",
  "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n",
  "GET / HTTP/9.9\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
  "GET / HTTP/1.1\nHost: a\n\n",
  "GET /a b c HTTP/1.1\r\nHost: a\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
  "GET / HTTP/1.1\r\n\r\n",
  "GARBAGE\r\n\r\n",
  "GET / HTTP/1.1\r\nHost: a\r\n",
  "POST /early HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\npartial",
  "GET / HTTP/1.1\r\nHost: a\r\nX-L: caf\xe9\r\n\r\n",
].map(latin1Bytes);

/** Responses from the client codec and randomized tests: well-formed, interim, upgrades and garbage. */
const RESPONSE_SEEDS = [
  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n",
  "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nclose-delimited body",
  "HTTP/1.1 204 No Content\r\n\r\n",
  "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
  "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi",
  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5, max=100\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
  "HTTP/1.1 2OO OK\r\n\r\n",
  "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\n\x1f\x8b\x08\r\n0\r\n\r\n",
  "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
  "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ncut short",
  "HTTP/1.0 200 OK\r\n\r\nhttp/1.0 body",
  "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
].map(latin1Bytes);

/**
 * Bugs the fuzzers found whose fix belongs to the codec's owners: while true, the
 * properties work around them (each has an it.fails regression test below; set it to
 * false, or delete it, once the fix lands).
 */
const KNOWN_BUGS = {
  /** BUG-TE: see "transfer codings other than chunked…" below (fixed on main by the codec rewrite). */
  transferCodings: false,
  /** BUG-SIZE: see "a head over the size limit inside a field name…" below. */
  sizeLimitByReads: true,
};

// ------------------------------------------------------------------ generated messages

const TOKEN = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const VALUE = fc.oneof(fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,20}[\x21-\x7e])?$/), fc.constantFrom("", " padded ", "a\tb", "caf\xe9"));
const BODY = fc.oneof({ weight: 3, arbitrary: fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x00-\xff]/g, "?")) }, { weight: 1, arbitrary: fc.constant("x".repeat(300)) });

/** A header field from names that matter for framing, plus arbitrary ones. */
const FIELD: fc.Arbitrary<[string, string]> = fc.oneof(
  fc.tuple(TOKEN, VALUE),
  fc.tuple(fc.constantFrom("Content-Length", "content-length", "CONTENT-LENGTH"), fc.oneof(fc.nat({ max: 50 }).map(String), fc.constantFrom("", "-1", "1x", "3, 3", " 5", "0x10", "99999999999999999999"))),
  fc.tuple(fc.constantFrom("Transfer-Encoding", "transfer-encoding"), fc.constantFrom("chunked", "Chunked", "gzip", "gzip, chunked", "chunked, gzip", "identity", "chunked, chunked", "")),
  fc.tuple(fc.constant("Connection"), fc.constantFrom("close", "keep-alive", "upgrade", "Upgrade, close")),
  fc.tuple(fc.constant("Upgrade"), fc.constantFrom("websocket", "h2c")),
  fc.tuple(fc.constant("Host"), fc.constantFrom("a", "b.test", "", "a:80")),
  fc.tuple(fc.constant("Expect"), fc.constant("100-continue")),
  fc.tuple(fc.constant("Keep-Alive"), fc.constantFrom("timeout=5", "timeout=x")),
);

function fields(list: [string, string][]): string {
  return list.map(([n, v]) => `${n}: ${v}\r\n`).join("");
}

/** A body framed as its fields say, or not (the fields may lie). */
const FRAMED_BODY = fc.oneof(
  fc.constant({ fields: [] as [string, string][], body: "" }),
  BODY.map((b) => ({ fields: [["Content-Length", String(b.length)]] as [string, string][], body: b })),
  fc.tuple(fc.array(BODY, { maxLength: 3 }), fc.array(fc.tuple(TOKEN, VALUE), { maxLength: 2 })).map(([chunks, trailers]) => ({
    fields: [["Transfer-Encoding", "chunked"]] as [string, string][],
    body: chunks.filter((c) => c.length > 0).map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join("") + `0\r\n${fields(trailers)}\r\n`,
  })),
);

const REQUEST_TEXT: fc.Arbitrary<string> = fc
  .record({
    method: fc.constantFrom("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "QUERY", "get", "FOO"),
    target: fc.constantFrom("/", "/a?b=c", "*", "http://x.test/p", "x.test:443", "/%2e%2e/", "//", "/a#frag"),
    version: fc.constantFrom("HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.2"),
    host: fc.boolean(),
    extra: fc.array(FIELD, { maxLength: 5 }),
    framed: FRAMED_BODY,
  })
  .map((r) => `${r.method} ${r.target} ${r.version}\r\n${r.host ? "Host: a\r\n" : ""}${fields([...r.framed.fields, ...r.extra])}\r\n${r.framed.body}`);

const RESPONSE_TEXT: fc.Arbitrary<string> = fc
  .record({
    version: fc.constantFrom("HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0"),
    status: fc.constantFrom(100, 101, 103, 200, 200, 204, 206, 304, 404, 500, 503, 999, 42),
    reason: fc.constantFrom("OK", "", "Whatever Reason"),
    extra: fc.array(FIELD, { maxLength: 5 }),
    framed: FRAMED_BODY,
  })
  .map((r) => `${r.version} ${r.status}${r.reason ? ` ${r.reason}` : ""}\r\n${fields([...r.framed.fields, ...r.extra])}\r\n${r.framed.body}`);

/** A stream of messages: seeds, generated ones, pipelined, mutated, or random bytes. */
function streamArb(seeds: Uint8Array[], message: fc.Arbitrary<string>): fc.Arbitrary<Uint8Array> {
  const one = fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...seeds) }, { weight: 3, arbitrary: message.map(latin1Bytes) });
  const pipelined = fc.array(one, { minLength: 1, maxLength: 4 }).map(concatBytes);
  return fc.oneof(
    { weight: 3, arbitrary: pipelined },
    { weight: 5, arbitrary: fc.tuple(pipelined, fc.array(mutationArb(), { minLength: 1, maxLength: 4 })).map(([data, ms]) => mutate(data, ms)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.array(fc.constantFrom(...WIRE_TOKENS, ...seeds.slice(0, 3)), { maxLength: 12 }).map(concatBytes) },
  );
}

// ------------------------------------------------------------------ server codec harness

type Event =
  | { kind: "headers"; method: string; path: string; authority: string; protocol: string; upgrade: boolean; headers: [string, string][]; end: boolean }
  | { kind: "data"; data: string; end: boolean }
  | { kind: "trailers"; trailers: [string, string][] }
  | { kind: "upgrade"; data: string; end: boolean };

interface ServerRun {
  streams: Event[][];
  errors: { status: number; details: string }[];
  output: string;
  requestsBegun: number;
  /** Violations seen while running (checked whatever the split). */
  problems: string[];
}

/** Merge adjacent data (and upgrade) events and drop empty non-final ones, so reads do not matter. */
function normalize(events: Event[]): Event[] {
  const out: Event[] = [];
  for (const event of events) {
    const last = out[out.length - 1];
    if ((event.kind === "data" || event.kind === "upgrade") && last?.kind === event.kind && !last.end) {
      out[out.length - 1] = { kind: event.kind, data: last.data + event.data, end: event.end };
    } else if ((event.kind === "data" || event.kind === "upgrade") && event.data === "" && !event.end) {
      continue;
    } else {
      out.push(event);
    }
  }
  return out;
}

class Sink implements ByteSink {
  parts: string[] = [];
  write(data: Uint8Array): void {
    this.parts.push(latin1(data));
  }
}

type Limits = { maxRequestHeadersBytes: number; maxHeadersCount: number };
const LIMITS: Limits = { maxRequestHeadersBytes: 4096, maxHeadersCount: 20 };
/** Small limits too, so heads cross them at every point of a stream (431s). */
const LIMITS_ARB: fc.Arbitrary<Limits> = fc.constantFrom(LIMITS, LIMITS, { maxRequestHeadersBytes: 120, maxHeadersCount: 3 });

/**
 * Drives an Http1ServerCodec as the connection manager does: answers each complete
 * request (from inside the decoder callback, or after the read), resumes the codec,
 * never feeds it while a request awaits its response (reading is disabled then), and
 * stops at a codec error or a response that closes the connection.
 */
class ServerHarness implements ServerConnectionCallbacks {
  readonly sink = new Sink();
  readonly codec: Http1ServerCodec;
  readonly streams: StreamRecorder[] = [];
  readonly errors: CodecError[] = [];
  readonly problems: string[] = [];
  requestsBegun = 0;
  /** Complete requests not answered yet (the "after the read" mode). */
  private unanswered: StreamRecorder[] = [];
  closed = false;

  constructor(
    readonly answerInCallback: boolean,
    readonly limits: Limits,
  ) {
    this.codec = new Http1ServerCodec(this.sink, this, limits);
  }

  onRequestBegin(): void {
    this.requestsBegun++;
  }
  newStream(encoder: ResponseEncoder): RequestDecoder {
    const stream = new StreamRecorder(this, encoder, this.streams.length);
    this.streams.push(stream);
    return stream;
  }
  onCodecError(error: CodecError): void {
    if (this.errors.length > 0) {
      this.problems.push(`a second codec error: ${error.reason} after ${this.errors[0]!.reason}`);
    }
    this.errors.push(error);
    this.closed = true;
  }
  onResponseComplete(): void {}

  /** The stream's request is complete (or upgraded): answer it now or after the read. */
  requestDone(stream: StreamRecorder): void {
    if (this.answerInCallback) this.answer(stream);
    else this.unanswered.push(stream);
  }

  private answer(stream: StreamRecorder): void {
    if (stream.answered) this.problems.push(`stream ${stream.index} answered twice`);
    stream.answered = true;
    if (stream.upgrade) {
      stream.encoder.encodeHeaders(new ResponseHeaders(101), false);
      return;
    }
    const response = new ResponseHeaders(200);
    response.add("x-stream", String(stream.index));
    stream.encoder.encodeHeaders(response, true);
    if (!this.codec.keepAlive) this.closed = true;
    else this.codec.resume();
  }

  feed(data: Uint8Array, endStream: boolean): void {
    if (this.closed) return;
    this.codec.dispatch(data, endStream);
    this.checkBounds(data);
    while (this.unanswered.length > 0 && !this.closed) this.answer(this.unanswered.shift()!);
    this.checkBounds(data);
  }

  /** What the codec holds between reads: at most the read that completed a request; a head within its limit. */
  private checkBounds(read: Uint8Array): void {
    const internals = this.codec as unknown as { pending?: Uint8Array; headBytes: number };
    const held = internals.pending?.byteLength ?? 0;
    if (held > read.byteLength) this.problems.push(`holds ${held} bytes after a read of ${read.byteLength}`);
    // (The count passes the limit by the span that crossed it, and that is refused: 431.)
    if (internals.headBytes > this.limits.maxRequestHeadersBytes && this.errors.length === 0) this.problems.push(`head of ${internals.headBytes} bytes held, over the limit`);
  }

  result(): ServerRun {
    const streams = this.streams.map((s) => normalize(s.events));
    const problems = [...this.problems];
    streams.forEach((events, i) => problems.push(...checkStream(events, i, this.errors.length > 0 && i === streams.length - 1)));
    return { streams, errors: this.errors.map((e) => ({ status: e.status, details: e.details })), output: this.sink.parts.join(""), requestsBegun: this.requestsBegun, problems };
  }
}

class StreamRecorder implements RequestDecoder {
  events: Event[] = [];
  answered = false;
  upgrade = false;
  ended = false;
  constructor(
    private readonly harness: ServerHarness,
    readonly encoder: ResponseEncoder,
    readonly index: number,
  ) {}
  decodeHeaders(h: RequestHeaders, endStream: boolean): void {
    this.events.push({ kind: "headers", method: h.method, path: h.path, authority: h.authority, protocol: h.protocol, upgrade: h.upgrade, headers: fieldsOf(h), end: endStream });
    this.upgrade = h.upgrade;
    if (endStream || h.upgrade) this.end();
  }
  decodeData(data: Uint8Array, endStream: boolean): void {
    this.events.push({ kind: "data", data: latin1(data), end: endStream });
    if (endStream) this.end();
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.events.push({ kind: "trailers", trailers: fieldsOf(trailers) });
    this.end();
  }
  decodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.events.push({ kind: "upgrade", data: latin1(data), end: endStream });
  }
  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.harness.requestDone(this);
  }
}

function fieldsOf(map: HeaderMap): [string, string][] {
  return map.entries();
}

/** A request's fields that decide its framing: present only when unambiguous. */
function checkFraming(headers: [string, string][], body: string | undefined, what: string, errored = false): string[] {
  const problems: string[] = [];
  const cl = headers.filter(([n]) => n === "content-length").map(([, v]) => v);
  let te = headers.filter(([n]) => n === "transfer-encoding").map(([, v]) => v);
  // (BUG-TE: llhttp reads an empty Transfer-Encoding as none.)
  if (KNOWN_BUGS.transferCodings && te.every((v) => v.trim() === "")) te = [];
  if (cl.length > 0 && te.length > 0) problems.push(`${what}: both content-length and transfer-encoding reached the decoder`);
  if (cl.length > 1) problems.push(`${what}: ${cl.length} content-length fields reached the decoder`);
  if (cl.length === 1 && !/^\d+$/.test(cl[0]!)) problems.push(`${what}: content-length ${JSON.stringify(cl[0])} reached the decoder`);
  // Envoy's codec accepts no transfer coding but chunked (http1 codec: 501 downstream,
  // a protocol error upstream). BUG-TE (issue #32, item 6): llhttp takes "gzip, chunked"
  // an empty field, or a second, empty Transfer-Encoding field (and, in a response, any
  // coding, read until close): until that is fixed the fuzz checks only that a request's
  // last non-empty coding, if any, is chunked; see the regression tests.
  if (te.length > 0) {
    const codings = te.join(",").split(",").map((c) => c.trim().toLowerCase());
    if (!KNOWN_BUGS.transferCodings && (codings.length !== 1 || codings[0] !== "chunked")) {
      problems.push(`${what}: transfer-encoding ${JSON.stringify(te.join(", "))} is not just chunked`);
    } else if (what !== "response" && !errored && !["chunked", undefined].includes(codings.filter((c) => c !== "").at(-1))) {
      // (Such a request's headers do reach the decoder, and a codec error follows: llhttp
      // checks the coding after on_headers_complete. Envoy answers 501 before any filter.)
      problems.push(`${what}: transfer-encoding ${JSON.stringify(te.join(", "))} does not end in chunked`);
    }
  }
  if (cl.length === 1 && te.length === 0 && body !== undefined && /^\d+$/.test(cl[0]!) && body.length !== Number(cl[0])) {
    problems.push(`${what}: a body of ${body.length} bytes for content-length ${cl[0]}`);
  }
  return problems;
}

/** One stream's events are well-formed, and its framing was unambiguous. */
function checkStream(events: Event[], index: number, errored: boolean): string[] {
  const problems: string[] = [];
  const what = `stream ${index}`;
  const head = events[0];
  if (head?.kind !== "headers") return [`${what}: first event is ${head?.kind}`];
  let ended = head.end;
  let body = "";
  for (const event of events.slice(1)) {
    if (event.kind === "upgrade") {
      if (!head.upgrade) problems.push(`${what}: upgrade data on a stream that is no upgrade`);
      continue;
    }
    if (ended) problems.push(`${what}: ${event.kind} after the end of the request`);
    if (head.upgrade) problems.push(`${what}: ${event.kind} on an upgraded stream`);
    if (event.kind === "headers") problems.push(`${what}: headers twice`);
    if (event.kind === "data") {
      body += event.data;
      ended = event.end;
    }
    if (event.kind === "trailers") ended = true;
  }
  if (!ended && !head.upgrade && !errored) problems.push(`${what}: neither complete nor failed`);
  // (An upgrade's or CONNECT's bytes after the head are a tunnel, not a framed body; BUG-TE
  // lets it carry any Transfer-Encoding, which Envoy refuses.)
  problems.push(...checkFraming(head.headers, ended ? body : undefined, what, errored || (KNOWN_BUGS.transferCodings && head.upgrade)));
  return problems;
}

/** Feeds `reads` (FIN with the last one, or after it) and returns what came out; a throw is a problem. */
function runServer(reads: Uint8Array[], answerInCallback: boolean, finWithLast: boolean, limits = LIMITS): ServerRun {
  const h = new ServerHarness(answerInCallback, limits);
  try {
    reads.forEach((read, i) => h.feed(read, finWithLast && i === reads.length - 1));
    if (!finWithLast) h.feed(new Uint8Array(0), true);
  } catch (err) {
    h.problems.push(`threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    h.codec.destroy();
  }
  return h.result();
}

// ------------------------------------------------------------------ client codec harness

interface ClientRun {
  events: Event[];
  protocolError: boolean;
  complete: boolean;
  upgraded: boolean;
  problems: string[];
}

class ResponseRecorder implements ResponseDecoder {
  events: Event[] = [];
  decodeHeaders(h: ResponseHeaders, endStream: boolean): void {
    this.events.push({ kind: "headers", method: "", path: String(h.status), authority: "", protocol: "", upgrade: false, headers: fieldsOf(h), end: endStream });
  }
  decodeData(data: Uint8Array, endStream: boolean): void {
    this.events.push({ kind: "data", data: latin1(data), end: endStream });
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.events.push({ kind: "trailers", trailers: fieldsOf(trailers) });
  }
  decodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.events.push({ kind: "upgrade", data: latin1(data), end: endStream });
  }
}

/** One request (of `method`) on a fresh upstream connection, its response bytes in `reads`, then the upstream's FIN. */
function runClient(method: string, reads: Uint8Array[]): ClientRun {
  const codec = new Http1ClientCodec(new Sink());
  const recorder = new ResponseRecorder();
  const problems: string[] = [];
  let failed = false;
  try {
    const request = new RequestHeaders();
    request.method = method;
    request.path = "/";
    request.authority = "a";
    request.upgrade = method === "CONNECT";
    codec.newStream(recorder).encodeHeaders(request, true);
    // As the pool does: nothing more is fed after a protocol error (the connection closes).
    for (const read of reads) if (!codec.dispatch(read, false)) failed = true;
    if (!failed && !codec.dispatch(new Uint8Array(0), true)) failed = true;
  } catch (err) {
    problems.push(`threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    codec.destroy();
  }
  const events = normalize(recorder.events);
  if (failed !== (codec.protocolError !== undefined)) problems.push(`dispatch said ${failed ? "failed" : "ok"} but protocolError is ${codec.protocolError}`);
  // A complete response: headers, then data with one end; its framing unambiguous.
  if (codec.responseComplete) {
    const head = events[0];
    if (head?.kind !== "headers") problems.push(`complete response starts with ${head?.kind}`);
    else {
      const ends = events.filter((e) => (e.kind === "headers" && e.end) || (e.kind === "data" && e.end) || e.kind === "trailers");
      if (ends.length !== 1) problems.push(`complete response with ${ends.length} ends`);
      const status = Number(head.path);
      const bodyless = method === "HEAD" || status === 204 || status === 304;
      const body = events.filter((e) => e.kind === "data").map((e) => (e as { data: string }).data).join("");
      if (!bodyless) problems.push(...checkFraming(head.headers, body, "response"));
    }
  } else if (events.some((e) => (e.kind === "data" && e.end) || e.kind === "trailers" || (e.kind === "headers" && e.end))) {
    problems.push("an end was decoded but the response is not complete");
  }
  return { events, protocolError: codec.protocolError !== undefined, complete: codec.responseComplete, upgraded: codec.isUpgraded, problems };
}

// ------------------------------------------------------------------ properties

/** A run as compared across reads: while BUG-SIZE stands, a 431 for the head's size and a 400 count as one refusal. */
function comparable(run: ServerRun): ServerRun {
  if (!KNOWN_BUGS.sizeLimitByReads) return run;
  return { ...run, errors: run.errors.map((e) => (e.details === "http1.headers_too_large" ? { status: 400, details: "http1.codec_error" } : e)) };
}

const RUNS = 1000;

describe("HTTP/1 server codec fuzz", () => {
  test(
    "random and mutated request streams: no throw, same events in any reads, well-formed unambiguous streams, bounded buffering",
    () => {
      fc.assert(
        fc.property(streamArb(REQUEST_SEEDS, REQUEST_TEXT), cutsArb(), fc.boolean(), LIMITS_ARB, (data, cuts, finWithLast, limits) => {
          const whole = runServer([data], false, finWithLast, limits);
          expect(whole.problems).toEqual([]);
          // Every request begun has a stream, but the last when its head was cut by an error or the FIN.
          expect(whole.requestsBegun - whole.streams.length).toBeGreaterThanOrEqual(0);
          expect(whole.requestsBegun - whole.streams.length).toBeLessThanOrEqual(1);
          const split = runServer(splitAt(data, cuts), false, finWithLast, limits);
          expect(split.problems).toEqual([]);
          // A FIN in the read that completed a request makes its response the last
          // (connection: close); read later, the response may have gone out before it.
          const outcome = (run: ServerRun) => comparable(finWithLast ? { ...run, output: run.output.replace(/connection: (close|keep-alive)\r\n/g, "") } : run);
          expect(outcome(split)).toEqual(outcome(whole));
          const inCallback = runServer(splitAt(data, cuts), true, finWithLast, limits);
          expect(outcome(inCallback)).toEqual(outcome(whole));
        }),
        fuzzParameters(RUNS),
      );
    },
    fuzzTimeout(RUNS, 20_000),
  );

  test(
    "one byte per read gives the same as one read",
    () => {
      fc.assert(
        fc.property(streamArb(REQUEST_SEEDS, REQUEST_TEXT), LIMITS_ARB, (data, limits) => {
          const whole = runServer([data], true, false, limits);
          expect(whole.problems).toEqual([]);
          expect(comparable(runServer(bytewise(data), true, false, limits))).toEqual(comparable(whole));
        }),
        fuzzParameters(RUNS / 4),
      );
    },
    fuzzTimeout(RUNS / 4, 20_000),
  );
});

describe("HTTP/1 client codec fuzz", () => {
  test(
    "random and mutated response streams: no throw, same events in any reads, unambiguous complete responses",
    () => {
      fc.assert(
        fc.property(
          fc.constantFrom("GET", "GET", "HEAD", "POST", "CONNECT"),
          streamArb(RESPONSE_SEEDS, RESPONSE_TEXT),
          cutsArb(),
          (method, data, cuts) => {
            const whole = runClient(method, [data]);
            expect(whole.problems).toEqual([]);
            const split = runClient(method, splitAt(data, cuts));
            expect(split.problems).toEqual([]);
            expect(split).toEqual(whole);
          },
        ),
        fuzzParameters(RUNS),
      );
    },
    fuzzTimeout(RUNS, 20_000),
  );
});

/**
 * What the fuzzers found, minimised. Each is a deterministic test of the behaviour the
 * codec should have, marked `fails` until the codec's owners fix it (then drop `.fails`
 * and the KNOWN_BUGS entry above).
 */
describe("HTTP/1 codec fuzz findings (regressions)", () => {
  /** The :authority and fields of the one request in `reads`, and the codec errors. */
  function decode(reads: string[], endStream = false): { fields: [string, string][] | undefined; errors: CodecError[]; streams: number } {
    let fields: [string, string][] | undefined;
    let streams = 0;
    const errors: CodecError[] = [];
    const codec = new Http1ServerCodec(new Sink(), {
      onRequestBegin() {},
      newStream(): RequestDecoder {
        streams++;
        return {
          decodeHeaders: (h) => void (fields = [[":authority", h.authority], ...h.entries()]),
          decodeData() {},
          decodeTrailers() {},
          decodeUpgradeData() {},
        };
      },
      onCodecError: (e) => void errors.push(e),
      onResponseComplete() {},
    }, LIMITS);
    reads.forEach((r, i) => codec.dispatch(latin1Bytes(r), endStream && i === reads.length - 1));
    codec.destroy();
    return { fields, errors, streams };
  }

  // BUG-OWS. message-parser.ts onHeaderValue sets valueEndsInWhitespace from the last
  // byte of each span; when a read ends right after a value's trailing SP/HTAB, llhttp
  // reports the value's end in the next read as an empty span, whose "last byte"
  // (chunk[end - 1], i.e. chunk[-1]) is undefined: the flag is cleared and the OWS is
  // kept (RFC 9112 §5.1). So "x: padded " reads as "padded" or "padded " depending on
  // where the reads are cut (the same for Host: ":authority" is "a" or "a ").
  test("BUG-OWS: trailing whitespace of a field value is dropped wherever the reads are cut", () => {
    const whole = decode(["GET / HTTP/1.1\r\nHost: a \r\nX: padded \r\n\r\n"]);
    expect(whole.fields).toEqual([[":authority", "a"], ["x", "padded"]]);
    const cut = decode(["GET / HTTP/1.1\r\nHost: a \r\nX: padded ", "\r\n\r\n"]);
    expect(cut.fields).toEqual(whole.fields);
  });

  // BUG-TE (issue #32, item 6; fixed by the codec rewrite, 4ebc91f). Envoy accepts no transfer coding but "chunked"
  // (downstream: 501 "http1.invalid_transfer_encoding"; upstream: a protocol error).
  // llhttp takes any list ending in chunked, an empty field, and in a response any coding
  // at all (the body then read until close); and a request whose coding it does refuse
  // reaches the decoder (headers) before the error, since llhttp checks the coding after
  // on_headers_complete. Causes: http1-server-codec.ts onHeadersComplete and
  // http1-client-codec.ts onHeadersComplete do not check transfer-encoding.
  test("BUG-TE: a request with Transfer-Encoding \"gzip, chunked\" is refused", () => {
    const r = decode(["POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"]);
    expect(r.errors).toHaveLength(1);
    expect(r.streams).toBe(0);
  });

  test("BUG-TE: a request with an empty Transfer-Encoding is refused", () => {
    const r = decode(["GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n"]);
    expect(r.errors).toHaveLength(1);
    expect(r.streams).toBe(0);
  });

  test("BUG-TE: a request with Transfer-Encoding gzip is refused before any decoder sees it", () => {
    const r = decode(["POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc"]);
    expect(r.errors).toHaveLength(1);
    expect(r.streams).toBe(0);
  });

  test("BUG-TE: a response with Transfer-Encoding \"gzip, chunked\" or \"gzip\" is a protocol error", () => {
    for (const te of ["gzip, chunked", "gzip"]) {
      const run = runClient("GET", [latin1Bytes(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${te}\r\n\r\n3\r\nabc\r\n0\r\n\r\n`)]);
      expect(run.protocolError, te).toBe(true);
    }
  });

  // BUG-FIN. http1-server-codec.ts dispatch(): when the read that fails to parse also
  // carries the client's FIN, execute() reports the codec error and then onPeerEnd()
  // reports a second one ("client closed mid-request") for the same request; the
  // connection manager would count downstream_cx_protocol_error twice and make a second
  // stream for a second 400 (connection-manager.ts onCodecError). Latent today: the
  // connection (connection.ts onEnd) delivers a FIN apart from data, and resume() passes
  // a held FIN only with bytes that arrived before reading stopped
  // (test/memory/connection-manager-fuzz.test.ts checks the client's view).
  test("BUG-FIN: a FIN in the read that failed to parse gives one codec error, not two", () => {
    const r = decode(["POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"], true);
    expect(r.errors.map((e) => e.reason)).toHaveLength(1);
  });

  test("BUG-FIN: (the same request without the FIN gives one error)", () => {
    expect(decode(["POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]).errors).toHaveLength(1);
  });

  // BUG-LIMIT. message-parser.ts counts a field against max_headers_count when it is
  // completed, which is at the next field's first span (onHeaderField), and bytes against
  // the head size as spans arrive. When llhttp finds an error in the next field, the
  // pieces it had not reported yet never arrive: read at once, such a head is a 400
  // (malformed); read a byte at a time, the same head is a 431 (too many headers). Both
  // refuse it; which answer and which stat (http1.too_many_headers or codec_error)
  // depends on the reads.
  test("BUG-LIMIT: a head over the field-count limit and malformed just after: the same answer in any reads", () => {
    const head = latin1Bytes("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC\0: 3\r\n\r\n");
    const limits = { maxRequestHeadersBytes: 4096, maxHeadersCount: 1 };
    const whole = runServer([head], true, false, limits).errors;
    const bytes = runServer(bytewise(head), true, false, limits).errors;
    // B's line is complete before C's bad name: the head is over the count there.
    expect(whole).toEqual([{ status: 431, details: "http1.too_many_headers" }]);
    expect(bytes).toEqual(whole);
  });

  // Found by a longer run once BUG-LIMIT was fixed: llhttp refuses an overflowing
  // Content-Length at the byte after its last digit, the CR when read at once (after
  // ending the value's span there): such a line is not a field that counts.
  test("BUG-LIMIT: a line refused at its end is not counted as a field, in any reads", () => {
    const head = latin1Bytes("GET / HTTP/1.1\r\nA: 1\r\nContent-Length: 99999999999999999999\r\n\r\n");
    const limits = { maxRequestHeadersBytes: 4096, maxHeadersCount: 1 };
    const whole = runServer([head], true, false, limits).errors;
    expect(whole).toEqual([{ status: 400, details: "http1.codec_error" }]);
    expect(runServer(bytewise(head), true, false, limits).errors).toEqual(whole);
  });

  test("a head one field over max_headers_count is 431 however it is read", () => {
    const head = latin1Bytes("GET / HTTP/1.1\r\nA: 1\r\nB:\r\nC: 3\r\n\r\n");
    const limits = { maxRequestHeadersBytes: 4096, maxHeadersCount: 2 };
    const whole = runServer([head], true, false, limits).errors;
    expect(whole).toEqual([{ status: 431, details: "http1.too_many_headers" }]);
    expect(runServer(bytewise(head), true, false, limits).errors).toEqual(whole);
  });

  // BUG-SIZE (found by hand beside BUG-LIMIT; the fuzz has not hit it yet). The head's
  // size is counted as llhttp reports spans, and a read that ends inside a URL or a
  // field name reports the piece so far; read at once, a name that llhttp refuses at a
  // later byte is never reported. So a head that crosses max_request_headers_kb inside
  // such a name and is malformed further in that name is 400 read at once and 431 a
  // byte at a time. Counting the unreported piece at the error would need llhttp's span
  // start (the wasm build has no accessor for it). Both refuse the head; only the status and
  // the stat (http1.headers_too_large or codec_error) depend on the reads.
  test.fails("BUG-SIZE: a head over the size limit inside a field name that is malformed further in: the same answer in any reads", () => {
    const head = latin1Bytes(`GET / HTTP/1.1\r\nHost: a\r\nX-${"a".repeat(80)}\0: 1\r\n\r\n`);
    const limits = { maxRequestHeadersBytes: 60, maxHeadersCount: 100 };
    const whole = runServer([head], true, false, limits).errors;
    expect(whole).toHaveLength(1);
    expect(runServer(bytewise(head), true, false, limits).errors).toEqual(whole);
  });

  // BUG-CRLF. http1-client-codec.ts dispatch(): bytes arriving with no request outstanding
  // are a protocol error before llhttp sees them, but llhttp (and Envoy's codec, which
  // checks in onMessageBegin) skips CRLFs between messages: a stray CRLF after a response
  // is fine in the response's read and a protocol error in the next one.
  test("BUG-CRLF: a CRLF after a complete response is no protocol error, in the same read or the next", () => {
    const response = "HTTP/1.1 204 No Content\r\n\r\n";
    expect(runClient("GET", [latin1Bytes(`${response}\r\n`)]).protocolError).toBe(false);
    expect(runClient("GET", [latin1Bytes(response), latin1Bytes("\r\n")]).protocolError).toBe(false);
  });
});
