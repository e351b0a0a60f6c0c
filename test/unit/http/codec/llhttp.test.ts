/**
 * The llhttp driver (core/http/codec/llhttp.ts): one WebAssembly instance and one input
 * buffer shared by every parser, so interleaving, nesting and freeing must be safe.
 */
import { describe, expect, test } from "vitest";
import {
  HEADERS_PROCEED,
  HPE_OK,
  HPE_PAUSED,
  HPE_PAUSED_UPGRADE,
  LlhttpParser,
  PARSER_REQUEST,
  PARSER_RESPONSE,
  type LlhttpHandler,
} from "../../../../core/http/codec/llhttp.ts";

const bytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const latin1 = (data: Uint8Array): string => Array.from(data, (b) => String.fromCharCode(b)).join("");

/** Records events as strings, slicing spans out of the chunk it is told about. */
class Log implements LlhttpHandler {
  events: string[] = [];
  chunk: Uint8Array = new Uint8Array(0);
  onComplete: () => number = () => HPE_OK;
  onHeaders: () => number = () => HEADERS_PROCEED;
  private span(kind: string, start: number, end: number): number {
    this.events.push(`${kind}:${latin1(this.chunk.subarray(start, end))}`);
    return HPE_OK;
  }
  onMessageBegin(): number {
    this.events.push("begin");
    return HPE_OK;
  }
  onUrl(start: number, end: number): number {
    return this.span("url", start, end);
  }
  onStatus(start: number, end: number): number {
    return this.span("status", start, end);
  }
  onHeaderField(start: number, end: number): number {
    return this.span("field", start, end);
  }
  onHeaderValue(start: number, end: number): number {
    return this.span("value", start, end);
  }
  onHeadersComplete(status: number, upgrade: boolean, keepAlive: boolean): number {
    this.events.push(`headers:${status}:${upgrade}:${keepAlive}`);
    return this.onHeaders();
  }
  onBody(start: number, end: number): number {
    return this.span("body", start, end);
  }
  onMessageComplete(): number {
    this.events.push("complete");
    return this.onComplete();
  }
  /** Spans merged, so chunking does not matter. */
  get merged(): string[] {
    const out: string[] = [];
    for (const event of this.events) {
      const [kind] = event.split(":", 1);
      const last = out[out.length - 1];
      if (last !== undefined && ["url", "status", "field", "value", "body"].includes(kind!) && last.startsWith(`${kind}:`)) {
        out[out.length - 1] = last + event.slice(kind!.length + 1);
      } else {
        out.push(event);
      }
    }
    return out;
  }
}

function execute(parser: LlhttpParser, log: Log, text: string | Uint8Array): number {
  log.chunk = typeof text === "string" ? bytes(text) : text;
  return parser.execute(log.chunk);
}

