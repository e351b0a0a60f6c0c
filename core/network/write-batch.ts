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
    if (this.count === 1) {
      const first = this.first!;
      this.clear();
      return first;
    }
    const joined = allocBytes(this.bytes);
    this.takeInto(joined);
    return joined;
  }

  /** Copy the pieces, in order, to the start of `target` (at least `bytes` long); returns how many bytes; empties the batch. */
  takeInto(target: Uint8Array): number {
    let at = 0;
    if (this.first) {
      target.set(this.first, 0);
      at = this.first.byteLength;
    }
    if (this.second) {
      target.set(this.second, at);
      at += this.second.byteLength;
    }
    for (const chunk of this.rest ?? []) {
      target.set(chunk, at);
      at += chunk.byteLength;
    }
    this.clear();
    return at;
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
