import { describe, expect, test } from "vitest";
import type { AccessLogContext } from "../../../core/access-log/context.ts";
import { compileJsonFormat, compileTextFormat, DEFAULT_FORMAT, FormatError, parseFormat } from "../../../core/access-log/format.ts";
import { compileTimeFormat } from "../../../core/access-log/time-format.ts";
import type { SocketAddress } from "../../../core/port.ts";
import { GrpcStatsObject } from "../../../core/http/filters/grpc-stats-filter.ts";

const T0 = Date.UTC(2016, 3, 15, 20, 17, 0, 310); // 2016-04-15T20:17:00.310Z, a Friday

type Fields = Partial<Omit<AccessLogContext, "requestHeader" | "responseHeader" | "responseTrailer">> & {
  req?: Record<string, string>;
  resp?: Record<string, string>;
  trailers?: Record<string, string>;
};

const v4 = (address: string, port: number): SocketAddress => ({ address, port, family: 4 });

/** A context with nothing set but the start time, plus `fields`. */
function context(fields: Fields = {}): AccessLogContext {
  const { req = {}, resp = {}, trailers = {}, ...rest } = fields;
  return {
    startWallClock: T0,
    durationMs: undefined,
    protocol: undefined,
    responseCode: 0,
    responseCodeDetails: undefined,
    responseFlags: [],
    bytesReceived: 0,
    bytesSent: 0,
    upstreamHost: undefined,
    upstreamCluster: undefined,
    downstreamRemoteAddress: undefined,
    downstreamLocalAddress: undefined,
    routeName: undefined,
    requestHeader: (name) => req[name],
    responseHeader: (name) => resp[name],
    responseTrailer: (name) => trailers[name],
    ...rest,
  };
}

/** The sample request of Envoy's docs, on HTTP/1.1. */
function sampleStream(extra: Fields = {}): AccessLogContext {
  return context({
    req: {
      ":method": "POST",
      ":path": "/api/v1/locations",
      ":authority": "locations",
      "x-forwarded-for": "10.0.35.28",
      "user-agent": "nsq2http",
      "x-request-id": "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2",
    },
    resp: { ":status": "204", "x-envoy-upstream-service-time": "100" },
    protocol: "HTTP/1.1",
    responseCode: 204,
    responseCodeDetails: "via_upstream",
    bytesReceived: 154,
    bytesSent: 0,
    durationMs: 226.7,
    upstreamHost: "10.0.2.1:80",
    upstreamCluster: "locations",
    downstreamRemoteAddress: v4("10.0.35.28", 51234),
    downstreamLocalAddress: v4("10.0.0.5", 10000),
    routeName: "locations_route",
    ...extra,
  });
}

const text = (format: string, ctx: AccessLogContext, omitEmptyValues = false) => compileTextFormat(format, omitEmptyValues).format(ctx);
const json = (format: Parameters<typeof compileJsonFormat>[0], ctx: AccessLogContext, options: Parameters<typeof compileJsonFormat>[1] = {}) =>
  compileJsonFormat(format, options).format(ctx);

describe("the default format", () => {
  test("is Envoy's, character for character", () => {
    expect(DEFAULT_FORMAT).toBe(
      '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
        '%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" ' +
        '"%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n',
    );
  });

  test("renders the docs' sample request as Envoy does", () => {
    expect(text(DEFAULT_FORMAT, sampleStream())).toBe(
      '[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/1.1" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" ' +
        '"cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "10.0.2.1:80"\n',
    );
  });

  test("logs the original path when a rewrite saved one, and flags", () => {
    const ctx = sampleStream({ responseFlags: ["UF", "URX"], responseCode: 503 });
    (ctx as { requestHeader: (name: string) => string | undefined }).requestHeader = (name) =>
      ({ ":method": "GET", ":path": "/rewritten", "x-envoy-original-path": "/original" })[name];
    expect(text(DEFAULT_FORMAT, ctx)).toBe('[2016-04-15T20:17:00.310Z] "GET /original HTTP/1.1" 503 UF,URX 154 0 226 100 "-" "-" "-" "-" "10.0.2.1:80"\n');
  });

  test("a tcp_proxy connection: HTTP fields are '-', the response code 0", () => {
    const tcp = context({ bytesReceived: 12, bytesSent: 34, durationMs: 5000.9, upstreamHost: "10.0.0.1:80" });
    expect(text(DEFAULT_FORMAT, tcp)).toBe('[2016-04-15T20:17:00.310Z] "- - -" 0 - 12 34 5000 - "-" "-" "-" "-" "10.0.0.1:80"\n');
  });

  test("a stream that never finished: no duration, no response", () => {
    expect(text(DEFAULT_FORMAT, context({ req: { ":method": "GET", ":path": "/" }, protocol: "HTTP/1.0", responseFlags: ["DC"] }))).toBe(
      '[2016-04-15T20:17:00.310Z] "GET / HTTP/1.0" 0 DC 0 0 - - "-" "-" "-" "-" "-"\n',
    );
  });
});

