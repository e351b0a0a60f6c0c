/** Bootstrap application_log_config (core/config/application-log-config-schema.ts): the format string it gives, and what Envoy refuses. */
import { describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../core/config/load.ts";
import { problemsOf } from "./config-problems.ts";

const load = (applicationLogConfig: unknown) => loadBootstrap(JSON.stringify({ application_log_config: applicationLogConfig }), "json");

describe("application_log_config", () => {
  test("json_format: the Struct's JSON text, keys sorted (nested too), %j made %+ and %* before the last } (Envoy's setJsonLogFormat)", () => {
    const bootstrap = load({ log_format: { json_format: { message: "%j", level: "%l", source: { file: "%g", line: "%#" }, n: 1, fixed: null } } });
    expect(bootstrap.applicationLogFormat).toBe('{"fixed":null,"level":"%l","message":"%+","n":1,"source":{"file":"%g","line":"%#"}%*}');
  });

  test("json_format: a literal % (no flag after it) is accepted and printed as written, as spdlog's", () => {
    expect(load({ log_format: { json_format: { message: "%j", pct: "50%" } } }).applicationLogFormat).toBe('{"message":"%+","pct":"50%"%*}');
  });

  test("json_format: what protobuf's JSON printer escapes though JSON does not need it is escaped the same (writer.cc MustEscape, lowercase hex)", () => {
    const format = load({ log_format: { json_format: { m: "%j", u: "é<>&\u2028\u007f\u0085\u00ad\ufeff\u{1F600}\u{E0041}\n" } } }).applicationLogFormat;
    expect(format).toBe('{"m":"%+","u":"é\\u003c\\u003e&\\u2028\\u007f\\u0085\\u00ad\\ufeff\u{1F600}\\udb40\\udc41\\n"%*}');
  });

  test("text_format: the format as it is; without application_log_config none", () => {
    expect(load({ log_format: { text_format: "[lvl: %l][msg: %v]" } }).applicationLogFormat).toBe("[lvl: %l][msg: %v]");
    expect(load({}).applicationLogFormat).toBeUndefined();
    expect(loadBootstrap("{}", "json").applicationLogFormat).toBeUndefined();
  });

  test("refused: %v or %_ in json_format (Envoy's setJsonLogFormat error), both or neither of the oneof, a flag the logger does not have", () => {
    expect(problemsOf(() => load({ log_format: { json_format: { message: "%v" } } }))).toEqual([
      "application_log_config.log_format.json_format: setJsonLogFormat error: INVALID_ARGUMENT: Usage of %v is unavailable for JSON log formats",
    ]);
    expect(problemsOf(() => load({ log_format: { json_format: { message: "%_" } } }))).toEqual([
      "application_log_config.log_format.json_format: setJsonLogFormat error: INVALID_ARGUMENT: Usage of %_ is unavailable for JSON log formats",
    ]);
    expect(problemsOf(() => load({ log_format: { json_format: {}, text_format: "%v" } }))).toEqual(["application_log_config.log_format: must set only one of json_format, text_format (got json_format, text_format)"]);
    expect(problemsOf(() => load({ log_format: {} }))).toEqual(["application_log_config.log_format: must set one of json_format, text_format"]);
    expect(problemsOf(() => load({ log_format: { text_format: "%P %v" } }))[0]).toMatch(/^application_log_config\.log_format\.text_format: unsupported flag "%P"/);
  });
});
