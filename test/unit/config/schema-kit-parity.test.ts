/**
 * core/config/schema-kit/ against zod 4.6 itself: the same schema, built with each, gives
 * the same result for the same input: success, output (values and key order) and issues
 * (code, path, message, every other field, input with reportInput). describe-issues.ts
 * turns those issues into the user's problem lines, so the kit must raise zod's.
 */
import { describe, expect, test } from "vitest";
import * as zod from "zod";
import * as kit from "../../../core/config/schema-kit/index.ts";

// Both namespaces have the API the builders use; typed loosely so one builder serves both.
type Z = any;

const CASES: [string, (z: Z) => unknown, unknown[]][] = [
  ["string min/max/regex", (z) => z.string().min(2).max(4).regex(/^[a-z]+$/, { message: "lower case" }), ["ab", "a", "abcde", "AB", 3, undefined, "Ab1234"]],
  ["number int min max", (z) => z.number().int().min(1).max(10), [5, 0, 11, 1.5, "5", NaN, Infinity, 2 ** 60, -(2 ** 60)]],
  ["strict object", (z) => z.strictObject({ a: z.string(), b: z.number().optional(), c: z.boolean().default(false) }), [{ a: "x" }, { a: 1, d: 2, e: 3 }, {}, { b: undefined, a: "x" }, null, [], "x"]],
  ["loose object", (z) => z.looseObject({ a: z.string().default("d") }), [{}, { a: "x", z: 1, y: undefined }, { a: 2 }]],
  ["key order", (z) => z.strictObject({ b: z.string().default("b"), a: z.string().optional(), c: z.number().default(1) }), [{ a: "x" }, { c: 2, a: "y", b: "z" }]],
  ["union", (z) => z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]), [1, "12", "x", true, undefined]],
  ["union: the one option past its type test speaks", (z) => z.union([z.number().min(5), z.string()]), [3, 7, "x", true]],
  ["union of objects", (z) => z.union([z.strictObject({ a: z.string() }), z.strictObject({ b: z.number() })]), [{ a: "x" }, { b: 1 }, { a: 1 }, { c: 1 }, { a: "x", b: 1 }]],
  ["pipe", (z) => z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).pipe(z.number().int().min(1).max(65535)), [80, "443", 0, "70000", "x", 1.5]],
  ["enum", (z) => z.enum(["A", "B", "C"]), ["A", "D", 1, undefined]],
  ["enum with message", (z) => z.enum(["V3"], { message: "only V3" }).optional(), ["V3", "V2", undefined]],
  ["literal", (z) => z.literal(false, { message: "not supported" }), [false, true]],
  ["literals", (z) => z.literal(["x", 1]), ["x", 1, 2]],
  ["array", (z) => z.array(z.string().min(1)).min(1).max(2), [["a"], [], ["a", ""], ["a", "b", "c"], [1, 2, 3], "a"]],
  ["record", (z) => z.record(z.string().min(1), z.number()), [{ a: 1 }, { "": 1 }, { a: "x" }, [], null]],
  ["refine", (z) => z.number().refine((n: number) => n > 0, { message: "must be > 0", path: ["x"] }).default(5), [1, 0, undefined, "a"]],
  [
    "superRefine",
    (z) =>
      z.strictObject({ a: z.number(), b: z.number() }).superRefine((v: { a: number; b: number }, ctx: Z) => {
        if (v.a > v.b) ctx.addIssue({ code: "custom", message: "a > b", path: ["a"] });
      }),
    [{ a: 1, b: 2 }, { a: 3, b: 2 }, { a: "x", b: 2 }],
  ],
  [
    "transform with addIssue",
    (z) =>
      z.string().transform((s: string, ctx: Z) => {
        if (s === "bad") {
          ctx.addIssue({ code: "custom", message: "bad value" });
          return z.NEVER;
        }
        return s.length;
      }),
    ["ok", "bad", 1],
  ],
  ["catch", (z) => z.number().catch(7), [1, "x"]],
  ["prefault", (z) => z.strictObject({ o: z.strictObject({ n: z.number().default(3) }).prefault({}) }), [{}, { o: { n: 1 } }, { o: { m: 1 } }]],
  ["optional over default", (z) => z.strictObject({ d: z.string().default("x").optional() }), [{}, { d: "y" }, { d: 1 }]],
  ["unknown field", (z) => z.strictObject({ u: z.unknown(), v: z.unknown().optional() }), [{}, { u: 1 }, { u: undefined }]],
  ["lazy", (z) => z.strictObject({ l: z.lazy(() => z.strictObject({ n: z.number() })).optional() }), [{}, { l: { n: 1 } }, { l: { n: "x" } }]],
  ["ip", (z) => z.union([z.ipv4(), z.ipv6()]), ["127.0.0.1", "::1", "fe80::1%eth0", "1.2.3", "2001:db8::8a2e:370:7334", "::ffff:1.2.3.4", 5]],
  ["trim toLowerCase includes endsWith", (z) => z.string().trim().toLowerCase().includes("b").endsWith("c"), [" ABC ", "x", "abd"]],
  ["never", (z) => z.strictObject({ n: z.never().optional() }), [{}, { n: 1 }]],
  ["transform order with default", (z) => z.strictObject({ t: z.string().transform((s: string) => s.toUpperCase()).default("dflt") }), [{}, { t: "x" }]],
];

/** A result as comparable data: the error's issues read, the rest as is. */
function outcome(schema: { safeParse(data: unknown, params?: object): { success: boolean; data?: unknown; error?: { issues: unknown[] } } }, input: unknown) {
  const result = schema.safeParse(input, { reportInput: true });
  return result.success ? { success: true, data: result.data, keys: typeof result.data === "object" && result.data !== null ? Object.keys(result.data) : [] } : { success: false, issues: result.error!.issues };
}

describe("the schema kit gives zod 4.6's results", () => {
  for (const [name, build, inputs] of CASES) {
    test(name, () => {
      const zodSchema = build(zod) as Parameters<typeof outcome>[0];
      const kitSchema = build(kit) as Parameters<typeof outcome>[0];
      for (const input of inputs) expect(outcome(kitSchema, input), JSON.stringify(input)).toEqual(outcome(zodSchema, input));
    });
  }
});