describe("command operators", () => {
  const ctx = sampleStream({
    requestDurationMs: 3.9,
    requestTxDurationMs: 4.2,
    responseDurationMs: 120.5,
    responseTxDurationMs: 106.1,
    upstreamLocalAddress: v4("10.0.0.5", 40000),
    upstreamTransportFailureReason: "connection refused by peer",
    downstreamDirectRemoteAddress: v4("192.168.1.1", 999),
    connectionId: 42,
    trailers: { "grpc-status": "0" },
  });

  test.each([
    ["%PROTOCOL%", "HTTP/1.1"],
    ["%RESPONSE_CODE%", "204"],
    ["%RESPONSE_CODE_DETAILS%", "via_upstream"],
    ["%RESPONSE_FLAGS%", "-"],
    ["%RESPONSE_FLAGS_LONG%", "-"],
    ["%BYTES_RECEIVED%", "154"],
    ["%BYTES_SENT%", "0"],
    ["%DURATION%", "226"],
    ["%REQUEST_DURATION%", "3"],
    ["%REQUEST_TX_DURATION%", "4"],
    ["%RESPONSE_DURATION%", "120"],
    ["%RESPONSE_TX_DURATION%", "106"],
    ["%UPSTREAM_HOST%", "10.0.2.1:80"],
    ["%UPSTREAM_REMOTE_ADDRESS%", "10.0.2.1:80"],
    ["%UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", "10.0.2.1"],
    ["%UPSTREAM_REMOTE_PORT%", "80"],
    ["%UPSTREAM_CLUSTER%", "locations"],
    ["%UPSTREAM_CLUSTER_RAW%", "locations"],
    ["%ACCESS_LOG_TYPE%", "NotSet"],
    ["%UPSTREAM_LOCAL_ADDRESS%", "10.0.0.5:40000"],
    ["%UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%", "10.0.0.5"],
    ["%UPSTREAM_LOCAL_PORT%", "40000"],
    ["%UPSTREAM_TRANSPORT_FAILURE_REASON%", "connection_refused_by_peer"],
    ["%DOWNSTREAM_REMOTE_ADDRESS%", "10.0.35.28:51234"],
    ["%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", "10.0.35.28"],
    ["%DOWNSTREAM_REMOTE_PORT%", "51234"],
    ["%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%", "192.168.1.1:999"],
    ["%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT%", "192.168.1.1"],
    ["%DOWNSTREAM_DIRECT_REMOTE_PORT%", "999"],
    ["%DOWNSTREAM_LOCAL_ADDRESS%", "10.0.0.5:10000"],
    ["%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%", "10.0.0.5"],
    ["%DOWNSTREAM_LOCAL_PORT%", "10000"],
    ["%ROUTE_NAME%", "locations_route"],
    ["%CONNECTION_ID%", "42"],
    ["%STREAM_ID%", "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2"],
    ["%START_TIME%", "2016-04-15T20:17:00.310Z"],
    ["%REQ(:METHOD)%", "POST"],
    ["%REQ(:path)%", "/api/v1/locations"],
    ["%REQ(:AUTHORITY)%", "locations"],
    ["%REQ(User-Agent)%", "nsq2http"],
    ["%REQUEST_HEADER(USER-AGENT)%", "nsq2http"],
    ["%RESP(:STATUS)%", "204"],
    ["%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%", "100"],
    ["%RESPONSE_HEADER(X-ENVOY-UPSTREAM-SERVICE-TIME)%", "100"],
    ["%TRAILER(GRPC-STATUS)%", "0"],
    ["%RESPONSE_TRAILER(GRPC-STATUS)%", "0"],
  ])("%s → %s", (format, expected) => {
    expect(text(format, ctx)).toBe(expected);
  });

  test("%RESPONSE_CODE_DETAILS%: whitespace becomes '_' unless (ALLOW_WHITESPACES), as Envoy's", () => {
    const details = context({ responseCodeDetails: "denied by\tpolicy" });
    expect(text("%RESPONSE_CODE_DETAILS%", details)).toBe("denied_by_policy");
    expect(text("%RESPONSE_CODE_DETAILS(ALLOW_WHITESPACES)%", details)).toBe("denied by\tpolicy");
    expect(text("%RESPONSE_CODE_DETAILS()%", details)).toBe("denied_by_policy");
    expect(text("%RESPONSE_CODE_DETAILS(ALLOW_WHITESPACES)%", context())).toBe("-");
  });

  test("%GRPC_STATUS%: trailers, else headers, else the HTTP status mapped; only for gRPC requests", () => {
    const grpc = { ":path": "/pkg.Svc/Method", "content-type": "application/grpc" };
    expect(text("%GRPC_STATUS%", context({ req: grpc, responseCode: 200, trailers: { "grpc-status": "14" } }))).toBe("Unavailable");
    expect(text("%GRPC_STATUS(CAMEL_STRING)%", context({ req: grpc, responseCode: 200, resp: { "grpc-status": "1" } }))).toBe("Canceled");
    expect(text("%GRPC_STATUS(SNAKE_STRING)%", context({ req: grpc, responseCode: 200, resp: { "grpc-status": "1" } }))).toBe("CANCELLED");
    expect(text("%GRPC_STATUS(NUMBER)%", context({ req: grpc, responseCode: 200, trailers: { "grpc-status": "0" } }))).toBe("0");
    expect(text("%GRPC_STATUS_NUMBER%", context({ req: grpc, responseCode: 503 }))).toBe("14");
    expect(text("%GRPC_STATUS%", context({ req: grpc, responseCode: 200, trailers: { "grpc-status": "42" } }))).toBe("42");
    expect(text("%GRPC_STATUS%", context({ req: grpc }))).toBe("-");
    expect(text("%GRPC_STATUS%", context({ req: { ":path": "/" }, responseCode: 200, trailers: { "grpc-status": "0" } }))).toBe("-");
    const typed = compileJsonFormat({ n: "%GRPC_STATUS(NUMBER)%", s: "%GRPC_STATUS%" }).format(context({ req: grpc, responseCode: 200, trailers: { "grpc-status": "5" } }));
    expect(typed).toBe('{"n":5,"s":"NotFound"}\n');
    expect(() => parseFormat("%GRPC_STATUS(LOWER)%")).toThrow(/only supports CAMEL_STRING, SNAKE_STRING or NUMBER/);
  });

  test("%REQ_WITHOUT_QUERY(X?Y):Z% (envoy.formatter.req_without_query): the header up to its first '?', then truncated", () => {
    const ext = { reqWithoutQuery: true };
    const ctx = context({ req: { ":path": "/search?q=secret&x=1", "x-envoy-original-path": "/orig?token=abc" } });
    expect(compileTextFormat("%REQ_WITHOUT_QUERY(:PATH)%", false, ext).format(ctx)).toBe("/search");
    expect(compileTextFormat("%REQ_WITHOUT_QUERY(X-ENVOY-ORIGINAL-PATH?:PATH)%", false, ext).format(ctx)).toBe("/orig");
    expect(compileTextFormat("%REQ_WITHOUT_QUERY(:PATH):3%", false, ext).format(ctx)).toBe("/se");
    expect(compileTextFormat("%REQ_WITHOUT_QUERY(:PATH)%", false, ext).format(context({ req: { ":path": "/plain" } }))).toBe("/plain");
    expect(compileTextFormat("%REQ_WITHOUT_QUERY(:PATH)%", false, ext).format(context())).toBe("-");
    expect(compileJsonFormat({ p: "%REQ_WITHOUT_QUERY(:PATH)%" }, ext).format(ctx)).toBe('{"p":"/search"}\n');
    expect(() => parseFormat("%REQ_WITHOUT_QUERY(:PATH)%")).toThrow(/unknown command operator %REQ_WITHOUT_QUERY/);
  });

  test("%UPSTREAM_REQUEST_ATTEMPT_COUNT%: the router's attempts, 0 where there were none", () => {
    expect(text("%UPSTREAM_REQUEST_ATTEMPT_COUNT%", context({ upstreamRequestAttemptCount: 3 }))).toBe("3");
    expect(text("%UPSTREAM_REQUEST_ATTEMPT_COUNT%", context())).toBe("0");
  });

  test("IPv6 addresses are bracketed with a port and bare without", () => {
    const six = context({ downstreamRemoteAddress: { address: "::1", port: 8080, family: 6 }, upstreamHost: "[fe80::1]:443" });
    expect(text("%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_REMOTE_PORT%", six)).toBe("[::1]:8080 ::1 8080");
    expect(text("%UPSTREAM_HOST% %UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %UPSTREAM_REMOTE_PORT%", six)).toBe("[fe80::1]:443 fe80::1 443");
  });

  test("response flags are joined with ',' in the order they were set; long names too", () => {
    const ctx = context({ responseFlags: ["UF", "URX", "UH"] });
    expect(text("%RESPONSE_FLAGS%", ctx)).toBe("UF,URX,UH");
    expect(text("%RESPONSE_FLAGS_LONG%", ctx)).toBe("UpstreamConnectionFailure,UpstreamRetryLimitExceeded,NoHealthyUpstream");
  });

  test("missing values print '-' (empty strings from the config count as missing)", () => {
    const empty = context({ routeName: "", upstreamCluster: "", responseCodeDetails: "" });
    const all =
      "%REQ(X-MISSING)% %RESP(X-MISSING)% %TRAILER(X-MISSING)% %PROTOCOL% %DURATION% %REQUEST_DURATION% %RESPONSE_DURATION% " +
      "%RESPONSE_TX_DURATION% %UPSTREAM_HOST% %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %UPSTREAM_TRANSPORT_FAILURE_REASON% " +
      "%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_PORT% %ROUTE_NAME% %RESPONSE_CODE_DETAILS% %STREAM_ID%";
    expect(text(all, empty)).toBe(Array(18).fill("-").join(" "));
    // Numbers that are always known are 0, not missing.
    expect(text("%RESPONSE_CODE% %BYTES_RECEIVED% %BYTES_SENT% %CONNECTION_ID%", empty)).toBe("0 0 0 0");
  });

  test("omit_empty_values prints missing values as nothing; a header set to '' is '' either way", () => {
    const ctx = context({ req: { "x-empty": "" } });
    expect(text("[%REQ(X-MISSING)%][%PROTOCOL%][%REQ(X-EMPTY)%][%RESPONSE_FLAGS%]", ctx, true)).toBe("[][][][-]");
    expect(text("[%REQ(X-MISSING)%][%REQ(X-EMPTY)%]", ctx)).toBe("[-][]");
  });

  test("REQ(X?Y): the alternative header when the main one is missing", () => {
    const ctx = context({ req: { ":path": "/p", "x-b": "b" } });
    expect(text("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%", ctx)).toBe("/p");
    expect(text("%REQ(X-A?X-B)%", ctx)).toBe("b");
    expect(text("%REQ(X-B?:PATH)%", ctx)).toBe("b");
    expect(text("%REQ(X-A?X-C)%", ctx)).toBe("-");
  });

  test("REQ(X):Z truncates to Z bytes", () => {
    const ctx = context({ req: { "user-agent": "curl/8.4.0" }, resp: { server: "envoy" } });
    expect(text("%REQ(USER-AGENT):4%", ctx)).toBe("curl");
    expect(text("%REQ(USER-AGENT):100%", ctx)).toBe("curl/8.4.0");
    expect(text("%REQ(X-MISSING?USER-AGENT):6%", ctx)).toBe("curl/8");
    expect(text("%RESP(SERVER):2%", ctx)).toBe("en");
    expect(text("%REQ(USER-AGENT):0%", ctx)).toBe("");
  });

  test("literals, %% and operators side by side", () => {
    expect(text("100%% %RESPONSE_CODE%%%\n", sampleStream())).toBe("100% 204%\n");
    expect(text("", sampleStream())).toBe("");
    expect(text("no operators", sampleStream())).toBe("no operators");
  });

  test("header values are logged byte for byte; non-ASCII config text as UTF-8", () => {
    // "é" as the HTTP/1 codec hands it over: two latin1 chars (its UTF-8 bytes).
    const ctx = context({ req: { "user-agent": "caf\xc3\xa9" }, routeName: "café" });
    expect(text("%REQ(USER-AGENT)% %ROUTE_NAME%", ctx)).toBe("caf\xc3\xa9 caf\xc3\xa9");
  });

  test("a format is parsed once into literals and operators", () => {
    const parts = parseFormat('[%START_TIME%] "%REQ(:METHOD)%"\n');
    expect(parts.map((p) => (typeof p === "string" ? p : "op"))).toEqual(["[", "op", '] "', "op", '"\n']);
  });
});

