/**
 * A client-streaming request's body, a JSON array, cut into its elements as its bytes
 * arrive, so that each becomes a gRPC message as soon as it is whole (Envoy's
 * JsonRequestTranslator in streaming mode sends each message when the parser finishes it).
 * Only the element being read is held. The cut is made on bytes: the JSON punctuation is
 * ASCII, which no byte of a multi-byte UTF-8 character is. Each element is then parsed on
 * its own (json-text.ts).
 */
import { JsonTextError } from "./json-text.ts";

const QUOTE = 0x22;
const APOSTROPHE = 0x27;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

export class JsonArrayStream {
  /** Before the '[', inside the array, after the ']'. */
  private state: "before" | "inside" | "after" = "before";
  private depth = 0;
  /** The quote of the string being read, or 0. */
  private quote = 0;
  private escaped = false;
  /** The element read so far. */
  private element: Uint8Array[] = [];
  private elementBytes = 0;
  /** The element has a byte that is not whitespace. */
  private elementStarted = false;

  /** Whether the body had any non-whitespace byte (an empty body is no message). */
  get empty(): boolean {
    return this.state === "before";
  }

  /** The bytes of each element `chunk` completes, in order; a JsonTextError when the body is no array. */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.state === "before") {
        if (isSpace(b)) continue;
        if (b !== OPEN_ARRAY) throw new JsonTextError("Expected a JSON array of messages for a client-streaming method.");
        this.state = "inside";
        from = i + 1;
        continue;
      }
      if (this.state === "after") {
        if (!isSpace(b)) throw new JsonTextError("Parsing terminated before end of input.");
        continue;
      }
      if (this.quote !== 0) {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === this.quote) this.quote = 0;
        continue;
      }
      if (b === QUOTE || b === APOSTROPHE) this.quote = b;
      else if (b === OPEN_ARRAY || b === OPEN_OBJECT) this.depth++;
      else if ((b === CLOSE_ARRAY || b === CLOSE_OBJECT) && this.depth > 0) this.depth--;
      else if (this.depth === 0 && (b === COMMA || b === CLOSE_ARRAY)) {
        this.keep(chunk.subarray(from, i));
        const element = this.take();
        from = i + 1;
        if (element === undefined) {
          // "[]" is no message; "[," or "[1,]" lacks a value.
          if (b === CLOSE_ARRAY && out.length === 0 && !this.hadElement) {
            this.state = "after";
            continue;
          }
          throw new JsonTextError("Expected a value.");
        }
        this.hadElement = true;
        out.push(element);
        if (b === CLOSE_ARRAY) this.state = "after";
        continue;
      }
      if (!isSpace(b)) this.elementStarted = true;
    }
    if (this.state === "inside") this.keep(chunk.subarray(from));
    return out;
  }

  /** Bytes held for the element being read (what max_request_body_size bounds). */
  get held(): number {
    return this.elementBytes;
  }

  /** The body ended: a JsonTextError unless the array was closed (or the body was empty). */
  finish(): void {
    if (this.state === "inside") throw new JsonTextError("Unexpected end of string. Expected , or ] after array value.\n\n^");
  }

  private hadElement = false;

  private keep(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    for (const b of bytes) {
      if (!isSpace(b)) {
        this.elementStarted = true;
        break;
      }
    }
    this.element.push(bytes.slice());
    this.elementBytes += bytes.length;
  }

  private take(): Uint8Array | undefined {
    const started = this.elementStarted;
    const chunks = this.element;
    const length = this.elementBytes;
    this.element = [];
    this.elementBytes = 0;
    this.elementStarted = false;
    if (!started) return undefined;
    const out = new Uint8Array(length);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}
