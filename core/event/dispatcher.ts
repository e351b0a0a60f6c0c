import type { Runtime } from "../port.ts";
import type { Timers } from "./timers.ts";
import type { Logger } from "../log.ts";

/**
 * What an object that lives on the event loop uses of it: the runtime (sockets, clock,
 * deferred calls) and the shared timer facility (Envoy's `Event::Dispatcher`, which
 * connection pools and connections are given instead of the whole server).
 */
export interface Dispatcher {
  readonly runtime: Runtime;
  /** Cheap timers for per-request and per-connection timeouts (Envoy's dispatcher timers). */
  readonly timers: Timers;
  /** The server's logger, for the components' debug lines (absent in tests that give none). */
  readonly log?: Logger;
}
