/**
 * The ext_proc filter's pieces without sockets: its protobuf against protobufjs serializers
 * loaded from Envoy's own external_processor.proto, the default mutation rules (Envoy's
 * mutation_rules.cc / mutation_utils.cc), the config's refusals, and the filter's state
 * machine driven with stub callbacks and a stream that never connects (messages from the
 * "processor" handed to onReceiveMessage, the message timer fired by hand).
 */
import { beforeAll, describe, expect, test } from "vitest";
import * as protoLoader from "@grpc/proto-loader";
import { envoyProtoDirs } from "../../../support/envoy-protos.ts";
import { decodeProcessingResponse, encodeBodyRequest, encodeHeadersRequest, ProcessingKind } from "../../../../core/http/filters/ext-proc-proto.ts";
import { applyHeaderMutation, CheckOperation, CheckResult, DEFAULT_MUTATION_RULES, MutationChecker, mutationAllowed } from "../../../../core/http/filters/ext-proc-mutation.ts";
import { loadRegexEngine } from "../../../../core/config/regex-engine.ts";
import { ExtProcFilter, ExtProcFilterConfig } from "../../../../core/http/filters/ext-proc.ts";
import { extProcConfig, extProcPerRouteConfig } from "../../../../core/config/ext-proc-schema.ts";
import { mergeExtProcPerRoute } from "../../../../core/http/filters/ext-proc-route.ts";
import { StatsStore } from "../../../../core/stats/stats-store.ts";
import { Counter } from "../../../../core/stats/counter.ts";
import { BodyBuffer } from "../../../../core/http/body-buffer.ts";
import { RequestHeaders, ResponseHeaders } from "../../../../core/http/message.ts";
import { FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, type DecoderFilterCallbacks, type EncoderFilterCallbacks } from "../../../../core/http/filter.ts";
import type { ServerContext } from "../../../../core/server-context.ts";
import type { HttpFilterChainContext } from "../../../../core/http/filters/http-filter-registry.ts";

const OPTIONS = { includeDirs: envoyProtoDirs(), keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true };
const service = protoLoader.loadSync("envoy/service/ext_proc/v3/external_processor.proto", OPTIONS)["envoy.service.ext_proc.v3.ExternalProcessor"] as protoLoader.ServiceDefinition;
const Process = service["Process"]!;
const response = (message: object): Uint8Array => new Uint8Array(Process.responseSerialize(message));
const set = (key: string, value: string, extra: object = {}) => ({ header: { key, raw_value: Buffer.from(value) }, ...extra });

describe("ext_proc protobuf", () => {
  test("request headers and bodies as protobufjs reads them", () => {
    const headers = Process.requestDeserialize(Buffer.from(encodeHeadersRequest(ProcessingKind.RequestHeaders, [[":path", "/a"], ["x-a", "é"]], true))) as Record<string, any>;
    expect(headers.request).toBe("request_headers");
    expect(headers.request_headers.end_of_stream).toBe(true);
    expect(headers.request_headers.headers.headers.map((h: { key: string; raw_value: Buffer }) => [h.key, h.raw_value.toString("latin1")])).toEqual([
      [":path", "/a"],
      ["x-a", "é"],
    ]);
    const body = Process.requestDeserialize(Buffer.from(encodeBodyRequest(ProcessingKind.ResponseBody, new TextEncoder().encode("hi"), false))) as Record<string, any>;
    expect(body.request).toBe("response_body");
    expect(body.response_body.body.toString()).toBe("hi");
    expect(body.response_body.end_of_stream).toBeUndefined();
  });

  test("a body request (its writer sized up front) reads back as protobufjs reads it, at the lengths where a varint grows", () => {
    for (const size of [0, 1, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 16_376, 16_377, 16_380, 16_383, 16_384, 20_000, 2_097_150, 2_097_152]) {
      for (const end of [false, true]) {
        const data = new Uint8Array(size).map((_, i) => i % 251);
        const bytes = encodeBodyRequest(ProcessingKind.RequestBody, data, end);
        const body = Process.requestDeserialize(Buffer.from(bytes)) as Record<string, any>;
        expect(body.request).toBe("request_body");
        expect(Buffer.compare(body.request_body.body ?? Buffer.alloc(0), Buffer.from(data))).toBe(0);
        expect(body.request_body.end_of_stream === true).toBe(end);
      }
    }
  });

  test("responses as protobufjs writes them", () => {
    const headers = decodeProcessingResponse(
      response({
        request_headers: { response: { status: "CONTINUE_AND_REPLACE", header_mutation: { set_headers: [set("x-a", "1", { append_action: "ADD_IF_ABSENT" }), { header: { key: "X-B", value: "2" }, append: { value: true } }], remove_headers: ["X-C"] }, body_mutation: { body: Buffer.from("new") }, clear_route_cache: true } },
        mode_override: { response_body_mode: "BUFFERED", response_header_mode: "SKIP" },
        override_message_timeout: { seconds: 2, nanos: 500_000_000 },
      }),
    );
    expect(headers.kind).toBe(1);
    expect(headers.common!.status).toBe(1);
    expect(headers.common!.headerMutation).toEqual({
      setHeaders: [
        { name: "x-a", value: "1", action: 1, append: false, bothValues: false },
        { name: "x-b", value: "2", action: 0, append: true, bothValues: false },
      ],
      removeHeaders: ["x-c"],
    });
    expect(new TextDecoder().decode(headers.common!.bodyMutation)).toBe("new");
    expect(headers.common!.clearRouteCache).toBe(true);
    expect(headers.modeOverride).toMatchObject({ responseBodyMode: 2, responseHeaderMode: 2, requestBodyMode: 0 });
    expect(headers.overrideMessageTimeoutMs).toBe(2500);
    const cleared = decodeProcessingResponse(response({ response_body: { response: { body_mutation: { clear_body: true } } } }));
    expect([cleared.kind, cleared.common!.bodyMutation!.byteLength]).toEqual([4, 0]);
    const immediate = decodeProcessingResponse(response({ immediate_response: { status: { code: "Forbidden" }, headers: { set_headers: [set("x-why", "no")] }, body: Buffer.from("nope"), grpc_status: { status: 7 }, details: "not here" } }));
    expect(immediate.kind).toBe(7);
    expect(immediate.immediate).toMatchObject({ status: 403, grpcStatus: 7, details: "not here" });
    expect(new TextDecoder().decode(immediate.immediate!.body)).toBe("nope");
    // An empty HeadersResponse is a CONTINUE with nothing to do.
    expect(decodeProcessingResponse(response({ response_headers: {} })).common).toMatchObject({ status: 0, headerMutation: undefined, bodyMutation: undefined });
  });
});

