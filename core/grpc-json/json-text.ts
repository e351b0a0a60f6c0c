/**
 * A request body's JSON text as the value the codec (json-to-proto.ts) takes, read as
 * protobuf's JsonStreamParser reads it for Envoy's transcoder (protobuf's
 * util/internal/json_stream_parser.cc): its leniencies (single-quoted strings, unquoted
 * object keys) and its errors, "<reason>\n<context>\n<spaces>^" — the context up to 20
 * characters either side of where it stopped. An integer beyond 2^53 stays exact, a bigint
 * (the codec reads it as an exact integer, as protobuf does the token).
 *
 * Envoy feeds the parser the body as it arrives; an error at the end of the input is
 * worded "Unexpected end of string. …" with an empty context, as Envoy's is when the
 * body's last chunk ended where a token did.
 */

/** JsonStreamParser's limit on nesting, and so on this parser's recursion. */
const MAX_DEPTH = 100;
const CONTEXT = 20;

export class JsonTextError extends Error {}

export function parseJsonText(text: string): unknown {
  return new Parser(text).parseDocument();
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const KEY = /[A-Za-z_$][A-Za-z0-9_$]*/y;
const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;
const HEX4 = /^[0-9A-Fa-f]{4}$/;
const BACKSLASH = 0x5c;
const SIMPLE_ESCAPES = new Map<string, string>([['"', '"'], ["'", "'"], ["\\", "\\"], ["/", "/"], ["b", "\b"], ["f", "\f"], ["n", "\n"], ["r", "\r"], ["t", "\t"]]);
const WORDS = [["true", true], ["false", false], ["null", null]] as const;

class Parser {
  private at = 0;

  constructor(private readonly text: string) {}

  parseDocument(): unknown {
    const value = this.value(0);
    this.space();
    if (this.at < this.text.length) this.fail("Parsing terminated before end of input.");
    return value;
  }

  private value(depth: number): unknown {
    this.space();
    const c = this.text[this.at];
    if (c === undefined) this.end("Expected a value.");
    if (c === "{") return this.object(depth + 1);
    if (c === "[") return this.array(depth + 1);
    if (c === '"' || c === "'") return this.string();
    if (c === "-" || (c >= "0" && c <= "9")) return this.number();
    for (const [word, value] of WORDS) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return value;
      }
    }
    return this.fail("Expected a value.");
  }

  private object(depth: number): Record<string, unknown> {
    if (depth > MAX_DEPTH) this.fail("Message too deep. Max recursion depth reached.");
    this.at++;
    const out: Record<string, unknown> = {};
    this.space();
    if (this.text[this.at] === "}") {
      this.at++;
      return out;
    }
    for (;;) {
      this.space();
      const c = this.text[this.at];
      let key: string;
      if (c === undefined) this.end("Expected an object key or }.");
      if (c === '"' || c === "'") key = this.string();
      else {
        KEY.lastIndex = this.at;
        const m = KEY.exec(this.text);
        if (m === null) return this.fail("Expected an object key or }.");
        key = m[0];
        this.at += key.length;
      }
      this.space();
      if (this.at >= this.text.length) this.end("Expected : between key:value pair.");
      if (this.text[this.at] !== ":") this.fail("Expected : between key:value pair.");
      this.at++;
      const value = this.value(depth);
      // "__proto__" is a key like any other (an own property, as JSON.parse makes it).
      if (key === "__proto__") Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      else out[key] = value;
      this.space();
      const next = this.text[this.at];
      if (next === undefined) this.end("Expected , or } after key:value pair.");
      this.at++;
      if (next === "}") return out;
      if (next !== ",") {
        this.at--;
        this.fail("Expected , or } after key:value pair.");
      }
    }
  }

  private array(depth: number): unknown[] {
    if (depth > MAX_DEPTH) this.fail("Message too deep. Max recursion depth reached.");
    this.at++;
    const out: unknown[] = [];
    this.space();
    if (this.text[this.at] === "]") {
      this.at++;
      return out;
    }
    if (this.at >= this.text.length) this.end("Expected a value or ] within an array.");
    for (;;) {
      out.push(this.value(depth));
      this.space();
      const next = this.text[this.at];
      if (next === undefined) this.end("Expected , or ] after array value.");
      this.at++;
      if (next === "]") return out;
      if (next !== ",") {
        this.at--;
        this.fail("Expected , or ] after array value.");
      }
    }
  }

  private string(): string {
    const text = this.text;
    const quote = text.charCodeAt(this.at);
    const start = this.at;
    this.at++;
    let out = "";
    for (;;) {
      // A run of plain characters is copied at once (a string per character costs ~100× JSON.parse).
      let end = this.at;
      let c = text.charCodeAt(end);
      while (c !== quote && c !== BACKSLASH && end < text.length) c = text.charCodeAt(++end);
      if (end > this.at) out += text.slice(this.at, end);
      this.at = end;
      if (end >= text.length) {
        this.at = start;
        return this.fail("Closing quote expected in string.");
      }
      if (c === quote) {
        this.at++;
        return out;
      }
      const e = text[this.at + 1];
      const simple = e === undefined ? undefined : SIMPLE_ESCAPES.get(e);
      if (simple !== undefined) {
        out += simple;
        this.at += 2;
      } else if (e === "u") {
        const hex = text.slice(this.at + 2, this.at + 6);
        if (!HEX4.test(hex)) this.fail("Illegal hex string.");
        out += String.fromCharCode(parseInt(hex, 16));
        this.at += 6;
      } else {
        this.fail("Invalid escape sequence.");
      }
    }
  }

  private number(): number | bigint {
    NUMBER.lastIndex = this.at;
    const m = NUMBER.exec(this.text);
    if (m === null) return this.fail("Unable to parse number.");
    this.at += m[0].length;
    const n = Number(m[0]);
    // Beyond 2^53 a double is not the integer: a bigint is.
    if (!Number.isSafeInteger(n) && INTEGER.test(m[0])) return BigInt(m[0]);
    return n;
  }

  private space(): void {
    const text = this.text;
    let at = this.at;
    for (;;) {
      const c = text.charCodeAt(at);
      // NaN past the end.
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      at++;
    }
    this.at = at;
  }

  /** An error at the end of the input. */
  private end(reason: string): never {
    throw new JsonTextError(`Unexpected end of string. ${reason}\n\n^`);
  }

  private fail(reason: string): never {
    const begin = Math.max(0, this.at - CONTEXT);
    const end = Math.min(this.text.length, this.at + CONTEXT);
    throw new JsonTextError(`${reason}\n${this.text.slice(begin, end)}\n${" ".repeat(this.at - begin)}^`);
  }
}
