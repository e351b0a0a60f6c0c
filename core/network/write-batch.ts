import { allocBytes } from "../util/byte-slab.ts";
import { arenaBytes, arenaTake, arenaUsed } from "../event/event-arena.ts";
import type { ByteEncoder } from "./byte-sink.ts";

/**
 * The pieces a connection writes while one I/O event is handled, to leave as one write
 * when it ends (dispatch-scope.ts). Most events write one or two pieces (a head, a
 * body): those are held in fields, so a request allocates no array for its batch.
 *
 * On a socket that copies what it keeps, the batch may start with a run of bytes in the
 * event arena (event-arena.ts): a head encoded there and the small pieces behind it,
 * already joined, with no array made for them. The run always comes first.
 */
export class WriteBatch {
  private first: Uint8Array | undefined;
  private second: Uint8Array | undefined;
  private rest: Uint8Array[] | undefined;
  /** Pieces, the arena run counting as one. */
  count = 0;
  bytes = 0;
  /** The arena run: `runBytes` bytes from `runAt` (none when 0). */
  runAt = 0;
  runBytes = 0;

  push(chunk: Uint8Array): void {
    const index = this.runBytes > 0 ? this.count - 1 : this.count;
    if (index === 0) this.first = chunk;
    else if (index === 1) this.second = chunk;
    else (this.rest ??= []).push(chunk);
    this.count++;
    this.bytes += chunk.byteLength;
  }

  /**
   * Encode into the arena as the run, or its continuation. Only while nothing is queued
   * behind the run and the run ends where the arena's free space starts (another
   * connection's bytes may follow it); false when it cannot or there is no room.
   */
  encodeIntoRun(encoder: ByteEncoder): boolean {
    if (!this.runCanGrow()) return false;
    const length = encoder.byteLength;
    const at = arenaTake(length);
    if (at < 0) return false;
    encoder.encodeInto(arenaBytes(), at);
    this.growRun(at, length);
    return true;
  }

  /** Copy `chunk` onto the end of an existing run (joining it with what is there); false when it cannot. */
  copyOntoRun(chunk: Uint8Array): boolean {
    if (this.runBytes === 0 || !this.runCanGrow()) return false;
    const at = arenaTake(chunk.byteLength);
    if (at < 0) return false;
    arenaBytes().set(chunk, at);
    this.growRun(at, chunk.byteLength);
    return true;
  }

  private runCanGrow(): boolean {
    return this.runBytes === 0 ? this.count === 0 : this.count === 1 && this.runAt + this.runBytes === arenaUsed();
  }

  private growRun(at: number, length: number): void {
    if (this.runBytes === 0) {
      this.runAt = at;
      this.count++;
    }
    this.runBytes += length;
    this.bytes += length;
  }

  /** Take the run out of the batch (the caller writes arena bytes `runAt`..`runAt + runBytes` first). */
  takeRun(): void {
    if (this.runBytes === 0) return;
    this.count--;
    this.bytes -= this.runBytes;
    this.runBytes = 0;
    if (this.count === 0) this.clear();
  }

  /** The pieces as one buffer (the piece itself when there is one; else joined, one copy); empties the batch. */
  takeJoined(): Uint8Array {
    if (this.count === 1 && this.runBytes === 0) {
      const first = this.first!;
      this.clear();
      return first;
    }
    const joined = allocBytes(this.bytes);
    this.takeInto(joined, 0);
    return joined;
  }

  /** Copy the pieces, in order, into `target` from `at` (room for `bytes`); returns how many bytes; empties the batch. */
  takeInto(target: Uint8Array, at: number): number {
    const start = at;
    if (this.runBytes > 0) {
      // Not on the hot path (a connection writes its run as it is): a view is fine here.
      target.set(arenaBytes().subarray(this.runAt, this.runAt + this.runBytes), at);
      at += this.runBytes;
    }
    if (this.first) {
      target.set(this.first, at);
      at += this.first.byteLength;
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
    return at - start;
  }

  /** The pieces in order (the run as a copy); empties the batch. */
  takeAll(): Uint8Array[] {
    const all: Uint8Array[] = [];
    if (this.runBytes > 0) all.push(arenaBytes().slice(this.runAt, this.runAt + this.runBytes));
    if (this.first) all.push(this.first);
    if (this.second) all.push(this.second);
    // A loop, not push(...rest): a body of tiny chunks held while an upstream connected
    // can leave hundreds of thousands of pieces here, more arguments than the stack holds.
    if (this.rest) for (const chunk of this.rest) all.push(chunk);
    this.clear();
    return all;
  }

  /**
   * The pieces in order, each run of pieces under `smallBytes` joined into one buffer (a
   * run of one stays as it is) and larger pieces as they are; empties the batch.
   */
  takeSmallRunsJoined(smallBytes: number): Uint8Array[] {
    const pieces = this.takeAll();
    const out: Uint8Array[] = [];
    for (let i = 0; i < pieces.length; ) {
      let end = i;
      let bytes = 0;
      while (end < pieces.length && pieces[end]!.byteLength < smallBytes) bytes += pieces[end++]!.byteLength;
      if (end - i > 1) {
        const joined = allocBytes(bytes);
        for (let at = 0; i < end; i++) {
          joined.set(pieces[i]!, at);
          at += pieces[i]!.byteLength;
        }
        out.push(joined);
      } else {
        // A small piece alone, or a large one: as it is.
        out.push(pieces[i++]!);
      }
    }
    return out;
  }

  clear(): void {
    this.first = this.second = this.rest = undefined;
    this.count = 0;
    this.bytes = 0;
    this.runBytes = 0;
  }
}