describe("ext_proc mutation_rules (HeaderMutationRules, Envoy's mutation_rules.cc)", () => {
  beforeAll(() => loadRegexEngine());
  const checker = (rules: Partial<typeof DEFAULT_MUTATION_RULES>) => new MutationChecker({ ...DEFAULT_MUTATION_RULES, ...rules });
  const { Ok, Ignore, Fail } = CheckResult;

  test("allow_all_routing lets host, :authority, :method and :scheme be set; allow_envoy x-envoy-*; disallow_system the other pseudo-headers", () => {
    const routing = checker({ allowAllRouting: true });
    for (const name of ["host", ":authority"]) expect(routing.check(CheckOperation.Set, name, "backend.example:8080")).toBe(Ok);
    expect(routing.check(CheckOperation.Set, ":method", "PUT")).toBe(Ok);
    expect(routing.check(CheckOperation.Set, ":scheme", "https")).toBe(Ok);
    // Still never removable, and a value must fit.
    expect(routing.check(CheckOperation.Remove, "host", "")).toBe(Ignore);
    expect(routing.check(CheckOperation.Set, ":authority", "a b")).toBe(Ignore);
    expect(routing.check(CheckOperation.Set, ":scheme", "ftp")).toBe(Ignore);
    expect(routing.check(CheckOperation.Set, "x-envoy-a", "1")).toBe(Ignore);
    expect(checker({ allowEnvoy: true }).check(CheckOperation.Set, "x-envoy-a", "1")).toBe(Ok);
    const system = checker({ disallowSystem: true, allowAllRouting: true });
    expect(system.check(CheckOperation.Set, ":path", "/b")).toBe(Ignore);
    // allow_all_routing is checked first: a routing pseudo-header is refused by disallow_system too.
    expect(system.check(CheckOperation.Set, ":authority", "b")).toBe(Ignore);
    expect(system.check(CheckOperation.Set, "host", "b")).toBe(Ok);
  });

  test("disallow_expression, then allow_expression, then disallow_all; disallow_is_error turns IGNORE into FAIL", () => {
    const rules = checker({ disallowAll: true, allowExpression: "x-allowed-.*", disallowExpression: "x-allowed-secret" });
    expect(rules.check(CheckOperation.Set, "x-allowed-a", "1")).toBe(Ok);
    expect(rules.check(CheckOperation.Remove, "x-allowed-a", "")).toBe(Ok);
    expect(rules.check(CheckOperation.Set, "x-allowed-secret", "1")).toBe(Ignore);
    expect(rules.check(CheckOperation.Set, "x-other", "1")).toBe(Ignore);
    // allow_expression overrides the routing and x-envoy-* defaults (it comes first).
    expect(checker({ allowExpression: "x-envoy-.*|:authority" }).check(CheckOperation.Set, "x-envoy-a", "1")).toBe(Ok);
    expect(checker({ allowExpression: "x-envoy-.*|:authority" }).check(CheckOperation.Set, ":authority", "b")).toBe(Ok);
    // The expression matches the whole name.
    expect(checker({ disallowExpression: "x-a" }).check(CheckOperation.Set, "x-ab", "1")).toBe(Ok);
    expect(checker({ disallowAll: true, disallowIsError: true }).check(CheckOperation.Set, "x-a", "1")).toBe(Fail);
  });

  test("applied: allow_all_routing rewrites :authority, :scheme and host; disallow_is_error fails the message with Envoy's error", () => {
    const headers = new RequestHeaders();
    headers.authority = "front.example";
    headers.add("x-a", "1");
    const rejected = new Counter("rejected");
    const set = (name: string, value: string) => ({ name, value, action: 2, append: false, bothValues: false });
    expect(applyHeaderMutation({ setHeaders: [set(":authority", "backend.example"), set(":scheme", "https")], removeHeaders: [] }, headers, false, rejected, checker({ allowAllRouting: true }))).toBeUndefined();
    expect([headers.authority, headers.scheme, rejected.value]).toEqual(["backend.example", "https", 0]);
    expect(applyHeaderMutation({ setHeaders: [set("host", "other.example")], removeHeaders: [] }, headers, false, rejected, checker({ allowAllRouting: true }))).toBeUndefined();
    expect(headers.authority).toBe("other.example");
    // Default rules: ignored and counted.
    expect(applyHeaderMutation({ setHeaders: [set(":authority", "x.example")], removeHeaders: [] }, headers, false, rejected)).toBeUndefined();
    expect([headers.authority, rejected.value]).toEqual(["other.example", 1]);
    const failing = checker({ disallowAll: true, disallowIsError: true });
    expect(applyHeaderMutation({ setHeaders: [set("x-b", "2")], removeHeaders: [] }, headers, false, rejected, failing)).toBe("Invalid attempt to modify x-b");
    expect(applyHeaderMutation({ setHeaders: [], removeHeaders: ["x-a"] }, headers, false, rejected, failing)).toBe("Invalid attempt to remove x-a");
    expect([headers.get("x-b"), headers.get("x-a"), rejected.value]).toEqual([undefined, "1", 3]);
  });
});

describe("ext_proc default mutation rules", () => {
  test("what may be set, appended and removed", () => {
    expect(mutationAllowed(CheckOperation.Set, "x-a", "1")).toBe(true);
    expect(mutationAllowed(CheckOperation.Set, ":path", "/b")).toBe(true);
    for (const routing of ["host", ":authority", ":method", ":scheme"]) expect(mutationAllowed(CheckOperation.Set, routing, "x")).toBe(false);
    expect(mutationAllowed(CheckOperation.Set, "x-envoy-original-path", "/")).toBe(false);
    expect(mutationAllowed(CheckOperation.Append, ":path", "/b")).toBe(false);
    expect(mutationAllowed(CheckOperation.Remove, ":path", "")).toBe(false);
    expect(mutationAllowed(CheckOperation.Remove, "host", "")).toBe(false);
    expect(mutationAllowed(CheckOperation.Remove, "x-a", "")).toBe(true);
    expect(mutationAllowed(CheckOperation.Set, ":status", "199")).toBe(false);
    expect(mutationAllowed(CheckOperation.Set, ":status", "201")).toBe(true);
    // Values that would not fit a status line or an HTTP/1 request line upstream.
    expect(mutationAllowed(CheckOperation.Set, ":status", "99999")).toBe(false);
    expect(mutationAllowed(CheckOperation.Set, ":path", "/a HTTP/1.1\r")).toBe(false);
    expect(mutationAllowed(CheckOperation.Set, ":path", "/smuggled HTTP/1.1\tX")).toBe(false);
  });

  test("applied to headers: refusals ignored and counted, invalid names an error", () => {
    const headers = new RequestHeaders();
    headers.path = "/a";
    headers.authority = "example.com";
    headers.add("x-keep", "1");
    headers.add("x-drop", "1");
    const rejected = new Counter("rejected");
    const mutation = {
      setHeaders: [
        { name: "x-new", value: "v", action: 0, append: false, bothValues: false },
        { name: "x-keep", value: "2", action: 0, append: true, bothValues: false },
        { name: "x-keep", value: "3", action: 1, append: false, bothValues: false },
        { name: ":path", value: "/b", action: 0, append: false, bothValues: false },
        { name: ":authority", value: "evil", action: 0, append: false, bothValues: false },
        { name: "x-absent", value: "no", action: 3, append: false, bothValues: false },
      ],
      removeHeaders: ["x-drop", "host"],
    };
    expect(applyHeaderMutation(mutation, headers, false, rejected)).toBeUndefined();
    expect([headers.path, headers.authority, headers.getJoined("x-keep", ","), headers.get("x-new"), headers.has("x-drop"), headers.has("x-absent")]).toEqual(["/b", "example.com", "1,2", "v", false, false]);
    // :authority set, host removed: both refused.
    expect(rejected.value).toBe(2);
    expect(applyHeaderMutation({ setHeaders: [{ name: "bad name", value: "", action: 0, append: false, bothValues: false }], removeHeaders: [] }, headers, false, rejected)).toBe("Invalid character in set_headers mutation.");
    // CONTINUE_AND_REPLACE may change :method.
    expect(applyHeaderMutation({ setHeaders: [{ name: ":method", value: "POST", action: 0, append: false, bothValues: false }], removeHeaders: [] }, headers, true, rejected)).toBeUndefined();
    // … but only to a token.
    const before = rejected.value;
    applyHeaderMutation({ setHeaders: [{ name: ":method", value: "GET /admin HTTP/1.1", action: 0, append: false, bothValues: false }], removeHeaders: [] }, headers, true, rejected);
    expect(rejected.value).toBe(before + 1);
    expect(headers.method).toBe("POST");
    expect(headers.method).toBe("POST");
    const status = new ResponseHeaders(200);
    applyHeaderMutation({ setHeaders: [{ name: ":status", value: "418", action: 0, append: false, bothValues: false }], removeHeaders: [] }, status, false, rejected);
    expect(status.status).toBe(418);
  });
});

