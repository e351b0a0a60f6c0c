/** B3 extraction and injection (Envoy's span_context_extractor.cc and ZipkinSpan::injectContext). */
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { B3Error, extractSampled, extractSpanContext, injectB3 } from "../../../core/tracing/b3.ts";
import { RequestHeaders } from "../../../core/http/message.ts";

const headers = (fields: Record<string, string>) => {
  const h = new RequestHeaders();
  for (const [name, value] of Object.entries(fields)) h.set(name, value);
  return h;
};
const T = "463ac35c9f6413ad";
const TH = "48485a3953bb6124";
const S = "a2fb4a1d1a96d312";
const P = "0020000000000001";

describe("B3 context", () => {
  test("multi-header: 64- and 128-bit trace ids, parent, sampled; short ids padded", () => {
    expect(extractSpanContext(headers({ "x-b3-traceid": T, "x-b3-spanid": S, "x-b3-parentspanid": P }), true)).toEqual({ traceIdHigh: undefined, traceId: T, id: S, parentId: P, sampled: true });
    expect(extractSpanContext(headers({ "x-b3-traceid": TH + T, "x-b3-spanid": S }), false)).toEqual({ traceIdHigh: TH, traceId: T, id: S, parentId: undefined, sampled: false });
    expect(extractSpanContext(headers({ "x-b3-traceid": "ABC", "x-b3-spanid": "1" }), true)).toMatchObject({ traceId: "0000000000000abc", id: "0000000000000001" });
    // Without both ids: no context.
    expect(extractSpanContext(headers({ "x-b3-traceid": T }), true)).toBeUndefined();
    expect(() => extractSpanContext(headers({ "x-b3-traceid": "xyz", "x-b3-spanid": S }), true)).toThrow(B3Error);
    expect(() => extractSpanContext(headers({ "x-b3-traceid": T, "x-b3-spanid": S, "x-b3-parentspanid": "nothex" }), true)).toThrow("Invalid parent span id nothex");
  });

  test("x-b3-sampled: 1 or true sample, anything else does not, absent leaves the local decision", () => {
    expect(extractSampled(headers({ "x-b3-sampled": "1" }))).toBe(true);
    expect(extractSampled(headers({ "x-b3-sampled": "true" }))).toBe(true);
    expect(extractSampled(headers({ "x-b3-sampled": "0" }))).toBe(false);
    expect(extractSampled(headers({}))).toBeUndefined();
  });

  test("single b3 header: every form, flag by length, the b3 header before the others", () => {
    expect(extractSpanContext(headers({ b3: `${T}-${S}` }), true)).toEqual({ traceIdHigh: undefined, traceId: T, id: S, parentId: undefined, sampled: true });
    expect(extractSpanContext(headers({ b3: `${TH}${T}-${S}-1-${P}` }), true)).toEqual({ traceIdHigh: TH, traceId: T, id: S, parentId: P, sampled: true });
    expect(extractSampled(headers({ b3: `${T}-${S}-0` }))).toBe(false);
    expect(extractSampled(headers({ b3: `${T}-${S}-d-${P}` }))).toBe(true);
    expect(extractSampled(headers({ b3: `${TH}${T}-${S}-0-${P}`, "x-b3-sampled": "1" }))).toBe(false);
    expect(extractSampled(headers({ b3: "0" }))).toBe(false);
    expect(extractSpanContext(headers({ b3: "1" }), true)).toBeUndefined();
    expect(extractSpanContext(headers({ b3: `${T}-${S}`, "x-b3-traceid": TH, "x-b3-spanid": P }), true)?.id).toBe(S);
    for (const bad of ["", "x", `${T}-${S}-`, `${T}-${S}-2`, `${T}-${S}-1-${P}0`, `${T}x${S}`, `${T}-${S}-11`, `${TH}${T}-${S}-1-${P}-1`]) {
      expect(() => extractSpanContext(headers({ b3: bad }), true), bad).toThrow(B3Error);
    }
  });

  test("fast-check: what injectB3 writes is read back as it was; any b3 header either parses to 16-digit ids or is refused", () => {
    const hex16 = fc.stringMatching(/^[0-9a-f]{16}$/);
    fc.assert(
      fc.property(fc.option(hex16, { nil: undefined }), hex16, hex16, fc.option(hex16, { nil: undefined }), fc.boolean(), (traceIdHigh, traceId, id, parentId, sampled) => {
        const h = new RequestHeaders();
        injectB3(h, { traceIdHigh, traceId, id, parentId, sampled });
        expect(extractSampled(h)).toBe(sampled);
        expect(extractSpanContext(h, sampled)).toEqual({ traceIdHigh, traceId, id, parentId, sampled });
        // The same context as one b3 header.
        const single = `${traceIdHigh ?? ""}${traceId}-${id}-${sampled ? "1" : "0"}${parentId !== undefined ? `-${parentId}` : ""}`;
        expect(extractSampled(headers({ b3: single }))).toBe(sampled);
        expect(extractSpanContext(headers({ b3: single }), sampled)).toEqual({ traceIdHigh, traceId, id, parentId, sampled });
      }),
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-fA-F\-01dx]{0,70}$/), (b3) => {
        let context;
        try {
          context = extractSpanContext(headers({ b3 }), true);
        } catch (e) {
          expect(e).toBeInstanceOf(B3Error);
          return;
        }
        if (context === undefined) {
          expect(b3).toMatch(/^[01d]$/);
          return;
        }
        for (const id of [context.traceId, context.id, context.traceIdHigh, context.parentId]) if (id !== undefined) expect(id).toMatch(/^[0-9a-f]{16}$/);
      }),
    );
  });
});
