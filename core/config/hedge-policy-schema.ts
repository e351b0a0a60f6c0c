/**
 * envoy.config.route.v3.HedgePolicy, on a route's action or a virtual host: whether a per-try
 * timeout sends another attempt beside the one that timed out instead of resetting it
 * (core/http/filters/router.ts, onSoftPerTryTimeout).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { HedgePolicyConfig } from "./bootstrap.ts";
import { fractionalPercent } from "./fractional-percent-schema.ts";
import { uint32 } from "./proto-schema.ts";
import { refuseField } from "./unsupported-field.ts";

/**
 * initial_requests and additional_request_chance are `[#not-implemented-hide:]` in Envoy's
 * route_components.proto: HedgePolicyImpl reads them, the router never does. At their
 * defaults (1, and a chance of 0) they change nothing; any other value would promise hedging
 * Envoy does not do, so it is refused rather than ignored.
 */
const NOT_IMPLEMENTED = "Envoy reads it but does not implement it (route_components.proto: not-implemented); only hedge_on_per_try_timeout hedges";

export const hedgePolicy = lazySchema(() =>
  strictObject({
    // route_components.proto: `(validate.rules).uint32 = {gte: 1}`.
    initial_requests: uint32.min(1).optional(),
    additional_request_chance: fractionalPercent.optional(),
    hedge_on_per_try_timeout: boolFalse,
  })
  .transform((h, ctx): HedgePolicyConfig => {
    if (h.initial_requests !== undefined && h.initial_requests !== 1) refuseField(ctx, NOT_IMPLEMENTED, ["initial_requests"]);
    if (h.additional_request_chance !== undefined && h.additional_request_chance.numerator !== 0) refuseField(ctx, NOT_IMPLEMENTED, ["additional_request_chance"]);
    return { hedgeOnPerTryTimeout: h.hedge_on_per_try_timeout };
  }));
