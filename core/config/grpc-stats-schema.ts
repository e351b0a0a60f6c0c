/**
 * envoy.extensions.filters.http.grpc_stats.v3.FilterConfig: the gRPC statistics filter's
 * config (core/http/filters/grpc-stats-filter.ts). `individual_method_stats_allowlist` and
 * `stats_for_all_methods` are a oneof; with neither, stats_for_all_methods is false
 * (grpc_stats_filter.cc Config: PROTOBUF_GET_WRAPPED_OR_DEFAULT(…, false)).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { GrpcStatsConfig } from "./bootstrap.ts";
import { oneOf } from "./proto-schema.ts";

export const GRPC_STATS_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig";

/** A google.protobuf.BoolValue: a bool, or `{ value }`. */
const boolValue = lazySchema(() =>
  z.union([z.boolean(), strictObject({ value: z.boolean() }).transform((w) => w.value)]));

/** envoy.config.core.v3.GrpcMethodList: each service (name min_len 1) with at least one method. */
const grpcMethodList = lazySchema(() =>
  strictObject({
    services: z.array(strictObject({ name: nonEmptyString, method_names: z.array(z.string()).min(1) })).default([]),
  }));

export const grpcStatsConfig: z.ZodType<GrpcStatsConfig> = lazySchema(() =>
  strictObject({
    emit_filter_state: boolFalse,
    individual_method_stats_allowlist: grpcMethodList.optional(),
    stats_for_all_methods: boolValue.optional(),
    enable_upstream_stats: boolFalse,
    replace_dots_in_grpc_service_name: boolFalse,
  })
  .transform((c, ctx): GrpcStatsConfig => {
    oneOf(c, ["individual_method_stats_allowlist", "stats_for_all_methods"] as const, ctx, false);
    return {
      emitFilterState: c.emit_filter_state,
      statsForAllMethods: c.stats_for_all_methods ?? false,
      ...(c.individual_method_stats_allowlist && {
        allowlist: c.individual_method_stats_allowlist.services.map((s) => ({ service: s.name, methods: s.method_names })),
      }),
      enableUpstreamStats: c.enable_upstream_stats,
      replaceDotsInGrpcServiceName: c.replace_dots_in_grpc_service_name,
    };
  }));