describe("ext_proc config", () => {
  const base = { grpc_service: { envoy_grpc: { cluster_name: "p" } } };
  test("defaults, and the example's message_timeout form", () => {
    expect(extProcConfig.parse({ ...base, message_timeout: { seconds: 2 }, allow_mode_override: true })).toMatchObject({
      grpc: { clusterName: "p" },
      messageTimeoutMs: 2000,
      allowModeOverride: true,
      failureModeAllow: false,
      processingMode: { requestHeaders: true, responseHeaders: true, requestBody: "NONE", responseBody: "NONE", requestTrailers: false, responseTrailers: false },
    });
    expect(extProcConfig.parse(base)).toMatchObject({ messageTimeoutMs: 200 });
    expect(extProcConfig.parse({ ...base, processing_mode: { request_header_mode: "SKIP", response_body_mode: "BUFFERED" } }).processingMode).toEqual({ requestHeaders: false, responseHeaders: true, requestBody: "NONE", responseBody: "BUFFERED", requestTrailers: false, responseTrailers: false });
    expect(extProcConfig.parse({ ...base, processing_mode: { request_body_mode: "STREAMED", response_body_mode: 3, request_trailer_mode: "SEND", response_trailer_mode: "SKIP" } }).processingMode).toEqual({ requestHeaders: true, responseHeaders: true, requestBody: "STREAMED", responseBody: "BUFFERED_PARTIAL", requestTrailers: true, responseTrailers: false });
  });

  test("refused by name", () => {
    const problems = (c: object) => extProcConfig.safeParse(c).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    // config.cc verifyProcessingModeConfig, with Envoy's messages.
    expect(problems({ ...base, processing_mode: { request_body_mode: "FULL_DUPLEX_STREAMED" } })).toEqual([
      "processing_mode.request_trailer_mode: If the ext_proc filter has the request_body_mode set to FULL_DUPLEX_STREAMED, then the request_trailer_mode has to be set to SEND",
    ]);
    expect(problems({ ...base, processing_mode: { response_body_mode: "FULL_DUPLEX_STREAMED", response_trailer_mode: "SKIP" } })?.[0]).toMatch(/^processing_mode.response_trailer_mode: If the ext_proc filter has the response_body_mode set to FULL_DUPLEX_STREAMED, then the response_trailer_mode has to be set to SEND$/);
    expect(problems({ ...base, failure_mode_allow: true, processing_mode: { request_body_mode: "FULL_DUPLEX_STREAMED", request_trailer_mode: "SEND" } })).toEqual([
      "failure_mode_allow: If the ext_proc filter has either the request_body_mode or the response_body_mode set to FULL_DUPLEX_STREAMED, then the failure_mode_allow has to be left as false",
    ]);
    expect(extProcConfig.parse({ ...base, processing_mode: { request_body_mode: 4, request_trailer_mode: "SEND" } }).processingMode.requestBody).toBe("FULL_DUPLEX_STREAMED");
    expect(extProcConfig.parse({ ...base, mutation_rules: { allow_all_routing: true, disallow_expression: { regex: "x-secret-.*" } } }).mutationRules).toEqual({ allowAllRouting: true, allowEnvoy: false, disallowSystem: false, disallowAll: false, disallowExpression: "x-secret-.*", disallowIsError: false });
    expect(problems({ ...base, request_attributes: ["request.path"] })?.[0]).toMatch(/^request_attributes: /);
    expect(problems({})?.[0]).toBe("grpc_service: must set grpc_service");
    expect(problems({ ...base, message_timeout: "0s" })?.[0]).toBe("message_timeout: must be greater than 0s and at most 3600s");
    // async_mode: false (the default) accepted, true refused (Envoy does not implement it).
    expect(problems({ ...base, async_mode: false })).toBeUndefined();
    expect(problems({ ...base, async_mode: true })?.[0]).toMatch(/^async_mode: /);
  });
});

// ---- the state machine ----

interface Harness {
  filter: ExtProcFilter;
  stats: StatsStore;
  continued: { decoding: number; encoding: number };
  replies: { status: number; body: string; details: string; headers: [string, string][] | undefined }[];
  /** Fires the one enabled message timer (of `direction`, when given). */
  fireTimer(direction?: "decoding" | "encoding"): void;
  /** Whether `direction`'s message timer is running (each direction has its own, as in Envoy). */
  timerEnabled(direction: "decoding" | "encoding"): boolean;
  /** The timeout a message timer was last enabled with. */
  timerMs(): number;
  buffer: BodyBuffer;
  /** Body the filter passed on, as text with its end flag, per direction. */
  injected: { decoding: [string, boolean][]; encoding: [string, boolean][] };
  /** The senders paused (true) and resumed (false), per direction. */
  paused: { decoding: boolean[]; encoding: boolean[] };
}

function harness(config: object, bufferLimit = 1 << 20): Harness {
  const stats = new StatsStore();
  // One fake timer per direction, each with its own state: a disable meant for one direction must not stop the other's.
  const timers: { request: boolean; target: { onTimer(): void }; enabled: boolean }[] = [];
  let timerMs = 0;
  const server = {
    stats,
    timers: {
      create: (target: { request: boolean; onTimer(): void }) => {
        const timer = {
          request: target.request,
          target,
          enabled: false,
          enable: (ms: number) => ((timer.enabled = true), (timerMs = ms)),
          disable: () => (timer.enabled = false),
        };
        timers.push(timer);
        return timer;
      },
    },
    // A cluster whose pool never gives a stream: messages queue, answers are handed in by the test.
    clusterManager: {
      get: () => ({ config: {}, loadBalancer: { chooseHost: () => ({}) } }),
      grpcStreamPoolCodeLoading: () => undefined,
      grpcStreamConnPool: () => ({ newStream: () => ({ cancel() {} }) }),
    },
  } as unknown as ServerContext;
  const shared = new ExtProcFilterConfig(extProcConfig.parse({ grpc_service: { envoy_grpc: { cluster_name: "p" } }, ...config }), server, { statPrefix: "t" } as HttpFilterChainContext);
  const filter = new ExtProcFilter(shared);
  const continued = { decoding: 0, encoding: 0 };
  const replies: Harness["replies"] = [];
  const buffer = new BodyBuffer();
  const injected: Harness["injected"] = { decoding: [], encoding: [] };
  const paused: Harness["paused"] = { decoding: [], encoding: [] };
  const text = (data: Uint8Array) => new TextDecoder().decode(data);
  const common = {
    route: undefined,
    sendLocalReply: (status: number, body: string, details: string, _flag: unknown, headers: [string, string][] | undefined) => replies.push({ status, body, details, headers }),
  };
  filter.setDecoderFilterCallbacks({
    ...common,
    continueDecoding: () => continued.decoding++,
    decodingBuffer: () => buffer,
    addDecodedData: (data: Uint8Array) => buffer.add(data),
    clearRouteCache: () => {},
    decoderBufferLimit: bufferLimit,
    injectDecodedDataToFilterChain: (data: Uint8Array, end: boolean) => injected.decoding.push([text(data), end]),
    replaceDecodedData: (data: Uint8Array) => injected.decoding.push([`replaced:${text(data)}`, true]),
    readDisableDownstream: (disable: boolean) => paused.decoding.push(disable),
  } as unknown as DecoderFilterCallbacks);
  filter.setEncoderFilterCallbacks({
    ...common,
    continueEncoding: () => continued.encoding++,
    encodingBuffer: () => undefined,
    encoderBufferLimit: bufferLimit,
    injectEncodedDataToFilterChain: (data: Uint8Array, end: boolean) => injected.encoding.push([text(data), end]),
    onEncoderFilterAboveWriteBufferHighWatermark: () => paused.encoding.push(true),
    onEncoderFilterBelowWriteBufferLowWatermark: () => paused.encoding.push(false),
  } as unknown as EncoderFilterCallbacks);
  return {
    filter,
    injected,
    paused,
    stats,
    continued,
    replies,
    buffer,
    timerMs: () => timerMs,
    timerEnabled: (direction) => timers.some((t) => t.enabled && t.request === (direction === "decoding")),
    fireTimer: (direction) => {
      const enabled = timers.filter((t) => t.enabled && (direction === undefined || t.request === (direction === "decoding")));
      expect(enabled.length).toBe(1);
      enabled[0]!.enabled = false;
      enabled[0]!.target.onTimer();
    },
  };
}

const counter = (h: Harness, name: string) => h.stats.counter(`http.t.ext_proc.${name}`).value;

