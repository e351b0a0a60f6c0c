/** chooseEncoding (core/http/filters/encoding-decision.ts): Envoy's CompressorFilter::chooseEncoding cases. */
import { describe, expect, test } from "vitest";
import { chooseEncoding, HeaderStat, type CompressorInChainConfig } from "../../../../core/http/filters/encoding-decision.ts";

const TYPES = new Set(["text/html", "application/json"]);
const gzip: CompressorInChainConfig = { contentEncoding: "gzip", chooseFirst: false, responseContentTypes: TYPES };
const br: CompressorInChainConfig = { contentEncoding: "br", chooseFirst: false, responseContentTypes: TYPES };

describe("chooseEncoding", () => {
  test.each([
    // [accept-encoding, chain, expected encoding, stat]
    ["gzip", [gzip], "gzip", HeaderStat.ValidCompressor],
    ["br, gzip", [gzip, br], "br", HeaderStat.ValidCompressor],
    ["br;q=0.5, gzip", [gzip, br], "gzip", HeaderStat.ValidCompressor],
    ["gzip;Q=.5,br;q=0.75", [gzip, br], "br", HeaderStat.ValidCompressor],
    ["*", [br, gzip], "br", HeaderStat.Wildcard],
    ["*", [gzip, br], "gzip", HeaderStat.Wildcard],
    ["*;q=0.5, identity", [gzip], "identity", HeaderStat.Identity],
    ["gzip;q=0, *", [gzip], "identity", HeaderStat.NotValid],
    ["gzip;q=0, *", [gzip, br], "br", HeaderStat.Wildcard],
    ["", [gzip], "identity", HeaderStat.NotValid],
    ["deflate", [gzip], "identity", HeaderStat.NotValid],
    ["identity;q=0", [gzip], "identity", HeaderStat.NotValid],
    // An unparseable q-value: the token is skipped.
    ["gzip;q=abc", [gzip], "identity", HeaderStat.NotValid],
    // Parameters other than q are ignored; names are case-sensitive, as in Envoy's map.
    ["gzip;level=1", [gzip], "gzip", HeaderStat.ValidCompressor],
    ["GZIP", [gzip], "identity", HeaderStat.NotValid],
  ] as const)("Accept-Encoding %j → %s", (acceptEncoding, chain, encoding, stat) => {
    expect(chooseEncoding(acceptEncoding, "text/html", chain)).toEqual({ encoding, stat });
  });

  test("equal q-values: the first listed wins, unless another compressor has choose_first", () => {
    expect(chooseEncoding("gzip, br", "text/html", [gzip, br]).encoding).toBe("gzip");
    expect(chooseEncoding("gzip, br", "text/html", [gzip, { ...br, chooseFirst: true }]).encoding).toBe("br");
  });

  test("a compressor that would not compress the content type takes no part", () => {
    const jsOnly: CompressorInChainConfig = { ...br, responseContentTypes: new Set(["application/javascript"]) };
    expect(chooseEncoding("br, gzip;q=0.5", "text/html; charset=utf-8", [gzip, jsOnly]).encoding).toBe("gzip");
    expect(chooseEncoding("br, gzip;q=0.5", "Application/Javascript", [gzip, jsOnly]).encoding).toBe("br");
    // No content type: every compressor counts.
    expect(chooseEncoding("br, gzip;q=0.5", undefined, [gzip, jsOnly]).encoding).toBe("br");
  });
});
