import type { Runtime } from "./port.ts";
import { utcParts, type UtcParts } from "./util/civil-time.ts";

/** Envoy's log levels, least to most severe (`--log-level`). */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "critical", "off"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The names a line prints for each level: spdlog's (SPDLOG_LEVEL_NAMES, which Envoy's `%l`
 * writes and its /logging lists), "warning" where polyvoy's API says warn; and `%L`'s
 * short ones (SPDLOG_SHORT_LEVEL_NAMES).
 */
const LEVEL_NAMES = ["trace", "debug", "info", "warning", "error", "critical", "off"] as const;
const SHORT_LEVEL_NAMES = ["T", "D", "I", "W", "E", "C", "O"] as const;

/**
 * A level named on the command line or the admin: polyvoy's names and spdlog's "warning",
 * both of which Envoy takes (options_impl.cc: spdlog's names, and "warn" besides).
 */
export function parseLogLevel(name: string): LogLevel | undefined {
  const level = name === "warning" ? "warn" : name;
  return (LOG_LEVELS as readonly string[]).includes(level) ? (level as LogLevel) : undefined;
}
export type LogComponent = (typeof LOG_COMPONENTS)[number];

/**
 * Envoy's logger components (source/common/common/logger.h, ALL_LOGGER_IDS), the names
 * `--component-log-level` takes and `%n` prints. What polyvoy logs under which: "main"
 * (start-up, shutdown, drains, and whatever has no component of its own), "config" (config
 * load and reload steps), "admin" (log-level changes, a mutating path asked by GET),
 * "conn_handler" (a connection no filter chain matches), "connection" (the delayed close
 * giving up), "filter" (tcp_proxy), "http" (local replies, HTTP/1 codec errors and idle
 * timeouts; the HTTP/1 codec's reads at trace, downstream and upstream), "http2" (HTTP/2
 * connection errors, keepalive and header timeouts; reads and RST_STREAMs at trace),
 * "router" (route misses, upstream resets, retries, request mirroring), "pool" (connection
 * pool events), "jwt" (verification failures), "oauth2" (token request failures). The others are accepted and print nothing
 * yet. See Logger.component.
 */
export const LOG_COMPONENTS = [
  "admin", "alternate_protocols_cache", "aws", "assert", "backtrace", "cache_filter", "client", "compression", "config",
  "connection", "conn_handler", "decompression", "dns", "dubbo", "ext_authz", "ext_proc", "rocketmq", "file", "filter",
  "forward_proxy", "grpc", "happy_eyeballs", "hc", "health_checker", "http", "http2", "http3", "hystrix", "init", "io",
  "jwt", "kafka", "lua", "main", "matcher", "misc", "mongo", "oauth2", "quic", "quic_stream", "pool", "rbac", "rds", "redis",
  "router", "runtime", "stats", "secret", "tap", "testing", "thrift", "tracing", "upstream", "udp", "wasm", "websocket", "xds",
] as const;

/**
 * The `--log-format` flags polyvoy writes: spdlog's, as Envoy passes them through — %Y year,
 * %m month, %d day, %H %M %S hour, minute, second, %T = %H:%M:%S, %e milliseconds (all UTC),
 * %X = %T, %R = %H:%M, %C two-digit year, %D = %x = %m/%d/%C, %z the UTC offset (+00:00),
 * %l level as spdlog names it ("warning" for warn), %L its one letter (spdlog's short names:
 * T D I W E C O), %n logger name (the component: "main", "router"…), %t thread id (always 1:
 * one thread), %v the message, %% a percent sign; Envoy's own %_ (the message, its newlines
 * escaped), %j (the message escaped for a JSON string), %+ (that, without the message's
 * connection and stream tags) and %* (those tags as JSON properties) (Envoy's logger.cc,
 * CustomFlagFormatter); spdlog's source-location flags %g %s %# %@ %! print nothing, as spdlog
 * does for a message without a source location (polyvoy's have none), so Envoy's default
 * format `[%Y-%m-%d %T.%e][%t][%l][%n] [%g:%#] %v` works. spdlog's other flags (SPDLOG_FLAGS)
 * and its padding (`%-8l`) are an error naming them. A `%` before a character no flag is, as
 * `50%"` in a JSON format, is that text as written, and a `%` ending the format nothing: what
 * spdlog's pattern_formatter does (handle_flag_'s default branch, "Unknown flag appears as is";
 * compile_pattern_ stops at the end).
 */
