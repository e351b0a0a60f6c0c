/** HTTP/2 message checks (RFC 9113 §8.2, §8.3, §8.5; RFC 8441 extended CONNECT). */
import { describe, expect, test } from "vitest";
import { contentLengthOf, requestHeadersProblem, responseHeadersProblem, trailersProblem } from "../../../core/http2/header-validation.ts";

const GET = [":method", "GET", ":scheme", "https", ":path", "/", ":authority", "a"];

describe("requests", () => {
  test.each([
    ["a plain GET", GET, false, undefined],
    ["no :authority (allowed: Host may stand in)", [":method", "GET", ":scheme", "http", ":path", "/", "host", "a"], false, undefined],
    ["CONNECT with :authority only", [":method", "CONNECT", ":authority", "a:443"], false, undefined],
    ["extended CONNECT when allowed", [":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/ws", ":authority", "a"], true, undefined],
    ["extended CONNECT when not allowed", [":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/ws", ":authority", "a"], false, 'unknown pseudo-header ":protocol"'],
    ["CONNECT with :path", [":method", "CONNECT", ":authority", "a:443", ":path", "/"], false, "CONNECT with :scheme or :path"],
    ["CONNECT without :authority", [":method", "CONNECT"], false, "CONNECT without :authority"],
    ["missing :method", [":scheme", "http", ":path", "/"], false, "missing :method"],
    ["missing :scheme", [":method", "GET", ":path", "/"], false, "missing :scheme"],
    ["empty :path", [":method", "GET", ":scheme", "http", ":path", ""], false, "missing :path"],
    ["duplicate :path", [...GET, ":path", "/x"], false, 'duplicate ":path"'],
    ["a pseudo-header after a regular one", [...GET.slice(0, 6), "x", "1", ":authority", "a"], false, 'pseudo-header ":authority" after a regular header'],
    ["duplicate :method", [":method", "GET", ":method", "GET", ":scheme", "http", ":path", "/"], false, 'duplicate ":method"'],
    ["unknown pseudo-header", [...GET.slice(0, 6), ":status", "200"], false, 'unknown pseudo-header ":status"'],
    ["uppercase name", [...GET, "X-Foo", "1"], false, 'invalid header name "X-Foo"'],
    ["connection-specific header", [...GET, "keep-alive", "5"], false, 'connection-specific header "keep-alive"'],
    ["te: trailers", [...GET, "te", "trailers"], false, undefined],
    ["te: gzip", [...GET, "te", "gzip"], false, 'te other than "trailers"'],
    ["CR in a value", [...GET, "x", "a\rb"], false, 'invalid value for "x"'],
    ["leading and trailing space in a value (Envoy lets it through)", [...GET, "x", " a\t"], false, undefined],
    ["a control character in a value", [...GET, "x", "a\u0001b"], false, 'invalid value for "x"'],
    ["DEL in a value", [...GET, "x", "a\u007fb"], false, 'invalid value for "x"'],
    ["obs-text in a value", [...GET, "x", "caf\u00e9"], false, undefined],
    ["a name outside the token characters", [...GET, "a=b", "1"], false, 'invalid header name "a=b"'],
    ["a name with a space", [...GET, "a b", "1"], false, 'invalid header name "a b"'],
    ["a name with non-ASCII", [...GET, "caf\u00e9", "1"], false, 'invalid header name "caf\u00e9"'],
    ["a name with a ':' inside", [...GET, "a:b", "1"], false, 'invalid header name "a:b"'],
    ["a space in :authority", [...GET.slice(0, 6), ":authority", "a b"], false, "invalid :authority"],
    ["a path in :authority", [...GET.slice(0, 6), ":authority", "a/x"], false, "invalid :authority"],
    ["an invalid host", [":method", "GET", ":scheme", "http", ":path", "/", "host", "a\\b"], false, "invalid host"],
    ["an IPv6 :authority with a port", [...GET.slice(0, 6), ":authority", "[::1]:8443"], false, undefined],
    // Pseudo-headers go into an HTTP/1 request line upstream: no whitespace there (oghttp2's checks).
    ["a space after :method", [":method", "GET ", ":scheme", "http", ":path", "/"], false, "invalid :method"],
    ["a request line in :method", [":method", "GET /admin HTTP/1.1", ":scheme", "http", ":path", "/"], false, "invalid :method"],
    ["a lowercase token :method (allowed)", [":method", "get", ":scheme", "http", ":path", "/"], false, undefined],
    ["a tab in :path", [":method", "GET", ":scheme", "http", ":path", "/pub\t"], false, "invalid :path"],
    ["a space in :path", [":method", "GET", ":scheme", "http", ":path", "/a b"], false, "invalid :path"],
    ["non-ASCII in :path", [":method", "GET", ":scheme", "http", ":path", "/caf\u00e9"], false, "invalid :path"],
    ["a space in :scheme", [":method", "GET", ":scheme", "http ", ":path", "/"], false, "invalid :scheme"],
  ] as const)("%s", (_name, fields, allowConnect, problem) => {
    expect(requestHeadersProblem(fields, allowConnect)).toBe(problem);
  });
});

describe("responses and trailers", () => {
  test("a response needs one :status of three digits, first, and no other pseudo-header", () => {
    expect(responseHeadersProblem([":status", "200", "content-type", "text/plain"])).toBeUndefined();
    expect(responseHeadersProblem([":status", "20"])).toBe("missing or invalid :status");
    expect(responseHeadersProblem(["x", "1"])).toBe("missing or invalid :status");
    expect(responseHeadersProblem([":status", "200", ":path", "/"])).toBe('unexpected pseudo-header ":path"');
    expect(responseHeadersProblem([":status", "200", "transfer-encoding", "chunked"])).toBe('connection-specific header "transfer-encoding"');
    expect(responseHeadersProblem([":status", "101"])).toBe("101 Switching Protocols on HTTP/2");
  });

  test("trailers carry no pseudo-headers", () => {
    expect(trailersProblem(["grpc-status", "0", "grpc-message", "ok"])).toBeUndefined();
    expect(trailersProblem([":status", "200"])).toBe('pseudo-header ":status" in trailers');
  });

  test("content-length: absent, one value, the same value twice, or invalid", () => {
    expect(contentLengthOf(GET)).toBe(-1);
    expect(contentLengthOf([...GET, "content-length", "42"])).toBe(42);
    expect(contentLengthOf([...GET, "content-length", "42", "content-length", "42"])).toBe(42);
    expect(contentLengthOf([...GET, "content-length", "42", "content-length", "43"])).toBe(-2);
    expect(contentLengthOf([...GET, "content-length", "-1"])).toBe(-2);
    expect(contentLengthOf([...GET, "content-length", "1,1"])).toBe(-2);
  });
});
