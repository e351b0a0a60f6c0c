/**
 * envoy.type.v3.FractionalPercent and envoy.config.core.v3.RuntimeFractionalPercent, the
 * "in what share of requests" knob of several HTTP filters (local_ratelimit's
 * filter_enabled/filter_enforced, fault's percentages, cors's filter_enabled).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { optionalString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { FractionalPercent } from "./bootstrap.ts";
import { uint32 } from "./proto-schema.ts";

const DENOMINATORS = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 } as const;

/** envoy.type.v3.FractionalPercent: numerator over HUNDRED (the default), TEN_THOUSAND or MILLION. */
export const fractionalPercent = lazySchema(() =>
  strictObject({
    numerator: uint32.default(0),
    denominator: z.enum(["HUNDRED", "TEN_THOUSAND", "MILLION"]).default("HUNDRED"),
  })
  .transform((p): FractionalPercent => ({ numerator: p.numerator, denominator: DENOMINATORS[p.denominator] })));

/**
 * envoy.config.core.v3.RuntimeFractionalPercent: default_value, overridden by the value
 * a runtime layer gives runtime_key (core/runtime/runtime-loader.ts, `fraction`).
 */
export const runtimeFractionalPercent = lazySchema(() =>
  strictObject({
    default_value: fractionalPercent,
    runtime_key: optionalString,
  })
  .transform((p): FractionalPercent => withRuntimeKey(p.default_value, p.runtime_key)));

/** A fraction that runtime `key` may override (none when the key is absent or empty). */
export function withRuntimeKey(percent: FractionalPercent, key: string | undefined): FractionalPercent {
  return key === undefined || key === "" ? percent : { ...percent, runtimeKey: key };
}

/** A FractionalPercent of 100 %. */
export const ALWAYS: FractionalPercent = { numerator: 100, denominator: 100 };