describe("ext_proc filter state machine", () => {
  test("headers held until their answer, mutated, then continued; the response likewise", () => {
    const h = harness({});
    const request = new RequestHeaders();
    expect(h.filter.decodeHeaders(request, true)).toBe(FilterHeadersStatus.StopIteration);
    expect(counter(h, "streams_started")).toBe(1);
    expect(counter(h, "stream_msgs_sent")).toBe(1);
    h.filter.onReceiveMessage(response({ request_headers: { response: { header_mutation: { set_headers: [set("x-in", "1")] } } } }));
    expect(request.get("x-in")).toBe("1");
    expect(h.continued.decoding).toBe(1);
    const answer = new ResponseHeaders(200);
    expect(h.filter.encodeHeaders(answer, true)).toBe(FilterHeadersStatus.StopIteration);
    h.filter.onReceiveMessage(response({ response_headers: { response: { header_mutation: { set_headers: [set("x-out", "1")] } } } }));
    expect([answer.get("x-out"), h.continued.encoding]).toEqual(["1", 1]);
    expect(counter(h, "stream_msgs_received")).toBe(2);
    // The request's end closes the stream (Envoy's closeStream: streams_closed).
    h.filter.onDestroy();
    expect(counter(h, "streams_closed")).toBe(1);
  });

  test("a message out of turn is spurious: a 500 (Envoy's ext_proc_fail_close_spurious_resp), or with failure_mode_allow the processor is ignored and the request goes on", () => {
    const closed = harness({});
    closed.filter.decodeHeaders(new RequestHeaders(), true);
    closed.filter.onReceiveMessage(response({ response_body: { response: {} } }));
    expect(closed.replies.map((r) => [r.status, r.details])).toEqual([[500, "spurious_message"]]);
    expect([counter(closed, "spurious_msgs_received"), counter(closed, "failure_mode_allowed"), closed.continued.decoding]).toEqual([1, 0, 0]);
    const h = harness({ failure_mode_allow: true });
    h.filter.decodeHeaders(new RequestHeaders(), true);
    h.filter.onReceiveMessage(response({ response_body: { response: {} } }));
    expect([counter(h, "spurious_msgs_received"), counter(h, "failure_mode_allowed")]).toEqual([1, 1]);
    expect(h.continued.decoding).toBe(1);
    // The response is not sent to the processor any more.
    expect(h.filter.encodeHeaders(new ResponseHeaders(200), true)).toBe(FilterHeadersStatus.Continue);
    expect(h.replies).toEqual([]);
  });

  test("a buffered body: held, sent whole at its end, replaced", () => {
    const h = harness({ processing_mode: { request_header_mode: "SKIP", request_body_mode: "BUFFERED" } });
    const request = new RequestHeaders();
    request.set("content-length", "10");
    expect(h.filter.decodeHeaders(request, false)).toBe(FilterHeadersStatus.StopIteration);
    expect(counter(h, "stream_msgs_sent")).toBe(0);
    const chunk = new TextEncoder().encode("hello");
    expect(h.filter.decodeData(chunk, false)).toBe(FilterDataStatus.StopIterationAndBuffer);
    h.buffer.add(chunk);
    expect(h.filter.decodeData(new TextEncoder().encode("world"), true)).toBe(FilterDataStatus.StopIterationAndBuffer);
    h.buffer.add(new TextEncoder().encode("world"));
    expect(counter(h, "stream_msgs_sent")).toBe(1);
    h.filter.onReceiveMessage(response({ request_body: { response: { body_mutation: { body: Buffer.from("bye") } } } }));
    expect(new TextDecoder().decode(h.buffer.toBytes())).toBe("bye");
    expect(request.get("content-length")).toBe("3");
    expect(h.continued.decoding).toBe(1);
  });

  test("an immediate response is a local reply", () => {
    const h = harness({});
    h.filter.decodeHeaders(new RequestHeaders(), true);
    h.filter.onReceiveMessage(response({ immediate_response: { status: { code: 401 }, headers: { set_headers: [set("x-why", "no"), set("x-envoy-x", "no")] }, body: Buffer.from("go away"), details: "not allowed here" } }));
    // Envoy's ImmediateMutationChecker: allow_all_routing and allow_envoy, whatever mutation_rules say.
    expect(h.replies).toEqual([{ status: 401, body: "go away", details: "not_allowed_here", headers: [["x-why", "no"], ["x-envoy-x", "no"]] }]);
    expect(h.continued.decoding).toBe(0);
    const strict = harness({ mutation_rules: { disallow_all: true } });
    strict.filter.decodeHeaders(new RequestHeaders(), true);
    strict.filter.onReceiveMessage(response({ immediate_response: { status: { code: 401 }, headers: { set_headers: [set("x-why", "no"), set("bad\u0001", "x")] } } }));
    expect(strict.replies.map((r) => r.headers)).toEqual([[["x-why", "no"]]]);
  });

  test("the message timeout: 504, or with failure_mode_allow the request goes on", () => {
    const closed = harness({});
    closed.filter.decodeHeaders(new RequestHeaders(), true);
    closed.fireTimer();
    expect(closed.replies.map((r) => [r.status, r.details])).toEqual([[504, "ext_proc_error_per-message_timeout_exceeded"]]);
    expect(counter(closed, "message_timeouts")).toBe(1);
    const open = harness({ failure_mode_allow: true });
    open.filter.decodeHeaders(new RequestHeaders(), true);
    open.fireTimer();
    expect([open.replies.length, open.continued.decoding, counter(open, "failure_mode_allowed")]).toEqual([0, 1, 1]);
  });

  test("a failed stream: 500 with the gRPC status in the details; a clean close lets the request go on", () => {
    const failed = harness({});
    failed.filter.decodeHeaders(new RequestHeaders(), true);
    failed.filter.onRemoteClose(14, "unavailable");
    expect(failed.replies.map((r) => [r.status, r.details])).toEqual([[500, "ext_proc_error_gRPC_error_14"]]);
    expect(counter(failed, "streams_failed")).toBe(1);
    const closed = harness({});
    closed.filter.decodeHeaders(new RequestHeaders(), true);
    closed.filter.onRemoteClose(0, "");
    expect([closed.replies.length, closed.continued.decoding, counter(closed, "streams_closed")]).toEqual([0, 1, 1]);
  });

  test("mode_override, with allow_mode_override: the response headers skipped", () => {
    const h = harness({ allow_mode_override: true });
    h.filter.decodeHeaders(new RequestHeaders(), true);
    h.filter.onReceiveMessage(response({ request_headers: {}, mode_override: { response_header_mode: "SKIP" } }));
    expect(h.filter.encodeHeaders(new ResponseHeaders(200), true)).toBe(FilterHeadersStatus.Continue);
    const without = harness({});
    without.filter.decodeHeaders(new RequestHeaders(), true);
    without.filter.onReceiveMessage(response({ request_headers: {}, mode_override: { response_header_mode: "SKIP" } }));
    expect(without.filter.encodeHeaders(new ResponseHeaders(200), true)).toBe(FilterHeadersStatus.StopIteration);
  });
});

const bytes = (text: string) => new TextEncoder().encode(text);
const body = (direction: "request_body" | "response_body", replacement?: string) => response({ [direction]: { response: replacement === undefined ? {} : { body_mutation: { body: Buffer.from(replacement) } } } });

