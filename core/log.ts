import type { Runtime } from "./port.ts";
import { isoTimestamp } from "./util/civil-time.ts";

/** Envoy's log levels, least to most severe (`--log-level`). */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "critical", "off"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Leveled logging to the runtime's sink (stderr), one line per message in Envoy's
 * default shape: `[2026-11-26 10:12:25.123][info] message`.
 */
export class Logger {
  private threshold: number;

  constructor(
    private readonly runtime: Pick<Runtime, "log" | "wallClock">,
    level: LogLevel = "info",
  ) {
    this.threshold = LOG_LEVELS.indexOf(level);
  }

  get level(): LogLevel {
    return LOG_LEVELS[this.threshold]!;
  }

  set level(level: LogLevel) {
    this.threshold = LOG_LEVELS.indexOf(level);
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

  private write(level: number, message: string): void {
    if (level < this.threshold) return;
    const time = isoTimestamp(this.runtime.wallClock()).replace("T", " ").slice(0, 23);
    this.runtime.log.write(`[${time}][${LOG_LEVELS[level]}] ${message}\n`);
  }
}
