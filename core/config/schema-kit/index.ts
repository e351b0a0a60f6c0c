/**
 * polyvoy's schema kit: the part of zod's API the config schemas use (`import * as z from
 * "./schema-kit/index.ts"`), with zod 4.6's issues, so the config loader needs no zod at
 * start (docs/performance.md, "A first start with a new config").
 */
import {
  kitConfig,
  normalizeParams,
  ZodArray,
  ZodBoolean,
  ZodEnum,
  ZodIPv4,
  ZodIPv6,
  ZodLazy,
  ZodLiteral,
  ZodNever,
  ZodNumber,
  ZodObject,
  ZodRecord,
  ZodString,
  ZodUnion,
  ZodUnknown,
  ZodType,
  type Params,
} from "./schemas.ts";

export {
  ZodArray,
  ZodBoolean,
  ZodCatch,
  ZodDefault,
  ZodEnum,
  ZodIPv4,
  ZodIPv6,
  ZodLazy,
  ZodLiteral,
  ZodNever,
  ZodNumber,
  ZodObject,
  ZodOptional,
  ZodPipe,
  ZodPrefault,
  ZodRecord,
  ZodString,
  ZodTransform,
  ZodType,
  ZodUnion,
  ZodUnknown,
  type infer,
  type input,
  type output,
  type RefinementCtx,
  type SafeParseResult,
} from "./schemas.ts";
export { ZodError } from "./issues.ts";
export * as core from "./core.ts";

type AnySchema = ZodType<any, any>;
type Shape = { readonly [key: string]: AnySchema };
type Primitive = string | number | bigint | boolean | null | undefined;

/** zod's z.NEVER: what a transform returns after adding an issue (its value is never used). */
export const NEVER = Object.freeze({ status: "aborted" }) as never;

/** zod's z.config(): here only the hook tests use to see each schema built. */
export function config(): typeof kitConfig {
  return kitConfig;
}

export const util = { normalizeParams };

export function string(params?: Params): ZodString {
  return new ZodString({ type: "string", ...normalizeParams(params) });
}
export function number(params?: Params): ZodNumber {
  return new ZodNumber({ type: "number", checks: [], ...normalizeParams(params) });
}
export function boolean(params?: Params): ZodBoolean {
  return new ZodBoolean({ type: "boolean", ...normalizeParams(params) });
}
export function unknown(): ZodUnknown {
  return new ZodUnknown({ type: "unknown" });
}
export function never(params?: Params): ZodNever {
  return new ZodNever({ type: "never", ...normalizeParams(params) });
}
export function ipv4(params?: Params): ZodIPv4 {
  return new ZodIPv4({ type: "string", format: "ipv4", check: "string_format", ...normalizeParams(params) });
}
export function ipv6(params?: Params): ZodIPv6 {
  return new ZodIPv6({ type: "string", format: "ipv6", check: "string_format", ...normalizeParams(params) });
}

function _enum<const T extends readonly string[]>(values: T, params?: Params): ZodEnum<T[number]> {
  const entries = Object.fromEntries(values.map((v) => [v, v]));
  return new ZodEnum<T[number]>({ type: "enum", entries, ...normalizeParams(params) });
}
export { _enum as enum };

export function literal<const T extends Primitive>(value: T | readonly T[], params?: Params): ZodLiteral<T> {
  return new ZodLiteral<T>({ type: "literal", values: Array.isArray(value) ? value : [value], ...normalizeParams(params) });
}

export function array<T extends AnySchema>(element: T, params?: Params): ZodArray<T> {
  return new ZodArray<T>({ type: "array", element, ...normalizeParams(params) });
}

export function strictObject<S extends Shape>(shape: S, params?: Params): ZodObject<S, "strict"> {
  return new ZodObject<S, "strict">({ type: "object", shape, catchall: never(), ...normalizeParams(params) });
}
export function looseObject<S extends Shape>(shape: S, params?: Params): ZodObject<S, "loose"> {
  return new ZodObject<S, "loose">({ type: "object", shape, catchall: unknown(), ...normalizeParams(params) });
}
export function object<S extends Shape>(shape: S, params?: Params): ZodObject<S, "strip"> {
  return new ZodObject<S, "strip">({ type: "object", shape, ...normalizeParams(params) });
}

export function union<const T extends readonly AnySchema[]>(options: T, params?: Params): ZodUnion<T> {
  return new ZodUnion<T>({ type: "union", options, ...normalizeParams(params) });
}

export function record<K extends AnySchema, V extends AnySchema>(keyType: K, valueType: V, params?: Params): ZodRecord<K, V> {
  return new ZodRecord<K, V>({ type: "record", keyType, valueType, ...normalizeParams(params) });
}

export function lazy<T extends AnySchema>(getter: () => T): ZodLazy<T> {
  return new ZodLazy<T>({ type: "lazy", getter });
}