describe("format errors", () => {
  test.each([
    ["%FOO%", /unknown command operator %FOO% at position 0/],
    ["a %REQ(X)% %NOT_AN_OPERATOR(x):3% b", /unknown command operator %NOT_AN_OPERATOR\(x\):3% at position 11/],
    ["100% done", /no valid command operator at position 3/],
    ["%req(x)%", /no valid command operator at position 0/],
    ["trailing %", /no valid command operator at position 9/],
    ["%PROTOCOL(x)%", /PROTOCOL does not take any parameters or length/],
    ["%DURATION:3%", /DURATION does not take any parameters or length/],
    ["%REQ%", /REQ requires parameters/],
    ["%REQ()%", /REQ requires parameters/],
    ["%START_TIME:3%", /START_TIME does not allow a length/],
    ["%REQ(A?B?C)%", /more than 1 alternative header/],
    ["%START_TIME(%Q)%", /unsupported START_TIME specifier "%Q"/],
    ["%START_TIME(%Y%n)%", /newline/],
  ])("%j is refused", (format, message) => {
    expect(() => compileTextFormat(format)).toThrow(FormatError);
    expect(() => compileTextFormat(format)).toThrow(message);
  });

  test("in a JSON format, the error names the key", () => {
    expect(() => compileJsonFormat({ a: { b: ["%OOPS%"] } })).toThrow(/^a\.b\[0\]: unknown command operator %OOPS%/);
  });
});

