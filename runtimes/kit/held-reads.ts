import type { SocketHandler } from "../../core/port.ts";
import { keepBytes } from "../../core/util/bytes.ts";
import type { ReadDisableCount } from "./read-disable-count.ts";

/** A runtime socket whose reads can be paused and resumed. */
export interface PausableReads {
  pause(): void;
  resume(): void;
}

/**
 * What a socket read while the core had its reads disabled, and a FIN behind it. An
 * adapter whose runtime only pauses reads goes on reading while disabled until a chunk
 * comes, so that the peer's FIN or reset with nothing unread still shows (port.ts,
 * readDisable); that chunk waits here, the socket paused, until reading is enabled.
 * The node and bun adapters share it; each passes its own socket.
 */
export class HeldReads {
  private held: Uint8Array | undefined;
  private heldEnd = false;
  private paused = false;

  /** Bytes that came while reads are disabled: keep a copy (they are lent) and pause the socket. */
  hold(data: Uint8Array, socket: PausableReads | undefined): void {
    this.held = this.held ? concatBytes(this.held, data) : keepBytes(data);
    if (this.paused) return;
    this.paused = true;
    socket?.pause();
  }

  /** The peer's FIN: true when it waits behind held bytes, false when the adapter passes it on now. */
  holdEnd(): boolean {
    if (this.held === undefined) return false;
    this.heldEnd = true;
    return true;
  }

  /** Something waits for reading to be enabled (the adapter delivers it later, not inside readDisable's caller). */
  get waiting(): boolean {
    return this.held !== undefined || this.heldEnd;
  }

  /** Reading is enabled: what was held goes to `handler` first, then the socket reads again. */
  deliver(handler: SocketHandler, reads: ReadDisableCount, socket: PausableReads | undefined): void {
    const held = this.held;
    this.held = undefined;
    if (held) handler.onData(held);
    // The handler may have disabled reads again: the FIN waits for that enable; with no FIN
    // read, the socket reads one chunk ahead again (as when reads were first disabled), so a
    // reset still shows — a socket left paused with nothing held would hide it.
    if (reads.disabled) {
      if (!this.heldEnd) this.resume(socket);
      return;
    }
    if (this.heldEnd) {
      this.heldEnd = false;
      handler.onEnd();
    }
    this.resume(socket);
  }

  /** A FIN waits behind held bytes. */
  get endWaiting(): boolean {
    return this.heldEnd;
  }

  /** The held bytes go to whoever takes the socket over (paused, and left paused); nothing is held after. */
  take(): Uint8Array | undefined {
    const held = this.held;
    this.held = undefined;
    this.heldEnd = false;
    this.paused = false;
    return held;
  }

  resume(socket: PausableReads | undefined): void {
    if (!this.paused) return;
    this.paused = false;
    socket?.resume();
  }
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a, 0);
  out.set(b, a.byteLength);
  return out;
}
