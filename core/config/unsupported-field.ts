/**
 * A field Envoy has and polyvoy does not implement yet: accepted only at its default
 * (absent, or the value that means "off"), anything else is an error naming why — never
 * accepted and ignored. The issue carries the refusal (`params`), and describe-issues.ts
 * words it as the taxonomy's (a) at the object holding the field (refusal.ts).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { lazySchema } from "./lazy-schema.ts";
import { SUPPORTED_FIELDS_DOC, unsupportedValueMessage } from "./refusal.ts";

/** The `params` key of an issue that refuses the field at its path. */
export const REFUSED_FIELD = "polyvoyRefusedField";

/** The issue for the field at `path` (relative to the refinement), refused for `why`. */
export function refuseField(ctx: z.RefinementCtx, why: string | undefined, path?: PropertyKey[]): void {
  const message = `is an Envoy field that polyvoy does not support yet (${why ?? `supported fields: ${SUPPORTED_FIELDS_DOC}`})`;
  ctx.addIssue({ code: "custom", message, params: { [REFUSED_FIELD]: why ?? "" }, ...(path ? { path } : {}) });
}

/**
 * `why` says what polyvoy lacks (or what to use instead); without it the line points at the
 * supported-fields list. Built on first use: most of these sit in schemas a given config
 * never checks, and one lazy wrapper is a quarter of the objects of the schema it stands for.
 */
export function unsupportedField(why?: string, isDefault: (value: unknown) => boolean = () => false) {
  // The optional outside the lazy: an absent field (the usual case) builds nothing.
  return lazySchema(() =>
    z.unknown().superRefine((value, ctx) => {
      if (value !== undefined && !isDefault(value)) refuseField(ctx, why);
    }),
  ).optional();
}

/** The `params` key of an issue that refuses the value at its path (an Envoy enum value polyvoy lacks). */
export const REFUSED_VALUE = "polyvoyRefusedValue";

/**
 * A field polyvoy takes at some of Envoy's values only (`isSupported`); another is refused as the
 * taxonomy's (a) for a value, `detail` saying which are supported and why not the others.
 */
export function unsupportedValue(detail: string, isSupported: (value: unknown) => boolean) {
  return z
    .unknown()
    .optional()
    .superRefine((value, ctx) => {
      if (value !== undefined && !isSupported(value)) ctx.addIssue({ code: "custom", message: unsupportedValueMessage(typeof value === "string" ? value : JSON.stringify(value), detail), params: { [REFUSED_VALUE]: detail } });
    });
}

/** The default of a repeated field. */
export const isEmptyList = (value: unknown): boolean => Array.isArray(value) && value.length === 0;
/** The default of a bool. */
export const isFalse = (value: unknown): boolean => value === false;