describe("START_TIME formats (UTC)", () => {
  const at = (spec: string, ms = T0) => compileTimeFormat(spec)(ms);

  test("the default is Envoy's %Y-%m-%dT%H:%M:%E3SZ", () => {
    expect(at("")).toBe("2016-04-15T20:17:00.310Z");
    expect(at("%Y-%m-%dT%H:%M:%E3SZ")).toBe("2016-04-15T20:17:00.310Z");
    expect(text("%START_TIME()%", context())).toBe("2016-04-15T20:17:00.310Z");
  });

  test.each([
    ["%Y/%m/%dT%H:%M:%S%z %s", "2016/04/15T20:17:00+0000 1460751420"],
    ["%s.%3f", "1460751420.310"],
    ["%s.%6f", "1460751420.310000"],
    ["%s.%9f", "1460751420.310000000"],
    ["%f", "310000000"],
    ["%1f", "3"],
    ["%E6S", "00.310000"],
    ["%E0S", "00"],
    ["%E*S", "00.31"],
    ["%Ez %E*z %Z", "+00:00 +00:00:00 UTC"],
    ["%E4Y", "2016"],
    ["%F %T", "2016-04-15 20:17:00"],
    ["%D %R", "04/15/16 20:17"],
    ["%a %A %b %h %B", "Fri Friday Apr Apr April"],
    ["%c", "Fri Apr 15 20:17:00 2016"],
    ["%I:%M %p %P", "08:17 PM pm"],
    ["%j %u %w %C %y", "106 5 5 20 16"],
    ["[%e] [%k] [%l]", "[15] [20] [ 8]"],
    ["100%% at%t%H", "100% at\t20"],
    ["literal only", "literal only"],
  ])("%s → %s", (spec, expected) => {
    expect(at(spec)).toBe(expected);
  });

  test("single-digit fields are padded; the cache follows the clock across seconds", () => {
    const format = compileTimeFormat("");
    expect(format(Date.UTC(2024, 0, 2, 3, 4, 5, 6))).toBe("2024-01-02T03:04:05.006Z");
    expect(format(Date.UTC(2024, 0, 2, 3, 4, 5, 999))).toBe("2024-01-02T03:04:05.999Z");
    expect(format(Date.UTC(2024, 0, 2, 3, 4, 6, 0))).toBe("2024-01-02T03:04:06.000Z");
    expect(format(Date.UTC(1999, 11, 31, 23, 59, 59, 1))).toBe("1999-12-31T23:59:59.001Z");
    const seconds = compileTimeFormat("%s");
    expect(seconds(1000)).toBe("1");
    expect(seconds(2500)).toBe("2");
  });

  test("%E*S with no fraction is whole seconds", () => {
    expect(at("%E*S", Date.UTC(2016, 3, 15, 20, 17, 7))).toBe("07");
  });
});

