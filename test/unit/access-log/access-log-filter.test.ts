import { describe, expect, test } from "vitest";
import type { AccessLogContext } from "../../../core/access-log/context.ts";
import { compileAccessLogFilter } from "../../../core/access-log/filter.ts";
import type { AccessLogFilterConfig } from "../../../core/config/bootstrap.ts";
import { RuntimeLoader, defaultsOnly, type RandomSource } from "../../../core/runtime/runtime-loader.ts";

function stream(fields: Partial<AccessLogContext> & { req?: Record<string, string> } = {}): AccessLogContext {
  const { req = {}, ...rest } = fields;
  return {
    startWallClock: 0,
    durationMs: 10,
    protocol: "HTTP/1.1",
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
    requestHeader: (name) => req[name],
    responseHeader: () => undefined,
    responseTrailer: () => undefined,
    ...rest,
  };
}

/** A draw of 99 out of 2^32: 99 % 100 never samples under 99%. */
const never = { random: () => 99 / 0x1_0000_0000 };
const filter = (config: AccessLogFilterConfig, random: RandomSource = never) => compileAccessLogFilter(config, defaultsOnly(random));

describe("access log filters (Envoy's access_log_impl.cc)", () => {
  test("status_code: EQ, GE, LE, NE; no response compares as 0", () => {
    expect(filter({ type: "status_code", op: "GE", value: 400 })(stream({ responseCode: 503 }))).toBe(true);
    expect(filter({ type: "status_code", op: "GE", value: 400 })(stream({ responseCode: 200 }))).toBe(false);
    expect(filter({ type: "status_code", op: "LE", value: 299 })(stream({ responseCode: 200 }))).toBe(true);
    expect(filter({ type: "status_code", op: "EQ", value: 0 })(stream({ responseCode: 0 }))).toBe(true);
    expect(filter({ type: "status_code", op: "NE", value: 200 })(stream({ responseCode: 200 }))).toBe(false);
  });

  test("duration: whole milliseconds; none is false", () => {
    const slow = filter({ type: "duration", op: "GE", value: 100 });
    expect(slow(stream({ durationMs: 100.9 }))).toBe(true);
    expect(slow(stream({ durationMs: 99.9 }))).toBe(false);
    expect(slow(stream({ durationMs: undefined }))).toBe(false);
  });

  test("response_flag: any listed flag; no list means any flag", () => {
    expect(filter({ type: "response_flag", flags: ["UF", "UH"] })(stream({ responseFlags: ["UH"] }))).toBe(true);
    expect(filter({ type: "response_flag", flags: ["UF"] })(stream({ responseFlags: ["NR"] }))).toBe(false);
    expect(filter({ type: "response_flag", flags: [] })(stream({ responseFlags: ["NR"] }))).toBe(true);
    expect(filter({ type: "response_flag", flags: [] })(stream())).toBe(false);
  });

  test("header: the request's headers through a header matcher", () => {
    const debug = filter({ type: "header", header: { name: "x-debug", invertMatch: false, kind: { type: "exact", value: "1", ignoreCase: false } } });
    expect(debug(stream({ req: { "x-debug": "1" } }))).toBe(true);
    expect(debug(stream({ req: { "x-debug": "2" } }))).toBe(false);
    expect(debug(stream())).toBe(false);
  });

  test("runtime: the request id's first 8 hex digits modulo the denominator, else a random draw", () => {
    const tenPercent = filter({ type: "runtime", percent: { numerator: 10, denominator: 100 }, useIndependentRandomness: false });
    // 0x00000063 = 99 → 99 % 100 = 99: not sampled; 0x00000065 = 101 → 1: sampled.
    expect(tenPercent(stream({ req: { "x-request-id": "00000063-0000-4000-8000-000000000000" } }))).toBe(false);
    expect(tenPercent(stream({ req: { "x-request-id": "00000065-0000-4000-8000-000000000000" } }))).toBe(true);
    expect(tenPercent(stream())).toBe(false);
    expect(filter({ type: "runtime", percent: { numerator: 10, denominator: 100 }, useIndependentRandomness: false }, { random: () => 0 })(stream())).toBe(true);
    const independent = filter({ type: "runtime", percent: { numerator: 10, denominator: 100 }, useIndependentRandomness: true }, { random: () => 0.5 });
    expect(independent(stream({ req: { "x-request-id": "00000065-0000-4000-8000-000000000000" } }))).toBe(false);
  });

  test("runtime keys: a comparison's value and the runtime filter's fraction come from the runtime when a layer sets them", () => {
    const runtime = new RuntimeLoader(never, { layers: [{ kind: "static", name: "base", values: [["log.min_status", "500"]] }, { kind: "admin", name: "admin" }] });
    const errors = compileAccessLogFilter({ type: "status_code", op: "GE", value: 400, runtimeKey: "log.min_status" }, runtime);
    expect(errors(stream({ responseCode: 404 }))).toBe(false);
    expect(errors(stream({ responseCode: 503 }))).toBe(true);
    // An admin override takes effect at once; removing it restores the static layer's value.
    runtime.mergeValues(new Map([["log.min_status", "404"]]));
    expect(errors(stream({ responseCode: 404 }))).toBe(true);
    runtime.mergeValues(new Map([["log.min_status", ""]]));
    expect(errors(stream({ responseCode: 404 }))).toBe(false);
    // Unset key: the default_value.
    expect(compileAccessLogFilter({ type: "status_code", op: "GE", value: 400, runtimeKey: "unset" }, runtime)(stream({ responseCode: 404 }))).toBe(true);

    const sampled = compileAccessLogFilter({ type: "runtime", percent: { numerator: 0, denominator: 100, runtimeKey: "log.sample" }, useIndependentRandomness: false }, runtime);
    const id101 = stream({ req: { "x-request-id": "00000065-0000-4000-8000-000000000000" } });
    expect(sampled(id101)).toBe(false);
    // An integer is a percentage: 101 % 100 = 1 < 2.
    runtime.mergeValues(new Map([["log.sample", "2"]]));
    expect(sampled(id101)).toBe(true);
    // A FractionalPercent: 101 % 10000 = 101, not under 100.
    runtime.mergeValues(new Map([["log.sample", "{numerator: 100, denominator: TEN_THOUSAND}"]]));
    expect(sampled(id101)).toBe(false);
  });

  test("and, or, not_health_check", () => {
    const error = { type: "status_code", op: "GE", value: 500 } as const;
    const flagged: AccessLogFilterConfig = { type: "response_flag", flags: [] };
    expect(filter({ type: "and", filters: [error, flagged] })(stream({ responseCode: 503 }))).toBe(false);
    expect(filter({ type: "and", filters: [error, flagged] })(stream({ responseCode: 503, responseFlags: ["UF"] }))).toBe(true);
    expect(filter({ type: "or", filters: [error, flagged] })(stream({ responseCode: 200, responseFlags: ["NR"] }))).toBe(true);
    expect(filter({ type: "or", filters: [error, flagged] })(stream())).toBe(false);
    expect(filter({ type: "not_health_check" })(stream())).toBe(true);
    // A request the health_check filter took for a health check.
    expect(filter({ type: "not_health_check" })(stream({ healthCheck: true }))).toBe(false);
  });
});
