import { afterEach, describe, expect, test } from "vitest";
import type { ResponseDecoder } from "../../../../core/http/codec/codec.ts";
import { Http1ClientCodec } from "../../../../core/http/codec/http1-client-codec.ts";
import type { ByteSink } from "../../../../core/network/byte-sink.ts";
import { HeaderMap } from "../../../../core/http/header-map.ts";
import { RequestHeaders, type ResponseHeaders } from "../../../../core/http/message.ts";

/** Text as latin1 bytes (one byte per code unit), as the wire carries it. */
const bytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const latin1 = (data: Uint8Array): string => Array.from(data, (b) => String.fromCharCode(b)).join("");

type Event =
  | { kind: "headers"; status: number; headers: [string, string][]; end: boolean }
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
}

class Recorder implements ResponseDecoder {
  events: Event[] = [];
  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    this.events.push({ kind: "headers", status: headers.status, headers: headers.entries(), end: endStream });
  }
  decodeData(data: Uint8Array, endStream: boolean): void {
    this.events.push({ kind: "data", data: latin1(data), end: endStream });
  }
  decodeTrailers(trailers: HeaderMap): void {
    this.events.push({ kind: "trailers", trailers: trailers.entries() });
  }
  decodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.events.push({ kind: "upgrade", data: latin1(data), end: endStream });
  }
  /** Events with adjacent non-final data merged and empty non-final data dropped. */
  get merged(): Event[] {
    const out: Event[] = [];
    for (const event of this.events) {
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
}

const codecs: Http1ClientCodec[] = [];
afterEach(() => {
  for (const codec of codecs.splice(0)) codec.destroy();
});

/** `enableTrailers`: the cluster's Http1ProtocolOptions.enable_trailers (these tests set it unless they test the default). */
function client(enableTrailers = true): { codec: Http1ClientCodec; sink: Sink } {
  const sink = new Sink();
  const codec = new Http1ClientCodec(sink, enableTrailers);
  codecs.push(codec);
  return { codec, sink };
}

function request(method: string, path: string, authority: string, ...pairs: [string, string][]): RequestHeaders {
  const req = new RequestHeaders();
  for (const [name, value] of pairs) req.add(name, value);
  req.method = method;
  req.path = path;
  req.authority = authority;
  return req;
}

/** A codec with a `method` request sent, its decoder, and the response fed in the given pieces. */
function exchange(method: string, pieces: (string | Uint8Array)[], endStream = false) {
  const { codec, sink } = client();
  const decoder = new Recorder();
  codec.newStream(decoder).encodeHeaders(request(method, "/", "up"), true);
  const results = pieces.map((piece, i) => codec.dispatch(typeof piece === "string" ? bytes(piece) : piece, endStream && i === pieces.length - 1));
  return { codec, sink, decoder, ok: results.every(Boolean) };
}

describe("Http1ClientCodec: request encoding", () => {
  test("GET ending at the headers: host first, no framing", () => {
    const { codec, sink } = client();
    codec.newStream(new Recorder()).encodeHeaders(request("GET", "/a?b=c", "example.com", ["user-agent", "t"], ["accept", "*/*"]), true);
    expect(sink.text).toBe("GET /a?b=c HTTP/1.1\r\nhost: example.com\r\nuser-agent: t\r\naccept: */*\r\n\r\n");
    expect(sink.writes).toHaveLength(1);
    expect(sink.writes[0]!.end).toBe(false);
  });

  test("no authority → no host line", () => {
    const { codec, sink } = client();
    codec.newStream(new Recorder()).encodeHeaders(request("GET", "/", ""), true);
    expect(sink.text).toBe("GET / HTTP/1.1\r\n\r\n");
  });

  test.each(["POST", "PUT", "PATCH"])("%s ending at the headers → content-length: 0", (method) => {
    const { codec, sink } = client();
    codec.newStream(new Recorder()).encodeHeaders(request(method, "/", "h"), true);
    expect(sink.text).toBe(`${method} / HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n`);
  });

  test("a body without content-length is chunked", () => {
    const { codec, sink } = client();
    const encoder = codec.newStream(new Recorder());
    encoder.encodeHeaders(request("POST", "/up", "h", ["content-type", "text/plain"]), false);
    encoder.encodeData(bytes("hello"), false);
    encoder.encodeData(new Uint8Array(0), false);
    encoder.encodeData(bytes("x".repeat(26)), true);
    expect(sink.text).toBe(
      `POST /up HTTP/1.1\r\nhost: h\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n1a\r\n${"x".repeat(26)}\r\n0\r\n\r\n`,
    );
    expect(sink.writes.every((w) => !w.end)).toBe(true);
  });

  test("chunked request with trailers", () => {
    const { codec, sink } = client();
    const encoder = codec.newStream(new Recorder());
    encoder.encodeHeaders(request("POST", "/", "h"), false);
    encoder.encodeData(bytes("ab"), false);
    const trailers = new HeaderMap();
    trailers.add("x-sum", "1");
    encoder.encodeTrailers(trailers);
    expect(sink.text).toBe("POST / HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nx-sum: 1\r\n\r\n");
  });

  test("without enable_trailers (Envoy's default) trailers are not written: the last chunk alone ends the body", () => {
    const { codec, sink } = client(false);
    const encoder = codec.newStream(new Recorder());
    encoder.encodeHeaders(request("POST", "/", "h"), false);
    encoder.encodeData(bytes("ab"), false);
    const trailers = new HeaderMap();
    trailers.add("x-sum", "1");
    encoder.encodeTrailers(trailers);
    expect(sink.text).toBe("POST / HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n");
  });

  test("a content-length body goes out as is", () => {
    const { codec, sink } = client();
    const encoder = codec.newStream(new Recorder());
    encoder.encodeHeaders(request("PUT", "/", "h", ["content-length", "5"]), false);
    encoder.encodeData(bytes("he"), false);
    encoder.encodeData(bytes("llo"), true);
    expect(sink.text).toBe("PUT / HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\n\r\nhello");
  });

  test("an upgrade request gets no framing; upgrade data passes through", () => {
    const { codec, sink } = client();
    const encoder = codec.newStream(new Recorder());
    const upgrade = request("GET", "/ws", "h", ["upgrade", "websocket"], ["connection", "Upgrade"]);
    upgrade.upgrade = true; // as the server codec marks a request llhttp parsed as an upgrade
    encoder.encodeHeaders(upgrade, false);
    expect(sink.text).toBe("GET /ws HTTP/1.1\r\nhost: h\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n");
    encoder.encodeUpgradeData(bytes("raw"), true);
    expect(sink.writes.at(-1)).toEqual({ data: "raw", end: true });
  });

  test("CONNECT gets no framing (RFC 9110 §9.3.6: the tunnel follows the head)", () => {
    const { codec, sink } = client();
    const connect = request("CONNECT", "example.com:443", "example.com:443");
    connect.upgrade = true;
    codec.newStream(new Recorder()).encodeHeaders(connect, false);
    expect(sink.text).toBe("CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n");
  });
});

test("an Upgrade field on a request that is not an upgrade does not turn off framing (no smuggling)", () => {
  const { codec, sink } = client();
  const encoder = codec.newStream(new Recorder());
  encoder.encodeHeaders(request("POST", "/p", "h", ["upgrade", "websocket"]), false);
  encoder.encodeData(bytes("GET /admin HTTP/1.1\r\n\r\n"), true);
  expect(sink.text).toContain("transfer-encoding: chunked\r\n");
  expect(sink.text).toContain("\r\n0\r\n\r\n");
});

describe("Http1ClientCodec: responses", () => {
  test("content-length body", () => {
    const { decoder, codec, ok } = exchange("GET", ["HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"]);
    expect(ok).toBe(true);
    expect(decoder.merged).toEqual([
      {
        kind: "headers",
        status: 200,
        headers: [
          ["content-type", "text/plain"],
          ["content-length", "5"],
        ],
        end: false,
      },
      { kind: "data", data: "hello", end: true },
    ]);
    expect(codec.responseComplete).toBe(true);
    expect(codec.keepAlive).toBe(true);
    expect(codec.protocolError).toBeUndefined();
  });

  test("content-length: 0 → headers with endStream", () => {
    const { decoder, codec } = exchange("GET", ["HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]);
    expect(decoder.events).toEqual([{ kind: "headers", status: 200, headers: [["content-length", "0"]], end: true }]);
    expect(codec.responseComplete).toBe(true);
  });

  test("trailing whitespace of a value is not part of it (RFC 9112 §5)", () => {
    const { decoder } = exchange("GET", ["HTTP/1.1 200 OK\r\nX-A: v \t\r\nContent-Length: 0\r\n\r\n"]);
    expect(decoder.events).toMatchObject([{ headers: [["x-a", "v"], ["content-length", "0"]] }]);
  });

  test("chunked body with trailers", () => {
    const { decoder, codec } = exchange("GET", [
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;x=y\r\n!\r\n0\r\nX-Checksum: 9\r\n\r\n",
    ]);
    expect(decoder.merged).toEqual([
      { kind: "headers", status: 200, headers: [["transfer-encoding", "chunked"]], end: false },
      { kind: "data", data: "hello!", end: false },
      { kind: "trailers", trailers: [["x-checksum", "9"]] },
    ]);
    expect(codec.responseComplete).toBe(true);
    expect(codec.keepAlive).toBe(true);
  });

  test("chunked body without trailers ends with empty data", () => {
    const { decoder } = exchange("GET", ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"]);
    expect(decoder.merged).toMatchObject([{ kind: "headers", end: false }, { kind: "data", data: "ab", end: true }]);
  });

  test("no framing: the body is read until the upstream closes", () => {
    const { codec, decoder } = exchange("GET", ["HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome ", "body"]);
    expect(decoder.merged).toEqual([
      { kind: "headers", status: 200, headers: [["content-type", "text/plain"]], end: false },
      { kind: "data", data: "some body", end: false },
    ]);
    expect(codec.responseComplete).toBe(false);
    expect(codec.keepAlive).toBe(false);
    expect(codec.dispatch(bytes(" and the end"), true)).toBe(true);
    expect(decoder.merged.slice(1)).toEqual([{ kind: "data", data: "some body and the end", end: true }]);
    expect(codec.responseComplete).toBe(true);
  });

  test("read-until-close completed by a bare FIN", () => {
    const { codec, decoder } = exchange("GET", ["HTTP/1.0 200 OK\r\n\r\nabc"]);
    expect(codec.dispatch(new Uint8Array(0), true)).toBe(true);
    expect(decoder.merged).toMatchObject([{ kind: "headers" }, { kind: "data", data: "abc", end: true }]);
    expect(codec.responseComplete).toBe(true);
    expect(codec.keepAlive).toBe(false);
  });

  test("HEAD: no body expected even with content-length", () => {
    const { codec, decoder, ok } = exchange("HEAD", ["HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"]);
    expect(ok).toBe(true);
    expect(decoder.events).toEqual([{ kind: "headers", status: 200, headers: [["content-length", "1234"]], end: true }]);
    expect(codec.responseComplete).toBe(true);
    expect(codec.keepAlive).toBe(true);
  });

  test("HEAD with transfer-encoding: chunked has no body either", () => {
    const { codec, decoder } = exchange("HEAD", ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"]);
    expect(decoder.events).toMatchObject([{ kind: "headers", end: true }]);
    expect(codec.responseComplete).toBe(true);
  });

  test.each([204, 304])("%i has no body", (status) => {
    const { codec, decoder } = exchange("GET", [`HTTP/1.1 ${status} X\r\nETag: "e"\r\n\r\n`]);
    expect(decoder.events).toEqual([{ kind: "headers", status, headers: [["etag", '"e"']], end: true }]);
    expect(codec.responseComplete).toBe(true);
    expect(codec.keepAlive).toBe(true);
  });

  test("100 Continue is swallowed before the final response", () => {
    const { codec, decoder } = exchange("POST", ["HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"]);
    expect(decoder.merged).toEqual([
      { kind: "headers", status: 201, headers: [["content-length", "2"]], end: false },
      { kind: "data", data: "ok", end: true },
    ]);
    expect(codec.responseComplete).toBe(true);
  });

  test("several 1xx (100, 102, 103 with fields) are swallowed, in separate reads too", () => {
    const { codec, decoder } = exchange("GET", [
      "HTTP/1.1 100 Continue\r\n\r\n",
      "HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ]);
    expect(decoder.events).toEqual([{ kind: "headers", status: 200, headers: [["content-length", "0"]], end: true }]);
    expect(codec.responseComplete).toBe(true);
  });

  test("Keep-Alive: timeout=5 → keepAliveTimeoutMs 5000", () => {
    const { codec } = exchange("GET", ["HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n"]);
    expect(codec.keepAliveTimeoutMs).toBe(5000);
    expect(codec.keepAlive).toBe(true);
    const other = exchange("GET", ["HTTP/1.1 200 OK\r\nKeep-Alive: max=10,timeout=30\r\nContent-Length: 0\r\n\r\n"]);
    expect(other.codec.keepAliveTimeoutMs).toBe(30_000);
    const none = exchange("GET", ["HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]);
    expect(none.codec.keepAliveTimeoutMs).toBeUndefined();
  });

  test("Connection: close → keepAlive false", () => {
    const { codec, decoder } = exchange("GET", ["HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"]);
    expect(codec.keepAlive).toBe(false);
    expect(decoder.merged).toMatchObject([{ kind: "headers" }, { kind: "data", data: "ok", end: true }]);
  });

  test("HTTP/1.0 response with content-length and no keep-alive → keepAlive false", () => {
    const { codec } = exchange("GET", ["HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"]);
    expect(codec.keepAlive).toBe(false);
    expect(codec.responseComplete).toBe(true);
  });

  test.each([
    ["garbage", "NOT HTTP AT ALL\r\n\r\n"],
    ["bad status", "HTTP/1.1 2x0 OK\r\n\r\n"],
    ["CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
    ["bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n"],
  ])("%s → dispatch returns false with protocolError set", (_name, text) => {
    const { codec, ok } = exchange("GET", [text]);
    expect(ok).toBe(false);
    expect(codec.protocolError).toBeTruthy();
    expect(codec.keepAlive).toBe(false);
  });

  test("a response head over 60 KiB is a protocol error", () => {
    const { codec, ok } = exchange("GET", [`HTTP/1.1 200 OK\r\nX-Big: ${"v".repeat(61 * 1024)}\r\n\r\n`]);
    expect(ok).toBe(false);
    expect(codec.protocolError).toBe("headers_too_large");
  });

  test("bytes with no request outstanding are a protocol error", () => {
    const { codec } = client();
    expect(codec.dispatch(bytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), false)).toBe(false);
    expect(codec.protocolError).toBeTruthy();
    expect(codec.keepAlive).toBe(false);
  });

  test("a second response behind the first in the same read is a protocol error, not silently dropped", () => {
    const { codec, decoder, ok } = exchange("GET", [
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb",
    ]);
    expect(decoder.merged).toMatchObject([{ kind: "headers" }, { kind: "data", data: "a", end: true }]);
    expect(ok).toBe(false);
    expect(codec.protocolError).toBeTruthy();
    expect(codec.keepAlive).toBe(false);
  });

  test("an upstream FIN mid-body leaves the response incomplete", () => {
    const { codec, decoder } = exchange("GET", ["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"], true);
    expect(codec.responseComplete).toBe(false);
    expect(codec.keepAlive).toBe(false);
    expect(decoder.events.some((e) => (e.kind === "data" && e.end) || (e.kind === "headers" && e.end))).toBe(false);
  });

  test("responseStarted tells a reset before any response byte from one after", () => {
    const { codec } = client();
    codec.newStream(new Recorder()).encodeHeaders(request("GET", "/", "h"), true);
    expect(codec.responseStarted).toBe(false);
    codec.dispatch(bytes("HTTP/1.1 2"), false);
    expect(codec.responseStarted).toBe(true);
  });
});

describe("Http1ClientCodec: keep-alive reuse", () => {
  test("two requests one after the other on the same connection", () => {
    const { codec, sink } = client();
    const first = new Recorder();
    codec.newStream(first).encodeHeaders(request("GET", "/1", "h"), true);
    expect(codec.dispatch(bytes("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"), false)).toBe(true);
    expect(codec.responseComplete).toBe(true);
    const second = new Recorder();
    codec.newStream(second).encodeHeaders(request("HEAD", "/2", "h"), true);
    expect(codec.responseComplete).toBe(false);
    expect(codec.dispatch(bytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), false)).toBe(true);
    const third = new Recorder();
    codec.newStream(third).encodeHeaders(request("GET", "/3", "h"), true);
    expect(codec.dispatch(bytes("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"), false)).toBe(true);
    expect(first.merged).toMatchObject([{ status: 200 }, { data: "a", end: true }]);
    expect(second.merged).toMatchObject([{ status: 200, end: true }]);
    expect(third.merged).toMatchObject([{ status: 404 }, { data: "x", end: true }]);
    expect(sink.text).toBe("GET /1 HTTP/1.1\r\nhost: h\r\n\r\nHEAD /2 HTTP/1.1\r\nhost: h\r\n\r\nGET /3 HTTP/1.1\r\nhost: h\r\n\r\n");
  });

  test("keepAliveTimeoutMs does not outlive the response that sent it", () => {
    const { codec } = client();
    codec.newStream(new Recorder()).encodeHeaders(request("GET", "/", "h"), true);
    codec.dispatch(bytes("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n"), false);
    expect(codec.keepAliveTimeoutMs).toBe(5000);
    codec.newStream(new Recorder()).encodeHeaders(request("GET", "/", "h"), true);
    codec.dispatch(bytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), false);
    expect(codec.keepAliveTimeoutMs).toBeUndefined();
  });
});

describe("Http1ClientCodec: upgrade", () => {
  test("101: headers without end, then raw bytes to decodeUpgradeData", () => {
    const { codec } = client();
    const decoder = new Recorder();
    const upgrade = request("GET", "/ws", "h", ["upgrade", "websocket"], ["connection", "Upgrade"]);
    upgrade.upgrade = true;
    codec.newStream(decoder).encodeHeaders(upgrade, false);
    expect(codec.dispatch(bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00"), false)).toBe(true);
    expect(decoder.events).toEqual([
      {
        kind: "headers",
        status: 101,
        headers: [
          ["upgrade", "websocket"],
          ["connection", "Upgrade"],
        ],
        end: false,
      },
      { kind: "upgrade", data: "\x81\x00", end: false },
    ]);
    expect(codec.dispatch(bytes("more"), true)).toBe(true);
    expect(decoder.events.slice(2)).toEqual([{ kind: "upgrade", data: "more", end: true }]);
  });

  test("CONNECT 200: the bytes after the head are the tunnel", () => {
    const { codec } = client();
    const decoder = new Recorder();
    codec.newStream(decoder).encodeHeaders(request("CONNECT", "example.com:443", "example.com:443"), false);
    expect(codec.dispatch(bytes("HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03"), false)).toBe(true);
    expect(decoder.events).toEqual([
      { kind: "headers", status: 200, headers: [], end: false },
      { kind: "upgrade", data: "\x16\x03", end: false },
    ]);
  });

  test("an upgrade answered with a plain response is a plain response", () => {
    const { codec } = client();
    const decoder = new Recorder();
    codec.newStream(decoder).encodeHeaders(request("GET", "/ws", "h", ["upgrade", "websocket"], ["connection", "Upgrade"]), false);
    expect(codec.dispatch(bytes("HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"), false)).toBe(true);
    expect(decoder.merged).toMatchObject([{ kind: "headers", status: 404 }, { kind: "data", data: "no", end: true }]);
  });
});

describe("Http1ClientCodec: responses split at every byte boundary", () => {
  const cases: [string, string, string][] = [
    ["content-length", "GET", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world"],
    ["chunked + trailers", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"],
    ["100 + final", "POST", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nKeep-Alive: timeout=7\r\nContent-Length: 3\r\n\r\nabc"],
    ["HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"],
    ["read until close", "GET", "HTTP/1.1 200 OK\r\nX: y\r\n\r\nuntil the end"],
  ];

  test.each(cases)("%s", (_name, method, response) => {
    const all = bytes(response);
    const run = (pieces: Uint8Array[]) => {
      const r = exchange(method, pieces, true);
      return { events: r.decoder.merged, ok: r.ok, complete: r.codec.responseComplete, timeout: r.codec.keepAliveTimeoutMs, error: r.codec.protocolError };
    };
    const whole = run([all]);
    expect(whole.ok).toBe(true);
    expect(whole.complete).toBe(true);
    expect(run(Array.from(all, (_, i) => all.subarray(i, i + 1)))).toEqual(whole);
    for (let cut = 1; cut < all.length; cut++) expect(run([all.subarray(0, cut), all.subarray(cut)]), `split at ${cut}`).toEqual(whole);
  });
});

describe("Http1ClientCodec: responses the request cannot have are protocol errors (502 UPE upstream)", () => {
  test.each([
    ["gzip, chunked", "Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
    ["gzip alone (read until close)", "Transfer-Encoding: gzip\r\n\r\nabc"],
    ["two fields", "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
  ])("Transfer-Encoding: %s → http1.invalid_transfer_encoding, nothing decoded", (_name, rest) => {
    const r = exchange("GET", [`HTTP/1.1 200 OK\r\n${rest}`]);
    expect(r.ok).toBe(false);
    expect(r.codec.protocolError).toBe("http1.invalid_transfer_encoding");
    expect(r.codec.keepAlive).toBe(false);
    expect(r.decoder.events).toEqual([]);
  });

  test("Transfer-Encoding: Chunked in any case is the framing", () => {
    const r = exchange("GET", ["HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"]);
    expect(r.ok).toBe(true);
    expect(r.decoder.merged).toMatchObject([{ kind: "headers", status: 200 }, { kind: "data", data: "abc", end: true }]);
  });

  test("a 101 to a request that asked for no upgrade: no tunnel, nothing decoded", () => {
    const r = exchange("GET", ["HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nraw upstream bytes"]);
    expect(r.ok).toBe(false);
    expect(r.codec.protocolError).toBe("upgrade_without_request");
    expect(r.codec.isUpgraded).toBe(false);
    expect(r.decoder.events).toEqual([]);
  });
});

describe("Http1ClientCodec: framing fields a 1xx or 204 may not carry (Envoy's codec_impl.cc)", () => {
  test.each([
    ["204 with Transfer-Encoding", "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", "http1.transfer_encoding_not_allowed"],
    ["100 with Transfer-Encoding", "HTTP/1.1 100 Continue\r\nTransfer-Encoding: chunked\r\n\r\n", "http1.transfer_encoding_not_allowed"],
    ["204 with a length", "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc", "http1.content_length_not_allowed"],
  ])("%s → protocol error %s", (_name, response, details) => {
    const r = exchange("GET", [response]);
    expect(r.ok).toBe(false);
    expect(r.codec.protocolError).toBe(details);
    expect(r.decoder.events).toEqual([]);
  });

  test("204 with content-length: 0 passes without it", () => {
    const r = exchange("GET", ["HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nEtag: x\r\n\r\n"]);
    expect(r.ok).toBe(true);
    expect(r.decoder.events).toEqual([{ kind: "headers", status: 204, headers: [["etag", "x"]], end: true }]);
  });
});