export const LOG_FORMAT_FLAGS = ["Y", "C", "m", "d", "D", "x", "H", "M", "S", "T", "X", "R", "e", "z", "l", "L", "n", "t", "v", "_", "j", "+", "*", "g", "s", "#", "@", "!", "%"] as const;

/** Every flag spdlog's pattern_formatter knows (handle_flag_'s cases), Envoy's own (%_ %j %* ) too. */
const SPDLOG_FLAGS = new Set("+nlLtvaAbhBcCYDxmdHIMSefFEprRTXzP^$@sg#!oiuOy&%_j*");

/** What starts spdlog's padding spec after a `%` (handle_padspec_): a side, or a width. */
const PADDING_START = /[-=0-9]/;

/**
 * A line's connection and stream tags: polyvoy writes them as the message's `[C12] ` or
 * `[C12][S3] ` prefix (ENVOY_CONN_LOG / ENVOY_STREAM_LOG). Envoy's %+ prints the message
 * without its tags and %* the tags as JSON properties, `,"ConnectionId":"12","StreamId":"3"`
 * (logger.cc's ExtractedMessage and ExtractedTags flags, which a JSON format uses).
 */
const TAGS_PREFIX = /^\[C(\d+)\](?:\[S(\d+)\])? /;

/** The default line: `[2026-11-26 10:12:25.123][info] message`. */
/**
 * Envoy's message when both the bootstrap's application_log_config and the command line set
 * the format (source/server/utils.cc). Here, not beside its schema: core/main.ts reads it at
 * start, where no config schema may load before the config (test/unit/startup-imports.test.ts).
 */
export const EXCLUSIVE_LOG_FORMAT = "Only one of ApplicationLogConfig.log_format or CLI option --log-format can be specified.";

export const DEFAULT_LOG_FORMAT = "[%Y-%m-%d %T.%e][%l] %v";

/** One piece of a compiled format: literal text, or a flag letter. */
type FormatPart = { text: string } | { flag: (typeof LOG_FORMAT_FLAGS)[number] };

/** Compiles a `--log-format` string; throws an Error naming the first unsupported flag. */
export function compileLogFormat(format: string): FormatPart[] {
  const parts: FormatPart[] = [];
  let text = "";
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c !== "%") {
      text += c;
      continue;
    }
    const flag = format[++i];
    if (flag === undefined) break;
    if (flag === "%") {
      text += "%";
      continue;
    }
    if (PADDING_START.test(flag)) throw new Error(`padding ("%${flag}…") is not supported (write %% for a percent sign)`);
    if (!SPDLOG_FLAGS.has(flag)) {
      text += `%${flag}`;
      continue;
    }
    if (!(LOG_FORMAT_FLAGS as readonly string[]).includes(flag)) {
      throw new Error(`unsupported flag "%${flag}" (supported: ${LOG_FORMAT_FLAGS.map((f) => `%${f}`).join(" ")})`);
    }
    if (text) parts.push({ text });
    text = "";
    parts.push({ flag: flag as FormatPart extends { flag: infer F } ? F : never });
  }
  if (text) parts.push({ text });
  return parts;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

/**
 * `--log-format-escaped`: the message C-escaped as Envoy's DelegatingLogSink::escapeLogLine
 * does (absl::CEscape): \n \r \t \" \' \\, other control characters as three octal digits.
 * (Non-ASCII characters are left as they are; CEscape would escape their UTF-8 bytes.)
 */
