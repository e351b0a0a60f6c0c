/**
 * grpc_status_filter, metadata_filter and log_type_filter as Envoy's access_log_impl.cc
 * evaluates them (GrpcStatusFilter with Grpc::Common::getGrpcStatus, MetadataFilter with
 * Config::Metadata::metadataValue, LogTypeFilter), alone and inside and/or.
 */
import { describe, expect, test } from "vitest";
import type { AccessLogContext } from "../../../core/access-log/context.ts";
import { compileAccessLogFilter } from "../../../core/access-log/filter.ts";
import type { AccessLogFilterConfig } from "../../../core/config/bootstrap.ts";
import { defaultsOnly } from "../../../core/runtime/runtime-loader.ts";

interface Fields extends Partial<AccessLogContext> {
  resp?: Record<string, string>;
  trailers?: Record<string, string>;
}

function stream(fields: Fields = {}): AccessLogContext {
  const { resp = {}, trailers = {}, ...rest } = fields;
  return {
    startWallClock: 0,
    durationMs: 10,
    protocol: "HTTP/2",
    responseCode: 200,
    responseCodeDetails: undefined,
    responseFlags: [],
    bytesReceived: 0,
    bytesSent: 0,
    upstreamHost: undefined,
    upstreamCluster: undefined,
    downstreamRemoteAddress: undefined,
    downstreamLocalAddress: undefined,
    routeName: undefined,
    requestHeader: () => undefined,
    responseHeader: (name) => resp[name],
    responseTrailer: (name) => trailers[name],
    ...rest,
  };
}

const filter = (config: AccessLogFilterConfig) => compileAccessLogFilter(config, defaultsOnly({ random: () => 0 }));

// GrpcStatusFilter.Status numbers.
const [OK, UNKNOWN, NOT_FOUND, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, UNAUTHENTICATED] = [0, 2, 5, 12, 13, 14, 16];

describe("grpc_status_filter (GrpcStatusFilter)", () => {
  const notFound = filter({ type: "grpc_status", statuses: [NOT_FOUND], exclude: false });

  test("the trailers' grpc-status first, then the headers' (trailers-only), then the HTTP status mapped", () => {
    expect(notFound(stream({ trailers: { "grpc-status": "5" } }))).toBe(true);
    expect(notFound(stream({ trailers: { "grpc-status": "0" }, resp: { "grpc-status": "5" } }))).toBe(false);
    expect(notFound(stream({ resp: { "grpc-status": "5" } }))).toBe(true);
    // An empty grpc-status is none: the next source is read.
    expect(notFound(stream({ trailers: { "grpc-status": "" }, resp: { "grpc-status": "5" } }))).toBe(true);
    const mapped = (statuses: number[], responseCode: number) => filter({ type: "grpc_status", statuses, exclude: false })(stream({ responseCode }));
    // Grpc::Utility::httpToGrpcStatus; the request need not be a gRPC one.
    expect(mapped([INTERNAL], 400)).toBe(true);
    expect(mapped([UNAUTHENTICATED], 401)).toBe(true);
    expect(mapped([UNIMPLEMENTED], 404)).toBe(true);
    expect(mapped([UNAVAILABLE], 429)).toBe(true);
    expect(mapped([UNAVAILABLE], 503)).toBe(true);
    expect(mapped([UNKNOWN], 200)).toBe(true);
    expect(mapped([OK], 200)).toBe(false);
  });

  test("no status at all (no response; a tcp_proxy connection) is UNKNOWN", () => {
    const unknown = filter({ type: "grpc_status", statuses: [UNKNOWN], exclude: false });
    expect(unknown(stream({ responseCode: 0 }))).toBe(true);
    expect(notFound(stream({ responseCode: 0 }))).toBe(false);
    expect(unknown(stream({ responseCode: 0, protocol: undefined, accessLogType: "TcpConnectionEnd" }))).toBe(true);
  });

  test("a grpc-status that is no known code (not a number, above 16, repeated) matches no status — and is not passed over for the headers", () => {
    const any = filter({ type: "grpc_status", statuses: [OK, UNKNOWN, NOT_FOUND, UNAVAILABLE, UNAUTHENTICATED], exclude: false });
    for (const value of ["abc", "17", "-1", "5x", "99999999999999999999"]) {
      expect(any(stream({ trailers: { "grpc-status": value }, resp: { "grpc-status": "5" } })), value).toBe(false);
    }
    // absl::SimpleAtoi: surrounding whitespace and a "+" are read.
    expect(notFound(stream({ trailers: { "grpc-status": " +5 " } }))).toBe(true);
    // Envoy's header map joins a repeated grpc-status with ",": InvalidCode.
    const repeated = stream({ trailers: { "grpc-status": "5" }, headerValues: (which, name) => (which === "trailers" && name === "grpc-status" ? "5,5" : undefined) });
    expect(notFound(repeated)).toBe(false);
  });

  test("exclude inverts the result; an empty list matches nothing (everything with exclude)", () => {
    const notOk = filter({ type: "grpc_status", statuses: [OK], exclude: true });
    expect(notOk(stream({ trailers: { "grpc-status": "0" } }))).toBe(false);
    expect(notOk(stream({ trailers: { "grpc-status": "5" } }))).toBe(true);
    expect(notOk(stream({ responseCode: 0 }))).toBe(true);
    expect(filter({ type: "grpc_status", statuses: [], exclude: false })(stream())).toBe(false);
    expect(filter({ type: "grpc_status", statuses: [], exclude: true })(stream())).toBe(true);
  });
});

