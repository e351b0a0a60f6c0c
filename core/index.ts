/**
 * polyvoy's core, as a library: what a runtime adapter and an embedding program use.
 * `npm run build:core` bundles this file (and everything it needs, llhttp's
 * WebAssembly included) into one dependency-free ES module: dist/polyvoy-core.mjs.
 */
export type {
  CloseReason,
  ConnectOptions,
  Listener,
  ListenOptions,
  LogSink,
  PortError,
  Runtime,
  SignalName,
  Socket,
  SocketAddress,
  SocketHandler,
  TimerHandle,
} from "./port.ts";
export { runMain } from "./main.ts";
export { Server } from "./server.ts";
// loadBootstrap is synchronous: the library loads the RE2 engine with it (config/regex-engine.ts).
import "./config/regex-engine-static.ts";
export { loadBootstrap, formatFromPath } from "./config/load.ts";
export { ConfigError } from "./config/errors.ts";
export type { Bootstrap } from "./config/bootstrap.ts";
export { Logger, LOG_LEVELS, type LogLevel } from "./log.ts";
export { VERSION } from "./version.ts";

// HTTP filters written in TypeScript or JavaScript (core/http/user-filter/).
export { defineHttpFilter } from "./http/user-filter/http-filter-api.ts";
export type {
  ConfigIssue,
  ConfigParser,
  DataResult,
  HeadersResult,
  HttpFilterDefinition,
  HttpFilterHandlers,
  HttpFilterLog,
  HttpFilterStream,
  ParsedConfig,
  TrailersResult,
} from "./http/user-filter/http-filter-api.ts";
export { HttpCallError } from "./http/user-filter/http-call.ts";
// Network (L4) filters written in TypeScript or JavaScript (cor./network-script/).
export { defineNetworkFilter } from "./network-script/network-filter-api.ts";
export type { NetworkFilterConnection, NetworkFilterDefinition, NetworkFilterHandlers, NetworkFilterResult, NetworkFilterStatus } from "./network-script/network-filter-api.ts";
export type { HttpCallFailure, HttpCallOptions, HttpCallRequest, HttpCallResponse } from "./http/user-filter/http-call.ts";
export type { HttpFilterStats, UserCounter, UserGauge, UserHistogram, UserHistogramUnit } from "./http/user-filter/user-filter-stats.ts";
export { registerHttpFilter, unregisterHttpFilter } from "./http/user-filter/user-filter-registry.ts";
export { resolveUserFilters } from "./http/user-filter/resolve-user-filters.ts";
export { FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus } from "./http/filter.ts";
export type { HeaderMap } from "./http/header-map.ts";
export type { RequestHeaders, ResponseHeaders } from "./http/message.ts";
export type { BodyBuffer } from "./http/body-buffer.ts";
export type { StreamInfo } from "./http/stream-info.ts";
