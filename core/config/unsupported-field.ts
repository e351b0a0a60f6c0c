/**
 * A field Envoy has and polyvoy does not implement yet: accepted only at its default
 * (absent, or the value that means "off"), anything else is an error naming why — never
 * accepted and ignored.
 */
// Namespace import: under one runtime, vitest's module loader drops zod's `z` named export.
import * as z from "zod";
import { lazySchema } from "./lazy-schema.ts";

// Built on first use: most of these sit in schemas a given config never checks, and one
// lazy wrapper is a quarter of the objects of the schema it stands for.
export function unsupportedField(why: string, isDefault: (value: unknown) => boolean = () => false) {
  return lazySchema(() =>
    z
      .unknown()
      .optional()
      .superRefine((value, ctx) => {
        if (value !== undefined && !isDefault(value)) ctx.addIssue({ code: "custom", message: `not supported: ${why}` });
      }),
  );
}

/** The default of a repeated field. */
export const isEmptyList = (value: unknown): boolean => Array.isArray(value) && value.length === 0;
/** The default of a bool. */
export const isFalse = (value: unknown): boolean => value === false;