describe("JSON formats", () => {
  test("one operator keeps its type; missing is null; literals and mixes are strings; one line", () => {
    const line = json(
      {
        protocol: "%PROTOCOL%",
        duration: "%DURATION%",
        code: "%RESPONSE_CODE%",
        bytes: "%BYTES_RECEIVED%",
        start: "%START_TIME%",
        flags: "%RESPONSE_FLAGS%",
        missing: "%REQ(X-MISSING)%",
        mixed: "%DURATION%ms",
        mixedMissing: "[%REQ(X-MISSING)%]",
        literal: "v1",
        number: 7.5,
        empty: "",
        escaped: "100%%",
      },
      sampleStream(),
    );
    expect(line.endsWith("}\n")).toBe(true);
    expect(line.indexOf("\n")).toBe(line.length - 1);
    expect(line).toBe(
      '{"protocol":"HTTP/1.1","duration":226,"code":204,"bytes":154,"start":"2016-04-15T20:17:00.310Z","flags":"-",' +
        '"missing":null,"mixed":"226ms","mixedMissing":"[-]","literal":"v1","number":7.5,"empty":"","escaped":"100%"}\n',
    );
    expect(JSON.parse(line)).toMatchObject({ duration: 226, missing: null });
  });

  test("nested objects and lists", () => {
    const line = json({ request: { method: "%REQ(:METHOD)%", ids: ["%REQ(X-REQUEST-ID)%", "%CONNECTION_ID%"] }, upstream: { host: "%UPSTREAM_HOST%" } }, sampleStream());
    expect(JSON.parse(line)).toEqual({
      request: { method: "POST", ids: ["cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2", 0] },
      upstream: { host: "10.0.2.1:80" },
    });
  });

  test("keys keep the config's order unless sort_properties", () => {
    const format = { zeta: "%PROTOCOL%", alpha: { y: "1", b: "2" }, mid: "%RESPONSE_CODE%" };
    expect(json(format, sampleStream())).toBe('{"zeta":"HTTP/1.1","alpha":{"y":"1","b":"2"},"mid":204}\n');
    expect(json(format, sampleStream(), { sortProperties: true })).toBe('{"alpha":{"b":"2","y":"1"},"mid":204,"zeta":"HTTP/1.1"}\n');
  });

  test("omit_empty_values leaves out keys (and list items) whose value is unset", () => {
    const format = { a: "%REQ(X-MISSING)%", b: "%PROTOCOL%", c: ["%REQ(X-MISSING)%", "x"], d: "[%REQ(X-MISSING)%]", e: {} };
    expect(json(format, context(), { omitEmptyValues: true })).toBe('{"c":["x"],"d":"[]","e":{}}\n');
    expect(json(format, context())).toBe('{"a":null,"b":null,"c":[null,"x"],"d":"[-]","e":{}}\n');
  });

  test("untyped (the deprecated FileAccessLog.json_format): every value is a string, unset is '-'", () => {
    const format = { code: "%RESPONSE_CODE%", missing: "%REQ(X-MISSING)%", n: 3 };
    expect(json(format, sampleStream(), { typed: false })).toBe('{"code":"204","missing":"-","n":"3"}\n');
    expect(json(format, sampleStream(), { typed: false, omitEmptyValues: true })).toBe('{"code":"204","n":"3"}\n');
  });

  test("strings are escaped; UTF-8 bytes pass through", () => {
    const ctx = context({ req: { "user-agent": 'a "quoted" \\ agent\n\x01', "x-utf8": "caf\xc3\xa9" } });
    const line = json({ ua: "%REQ(USER-AGENT)%", utf8: "%REQ(X-UTF8)%" }, ctx);
    expect(line).toBe('{"ua":"a \\"quoted\\" \\\\ agent\\n\\u0001","utf8":"caf\xc3\xa9"}\n');
  });
});