describe("ext_proc STREAMED, BUFFERED_PARTIAL and trailers (processor_state.cc)", () => {
  test("STREAMED: the body held during the headers' call goes as one chunk after their answer; each chunk is passed on when its answer comes, in order, replaced or not", () => {
    const h = harness({ processing_mode: { request_body_mode: "STREAMED" } });
    const request = new RequestHeaders();
    request.set("content-length", "4");
    expect(h.filter.decodeHeaders(request, false)).toBe(FilterHeadersStatus.StopIteration);
    // The processor may change each chunk's length: content-length goes (Envoy's shouldRemoveContentLength).
    expect(request.has("content-length")).toBe(false);
    // Until the headers' answer, the body waits in the stream's buffer, pausing the client over the limit.
    expect(h.filter.decodeData(bytes("a"), false)).toBe(FilterDataStatus.StopIterationAndWatermark);
    h.buffer.add(bytes("a"));
    expect(counter(h, "stream_msgs_sent")).toBe(1);
    h.filter.onReceiveMessage(response({ request_headers: {} }));
    expect([counter(h, "stream_msgs_sent"), h.buffer.length, h.continued.decoding]).toEqual([2, 0, 1]);
    expect(h.filter.decodeData(bytes("b"), false)).toBe(FilterDataStatus.StopIterationNoBuffer);
    expect(h.filter.decodeData(bytes("c"), true)).toBe(FilterDataStatus.StopIterationNoBuffer);
    expect(counter(h, "stream_msgs_sent")).toBe(4);
    expect(h.injected.decoding).toEqual([]);
    h.filter.onReceiveMessage(body("request_body", "A"));
    h.filter.onReceiveMessage(body("request_body"));
    expect(h.injected.decoding).toEqual([["A", false], ["b", false]]);
    expect(h.continued.decoding).toBe(1);
    h.filter.onReceiveMessage(body("request_body", "CC"));
    expect(h.injected.decoding).toEqual([["A", false], ["b", false], ["CC", true]]);
    // The last chunk's answer lets the end go on.
    expect(h.continued.decoding).toBe(2);
    expect(counter(h, "stream_msgs_received")).toBe(4);
    // One answer too many is spurious.
    h.filter.onReceiveMessage(body("request_body"));
    expect(counter(h, "spurious_msgs_received")).toBe(1);
  });

  test("STREAMED: the queue is bounded by the buffer limit — the sender paused over it, resumed under half of it", () => {
    const h = harness({ processing_mode: { response_header_mode: "SKIP", response_body_mode: "STREAMED" } }, 10);
    expect(h.filter.encodeHeaders(new ResponseHeaders(200), false)).toBe(FilterHeadersStatus.Continue);
    h.filter.encodeData(bytes("123456"), false);
    expect(h.paused.encoding).toEqual([]);
    h.filter.encodeData(bytes("789012"), false);
    expect(h.paused.encoding).toEqual([true]);
    h.filter.encodeData(bytes("345"), false);
    expect(h.paused.encoding).toEqual([true]);
    h.filter.onReceiveMessage(body("response_body"));
    // 9 bytes still held: not under half of 10.
    expect(h.paused.encoding).toEqual([true]);
    h.filter.onReceiveMessage(body("response_body"));
    expect(h.paused.encoding).toEqual([true, false]);
    h.filter.onReceiveMessage(body("response_body"));
    expect(h.injected.encoding).toEqual([["123456", false], ["789012", false], ["345", false]]);
  });

  test("BUFFERED_PARTIAL: held up to the limit, sent with end_of_stream false, answered; what came meanwhile follows unprocessed, then the rest goes on", () => {
    const h = harness({ processing_mode: { request_header_mode: "SKIP", request_body_mode: "BUFFERED_PARTIAL" } }, 10);
    expect(h.filter.decodeHeaders(new RequestHeaders(), false)).toBe(FilterHeadersStatus.Continue);
    expect(h.filter.decodeData(bytes("abcd"), false)).toBe(FilterDataStatus.StopIterationNoBuffer);
    expect(counter(h, "stream_msgs_sent")).toBe(0);
    expect(h.filter.decodeData(bytes("efghijkl"), false)).toBe(FilterDataStatus.StopIterationNoBuffer);
    expect([counter(h, "stream_msgs_sent"), h.paused.decoding]).toEqual([1, [true]]);
    expect(h.filter.decodeData(bytes("mno"), false)).toBe(FilterDataStatus.StopIterationNoBuffer);
    h.filter.onReceiveMessage(body("request_body", "ABCDEFGHIJKL"));
    expect(h.injected.decoding).toEqual([["ABCDEFGHIJKL", false], ["mno", false]]);
    expect(h.paused.decoding).toEqual([true, false]);
    expect(h.continued.decoding).toBe(1);
    expect(h.filter.decodeData(bytes("pq"), true)).toBe(FilterDataStatus.Continue);
    expect(counter(h, "stream_msgs_sent")).toBe(1);
  });

  test("BUFFERED_PARTIAL under the limit: sent whole at the end, with end_of_stream", () => {
    const h = harness({ processing_mode: { request_header_mode: "SKIP", request_body_mode: "BUFFERED_PARTIAL" } }, 100);
    h.filter.decodeHeaders(new RequestHeaders(), false);
    h.filter.decodeData(bytes("ab"), false);
    h.filter.decodeData(bytes("cd"), true);
    expect(counter(h, "stream_msgs_sent")).toBe(1);
    h.filter.onReceiveMessage(body("request_body"));
    expect(h.injected.decoding).toEqual([["abcd", true]]);
  });

  test("trailers SEND: held, sent, mutated; with STREAMED they wait for the last chunk's answer", () => {
    const h = harness({ processing_mode: { request_header_mode: "SKIP", request_body_mode: "STREAMED", request_trailer_mode: "SEND" } });
    h.filter.decodeHeaders(new RequestHeaders(), false);
    h.filter.decodeData(bytes("x"), false);
    const trailers = new RequestHeaders();
    trailers.set("grpc-status", "0");
    expect(h.filter.decodeTrailers(trailers)).toBe(FilterTrailersStatus.StopIteration);
    expect(counter(h, "stream_msgs_sent")).toBe(1);
    h.filter.onReceiveMessage(body("request_body"));
    // The chunk goes on; the trailers are sent now, and still held.
    expect(h.injected.decoding).toEqual([["x", false]]);
    expect([counter(h, "stream_msgs_sent"), h.continued.decoding]).toEqual([2, 0]);
    h.filter.onReceiveMessage(response({ request_trailers: { header_mutation: { set_headers: [set("x-trailer", "yes")], remove_headers: ["grpc-status"] } } }));
    expect([trailers.get("x-trailer"), trailers.has("grpc-status"), h.continued.decoding]).toEqual(["yes", false, 1]);
    // Without SEND, trailers pass.
    const skip = harness({ processing_mode: { request_header_mode: "SKIP" } });
    skip.filter.decodeHeaders(new RequestHeaders(), false);
    expect(skip.filter.decodeTrailers(new RequestHeaders())).toBe(FilterTrailersStatus.Continue);
  });

  test("a stalled chunk: the message timeout is a 504; with failure_mode_allow the queued chunks go on unprocessed", () => {
    const closed = harness({ processing_mode: { request_header_mode: "SKIP", request_body_mode: "STREAMED" } });
    closed.filter.decodeHeaders(new RequestHeaders(), false);
    closed.filter.decodeData(bytes("a"), false);
    closed.fireTimer();
    expect(closed.replies.map((r) => [r.status, r.details])).toEqual([[504, "ext_proc_error_per-message_timeout_exceeded"]]);
    const open = harness({ failure_mode_allow: true, processing_mode: { request_header_mode: "SKIP", request_body_mode: "STREAMED" } });
    open.filter.decodeHeaders(new RequestHeaders(), false);
    open.filter.decodeData(bytes("a"), false);
    open.filter.decodeData(bytes("b"), true);
    open.filter.onReceiveMessage(body("request_body", "A"));
    open.fireTimer();
    expect(open.injected.decoding).toEqual([["A", false], ["b", true]]);
    expect([open.replies.length, open.continued.decoding, counter(open, "failure_mode_allowed")]).toEqual([0, 1, 1]);
    // Later chunks pass untouched.
    expect(open.filter.decodeData(bytes("c"), true)).toBe(FilterDataStatus.Continue);
  });

  test("override_message_timeout: taken within max_message_timeout, once per message; ignored beyond it or without it", () => {
    const h = harness({ max_message_timeout: "10s", message_timeout: "1s" });
    h.filter.decodeHeaders(new RequestHeaders(), true);
    expect(h.timerMs()).toBe(1000);
    h.filter.onReceiveMessage(response({ override_message_timeout: { seconds: 5 } }));
    expect([h.timerMs(), counter(h, "override_message_timeout_received")]).toEqual([5000, 1]);
    // A second one for the same message, and one over the bound, are ignored.
    h.filter.onReceiveMessage(response({ override_message_timeout: { seconds: 6 } }));
    h.filter.onReceiveMessage(response({ override_message_timeout: { seconds: 11 } }));
    expect([h.timerMs(), counter(h, "override_message_timeout_ignored")]).toEqual([5000, 2]);
    // It is no answer: the headers still wait.
    expect(h.continued.decoding).toBe(0);
    const without = harness({});
    without.filter.decodeHeaders(new RequestHeaders(), true);
    without.filter.onReceiveMessage(response({ override_message_timeout: { seconds: 1 } }));
    expect([without.timerMs(), counter(without, "override_message_timeout_ignored")]).toEqual([200, 1]);
  });

  test("STREAMED with CONTINUE_AND_REPLACE on the headers: the body mutation is the whole body (ahead of trailers), no chunk goes to the processor", () => {
    const h = harness({ processing_mode: { request_body_mode: "STREAMED", request_trailer_mode: "SEND" } });
    h.filter.decodeHeaders(new RequestHeaders(), false);
    h.filter.onReceiveMessage(response({ request_headers: { response: { status: "CONTINUE_AND_REPLACE", body_mutation: { body: Buffer.from("new") } } } }));
    expect(h.continued.decoding).toBe(1);
    expect(h.filter.decodeData(bytes("old"), false)).toBe(FilterDataStatus.StopIterationNoBuffer);
    // The body ends at trailers: the replacement goes ahead of them.
    expect(h.filter.decodeTrailers(new RequestHeaders())).toBe(FilterTrailersStatus.Continue);
    expect(new TextDecoder().decode(h.buffer.toBytes())).toBe("new");
    expect(counter(h, "stream_msgs_sent")).toBe(1);
  });

  test("a spurious message while chunks wait, with failure_mode_allow: they pass on unprocessed, in order (ext_proc.cc: closeStream, clearAsyncState)", () => {
    const h = harness({ failure_mode_allow: true, processing_mode: { request_header_mode: "SKIP", request_body_mode: "STREAMED" } });
    h.filter.decodeHeaders(new RequestHeaders(), false);
    h.filter.decodeData(bytes("a"), false);
    h.filter.decodeData(bytes("b"), false);
    h.filter.decodeData(bytes("c"), true);
    h.filter.onReceiveMessage(body("request_body", "A"));
    // The response's body was never sent: its answer is out of turn.
    h.filter.onReceiveMessage(body("response_body"));
    expect(counter(h, "spurious_msgs_received")).toBe(1);
    expect(h.injected.decoding).toEqual([["A", false], ["bc", true]]);
    expect([h.continued.decoding, h.replies.length, h.timerEnabled("decoding")]).toEqual([1, 0, false]);
  });

  test("CONTINUE_AND_REPLACE on the headers with the body under way: what came meanwhile is replaced too, the rest dropped", () => {
    for (const mode of ["NONE", "STREAMED", "BUFFERED_PARTIAL"]) {
      const h = harness({ processing_mode: { request_body_mode: mode } });
      const request = new RequestHeaders();
      h.filter.decodeHeaders(request, false);
      expect(h.filter.decodeData(bytes("SECRET-1;"), false)).toBe(FilterDataStatus.StopIterationAndWatermark);
      h.buffer.add(bytes("SECRET-1;"));
      h.filter.onReceiveMessage(response({ request_headers: { response: { status: "CONTINUE_AND_REPLACE", body_mutation: { body: Buffer.from("REPLACED") } } } }));
      // The held part does not go ahead of the replacement.
      expect([mode, h.buffer.length, h.continued.decoding]).toEqual([mode, 0, 1]);
      expect(h.filter.decodeData(bytes("SECRET-2;"), false)).toBe(FilterDataStatus.StopIterationNoBuffer);
      expect(h.filter.decodeData(bytes("SECRET-3"), true)).toBe(FilterDataStatus.Continue);
      expect(h.injected.decoding).toEqual([["replaced:REPLACED", true]]);
      expect(counter(h, "stream_msgs_sent")).toBe(1);
    }
    // A content-length follows the replacement.
    const sized = harness({});
    const request = new RequestHeaders();
    request.set("content-length", "17");
    sized.filter.decodeHeaders(request, false);
    sized.filter.onReceiveMessage(response({ request_headers: { response: { status: "CONTINUE_AND_REPLACE", body_mutation: { body: Buffer.from("new") } } } }));
    expect(request.get("content-length")).toBe("3");
  });

  test("content-length goes when mode_override makes the body STREAMED or BUFFERED_PARTIAL, and a processor's is not set then", () => {
    for (const mode of ["STREAMED", "BUFFERED_PARTIAL"]) {
      const h = harness({ allow_mode_override: true });
      const request = new RequestHeaders();
      request.set("content-length", "4");
      h.filter.decodeHeaders(request, false);
      expect(request.get("content-length")).toBe("4");
      h.filter.onReceiveMessage(response({ request_headers: {}, mode_override: { request_body_mode: mode } }));
      expect([mode, request.has("content-length")]).toEqual([mode, false]);
    }
    const h = harness({ processing_mode: { request_body_mode: "STREAMED" } });
    const request = new RequestHeaders();
    h.filter.decodeHeaders(request, false);
    h.filter.onReceiveMessage(response({ request_headers: { response: { header_mutation: { set_headers: [set("content-length", "4"), set("x-a", "1")] } } } }));
    expect([request.has("content-length"), request.get("x-a"), counter(h, "rejected_header_mutations")]).toEqual([false, "1", 0]);
    // Nor by a BUFFERED_PARTIAL body's answer, the headers still held.
    const partial = harness({ processing_mode: { request_body_mode: "BUFFERED_PARTIAL" } });
    const held = new RequestHeaders();
    partial.filter.decodeHeaders(held, false);
    partial.filter.onReceiveMessage(response({ request_headers: {} }));
    partial.filter.decodeData(bytes("ab"), true);
    partial.filter.onReceiveMessage(response({ request_body: { response: { header_mutation: { set_headers: [set("content-length", "2"), set("x-b", "1")] } } } }));
    expect([held.has("content-length"), held.get("x-b"), partial.injected.decoding]).toEqual([false, "1", [["ab", true]]]);
    // BUFFERED: the processor's content-length stands (the body is held whole).
    const buffered = harness({ processing_mode: { request_body_mode: "BUFFERED" } });
    const whole = new RequestHeaders();
    buffered.filter.decodeHeaders(whole, false);
    buffered.filter.onReceiveMessage(response({ request_headers: { response: { header_mutation: { set_headers: [set("content-length", "4")] } } } }));
    expect(whole.get("content-length")).toBe("4");
  });

  test("mode_override does not change the body mode of a direction whose chunks are under way", () => {
    const h = harness({ allow_mode_override: true, processing_mode: { request_header_mode: "SKIP", request_body_mode: "STREAMED" } });
    h.filter.decodeHeaders(new RequestHeaders(), false);
    h.filter.decodeData(bytes("a"), false);
    // The upstream answers early: the response headers' answer overrides the request's body mode.
    expect(h.filter.encodeHeaders(new ResponseHeaders(200), false)).toBe(FilterHeadersStatus.StopIteration);
    h.filter.onReceiveMessage(response({ response_headers: {}, mode_override: { request_body_mode: "NONE", response_body_mode: "STREAMED" } }));
    // Its own timer stopped, the request's still runs.
    expect([h.timerEnabled("encoding"), h.timerEnabled("decoding")]).toEqual([false, true]);
    // "b" does not overtake "a", still awaited.
    expect(h.filter.decodeData(bytes("b"), true)).toBe(FilterDataStatus.StopIterationNoBuffer);
    h.filter.onReceiveMessage(body("request_body"));
    h.filter.onReceiveMessage(body("request_body"));
    expect(h.injected.decoding).toEqual([["a", false], ["b", true]]);
    // The idle response took the override.
    expect(h.filter.encodeData(bytes("r"), true)).toBe(FilterDataStatus.StopIterationNoBuffer);
    expect(counter(h, "stream_msgs_sent")).toBe(4);
  });

  test("each direction's message timer is its own: an answer on one leaves the other's running", () => {
    const h = harness({ processing_mode: { request_header_mode: "SKIP", request_body_mode: "STREAMED" } });
    h.filter.decodeHeaders(new RequestHeaders(), false);
    h.filter.decodeData(bytes("a"), false);
    h.filter.encodeHeaders(new ResponseHeaders(200), true);
    expect([h.timerEnabled("decoding"), h.timerEnabled("encoding")]).toEqual([true, true]);
    h.filter.onReceiveMessage(body("request_body"));
    expect([h.timerEnabled("decoding"), h.timerEnabled("encoding")]).toEqual([false, true]);
    h.fireTimer("encoding");
    expect(h.replies.map((r) => r.status)).toEqual([504]);
  });
});

