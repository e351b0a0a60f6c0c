/**
 * Envoy-style access logs: `access_log` on the HTTP connection manager and tcp_proxy.
 *
 * At startup: `const manager = new AccessLogManager(runtime)`, then for each filter
 * `await manager.createAccessLoggers(config.accessLog ?? [])` (an AccessLogOpenError is a
 * config error naming the path). At each stream's (or TCP connection's) end:
 * `for (const logger of loggers) logger.log(ctx)` with an AccessLogContext (context.ts
 * says how to build one from StreamInfo and the headers). On shutdown: `await manager.close()`.
 */
export type { AccessLogContext } from "./context.ts";
export {
  compileFormat,
  compileJsonFormat,
  compileTextFormat,
  DEFAULT_FORMAT,
  FormatError,
  parseFormat,
  SUPPORTED_OPERATORS,
  type AccessLogFormatter,
} from "./format.ts";
export { compileTimeFormat, DEFAULT_START_TIME_FORMAT } from "./time-format.ts";
export {
  AccessLogFile,
  AccessLogger,
  AccessLogManager,
  AccessLogOpenError,
  createAccessLoggers,
  type AccessLogFileStats,
  type AccessLogOptions,
} from "./logger.ts";