describe("%FILTER_STATE(KEY:F):Z%", () => {
  const counts = new GrpcStatsObject();
  counts.requestMessageCount = 1;
  counts.responseMessageCount = 12;
  const filterState = new Map<string, unknown>([
    ["envoy.filters.http.grpc_stats", counts],
    ["plain.number", 3],
  ]);
  const line = (format: string, state: ReadonlyMap<string, unknown> | undefined = filterState) => compileTextFormat(format).format(context({ filterState: state }));

  test("TYPED (the default): the object's proto as protobuf's JSON; PLAIN: its string form; Z truncates", () => {
    expect(line("%FILTER_STATE(envoy.filters.http.grpc_stats)%")).toBe('{"requestMessageCount":"1","responseMessageCount":"12"}');
    expect(line("%FILTER_STATE(envoy.filters.http.grpc_stats:TYPED)%")).toBe('{"requestMessageCount":"1","responseMessageCount":"12"}');
    expect(line("%FILTER_STATE(envoy.filters.http.grpc_stats:PLAIN)%")).toBe("1,12");
    expect(line("%FILTER_STATE(envoy.filters.http.grpc_stats:PLAIN):3%")).toBe("1,1");
    const none = new GrpcStatsObject();
    none.responseMessageCount = 2;
    // A field at its default is left out, as MessageToJsonString does.
    expect(line("%FILTER_STATE(g)%", new Map([["g", none]]))).toBe('{"responseMessageCount":"2"}');
  });

  test("in typed JSON the TYPED form is the JSON value, not a string, and not truncated (Envoy's formatValue); PLAIN stays a string", () => {
    const ctx = context({ filterState });
    const format = {
      typed: "%FILTER_STATE(envoy.filters.http.grpc_stats)%",
      cut: "%FILTER_STATE(envoy.filters.http.grpc_stats:TYPED):5%",
      plain: "%FILTER_STATE(envoy.filters.http.grpc_stats:PLAIN)%",
      inText: "[%FILTER_STATE(envoy.filters.http.grpc_stats)%]",
      missing: "%FILTER_STATE(missing)%",
    };
    const object = '{"requestMessageCount":"1","responseMessageCount":"12"}';
    expect(json(format, ctx)).toBe(`{"typed":${object},"cut":${object},"plain":"1,12","inText":${JSON.stringify(`[${object}]`)},"missing":null}\n`);
    expect(JSON.parse(json(format, ctx)).typed).toEqual({ requestMessageCount: "1", responseMessageCount: "12" });
    // The deprecated untyped json_format: every value a string.
    expect(json({ typed: format.typed }, ctx, { typed: false })).toBe(`{"typed":${JSON.stringify(object)}}\n`);
  });

  test("unset without the object, for one that cannot be serialized, and for a stream without filter state", () => {
    expect(line("%FILTER_STATE(missing)% %FILTER_STATE(plain.number:PLAIN)% %FILTER_STATE(plain.number)%")).toBe("- - -");
    expect(compileTextFormat("%FILTER_STATE(envoy.filters.http.grpc_stats)%").format(context())).toBe("-");
  });

  test("bad forms are format errors; FIELD is not built", () => {
    expect(() => parseFormat("%FILTER_STATE(k:JSON)%")).toThrow("Invalid filter state serialize type, only support PLAIN/TYPED/FIELD.");
    expect(() => parseFormat("%FILTER_STATE(:PLAIN)%")).toThrow("Invalid filter state configuration, key cannot be empty.");
    expect(() => parseFormat("%FILTER_STATE(k:FIELD:f)%")).toThrow(/FIELD serialization is not supported/);
    expect(() => parseFormat("%FILTER_STATE%")).toThrow(/FILTER_STATE requires parameters/);
  });
});

