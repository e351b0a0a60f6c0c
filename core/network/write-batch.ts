import { allocBytes } from "../util/byte-slab.ts";

/**
 * The pieces a connection writes while one I/O event is handled, to leave as one write
 * when it ends (dispatch-scope.ts). Most events write one or two pieces (a head, a
 * body): those are held in fields, so a request allocates no array for its batch.
 */
export class WriteBatch {
  private first: Uint8Array | undefined;
  private second: Uint8Array | undefined;
  private rest: Uint8Array[] | undefined;
  count = 0;
  bytes = 0;

  push(chunk: Uint8Array): void {
    if (this.count === 0) this.first = chunk;
    else if (this.count === 1) this.second = chunk;
    else (this.rest ??= []).push(chunk);
    this.count++;
    this.bytes += chunk.byteLength;
  }

  /** The pieces as one buffer (the piece itself when there is one; else joined, one copy); empties the batch. */
  takeJoined(): Uint8Array {
    const first = this.first!;
    if (this.count === 1) {
      this.clear();
      return first;
    }
    const joined = allocBytes(this.bytes);
    joined.set(first, 0);
    let at = first.byteLength;
    joined.set(this.second!, at);
    at += this.second!.byteLength;
    for (const chunk of this.rest ?? []) {
      joined.set(chunk, at);
      at += chunk.byteLength;
    }
    this.clear();
    return joined;
  }

  /** The pieces in order, as they are; empties the batch. */
  takeAll(): Uint8Array[] {
    const all: Uint8Array[] = [];
    if (this.first) all.push(this.first);
    if (this.second) all.push(this.second);
    if (this.rest) all.push(...this.rest);
    this.clear();
    return all;
  }

  clear(): void {
    this.first = this.second = this.rest = undefined;
    this.count = 0;
    this.bytes = 0;
  }
}
