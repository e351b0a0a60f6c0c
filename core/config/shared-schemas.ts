/**
 * Schemas that many messages' fields share, each built once when the loader loads instead
 * of once per field. Every zod method call builds a new schema (`z.boolean().default(false)`
 * is two, `z.string().min(1)` three, a strict object's catch-all one more), and building
 * them is most of what checking a small config costs; a zod schema holds no state of a
 * parse, so one object can stand in every field that would build an identical one (the
 * issues it reports take their path from where it is used).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";

/** A bool field, false when unset (proto3's default). */
export const boolFalse = z.boolean().default(false);
/** A BoolValue-like field whose default is true. */
export const boolTrue = z.boolean().default(true);
export const optionalBool = z.boolean().optional();
/** A string field, "" when unset (proto3's default). */
export const stringEmpty = z.string().default("");
export const optionalString = z.string().optional();
/** A required string (Envoy's `min_len: 1`). */
export const nonEmptyString = z.string().min(1);
export const optionalNonEmptyString = nonEmptyString.optional();

/** What refuses a key a strict object does not name: zod's z.strictObject makes a z.never() per object. */
let refuseOtherKeys: z.ZodNever | undefined;

/**
 * z.strictObject(shape) with one shared catch-all: the same object zod builds (zod's
 * v4/classic/schemas.js strictObject: an object whose catchall is a never), one object fewer.
 */
export const strictObject: typeof z.strictObject = (shape, params) =>
  new z.ZodObject({ type: "object", shape, catchall: (refuseOtherKeys ??= z.never()), ...z.util.normalizeParams(params) }) as never;