function escapeMessage(message: string): string {
  return message.replace(/[\x00-\x1f\x7f\\"']/g, (c) => {
    switch (c) {
      case "\n":
        return "\\n";
      case "\r":
        return "\\r";
      case "\t":
        return "\\t";
      default:
        return c === "\\" || c === '"' || c === "'" ? `\\${c}` : `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`;
    }
  });
}

/**
 * Leveled logging to the runtime's sink (stderr, or `--log-path`), one line per message,
 * by default in the shape `[2026-11-26 10:12:25.123][info] message` (`--log-format`).
 * The Logger itself is the "main" component; `component(name)` gives the others, each with
 * its own level (Envoy's per-component loggers, `--component-log-level`).
 */
export class Logger {
  private threshold: number;
  private parts: FormatPart[] | undefined;
  private escaped = false;
  private readonly components = new Map<LogComponent, ComponentLogger>();
  /** The level every component got last (`--log-level`), which a component made later starts at. */
  private allLevel: LogLevel;

  constructor(
    private readonly runtime: Pick<Runtime, "log" | "wallClock">,
    level: LogLevel = "info",
  ) {
    this.threshold = LOG_LEVELS.indexOf(level);
    this.allLevel = level;
  }

  /** The "main" component's level. */
  get level(): LogLevel {
    return LOG_LEVELS[this.threshold]!;
  }

  /** Sets every component's level, as `--log-level` and the admin's /logging?level= do. */
  set level(level: LogLevel) {
    this.threshold = LOG_LEVELS.indexOf(level);
    this.allLevel = level;
    for (const component of this.components.values()) component.level = level;
  }

  /** The logger of one of Envoy's components but "main", the Logger itself (memoised: callers keep it in a field). */
  component(name: Exclude<LogComponent, "main">): ComponentLogger {
    let component = this.components.get(name);
    if (!component) this.components.set(name, (component = new ComponentLogger(this, name, this.allLevel)));
    return component;
  }

  /** `--component-log-level name:level` and /logging?name=level: one component's level. */
  setComponentLevel(name: LogComponent, level: LogLevel): void {
    if (name === "main") this.threshold = LOG_LEVELS.indexOf(level);
    else this.component(name).level = level;
  }

  /** The level of every component, "main" first (what /logging lists). */
  componentLevels(): [LogComponent, LogLevel][] {
    return LOG_COMPONENTS.map((name) => [name, name === "main" ? this.level : (this.components.get(name)?.level ?? this.allLevel)]);
  }

  /** Whether debug lines are written: the guard before building one. */
  get debugOn(): boolean {
    return this.threshold <= 1;
  }

  /** Whether trace lines are written: the guard before building one. */
  get traceOn(): boolean {
    return this.threshold === 0;
  }

  /** Cheap guard for callers that would otherwise build a message nobody reads. */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.threshold;
  }

  trace(message: string): void {
    this.write(0, message);
  }
  debug(message: string): void {
    this.write(1, message);
  }
  info(message: string): void {
    this.write(2, message);
  }
  warn(message: string): void {
    this.write(3, message);
  }
  error(message: string): void {
    this.write(4, message);
  }

  /** `--log-format` (compiled by compileLogFormat) and `--log-format-escaped`. */
  setFormat(format: string, escaped = false): void {
    this.parts = format === DEFAULT_LOG_FORMAT ? undefined : compileLogFormat(format);
    this.escaped = escaped;
  }

  private write(level: number, message: string): void {
    if (level >= this.threshold) this.writeLine(level, message, "main");
  }

  /** One line of `component` at `level` (its threshold already checked). */
  writeLine(level: number, message: string, component: LogComponent): void {
    const t = utcParts(this.runtime.wallClock());
    const text = this.escaped ? escapeMessage(message) : message;
    if (!this.parts) {
      this.runtime.log.write(`[${t.year}-${pad(t.month)}-${pad(t.day)} ${pad(t.hour)}:${pad(t.minute)}:${pad(t.second)}.${pad(t.millisecond, 3)}][${LEVEL_NAMES[level]}] ${text}\n`);
      return;
    }
    let line = "";
    for (const part of this.parts) line += "text" in part ? part.text : flagText(part.flag, t, level, text, message, component);
    this.runtime.log.write(line + "\n");
  }
}

