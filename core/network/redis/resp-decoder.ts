import { concatBytes, keepBytes } from "../../util/bytes.ts";
import { RESP_NULL, type RespValue } from "./resp-value.ts";

/** Bytes that are not RESP2 (Envoy's Common::Redis::ProtocolError). */
export class RespProtocolError extends Error {}

/**
 * Bounds on what one value may make the decoder hold. Envoy's decoder has none beyond the
 * connection's buffer limits; polyvoy has one set for replies (REPLY_RESP_LIMITS) and a
 * tighter one for what clients send (REQUEST_RESP_LIMITS).
 */
export interface RespDecoderLimits {
  readonly maxBulkBytes: number;
  readonly maxArrayElements: number;
  readonly maxDepth: number;
  /** A simple string's or error's text, or a length line. */
  readonly maxLineBytes: number;
  /** The wire bytes of one top-level value, all its elements counted. */
  readonly maxValueBytes: number;
  /**
   * Requests only: an array's elements must be bulk strings, as Redis's processMultibulkBuffer
   * (networking.c) checks, so a request is never a tree of nested arrays.
   */
  readonly bulkStringsInArrays: boolean;
}

/**
 * A reply from an upstream Redis: Redis's proto-max-bulk-len (512 MiB) for one bulk string,
 * no cap on an array's elements (LRANGE, HGETALL, SMEMBERS of a big key are legitimate),
 * the whole value bounded by its bytes instead. A bulk string stays bytes, never a JS string.
 */
export const REPLY_RESP_LIMITS: RespDecoderLimits = {
  maxBulkBytes: 512 * 1024 * 1024,
  maxArrayElements: Number.MAX_SAFE_INTEGER,
  maxDepth: 32,
  maxLineBytes: 64 * 1024,
  maxValueBytes: 512 * 1024 * 1024 + 64 * 1024,
  bulkStringsInArrays: false,
};

/**
 * A client's request: an array of at most 65,536 bulk strings (Redis allows 2^20 before
 * AUTH, but each element costs the proxy far more than its wire bytes), each and all of them
 * at most 64 MiB — far below the longest string a JS engine makes (2^29 - 24 chars on some), since keys become strings.
 */
export const REQUEST_RESP_LIMITS: RespDecoderLimits = {
  maxBulkBytes: 64 * 1024 * 1024,
  maxArrayElements: 64 * 1024,
  maxDepth: 1,
  maxLineBytes: 64 * 1024,
  maxValueBytes: 64 * 1024 * 1024 + 1024 * 1024,
  bulkStringsInArrays: true,
};

const enum State {
  Type,
  Line,
  LineLf,
  Bulk,
  BulkCr,
  BulkLf,
}

const CR = 0x0d;
const LF = 0x0a;

interface Frame {
  readonly items: RespValue[];
  remaining: number;
}

/**
 * An incremental RESP2 decoder (Envoy's DecoderImpl, common/redis/codec_impl.cc): bytes in
 * any chunking; each complete top-level value goes to `onValue`. What is not RESP2 —
 * an unknown type byte (so inline commands, which Envoy refuses too), a bad length, a
 * missing CRLF, a value over a limit — throws RespProtocolError; the decoder is then unusable.
 */
export class RespDecoder {
  private state = State.Type;
  private type = 0;
  private line = "";
  private bulkRemaining = 0;
  private bulkLength = 0;
  private bulkParts: Uint8Array[] = [];
  private readonly stack: Frame[] = [];
  private valueBytes = 0;

  constructor(
    private readonly onValue: (value: RespValue) => void,
    private readonly limits: RespDecoderLimits,
  ) {}

