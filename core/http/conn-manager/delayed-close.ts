import type { Timers } from "../../event/timers.ts";
import type { ComponentLogger } from "../../log.ts";
import type { Connection } from "../../network/connection.ts";

/** Envoy's default HttpConnectionManager.delayed_close_timeout. */
export const DEFAULT_DELAYED_CLOSE_TIMEOUT_MS = 1000;

/**
 * Envoy's delayed close (HttpConnectionManager.delayed_close_timeout; ConnectionImpl re-arms
 * its delayed-close timer whenever a flush makes progress): a connection closing with bytes
 * still queued for a client that has stopped reading is aborted once `timeoutMs` passes with
 * no progress, so a stalled reader cannot pin the connection and its buffer forever. 0 turns
 * it off, as in Envoy: the connection then closes when its queue has been written, or never.
 */
export function armDelayedClose(connection: Connection, timers: Timers, timeoutMs: number, log: ComponentLogger): void {
  const socket = connection.socket;
  let last = socket.bufferedAmount;
  if (last === 0 || timeoutMs === 0 || connection.isClosed) return;
  // Its own timer (the connection's one timer may still be wanted by a drain): made once
  // per closing connection, never per request.
  const timer = timers.create(() => {
    if (connection.isClosed) return;
    const now = socket.bufferedAmount;
    if (now >= last) {
      if (log.debugOn) log.debug(`[C${connection.id}] delayed close timeout: aborting`);
      connection.close("Abort");
      return;
    }
    last = now;
    timer.enable(timeoutMs);
  });
  timer.enable(timeoutMs);
}