describe("llhttp driver", () => {
  test("parses a request: spans, method, version, keep-alive", () => {
    const log = new Log();
    const parser = new LlhttpParser(PARSER_REQUEST, log);
    expect(execute(parser, log, "PUT /x HTTP/1.0\r\nA: 1\r\nContent-Length: 2\r\n\r\nhi")).toBe(HPE_OK);
    expect(log.events).toEqual(["begin", "url:/x", "field:A", "value:1", "field:Content-Length", "value:2", "headers:0:false:false", "body:hi", "complete"]);
    expect(parser.method).toBe("PUT");
    expect(parser.httpMinor).toBe(0);
    parser.destroy();
  });

  test("parses a response; needsEof for a body without framing", () => {
    const log = new Log();
    const parser = new LlhttpParser(PARSER_RESPONSE, log);
    expect(execute(parser, log, "HTTP/1.1 200 OK\r\n\r\nabc")).toBe(HPE_OK);
    expect(log.events).toEqual(["begin", "status:OK", "headers:200:false:false", "body:abc"]);
    expect(parser.needsEof).toBe(true);
    expect(parser.finish()).toBe(HPE_OK);
    expect(log.events.at(-1)).toBe("complete");
    parser.destroy();
  });

  test("a pause from on_message_complete stops right after the message; stoppedAt points at the rest", () => {
    const log = new Log();
    log.onComplete = () => HPE_PAUSED;
    const parser = new LlhttpParser(PARSER_REQUEST, log);
    const first = "GET /a HTTP/1.1\r\n\r\n";
    expect(execute(parser, log, `${first}GET /b HTTP/1.1\r\n\r\n`)).toBe(HPE_PAUSED);
    expect(parser.stoppedAt).toBe(first.length);
    parser.resume();
    expect(execute(parser, log, log.chunk.subarray(parser.stoppedAt))).toBe(HPE_PAUSED);
    expect(log.events.filter((e) => e.startsWith("url"))).toEqual(["url:/a", "url:/b"]);
    parser.destroy();
  });

  test("an upgrade head completes as a message, then pauses with HPE_PAUSED_UPGRADE at the raw bytes", () => {
    const log = new Log();
    const parser = new LlhttpParser(PARSER_REQUEST, log);
    const head = "GET / HTTP/1.1\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n";
    expect(execute(parser, log, `${head}RAW`)).toBe(HPE_PAUSED_UPGRADE);
    expect(log.events.slice(-2)).toEqual(["headers:0:true:true", "complete"]);
    expect(parser.stoppedAt).toBe(head.length);
    parser.destroy();
  });

  test("errors carry llhttp's reason", () => {
    const log = new Log();
    const parser = new LlhttpParser(PARSER_REQUEST, log);
    const errno = execute(parser, log, "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
    expect(errno).not.toBe(HPE_OK);
    expect(parser.errorReason).toMatch(/Content-Length|Transfer-Encoding/i);
    parser.destroy();
  });

  test("interleaved parsers keep their own state through the shared buffer", () => {
    const logs = [new Log(), new Log(), new Log()];
    const parsers = logs.map((log) => new LlhttpParser(PARSER_REQUEST, log));
    const requests = logs.map((_, i) => bytes(`POST /${i} HTTP/1.1\r\nX-Which: ${i}\r\nContent-Length: 5\r\n\r\nbody${i}`));
    for (let at = 0; at < requests[0]!.length; at += 3) {
      parsers.forEach((parser, i) => expect(execute(parser, logs[i]!, requests[i]!.subarray(at, at + 3))).toBe(HPE_OK));
    }
    logs.forEach((log, i) => expect(log.merged).toEqual(["begin", `url:/${i}`, "field:X-Which", `value:${i}`, "field:Content-Length", "value:5", "headers:0:false:true", `body:body${i}`, "complete"]));
    parsers.forEach((p) => p.destroy());
  });

  test("a chunk larger than the buffer grows it; spans stay right", () => {
    const log = new Log();
    const parser = new LlhttpParser(PARSER_REQUEST, log);
    const body = "b".repeat(200_000);
    expect(execute(parser, log, `POST / HTTP/1.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`)).toBe(HPE_OK);
    expect(log.merged.at(-2)).toBe(`body:${body}`);
    parser.destroy();
  });

  test("a callback may execute another parser (nested): both parse correctly", () => {
    // An upstream response completing resumes the downstream codec from inside llhttp.
    const outer = new Log();
    const inner = new Log();
    const innerParser = new LlhttpParser(PARSER_REQUEST, inner);
    const outerParser = new LlhttpParser(PARSER_RESPONSE, outer);
    const big = "i".repeat(40_000); // bigger than the shared buffer's first size
    outer.onHeaders = () => {
      expect(execute(innerParser, inner, `POST /inner HTTP/1.1\r\nContent-Length: ${big.length}\r\n\r\n${big}`)).toBe(HPE_OK);
      return HEADERS_PROCEED;
    };
    const response = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
    expect(execute(outerParser, outer, response)).toBe(HPE_OK);
    expect(outer.merged).toEqual(["begin", "status:OK", "field:Content-Length", "value:10", "headers:200:false:true", "body:0123456789", "complete"]);
    expect(inner.merged).toEqual(["begin", "url:/inner", "field:Content-Length", `value:${big.length}`, "headers:0:false:true", `body:${big}`, "complete"]);
    // And after it, the shared buffer still serves both.
    expect(execute(outerParser, outer, "HTTP/1.1 204 No Content\r\n\r\n")).toBe(HPE_OK);
    expect(outer.events.at(-1)).toBe("complete");
    innerParser.destroy();
    outerParser.destroy();
  });

  test("destroy from inside the parser's own callback is deferred until llhttp returns", () => {
    // llhttp writes the parser's state after the callback returns: freed at once, that
    // memory could already belong to a parser allocated in the same callback.
    const log = new Log();
    const other = new Log();
    const parser = new LlhttpParser(PARSER_REQUEST, log);
    let second: LlhttpParser | undefined;
    log.onComplete = () => {
      parser.destroy();
      parser.destroy(); // twice is harmless
      second = new LlhttpParser(PARSER_REQUEST, other);
      return HPE_PAUSED;
    };
    expect(execute(parser, log, "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n")).toBe(HPE_PAUSED);
    // Freed now: nothing more is parsed, and the parser made meanwhile is unaffected.
    expect(execute(parser, log, "GET / HTTP/1.1\r\n\r\n")).not.toBe(HPE_OK);
    expect(execute(second!, other, "GET /ok HTTP/1.1\r\n\r\n")).toBe(HPE_OK);
    expect(other.events).toContain("url:/ok");
    second!.destroy();
  });

  test("many parsers allocated and freed do not leak the instance's memory", () => {
    const log = new Log();
    for (let i = 0; i < 20_000; i++) {
      const parser = new LlhttpParser(i % 2 ? PARSER_REQUEST : PARSER_RESPONSE, log);
      parser.destroy();
    }
    const parser = new LlhttpParser(PARSER_REQUEST, log);
    expect(execute(parser, log, "GET / HTTP/1.1\r\n\r\n")).toBe(HPE_OK);
    parser.destroy();
  });
});
