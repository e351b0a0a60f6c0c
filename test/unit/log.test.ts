import { describe, expect, test } from "vitest";
import { compileLogFormat, DEFAULT_LOG_FORMAT, Logger, LOG_LEVELS } from "../../core/log.ts";

/** 2026-11-26T10:12:25.123Z */
const T0 = Date.UTC(2026, 10, 26, 10, 12, 25, 123);

/** A fake runtime: a clock the test sets and a sink that records lines. */
function fakeRuntime(now = T0): { lines: string[]; clock: { now: number }; runtime: ConstructorParameters<typeof Logger>[0] } {
  const lines: string[] = [];
  const clock = { now };
  const runtime = { log: { write: (line: string) => void lines.push(line) }, wallClock: () => clock.now };
  return { lines, clock, runtime };
}

describe("Logger", () => {
  test("components: --log-level sets them all, a component's own level overrides it, %n names it", () => {
    const { lines, runtime } = fakeRuntime();
    const log = new Logger(runtime, "info");
    log.setFormat("[%l][%n] %v");
    const router = log.component("router");
    const pool = log.component("pool");
    expect(log.component("router")).toBe(router);
    expect([router.debugOn, router.traceOn]).toEqual([false, false]);
    log.setComponentLevel("router", "trace");
    expect([router.debugOn, router.traceOn, pool.debugOn]).toEqual([true, true, false]);
    router.trace("[C1][S0] a");
    pool.debug("not written");
    log.debug("not written either");
    log.setComponentLevel("main", "debug");
    log.debug("main's");
    // A component made after main's own level was set starts at the global level, not main's.
    log.component("config").debug("not written: config is at info");
    expect(lines).toEqual(["[trace][router] [C1][S0] a\n", "[debug][main] main's\n"]);
    // The global level (admin /logging?level=) sets every component again.
    log.level = "warn";
    expect([router.level, pool.level, log.level]).toEqual(["warn", "warn", "warn"]);
    expect(log.componentLevels().find(([name]) => name === "router")).toEqual(["router", "warn"]);
  });

  test("writes one line in Envoy's shape, timestamped from the runtime's wall clock", () => {
    const { lines, runtime } = fakeRuntime();
    new Logger(runtime).info("listener 'main' bound");
    expect(lines).toEqual(["[2026-11-26 10:12:25.123][info] listener 'main' bound\n"]);
  });

  test("reads the clock at each call and pads every field", () => {
    const { lines, clock, runtime } = fakeRuntime(Date.UTC(2027, 0, 2, 3, 4, 5, 6));
    const log = new Logger(runtime, "trace");
    log.warn("a");
    clock.now += 1000;
    log.error("b");
    expect(lines).toEqual(["[2027-01-02 03:04:05.006][warning] a\n", "[2027-01-02 03:04:06.006][error] b\n"]);
  });

  test("each method writes its own level name, spdlog's as Envoy prints it (\"warning\")", () => {
    const { lines, runtime } = fakeRuntime();
    const log = new Logger(runtime, "trace");
    log.trace("t");
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    expect(lines.map((line) => line.slice(25))).toEqual(["[trace] t\n", "[debug] d\n", "[info] i\n", "[warning] w\n", "[error] e\n"]);
  });

  test("the default level is info: trace and debug are dropped", () => {
    const { lines, runtime } = fakeRuntime();
    const log = new Logger(runtime);
    expect(log.level).toBe("info");
    log.trace("t");
    log.debug("d");
    log.info("i");
    log.error("e");
    expect(lines.map((line) => line.slice(25))).toEqual(["[info] i\n", "[error] e\n"]);
  });

  test("the threshold filters less severe messages", () => {
    const { lines, runtime } = fakeRuntime();
    const log = new Logger(runtime, "warn");
    log.info("i");
    log.warn("w");
    log.error("e");
    expect(lines.map((line) => line.slice(25))).toEqual(["[warning] w\n", "[error] e\n"]);
  });

  test("enabled() tells whether a level would be written", () => {
    const { runtime } = fakeRuntime();
    const log = new Logger(runtime, "warn");
    expect(["trace", "debug", "info", "warn", "error", "critical"].map((l) => log.enabled(l as (typeof LOG_LEVELS)[number]))).toEqual([
      false,
      false,
      false,
      true,
      true,
      true,
    ]);
  });

  test("the level can change at runtime", () => {
    const { lines, runtime } = fakeRuntime();
    const log = new Logger(runtime, "error");
    log.debug("hidden");
    log.level = "debug";
    expect(log.level).toBe("debug");
    expect(log.enabled("debug")).toBe(true);
    log.debug("shown");
    log.level = "error";
    expect(log.enabled("warn")).toBe(false);
    log.warn("hidden again");
    expect(lines.map((line) => line.slice(25))).toEqual(["[debug] shown\n"]);
  });

  test('"critical" drops even errors', () => {
    const { lines, runtime } = fakeRuntime();
    const log = new Logger(runtime, "critical");
    log.error("e");
    expect(lines).toEqual([]);
    expect(log.enabled("error")).toBe(false);
  });

  test('"off" silences everything', () => {
    const { lines, runtime } = fakeRuntime();
    const log = new Logger(runtime, "off");
    log.trace("t");
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    expect(lines).toEqual([]);
    for (const level of ["trace", "debug", "info", "warn", "error", "critical"] as const) expect(log.enabled(level)).toBe(false);
  });

  test("LOG_LEVELS runs least to most severe, ending with off", () => {
    expect(LOG_LEVELS).toEqual(["trace", "debug", "info", "warn", "error", "critical", "off"]);
  });
});

