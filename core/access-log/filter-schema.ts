/**
 * envoy.config.accesslog.v3.AccessLogFilter: which finished streams an access log (or a
 * local_reply_config mapper) applies to. The filters of Envoy's access_log_impl.cc that
 * need no extension: status_code, duration, not_health_check, response_flag, header,
 * runtime, and/or, grpc_status, metadata, log_type. extension_filter (and traceable_filter)
 * are not supported.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "../config/schema-kit/index.ts";
import { lazySchema } from "../config/lazy-schema.ts";
import type { AccessLogFilterConfig } from "../config/bootstrap.ts";
import { headerMatcher, metadataMatcher } from "../config/matcher-schema.ts";
import { oneOf, uint32 } from "../config/proto-schema.ts";
import { boolFalse, boolTrue } from "../config/shared-schemas.ts";
import { refuseField } from "../config/unsupported-field.ts";
import { CoreResponseFlag } from "../stream-info/response-flags.ts";
import { GRPC_STATUS_FILTER_NAMES } from "./grpc-status-filter.ts";
import { ACCESS_LOG_TYPE_NAMES } from "./log-type-filter.ts";

/** envoy.config.core.v3.RuntimeUInt32: default_value, or the runtime's value for runtime_key (read per log). */
const runtimeUInt32 = lazySchema(() =>
  z.strictObject({ default_value: uint32.default(0), runtime_key: z.string().min(1) }));

/** envoy.config.accesslog.v3.ComparisonFilter (op EQ is the proto default). */
const comparison = lazySchema(() =>
  z
  .strictObject({ op: z.enum(["EQ", "GE", "LE", "NE"]).default("EQ"), value: runtimeUInt32 })
  .transform((c) => ({ op: c.op, value: c.value.default_value, runtimeKey: c.value.runtime_key })));

const comparisonFilter = lazySchema(() =>
  z.strictObject({ comparison }));

const DENOMINATORS = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 } as const;

/** envoy.type.v3.FractionalPercent */
const fractionalPercent = lazySchema(() =>
  z
  .strictObject({ numerator: uint32.default(0), denominator: z.enum(Object.keys(DENOMINATORS) as [keyof typeof DENOMINATORS]).default("HUNDRED") })
  .transform((p) => ({ numerator: p.numerator, denominator: DENOMINATORS[p.denominator] })));

/** The flags ResponseFlagFilter accepts (its proto's `in` list): Envoy's short names. */
const RESPONSE_FLAGS: readonly string[] = [...Object.values(CoreResponseFlag), "UDO"];

const responseFlag = lazySchema(() =>
  z.string().refine((flag) => RESPONSE_FLAGS.includes(flag), { message: `must be one of ${RESPONSE_FLAGS.join(", ")}` }));

/** GrpcStatusFilter: statuses by their GrpcStatusFilter.Status names, kept as numbers. */
const grpcStatusFilter = lazySchema(() =>
  z
  .strictObject({ statuses: z.array(z.enum(GRPC_STATUS_FILTER_NAMES)).default([]), exclude: boolFalse })
  .transform((f) => ({ statuses: f.statuses.map((name) => GRPC_STATUS_FILTER_NAMES.indexOf(name)), exclude: f.exclude })));

/**
 * MetadataFilter. Envoy's MetadataFilter reads the matcher's filter, path and value but
 * not its `invert`: an inverted matcher would be silently taken as not inverted there, so
 * polyvoy refuses `invert: true` rather than guess which of the two was meant.
 */
const metadataFilter = lazySchema(() =>
  z
  .strictObject({ matcher: metadataMatcher.optional(), match_if_key_not_found: boolTrue })
  .transform((f, ctx) => {
    if (f.matcher?.invert) {
      refuseField(ctx, "here, where Envoy's MetadataFilter ignores it: access_log_impl.cc", ["matcher", "invert"]);
      return z.NEVER;
    }
    const matcher = f.matcher === undefined ? undefined : { filter: f.matcher.filter, path: f.matcher.path, value: f.matcher.value };
    return { matcher, matchIfKeyNotFound: f.match_if_key_not_found };
  }));

/** LogTypeFilter: AccessLogType names. */
const logTypeFilter = lazySchema(() =>
  z.strictObject({ types: z.array(z.enum(ACCESS_LOG_TYPE_NAMES)).default([]), exclude: boolFalse }));

const filterFields = lazySchema(() =>
  z.strictObject({
  status_code_filter: comparisonFilter.optional(),
  duration_filter: comparisonFilter.optional(),
  not_health_check_filter: z.strictObject({}).optional(),
  response_flag_filter: z.strictObject({ flags: z.array(responseFlag).default([]) }).optional(),
  header_filter: z.strictObject({ header: headerMatcher }).optional(),
  runtime_filter: z
    .strictObject({
      runtime_key: z.string().min(1),
      percent_sampled: fractionalPercent.optional(),
      use_independent_randomness: z.boolean().default(false),
    })
    .optional(),
  // Recursive: and_filter / or_filter hold filters (Envoy: at least two).
  and_filter: z.strictObject({ filters: z.array(z.lazy((): z.ZodType<AccessLogFilterConfig, unknown> => accessLogFilter)).min(2) }).optional(),
  or_filter: z.strictObject({ filters: z.array(z.lazy((): z.ZodType<AccessLogFilterConfig, unknown> => accessLogFilter)).min(2) }).optional(),
  grpc_status_filter: grpcStatusFilter.optional(),
  metadata_filter: metadataFilter.optional(),
  log_type_filter: logTypeFilter.optional(),
}));

const FILTER_KEYS = [
  "status_code_filter",
  "duration_filter",
  "not_health_check_filter",
  "response_flag_filter",
  "header_filter",
  "runtime_filter",
  "and_filter",
  "or_filter",
  "grpc_status_filter",
  "metadata_filter",
  "log_type_filter",
] as const;

export const accessLogFilter: z.ZodType<AccessLogFilterConfig, unknown> = lazySchema(() =>
  filterFields.transform((f, ctx): AccessLogFilterConfig => {
  const key = oneOf(f, FILTER_KEYS, ctx, true);
  switch (key) {
    case "status_code_filter":
      return { type: "status_code", ...f.status_code_filter!.comparison };
    case "duration_filter":
      return { type: "duration", ...f.duration_filter!.comparison };
    case "not_health_check_filter":
      return { type: "not_health_check" };
    case "response_flag_filter":
      return { type: "response_flag", flags: f.response_flag_filter!.flags };
    case "header_filter":
      return { type: "header", header: f.header_filter!.header };
    case "runtime_filter": {
      const r = f.runtime_filter!;
      // Envoy: percent_sampled unset means 0% (a runtime key would set it).
      const percent = r.percent_sampled ?? { numerator: 0, denominator: 100 };
      return { type: "runtime", percent: { ...percent, runtimeKey: r.runtime_key }, useIndependentRandomness: r.use_independent_randomness };
    }
    case "and_filter":
      return { type: "and", filters: f.and_filter!.filters };
    case "or_filter":
      return { type: "or", filters: f.or_filter!.filters };
    case "grpc_status_filter":
      return { type: "grpc_status", ...f.grpc_status_filter! };
    case "metadata_filter":
      return { type: "metadata", ...f.metadata_filter! };
    case "log_type_filter":
      return { type: "log_type", types: [...f.log_type_filter!.types], exclude: f.log_type_filter!.exclude };
    default:
      return z.NEVER;
  }
}));