  decode(data: Uint8Array): void {
    const length = data.byteLength;
    let at = 0;
    while (at < length) {
      switch (this.state) {
        case State.Type: {
          const type = data[at++]!;
          this.countBytes(1);
          if (type !== 0x2b && type !== 0x2d && type !== 0x3a && type !== 0x24 && type !== 0x2a) {
            throw new RespProtocolError(`invalid value type byte 0x${type.toString(16).padStart(2, "0")}`);
          }
          if (this.limits.bulkStringsInArrays && this.stack.length > 0 && type !== 0x24) {
            throw new RespProtocolError(`Protocol error: expected '$', got '${String.fromCharCode(type)}'`);
          }
          this.type = type;
          this.line = "";
          this.state = State.Line;
          break;
        }
        case State.Line: {
          let end = at;
          while (end < length && data[end] !== CR) end++;
          const take = end - at;
          if (this.line.length + take > this.limits.maxLineBytes) throw new RespProtocolError(`line longer than ${this.limits.maxLineBytes} bytes`);
          for (let i = at; i < end; i++) this.line += String.fromCharCode(data[i]!);
          this.countBytes(take);
          at = end;
          if (at < length) {
            at++;
            this.countBytes(1);
            this.state = State.LineLf;
          }
          break;
        }
        case State.LineLf: {
          this.countBytes(1);
          if (data[at++] !== LF) throw new RespProtocolError("expected LF after CR");
          this.onLine();
          break;
        }
        case State.Bulk: {
          const take = Math.min(this.bulkRemaining, length - at);
          // The chunk is lent for this call only: what is kept is copied.
          this.bulkParts.push(keepBytes(data.subarray(at, at + take)));
          this.countBytes(take);
          at += take;
          this.bulkRemaining -= take;
          if (this.bulkRemaining === 0) this.state = State.BulkCr;
          break;
        }
        case State.BulkCr:
          this.countBytes(1);
          if (data[at++] !== CR) throw new RespProtocolError("bulk string longer than its length");
          this.state = State.BulkLf;
          break;
        case State.BulkLf: {
          this.countBytes(1);
          if (data[at++] !== LF) throw new RespProtocolError("expected LF after CR");
          const value = concatBytes(this.bulkParts, this.bulkLength);
          this.bulkParts = [];
          this.state = State.Type;
          this.emit({ type: "bulk", value });
          break;
        }
      }
    }
  }

  private countBytes(n: number): void {
    this.valueBytes += n;
    if (this.valueBytes > this.limits.maxValueBytes) throw new RespProtocolError(`value longer than ${this.limits.maxValueBytes} bytes`);
  }

  private onLine(): void {
    this.state = State.Type;
    const line = this.line;
    switch (this.type) {
      case 0x2b:
        return this.emit({ type: "simple", value: line });
      case 0x2d:
        return this.emit({ type: "error", value: line });
      case 0x3a:
        return this.emit({ type: "integer", value: parseInteger(line) });
    }
    const count = parseInteger(line);
    if (count === -1n) return this.emit(RESP_NULL);
    if (count < 0n) throw new RespProtocolError(`invalid length ${line}`);
    if (this.type === 0x24) {
      if (count > BigInt(this.limits.maxBulkBytes)) throw new RespProtocolError(`bulk string of ${line} bytes is over the limit of ${this.limits.maxBulkBytes}`);
      this.bulkLength = this.bulkRemaining = Number(count);
      this.state = this.bulkRemaining === 0 ? State.BulkCr : State.Bulk;
      return;
    }
    if (count > BigInt(this.limits.maxArrayElements)) throw new RespProtocolError(`array of ${line} elements is over the limit of ${this.limits.maxArrayElements}`);
    if (count === 0n) return this.emit({ type: "array", value: [] });
    if (this.stack.length >= this.limits.maxDepth) throw new RespProtocolError(`arrays nested deeper than ${this.limits.maxDepth}`);
    this.stack.push({ items: [], remaining: Number(count) });
  }

  private emit(value: RespValue): void {
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (top === undefined) {
        this.valueBytes = 0;
        this.onValue(value);
        return;
      }
      top.items.push(value);
      if (--top.remaining > 0) return;
      this.stack.pop();
      value = { type: "array", value: top.items };
    }
  }
}

/** A signed 64-bit decimal, as Envoy's decoder reads lengths and integers: digits, one leading '-'. */
function parseInteger(line: string): bigint {
  if (!/^-?[0-9]{1,19}$/.test(line)) throw new RespProtocolError(`invalid integer '${line}'`);
  const value = BigInt(line);
  if (value > 9223372036854775807n || value < -9223372036854775808n) throw new RespProtocolError(`invalid integer '${line}'`);
  return value;
}