describe("--log-format and --log-format-escaped", () => {
  test("the default format is the line above, unchanged", () => {
    const { lines, runtime } = fakeRuntime();
    const log = new Logger(runtime);
    log.setFormat(DEFAULT_LOG_FORMAT);
    log.info("x");
    expect(lines).toEqual(["[2026-11-26 10:12:25.123][info] x\n"]);
  });

  test("every flag of the subset", () => {
    const { lines, runtime } = fakeRuntime();
    const log = new Logger(runtime, "debug");
    log.setFormat("%Y|%m|%d|%H|%M|%S|%T|%e|%l|%n|%t|%v|%%|plain");
    log.debug("msg");
    expect(lines).toEqual(["2026|11|26|10|12|25|10:12:25|123|debug|main|1|msg|%|plain\n"]);
  });

  test("spdlog's %L, %X, %R, %C, %D, %x and %z, and %l's \"warning\" (glog's shape from Envoy's application logging docs)", () => {
    const { lines, runtime } = fakeRuntime();
    const log = new Logger(runtime, "trace");
    log.setFormat("%L%m%d %X|%R|%C|%D|%x|%z|%l|%v");
    log.warn("w");
    log.component("router").trace("t");
    log.error("e");
    expect(lines).toEqual([
      "W1126 10:12:25|10:12|26|11/26/26|11/26/26|+00:00|warning|w\n",
      "T1126 10:12:25|10:12|26|11/26/26|11/26/26|+00:00|trace|t\n",
      "E1126 10:12:25|10:12|26|11/26/26|11/26/26|+00:00|error|e\n",
    ]);
  });

  test("Envoy's default format and its glog one (source-location flags print nothing, as spdlog's without a location), %_ and %j", () => {
    const { lines, runtime } = fakeRuntime();
    const log = new Logger(runtime, "debug");
    log.setFormat("[%Y-%m-%d %T.%e][%t][%l][%n] [%g:%#] %v");
    log.component("router").debug('no "route"\nmatch');
    log.setFormat("%L%m%d %T.%e %t envoy/%@] [%t][%n]%v");
    log.info("x");
    log.setFormat('{"msg":"%j"} %_ %s%!');
    log.info('a "b"\n\\ c\t');
    expect(lines).toEqual([
      '[2026-11-26 10:12:25.123][1][debug][router] [:] no "route"\nmatch\n',
      "I1126 10:12:25.123 1 envoy/] [1][main]x\n",
      '{"msg":"a \\"b\\"\\n\\\\ c\\t"} a "b"\\n\\ c\t \n',
    ]);
    expect(JSON.parse(/^(\{.*\}) /.exec(lines[2]!)![1]!).msg).toBe('a "b"\n\\ c\t');
  });

  test("%+ and %*: the message without its [C…][S…] tags, and the tags as JSON properties (Envoy's JSON application log: ConnectionId, StreamId)", () => {
    const { lines, runtime } = fakeRuntime();
    const log = new Logger(runtime, "debug");
    // What application_log_config's json_format {level: "%l", message: "%j"} makes.
    log.setFormat('{"level":"%l","message":"%+"%*}');
    log.component("router").debug("[C12][S3] no route match for URL '/x'");
    log.component("conn_handler").debug("[C7] new connection from 127.0.0.1:5000 on 'main'");
    log.info('plain "line"');
    expect(lines).toEqual([
      '{"level":"debug","message":"no route match for URL \'/x\'","ConnectionId":"12","StreamId":"3"}\n',
      '{"level":"debug","message":"new connection from 127.0.0.1:5000 on \'main\'","ConnectionId":"7"}\n',
      '{"level":"info","message":"plain \\"line\\""}\n',
    ]);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
  });

  test("a spdlog flag polyvoy lacks, or padding, is an error naming it", () => {
    expect(() => compileLogFormat("%v %P")).toThrow('unsupported flag "%P"');
    expect(() => compileLogFormat("%-8l %v")).toThrow('padding ("%-…") is not supported');
  });

  test("a % before what no flag is prints as written, a % at the end nothing: spdlog's pattern_formatter (Unknown flag appears as is)", () => {
    const { lines, runtime } = fakeRuntime();
    const log = new Logger(runtime);
    log.setFormat('{"pct":"50%","q":"%Q%wx","m":"%j"} 100%', false);
    log.info("hi");
    expect(lines).toEqual(['{"pct":"50%","q":"%Q%wx","m":"hi"} 100\n']);
  });

  test("escaped: control characters, quotes and backslashes in the message are C-escaped, as Envoy's escapeLogLine", () => {
    const { lines, runtime } = fakeRuntime();
    const log = new Logger(runtime);
    log.setFormat("[%l] %v", true);
    log.info('a\nb\tc\r"d" \\ \x1b[0m é');
    expect(lines).toEqual(['[info] a\\nb\\tc\\r\\"d\\" \\\\ \\033[0m é\n']);
    log.setFormat("[%l] %v", false);
    log.info("a\nb");
    expect(lines[1]).toBe("[info] a\nb\n");
  });
});
