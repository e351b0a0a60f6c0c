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
export { loadBootstrap, formatFromPath } from "./config/load.ts";
export { ConfigError } from "./config/errors.ts";
export type { Bootstrap } from "./config/bootstrap.ts";
export { Logger, LOG_LEVELS, type LogLevel } from "./log.ts";
export { VERSION } from "./version.ts";
