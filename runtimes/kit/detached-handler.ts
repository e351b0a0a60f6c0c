import type { SocketHandler } from "../../core/port.ts";

/** The handler a socket has before `setHandler` and after it closed: events go nowhere. */
export const detachedHandler: SocketHandler = {
  onConnect() {},
  onData() {},
  onEnd() {},
  onDrain() {},
  onClose() {},
};