// ---- FULL_DUPLEX_STREAMED (processor_state.cc handleDuplexStreamedBodyResponse) ----

/** ProcessingResponse with BodyMutation.streamed_response, encoded by hand (the shipped proto predates it). */
function streamedBody(direction: "request_body" | "response_body", text: string, end: boolean): Uint8Array {
  const len = (field: number, body: Uint8Array) => {
    if (body.length > 127) throw new Error("short messages only");
    return new Uint8Array([(field << 3) | 2, body.length, ...body]);
  };
  const streamed = new Uint8Array([...len(1, bytes(text)), ...(end ? [0x10, 1] : [])]);
  return len(direction === "request_body" ? 3 : 4, len(1, len(3, len(3, streamed))));
}

describe("ext_proc FULL_DUPLEX_STREAMED", () => {
  const duplex = { request_body_mode: "FULL_DUPLEX_STREAMED", request_trailer_mode: "SEND", response_body_mode: "FULL_DUPLEX_STREAMED", response_trailer_mode: "SEND" };

  test("chunks go as they come, even before the headers' answer; the processor's pieces pass on in its own grouping; the end waits for its end_of_stream; no message timer", () => {
    const h = harness({ processing_mode: duplex });
    const request = new RequestHeaders();
    request.set("content-length", "6");
    expect(h.filter.decodeHeaders(request, false)).toBe(FilterHeadersStatus.StopIteration);
    expect(request.has("content-length")).toBe(false);
    expect(h.timerEnabled("decoding")).toBe(false);
    expect(h.filter.decodeData(bytes("ab"), false)).toBe(FilterDataStatus.StopIterationNoBuffer);
    expect(counter(h, "stream_msgs_sent")).toBe(2);
    h.filter.onReceiveMessage(response({ request_headers: {} }));
    // The headers go on; the body is the processor's to send.
    expect(h.continued.decoding).toBe(1);
    expect(h.filter.decodeData(bytes("cd"), false)).toBe(FilterDataStatus.StopIterationNoBuffer);
    expect(h.filter.decodeData(bytes("ef"), true)).toBe(FilterDataStatus.StopIterationNoBuffer);
    expect(counter(h, "stream_msgs_sent")).toBe(4);
    expect(h.injected.decoding).toEqual([]);
    h.filter.onReceiveMessage(streamedBody("request_body", "ABC", false));
    h.filter.onReceiveMessage(streamedBody("request_body", "DEF", false));
    expect(h.continued.decoding).toBe(1);
    h.filter.onReceiveMessage(streamedBody("request_body", "", true));
    expect(h.injected.decoding).toEqual([["ABC", false], ["DEF", false]]);
    // The end goes on with the processor's end_of_stream.
    expect(h.continued.decoding).toBe(2);
    expect([counter(h, "stream_msgs_received"), counter(h, "spurious_msgs_received"), h.timerEnabled("decoding")]).toEqual([4, 0, false]);
  });

  test("the trailers go at once and hold until their answer, which may come while body answers are awaited", () => {
    const h = harness({ processing_mode: { ...duplex, request_header_mode: "SKIP" } });
    expect(h.filter.decodeHeaders(new RequestHeaders(), false)).toBe(FilterHeadersStatus.Continue);
    h.filter.decodeData(bytes("x"), false);
    const trailers = new RequestHeaders();
    expect(h.filter.decodeTrailers(trailers)).toBe(FilterTrailersStatus.StopIteration);
    expect(counter(h, "stream_msgs_sent")).toBe(2);
    h.filter.onReceiveMessage(streamedBody("request_body", "X1", false));
    h.filter.onReceiveMessage(response({ request_trailers: { header_mutation: { set_headers: [set("x-t", "1")] } } }));
    expect([h.injected.decoding, trailers.get("x-t"), h.continued.decoding]).toEqual([[["X1", false]], "1", 1]);
  });

  test("a plain body_mutation in full duplex, or a streamed_response in STREAMED, is spurious", () => {
    const h = harness({ processing_mode: { ...duplex, request_header_mode: "SKIP" } });
    h.filter.decodeHeaders(new RequestHeaders(), false);
    h.filter.decodeData(bytes("x"), true);
    h.filter.onReceiveMessage(body("request_body", "X"));
    expect(counter(h, "spurious_msgs_received")).toBe(1);
    const s = harness({ processing_mode: { request_header_mode: "SKIP", request_body_mode: "STREAMED" } });
    s.filter.decodeHeaders(new RequestHeaders(), false);
    s.filter.decodeData(bytes("x"), true);
    s.filter.onReceiveMessage(streamedBody("request_body", "X", true));
    expect(counter(s, "spurious_msgs_received")).toBe(1);
  });

  test("flow control: the sender waits while the processor's stream is backed up", () => {
    const h = harness({ processing_mode: { ...duplex, response_header_mode: "SKIP" } });
    h.filter.encodeHeaders(new ResponseHeaders(200), false);
    h.filter.encodeData(bytes("x"), false);
    h.filter.onAboveWriteBufferHighWatermark();
    h.filter.onBelowWriteBufferLowWatermark();
    expect(h.paused.encoding).toEqual([true, false]);
  });
});