/** `message` as `%v` prints it (C-escaped with --log-format-escaped), `raw` as given. */
function flagText(flag: (typeof LOG_FORMAT_FLAGS)[number], t: UtcParts, level: number, message: string, raw: string, component: LogComponent): string {
  switch (flag) {
    case "Y":
      return String(t.year);
    case "m":
      return pad(t.month);
    case "d":
      return pad(t.day);
    case "H":
      return pad(t.hour);
    case "M":
      return pad(t.minute);
    case "S":
      return pad(t.second);
    case "T":
    case "X":
      return `${pad(t.hour)}:${pad(t.minute)}:${pad(t.second)}`;
    case "R":
      return `${pad(t.hour)}:${pad(t.minute)}`;
    case "C":
      return pad(t.year % 100);
    case "D":
    case "x":
      return `${pad(t.month)}/${pad(t.day)}/${pad(t.year % 100)}`;
    case "z":
      return "+00:00";
    case "e":
      return pad(t.millisecond, 3);
    case "l":
      return LEVEL_NAMES[level]!;
    case "L":
      return SHORT_LEVEL_NAMES[level]!;
    case "n":
      return component;
    case "t":
      return "1";
    case "v":
      return message;
    case "_":
      return raw.replaceAll("\n", "\\n");
    case "j":
      return JSON.stringify(raw).slice(1, -1);
    case "+":
      return JSON.stringify(raw.replace(TAGS_PREFIX, "")).slice(1, -1);
    case "*": {
      const tags = TAGS_PREFIX.exec(raw);
      if (tags === null) return "";
      return `,"ConnectionId":"${tags[1]}"${tags[2] === undefined ? "" : `,"StreamId":"${tags[2]}"`}`;
    }
    case "g":
    case "s":
    case "#":
    case "@":
    case "!":
      return "";
    case "%":
      return "%";
  }
}

/**
 * One component's logger: its own level, the root Logger's sink and format. Messages that
 * cost something to build are guarded (`if (log.debugOn) log.debug(...)`), as Envoy's
 * ENVOY_LOG macros check the level before formatting.
 */
export class ComponentLogger {
  private threshold: number;
  /** Whether debug (and trace) lines are written: plain fields, read on hot paths. */
  debugOn = false;
  traceOn = false;

  constructor(
    private readonly root: Logger,
    readonly name: LogComponent,
    level: LogLevel,
  ) {
    this.threshold = 0;
    this.level = level;
  }

  get level(): LogLevel {
    return LOG_LEVELS[this.threshold]!;
  }

  set level(level: LogLevel) {
    this.threshold = LOG_LEVELS.indexOf(level);
    this.debugOn = this.threshold <= 1;
    this.traceOn = this.threshold === 0;
  }

  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.threshold;
  }

  trace(message: string): void {
    if (this.threshold === 0) this.root.writeLine(0, message, this.name);
  }
  debug(message: string): void {
    if (this.threshold <= 1) this.root.writeLine(1, message, this.name);
  }
  info(message: string): void {
    if (this.threshold <= 2) this.root.writeLine(2, message, this.name);
  }
  warn(message: string): void {
    if (this.threshold <= 3) this.root.writeLine(3, message, this.name);
  }
  error(message: string): void {
    if (this.threshold <= 4) this.root.writeLine(4, message, this.name);
  }
}

/** Envoy's ENVOY_CONN_LOG prefix: `[C12] `. */
export function connLogPrefix(connectionId: number): string {
  return `[C${connectionId}] `;
}

/** Envoy's ENVOY_STREAM_LOG prefix: `[C12][S345] `. */
export function streamLogPrefix(connectionId: number | undefined, streamId: number): string {
  return connectionId === undefined ? `[S${streamId}] ` : `[C${connectionId}][S${streamId}] `;
}