describe("metadata_filter (MetadataFilter)", () => {
  const NS = "envoy.filters.http.header_to_metadata";
  const tenant = (value: NonNullable<Extract<AccessLogFilterConfig, { type: "metadata" }>["matcher"]>["value"], matchIfKeyNotFound = true, path = ["tenant"]) =>
    filter({ type: "metadata", matcher: { filter: NS, path, value }, matchIfKeyNotFound });
  const exactA = { type: "string", match: { type: "exact", value: "a", ignoreCase: false } } as const;
  const withMetadata = (dynamicMetadata: Record<string, Record<string, unknown>> | undefined) => stream({ dynamicMetadata });

  test("a value found is logged when the matcher's value matches it", () => {
    expect(tenant(exactA)(withMetadata({ [NS]: { tenant: "a" } }))).toBe(true);
    expect(tenant(exactA)(withMetadata({ [NS]: { tenant: "b" } }))).toBe(false);
    // Found but not matching: false whatever match_if_key_not_found says.
    expect(tenant(exactA, true)(withMetadata({ [NS]: { tenant: 1 } }))).toBe(false);
    expect(tenant({ type: "double_range", start: 1, end: 5 })(withMetadata({ [NS]: { tenant: 4.5 } }))).toBe(true);
    expect(tenant({ type: "bool", value: true })(withMetadata({ [NS]: { tenant: true } }))).toBe(true);
    expect(tenant({ type: "null" })(withMetadata({ [NS]: { tenant: null } }))).toBe(true);
  });

  test("list_match: a list one of whose elements matches; or_match: any of its matchers (Envoy's ListMatcher, OrMatcher)", () => {
    const listA = { type: "list", oneOf: exactA } as const;
    expect(tenant(listA, false)(withMetadata({ [NS]: { tenant: ["b", "a"] } }))).toBe(true);
    expect(tenant(listA, false)(withMetadata({ [NS]: { tenant: ["b"] } }))).toBe(false);
    // Found, no list: no match, whatever match_if_key_not_found says.
    expect(tenant(listA, true)(withMetadata({ [NS]: { tenant: "a" } }))).toBe(false);
    const aOrTrue = { type: "or" as const, matchers: [exactA, { type: "bool" as const, value: true }] };
    expect(tenant(aOrTrue, false)(withMetadata({ [NS]: { tenant: true } }))).toBe(true);
    expect(tenant(aOrTrue, false)(withMetadata({ [NS]: { tenant: "b" } }))).toBe(false);
  });

  test("a key not found: match_if_key_not_found (default true)", () => {
    const cases: (Record<string, Record<string, unknown>> | undefined)[] = [undefined, {}, { other: { tenant: "a" } }, { [NS]: {} }, { [NS]: { tenants: "a" } }];
    for (const metadata of cases) {
      expect(tenant(exactA, true)(withMetadata(metadata)), JSON.stringify(metadata)).toBe(true);
      expect(tenant(exactA, false)(withMetadata(metadata)), JSON.stringify(metadata)).toBe(false);
    }
    // No matcher: nothing is ever found.
    expect(filter({ type: "metadata", matcher: undefined, matchIfKeyNotFound: true })(withMetadata({ [NS]: { tenant: "a" } }))).toBe(true);
    expect(filter({ type: "metadata", matcher: undefined, matchIfKeyNotFound: false })(withMetadata({ [NS]: { tenant: "a" } }))).toBe(false);
  });

  test("the path walks structs only (Config::Metadata::metadataValue); object prototype keys are no values", () => {
    const deep = (value: typeof exactA | { type: "present"; present: boolean }, matchIfKeyNotFound: boolean) => tenant(value, matchIfKeyNotFound, ["a", "b"]);
    expect(deep(exactA, false)(withMetadata({ [NS]: { a: { b: "a" } } }))).toBe(true);
    // "a" is a string, a list: no struct to read "b" from — not found.
    expect(deep(exactA, false)(withMetadata({ [NS]: { a: "b" } }))).toBe(false);
    expect(deep(exactA, true)(withMetadata({ [NS]: { a: ["b"] } }))).toBe(true);
    expect(tenant(exactA, true, ["toString"])(withMetadata({ [NS]: {} }))).toBe(true);
    expect(filter({ type: "metadata", matcher: { filter: "constructor", path: ["name"], value: exactA }, matchIfKeyNotFound: false })(withMetadata({}))).toBe(false);
    // A struct or a list found is present (Envoy's PresentMatcher: the value's kind is set).
    expect(tenant({ type: "present", present: true }, false)(withMetadata({ [NS]: { tenant: { x: 1 } } }))).toBe(true);
    expect(tenant({ type: "present", present: true }, false)(withMetadata({ [NS]: { tenant: [1] } }))).toBe(true);
    expect(tenant({ type: "present", present: false }, true)(withMetadata({ [NS]: { tenant: "a" } }))).toBe(false);
  });
});

