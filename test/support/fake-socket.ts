import type { Socket, SocketAddress, SocketHandler } from "../../core/port.ts";

/**
 * A test double of the port's `Socket`: records what the core asks of it and lets
 * the test set `bufferedAmount` and fire handler events by hand.
 */
export class FakeSocket implements Socket {
  handler: SocketHandler | undefined;
  readonly writes: Uint8Array[] = [];
  /** Every readDisable argument, in call order. */
  readonly readDisableCalls: boolean[] = [];
  ends = 0;
  closes = 0;
  resets = 0;
  bufferedAmount = 0;
  readonly localAddress: SocketAddress | undefined = undefined;
  readonly remoteAddress: SocketAddress | undefined = undefined;

  get readDisabled(): boolean {
    let count = 0;
    for (const disable of this.readDisableCalls) count = disable ? count + 1 : Math.max(0, count - 1);
    return count > 0;
  }

  setHandler(handler: SocketHandler): void {
    this.handler = handler;
  }
  write(data: Uint8Array): void {
    this.writes.push(data);
  }
  readDisable(disable: boolean): void {
    this.readDisableCalls.push(disable);
  }
  end(): void {
    this.ends++;
  }
  close(): void {
    this.closes++;
  }
  reset(): void {
    this.resets++;
  }
  setNoDelay(): void {}

  /** All written bytes as text. */
  text(): string {
    const decoder = new TextDecoder();
    return this.writes.map((w) => decoder.decode(w)).join("");
  }
}

/** A FakeSocket that also offers `writeCopying` (as Bun's adapter does): each call is recorded as the copy it must keep. */
export class CopyingFakeSocket extends FakeSocket {
  /** The buffers `writeCopying` was called with (the caller's, reused). */
  readonly copyingSources: Uint8Array[] = [];
  writeCopying(data: Uint8Array, offset: number, length: number): void {
    this.copyingSources.push(data);
    this.writes.push(data.slice(offset, offset + length));
  }
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);

/** A FakeSocket that also offers `writev` (as node's and Deno's adapters do): each call recorded as its chunks. */
export class GatheringFakeSocket extends FakeSocket {
  readonly writevCalls: Uint8Array[][] = [];
  writev(chunks: readonly Uint8Array[]): void {
    this.writevCalls.push([...chunks]);
  }
}