describe("%METADATA(ROUTE:…)%", () => {
  const metadata = { "envoy.lb": { canary: true, team: "edge", nested: { a: { b: 1 } } } };
  const line = (format: string, routeMetadata?: Record<string, Record<string, unknown>>) => compileTextFormat(format).format(context({ routeMetadata }));

  test("a string as is, anything else as JSON, a path through nested structs, the whole namespace without a key", () => {
    expect(line("%METADATA(ROUTE:envoy.lb:team)% %METADATA(ROUTE:envoy.lb:canary)% %METADATA(ROUTE:envoy.lb:nested:a)%", metadata)).toBe('edge true {"b":1}');
    expect(line("%METADATA(ROUTE:envoy.lb:nested:a:b)%", metadata)).toBe("1");
    expect(line("%METADATA(ROUTE:envoy.lb):9%", metadata)).toBe('{"canary"');
  });

  test("in typed JSON: the value itself (an object, a boolean, a number, a string), not truncated", () => {
    const format = { all: "%METADATA(ROUTE:envoy.lb):9%", canary: "%METADATA(ROUTE:envoy.lb:canary)%", b: "%METADATA(ROUTE:envoy.lb:nested:a:b)%", team: "%METADATA(ROUTE:envoy.lb:team)%", none: "%METADATA(ROUTE:envoy.lb:missing)%" };
    // Struct keys sorted, as Envoy's structValueToJson writes them; the exact line, not a parse of it.
    expect(json(format, context({ routeMetadata: metadata }))).toBe('{"all":{"canary":true,"nested":{"a":{"b":1}},"team":"edge"},"canary":true,"b":1,"team":"edge","none":null}\n');
  });

  test("struct keys sorted in text and typed JSON alike, whatever order the config gave; list items keep theirs", () => {
    const unsorted = { ns: { z: 1, "10": "ten", a: { y: [{ q: 1, p: 2 }, 3], x: null }, "2": "two" } };
    const expected = '{"10":"ten","2":"two","a":{"x":null,"y":[{"p":2,"q":1},3]},"z":1}';
    expect(line("%METADATA(ROUTE:ns)%", unsorted)).toBe(expected);
    expect(json({ m: "%METADATA(ROUTE:ns)%" }, context({ routeMetadata: unsorted }))).toBe(`{"m":${expected}}\n`);
  });

  test("an explicit null value is unset: '-' in text, left out by omit_empty_values in typed JSON", () => {
    const withNull = { ns: { n: null, k: "v" } };
    expect(line("%METADATA(ROUTE:ns:n)% %METADATA(ROUTE:ns:k)%", withNull)).toBe("- v");
    expect(json({ n: "%METADATA(ROUTE:ns:n)%", k: "%METADATA(ROUTE:ns:k)%" }, context({ routeMetadata: withNull }), { omitEmptyValues: true })).toBe('{"k":"v"}\n');
    expect(json({ n: "%METADATA(ROUTE:ns:n)%" }, context({ routeMetadata: withNull }))).toBe('{"n":null}\n');
  });

  test("absent: unset", () => {
    expect(line("%METADATA(ROUTE:envoy.lb:missing)% %METADATA(ROUTE:other:x)% %METADATA(ROUTE:envoy.lb:team:deeper)%", metadata)).toBe("- - -");
    expect(line("%METADATA(ROUTE:envoy.lb:team)%")).toBe("-");
    expect(line("%METADATA(DYNAMIC:envoy.lb:team)%", metadata)).toBe("-");
  });

  test("bad forms are format errors", () => {
    expect(() => parseFormat("%METADATA(ROUTE)%")).toThrow(/METADATA needs TYPE:NAMESPACE/);
    expect(() => parseFormat("%METADATA(CLUSTER:ns:k)%")).toThrow(/METADATA type CLUSTER is not supported/);
  });
});