describe("log_type_filter (LogTypeFilter)", () => {
  test("the record's type among `types`; exclude inverts; no type is NotSet", () => {
    const end = filter({ type: "log_type", types: ["DownstreamEnd"], exclude: false });
    expect(end(stream({ accessLogType: "DownstreamEnd" }))).toBe(true);
    expect(end(stream({ accessLogType: "TcpConnectionEnd" }))).toBe(false);
    expect(end(stream())).toBe(false);
    expect(filter({ type: "log_type", types: ["NotSet"], exclude: false })(stream())).toBe(true);
    const notTcp = filter({ type: "log_type", types: ["TcpConnectionEnd", "UdpSessionEnd"], exclude: true });
    expect(notTcp(stream({ accessLogType: "TcpConnectionEnd" }))).toBe(false);
    expect(notTcp(stream({ accessLogType: "DownstreamEnd" }))).toBe(true);
  });
});

describe("nested in and_filter / or_filter", () => {
  test("errors of one tenant: and of grpc_status (exclude OK) and metadata; or with log_type", () => {
    const tenantA: AccessLogFilterConfig = {
      type: "metadata",
      matcher: { filter: "m", path: ["tenant"], value: { type: "string", match: { type: "exact", value: "a", ignoreCase: false } } },
      matchIfKeyNotFound: false,
    };
    const failed: AccessLogFilterConfig = { type: "grpc_status", statuses: [OK], exclude: true };
    const failedForA: AccessLogFilterConfig = { type: "and", filters: [failed, tenantA] };
    const both = filter(failedForA);
    expect(both(stream({ trailers: { "grpc-status": "5" }, dynamicMetadata: { m: { tenant: "a" } } }))).toBe(true);
    expect(both(stream({ trailers: { "grpc-status": "0" }, dynamicMetadata: { m: { tenant: "a" } } }))).toBe(false);
    expect(both(stream({ trailers: { "grpc-status": "5" }, dynamicMetadata: { m: { tenant: "b" } } }))).toBe(false);
    const either = filter({ type: "or", filters: [{ type: "log_type", types: ["TcpConnectionEnd"], exclude: false }, failedForA] });
    expect(either(stream({ accessLogType: "TcpConnectionEnd", responseCode: 0 }))).toBe(true);
    expect(either(stream({ accessLogType: "DownstreamEnd", trailers: { "grpc-status": "0" } }))).toBe(false);
  });
});