describe("ext_proc per-route config (ExtProcPerRoute)", () => {
  const parse = (c: object) => extProcPerRouteConfig.safeParse(c);
  const problems = (c: object) => parse(c).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`);

  test("overrides taken, the rest refused by name; disabled and overrides a oneof", () => {
    expect(parse({ overrides: { processing_mode: { request_body_mode: "BUFFERED" }, grpc_service: { envoy_grpc: { cluster_name: "b" }, timeout: "3s" }, grpc_initial_metadata: [{ key: "X-A", value: "1" }], failure_mode_allow: true } }).data).toMatchObject({
      disabled: false,
      overrides: { processingMode: { requestBody: "BUFFERED", requestHeaders: true }, grpc: { clusterName: "b" }, grpcTimeoutMs: 3000, grpcInitialMetadata: [["x-a", "1"]], failureModeAllow: true },
    });
    expect(problems({ overrides: { async_mode: true } })?.[0]).toMatch(/^overrides.async_mode: /);
    expect(problems({ overrides: { metadata_options: {} } })?.[0]).toMatch(/^overrides.metadata_options: /);
    expect(problems({ overrides: { request_attributes: ["request.path"] } })?.[0]).toMatch(/^overrides.request_attributes: /);
    // Envoy's config.cc checks the filter's own mode only: a route's full duplex mode may leave its trailers SKIP (they still go once body went).
    expect(problems({ overrides: { processing_mode: { response_body_mode: "FULL_DUPLEX_STREAMED" } } })).toBeUndefined();
    expect(extProcConfig.safeParse({ grpc_service: { envoy_grpc: { cluster_name: "p" } }, processing_mode: { response_body_mode: "FULL_DUPLEX_STREAMED" } }).error?.issues[0]?.message).toMatch(/^If the ext_proc filter has the response_body_mode/);
    expect(problems({})).toEqual([": must set one of disabled, overrides"]);
    expect(problems({ disabled: true, overrides: {} })).toEqual(["overrides: only one of disabled, overrides may be set (a oneof)"]);
  });

  test("merged as Envoy merges the levels: the most specific disabled; mode, service and failure mode from the most specific that sets them; metadata gathered", () => {
    const level = (c: object) => extProcPerRouteConfig.parse(c);
    const vhostOff = level({ disabled: true });
    const routeMode = level({ overrides: { processing_mode: { request_body_mode: "STREAMED" }, grpc_initial_metadata: [{ key: "x-a", value: "2" }, { key: "x-c", value: "3" }] } });
    const configService = level({ overrides: { grpc_service: { envoy_grpc: { cluster_name: "b" } }, grpc_initial_metadata: [{ key: "x-a", value: "1" }, { key: "x-b", value: "1" }], failure_mode_allow: true, processing_mode: { request_body_mode: "BUFFERED" } } });
    expect(mergeExtProcPerRoute([])).toBeUndefined();
    expect(mergeExtProcPerRoute([configService, vhostOff])).toMatchObject({ disabled: true, grpc: { clusterName: "b" } });
    // A disabled level drops the processing mode before it; a more specific level with overrides enables the filter again.
    const merged = mergeExtProcPerRoute([configService, vhostOff, level({ overrides: { failure_mode_allow: false } })])!;
    expect([merged.disabled, merged.processingMode, merged.failureModeAllow, merged.grpc?.clusterName]).toEqual([false, undefined, false, "b"]);
    expect(mergeExtProcPerRoute([configService, routeMode])).toMatchObject({
      disabled: false,
      processingMode: { requestBody: "STREAMED" },
      grpc: { clusterName: "b" },
      failureModeAllow: true,
      grpcInitialMetadata: [["x-a", "2"], ["x-b", "1"], ["x-c", "3"]],
    });
  });
});

describe("ext_proc FULL_DUPLEX_STREAMED by mode_override", () => {
  test("the body held during the headers' call goes to the processor as one chunk, and the processor's pieces pass on", () => {
    const h = harness({ allow_mode_override: true, processing_mode: { request_trailer_mode: "SEND" } });
    h.filter.decodeHeaders(new RequestHeaders(), false);
    expect(h.filter.decodeData(bytes("ab"), false)).toBe(FilterDataStatus.StopIterationAndWatermark);
    h.buffer.add(bytes("ab"));
    h.filter.onReceiveMessage(response({ request_headers: {}, mode_override: { request_body_mode: 4 } }));
    // Sent, not passed on: the processor's pieces are the body now.
    expect([counter(h, "stream_msgs_sent"), h.buffer.length, h.continued.decoding]).toEqual([2, 0, 1]);
    h.filter.onReceiveMessage(streamedBody("request_body", "AB", true));
    expect([h.injected.decoding, counter(h, "spurious_msgs_received")]).toEqual([[["AB", true]], 0]);
  });
});

describe("ext_proc full duplex safety (a body given to the processor is not kept)", () => {
  const duplex = { request_body_mode: "FULL_DUPLEX_STREAMED", request_trailer_mode: "SEND", response_body_mode: "FULL_DUPLEX_STREAMED", response_trailer_mode: "SEND" };

  test("failure_mode_allow does not let the request go on once its full duplex body went to the processor (Envoy's Filter::failureModeAllow)", () => {
    // Reached by mode_override (the schema refuses failure_mode_allow with the filter's own duplex mode).
    const h = harness({ allow_mode_override: true, failure_mode_allow: true, processing_mode: { request_trailer_mode: "SEND" } });
    h.filter.decodeHeaders(new RequestHeaders(), false);
    h.filter.onReceiveMessage(response({ request_headers: {}, mode_override: { request_body_mode: 4 } }));
    h.filter.decodeData(bytes("part-1"), false);
    h.filter.decodeData(bytes("part-2"), true);
    h.filter.onRemoteClose(14, "unavailable");
    expect(h.replies.map((r) => [r.status, r.details])).toEqual([[500, "ext_proc_error_gRPC_error_14"]]);
    expect([h.injected.decoding, h.continued.decoding, counter(h, "failure_mode_allowed")]).toEqual([[], 1, 0]);
    // Before any body went, failure_mode_allow still holds.
    const early = harness({ allow_mode_override: true, failure_mode_allow: true, processing_mode: { request_trailer_mode: "SEND" } });
    early.filter.decodeHeaders(new RequestHeaders(), false);
    early.filter.onReceiveMessage(response({ request_headers: {}, mode_override: { request_body_mode: 4 } }));
    early.filter.onRemoteClose(14, "unavailable");
    expect([early.replies.length, counter(early, "failure_mode_allowed")]).toEqual([0, 1]);
  });

  test("the filter's failure_mode_allow with a route's full duplex mode: an answer out of turn after body went is a 500, not a request without its body", () => {
    const h = harness({ failure_mode_allow: true, processing_mode: { request_header_mode: "SKIP" } });
    const f = h.filter as unknown as { decoderCallbacks: DecoderFilterCallbacks };
    f.decoderCallbacks = { ...f.decoderCallbacks, route: {}, perFilterConfigs: () => [extProcPerRouteConfig.parse({ overrides: { processing_mode: { ...duplex, request_header_mode: "SKIP" } } })] } as unknown as DecoderFilterCallbacks;
    h.filter.decodeHeaders(new RequestHeaders(), false);
    h.filter.decodeData(bytes("a"), false);
    h.filter.onReceiveMessage(response({ request_body: { response: { body_mutation: { body: Buffer.from("A") } } } }));
    expect(h.replies.map((r) => [r.status, r.details])).toEqual([[500, "spurious_message:_Normal_body_mutation_response_is_received_while_body_mode__is_FULL_DUPLEX_STREAMED"]]);
    expect(counter(h, "failure_mode_allowed")).toBe(0);
  });

  test("an answer that does not fit full duplex fails the request (500, Envoy's message) rather than passing the rest of the body on without what was consumed", () => {
    const h = harness({ processing_mode: { request_body_mode: "FULL_DUPLEX_STREAMED", request_trailer_mode: "SEND", request_header_mode: "SKIP" } });
    h.filter.decodeHeaders(new RequestHeaders(), false);
    h.filter.decodeData(bytes("aaaa"), false);
    h.filter.onReceiveMessage(body("request_body", "X"));
    h.filter.decodeData(bytes("bbbb"), true);
    expect(h.replies.map((r) => [r.status, r.details])).toEqual([[500, "spurious_message:_Normal_body_mutation_response_is_received_while_body_mode__is_FULL_DUPLEX_STREAMED"]]);
    expect([h.injected.decoding, h.continued.decoding, counter(h, "spurious_msgs_received")]).toEqual([[], 0, 1]);
    const s = harness({ processing_mode: { request_header_mode: "SKIP", request_body_mode: "STREAMED" } });
    s.filter.decodeHeaders(new RequestHeaders(), false);
    s.filter.decodeData(bytes("x"), true);
    s.filter.onReceiveMessage(streamedBody("request_body", "X", true));
    expect(s.replies.map((r) => r.details)).toEqual(["spurious_message:_streamed_response_is_received_while_body_mode__is_not_FULL_DUPLEX_STREAMED"]);
  });

  test("before the processor's stream has a connection, the sender is paused; a message its queue cannot take fails the request", () => {
    const h = harness({ processing_mode: { ...duplex, request_header_mode: "SKIP" } });
    h.filter.decodeHeaders(new RequestHeaders(), false);
    const chunk = new Uint8Array(64);
    h.filter.decodeData(chunk, false);
    expect(h.paused.decoding).toEqual([true]);
    // A sender that goes on regardless: the 1025th message is refused, and the request fails rather than losing it.
    for (let i = 1; i < 1100 && h.replies.length === 0; i++) h.filter.decodeData(chunk, false);
    expect(counter(h, "stream_msgs_sent")).toBe(1024);
    expect(h.replies.map((r) => [r.status, r.details])).toEqual([[500, "ext_proc_error_gRPC_error_13"]]);
    expect(h.paused.decoding).toEqual([true, false]);
    // The connection comes: the sender goes on.
    const r = harness({ processing_mode: { ...duplex, request_header_mode: "SKIP" } });
    r.filter.decodeHeaders(new RequestHeaders(), false);
    r.filter.decodeData(chunk, false);
    (r.filter as unknown as { stream: { stream: unknown } }).stream.stream = { encodeData() {} };
    r.filter.onReady();
    expect(r.paused.decoding).toEqual([true, false]);
  });

  test("the body's end_of_stream does not release trailers still awaiting their answer; the answer's mutation lands on them", () => {
    const h = harness({ processing_mode: { ...duplex, request_header_mode: "SKIP" } });
    h.filter.decodeHeaders(new RequestHeaders(), false);
    h.filter.decodeData(bytes("x"), false);
    const trailers = new RequestHeaders();
    expect(h.filter.decodeTrailers(trailers)).toBe(FilterTrailersStatus.StopIteration);
    h.filter.onReceiveMessage(streamedBody("request_body", "X", true));
    // Trailers follow: the body piece does not end the stream.
    expect([h.injected.decoding, h.continued.decoding]).toEqual([[["X", false]], 0]);
    h.filter.onReceiveMessage(response({ request_trailers: { header_mutation: { set_headers: [set("x-t", "1")] } } }));
    expect([h.continued.decoding, trailers.get("x-t"), counter(h, "spurious_msgs_received")]).toEqual([1, "1", 0]);
  });

  test("mode_override: a trailer mode DEFAULT keeps the filter's (effectiveModeOverride), so a body overridden into full duplex still ends with the trailers", () => {
    const h = harness({ allow_mode_override: true, processing_mode: { request_trailer_mode: "SEND" } });
    h.filter.decodeHeaders(new RequestHeaders(), false);
    h.filter.onReceiveMessage(response({ request_headers: {}, mode_override: { request_body_mode: 4 } }));
    h.filter.decodeData(bytes("ab"), false);
    const sent = counter(h, "stream_msgs_sent");
    expect(h.filter.decodeTrailers(new RequestHeaders())).toBe(FilterTrailersStatus.StopIteration);
    expect(counter(h, "stream_msgs_sent") - sent).toBe(1);
    // Trailer mode SKIP said outright, or a route's duplex mode without SEND: once body went, the trailers still go (the processor must learn the end).
    const skip = harness({ allow_mode_override: true });
    skip.filter.decodeHeaders(new RequestHeaders(), false);
    skip.filter.onReceiveMessage(response({ request_headers: {}, mode_override: { request_body_mode: 4, request_trailer_mode: "SKIP" } }));
    skip.filter.decodeData(bytes("ab"), false);
    expect(skip.filter.decodeTrailers(new RequestHeaders())).toBe(FilterTrailersStatus.StopIteration);
    expect(counter(skip, "stream_msgs_sent")).toBe(3);
  });

  test("mode_override is ignored when the filter's own mode is full duplex in either direction (ext_proc.cc onReceiveMessage)", () => {
    const h = harness({ allow_mode_override: true, processing_mode: duplex });
    h.filter.decodeHeaders(new RequestHeaders(), false);
    h.filter.onReceiveMessage(response({ request_headers: {}, mode_override: { request_body_mode: 0, response_header_mode: "SKIP" } }));
    expect(h.filter.decodeData(bytes("a"), true)).toBe(FilterDataStatus.StopIterationNoBuffer);
    expect(h.filter.encodeHeaders(new ResponseHeaders(200), false)).toBe(FilterHeadersStatus.StopIteration);
  });
});

describe("ext_proc per-route config at a local reply sent before the request headers reached the filter", () => {
  test("encodeHeaders takes the route's config: disabled means no processor (ext_proc.cc encodeHeaders: mergePerRouteConfig)", () => {
    const h = harness({});
    const f = h.filter as unknown as { decoderCallbacks: DecoderFilterCallbacks };
    f.decoderCallbacks = { ...f.decoderCallbacks, route: {}, perFilterConfigs: () => [extProcPerRouteConfig.parse({ disabled: true })] } as unknown as DecoderFilterCallbacks;
    expect(h.filter.encodeHeaders(new ResponseHeaders(403), false)).toBe(FilterHeadersStatus.Continue);
    expect(counter(h, "streams_started")).toBe(0);
  });
});
