import type { CloseReason, PortError, Socket, SocketHandler } from "../../core/port.ts";

/** A SocketHandler that records what happened, with promises to await each kind of event. */
export class SocketRecorder implements SocketHandler {
  received: Uint8Array[] = [];
  receivedBytes = 0;
  drains = 0;
  ended = false;
  closeReason: CloseReason | undefined;
  closeError: PortError | undefined;
  private waiters: (() => void)[] = [];

  constructor(readonly socket: Socket) {
    socket.setHandler(this);
  }

  onConnect(): void {
    this.connected = true;
    this.wake();
  }
  connected = false;
  onData(data: Uint8Array): void {
    this.received.push(data.slice()); // lent for this call only (port.ts)
    this.receivedBytes += data.byteLength;
    this.wake();
  }
  onEnd(): void {
    this.ended = true;
    this.wake();
  }
  onDrain(): void {
    this.drains++;
    this.wake();
  }
  onClose(reason: CloseReason, error?: PortError): void {
    this.closeReason = reason;
    this.closeError = error;
    this.wake();
  }

  text(): string {
    return new TextDecoder().decode(concat(this.received));
  }

  /** Resolve once `condition` holds (checked after every event), or reject after `ms`. */
  until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
      const check = () => {
        if (!condition()) return void this.waiters.push(check);
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
