/**
 * header_to_metadata's regex_value_rewrite (core/http/filters/header-to-metadata.ts): the
 * rewrite applies, and its compiled pattern lives as long as its config, not until exit
 * (a cache by pattern text kept every pattern a reload or RDS update ever named).
 */
import { beforeAll, describe, expect, test } from "vitest";
import { loadRegexEngine } from "../../../../core/config/regex-engine.ts";
import type { DecoderFilterCallbacks } from "../../../../core/http/filter.ts";
import type { HeaderToMetadataConfig } from "../../../../core/config/bootstrap.ts";
import { HeaderToMetadataFilter } from "../../../../core/http/filters/header-to-metadata.ts";
import { RequestHeaders } from "../../../../core/http/message.ts";

/** Run the filter on a request whose x-v header is `value`; the metadata it wrote. */
function run(config: HeaderToMetadataConfig, value: string): Record<string, unknown> {
  const written: Record<string, unknown> = {};
  const callbacks = {
    mostSpecificPerFilterConfig: () => undefined,
    streamInfo: { setDynamicMetadata: (_namespace: string, fields: Record<string, unknown>) => Object.assign(written, fields) },
  } as unknown as DecoderFilterCallbacks;
  const filter = new HeaderToMetadataFilter(config);
  filter.setDecoderFilterCallbacks(callbacks);
  const headers = new RequestHeaders();
  headers.set("x-v", value);
  filter.decodeHeaders(headers, true);
  return written;
}

function rewriting(pattern: string): HeaderToMetadataConfig {
  return {
    requestRules: [{ header: "x-v", remove: false, onPresent: { namespace: "", key: "k", value: "", type: "STRING", base64: false, regexRewrite: { pattern, substitution: "\\1" } } }],
    responseRules: [],
  };
}

describe("header_to_metadata regex_value_rewrite", () => {
  beforeAll(() => loadRegexEngine());

  test("the header's value rewritten with the pattern's capture", () => {
    expect(run(rewriting("^v([0-9]+)-.*$"), "v12-beta")).toEqual({ k: "12" });
  });

  // Node's gc (v8 flag set at run time); Bun's and Deno's heaps are not measured the same way.
  const isNode = typeof (globalThis as { Bun?: unknown }).Bun === "undefined" && typeof (globalThis as { Deno?: unknown }).Deno === "undefined";
  test.runIf(isNode)("compiled patterns of configs gone are released: 1,000 configs' distinct patterns leave the heap as it was (56 MB kept by a cache by pattern text)", async () => {
    const v8 = await import("node:v8");
    const vm = await import("node:vm");
    v8.setFlagsFromString("--expose_gc");
    const gc = vm.runInNewContext("gc") as () => void;
    // Long patterns, each run once (its code compiled): kept, they weigh tens of MB.
    const tail = "(?:abcdefghij|klmnopqrst|uvwxyz0123){0,2}".repeat(3);
    for (let i = 0; i < 50; i++) run(rewriting(`^w${i}-([0-9]+)${tail}$`), `w${i}-1`);
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000; i++) expect(run(rewriting(`^p${i}-([0-9]+)${tail}$`), `p${i}-7`)).toEqual({ k: "7" });
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(grown).toBeLessThan(8 * 1024 * 1024);
  });
});
