/**
 * http_inspector's request-line sniffer: the verdicts on whole inputs, and the same verdict
 * whatever pieces the bytes arrive in (it reads only what it has not seen before).
 */
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { RequestLineSniffer } from "../../../core/network/listener-filters/http-inspector.ts";

const bytes = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const once = (input: Uint8Array) => new RequestLineSniffer().inspect(input);

/** Feeds growing prefixes ending at each cut, as the listener's peek buffer grows; the first decided verdict. */
function inPieces(input: Uint8Array, cuts: number[]) {
  const sniffer = new RequestLineSniffer();
  for (const end of [...cuts, input.length]) {
    const verdict = sniffer.inspect(input.subarray(0, end));
    if (verdict !== "more") return verdict;
  }
  return "more";
}

describe("RequestLineSniffer", () => {
  test.each([
    ["GET / HTTP/1.1\r\n", "http/1.1"],
    ["GET / HTTP/1.0\r\n", "http/1.0"],
    ["GET /\n", undefined],
    ["PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "h2c"],
    ["PRI * HTTP/2.0\r\n", "more"],
    ["GET / HTTP/1.1", "more"],
    ["", "more"],
    [" GET / HTTP/1.1\r\n", undefined],
    ["G(T / HTTP/1.1\r\n", undefined],
    ["GET  / HTTP/1.1\r\n", undefined],
    ["GET / HTTP/1.1 x", undefined],
    ["GET / SPDY/3\r\n", undefined],
    ["\r\nGET / HTTP/1.1\r\n", undefined],
    ["\x16\x03\x01\x02\x00", undefined],
  ])("%j → %s", (input, verdict) => {
    expect(once(bytes(input))).toBe(verdict);
  });

  test("any input cut anywhere gets the verdict it gets whole", () => {
    const piece = fc.oneof(
      fc.constantFrom("GET", "POST", " ", "/", "/a?b=c", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "\r", "\n", "\r\n", "PRI * ", "SM", "("),
      fc.string({ maxLength: 4 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 6 }), (pieces, rawCuts) => {
        const input = bytes(pieces.join("").replace(/[^\x00-\xff]/g, "?"));
        const cuts = rawCuts.map((n) => n % (input.length + 1)).sort((a, b) => a - b);
        const whole = once(input);
        const pieced = inPieces(input, cuts);
        // Pieces may decide earlier (not-HTTP shows before the line ends), never differently.
        if (pieced !== whole) expect([pieced, whole]).toEqual([undefined, "more"]);
      }),
      { numRuns: 2000 },
    );
  });
});
