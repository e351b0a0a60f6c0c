/**
 * envoy.extensions.filters.http.fault.v3.HTTPFault: the fault HTTP filter's config
 * (core/http/filters/fault.ts), on the filter and as per-route config, with Envoy's
 * rules (api/envoy/extensions/filters/http/fault/v3/fault.proto,
 * api/envoy/extensions/filters/common/fault/v3/fault.proto).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, optionalString, strictObject, stringEmpty } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { FaultConfig } from "./bootstrap.ts";
import { fractionalPercent } from "./fractional-percent-schema.ts";
import { headerMatcher } from "./matcher-schema.ts";
import { durationMs, oneOf, uint32 } from "./proto-schema.ts";
import { unsupportedField } from "./unsupported-field.ts";
import { FAULT_RUNTIME_KEYS } from "../runtime/runtime-keys.ts";

export const FAULT_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";

/** An unset FractionalPercent is 0 %: Envoy injects nothing until a percentage is given. */
const percentage = lazySchema(() =>
  fractionalPercent).default({ numerator: 0, denominator: 100 });

/** A runtime key overriding a setting ("" or absent: Envoy's fault.http.* key, fault_filter.h RuntimeKeys). */
const runtimeKey = (envoyDefault: string) =>
  z
    .string()
    .optional()
    .transform((key) => (key === undefined || key === "" ? envoyDefault : key));

/** FaultAbort: oneof http_status, grpc_status, header_abort. */
const abort = lazySchema(() =>
  strictObject({
    http_status: z.number().int().min(200).max(599).optional(),
    // Envoy's proto: a plain uint32 (a status outside 0–16 is sent as it is).
    grpc_status: uint32.optional(),
    header_abort: strictObject({}).optional(),
    percentage,
  })
  .transform((a, ctx): NonNullable<FaultConfig["abort"]> => {
    oneOf(a, ["http_status", "grpc_status", "header_abort"], ctx, true);
    return { ...(a.http_status !== undefined && { httpStatus: a.http_status }), ...(a.grpc_status !== undefined && { grpcStatus: a.grpc_status }), percentage: a.percentage };
  }));

/** FaultDelay: oneof fixed_delay, header_delay. */
const delay = lazySchema(() =>
  strictObject({
    fixed_delay: durationMs.optional(),
    header_delay: strictObject({}).optional(),
    percentage,
  })
  .transform((d, ctx): NonNullable<FaultConfig["delay"]> => {
    oneOf(d, ["fixed_delay", "header_delay"], ctx, true);
    // Envoy's validation: fixed_delay > 0.
    if (d.fixed_delay === 0) ctx.addIssue({ code: "custom", message: "must be > 0", path: ["fixed_delay"] });
    return { ...(d.fixed_delay !== undefined && { fixedDelayMs: d.fixed_delay }), percentage: d.percentage };
  }));

export const faultConfig: z.ZodType<FaultConfig> = lazySchema(() =>
  strictObject({
    abort: abort.optional(),
    delay: delay.optional(),
    upstream_cluster: stringEmpty,
    headers: z.array(headerMatcher).default([]),
    downstream_nodes: z.array(z.string()).default([]),
    max_active_faults: uint32.optional(),
    response_rate_limit: unsupportedField("no response bandwidth limit"),
    delay_percent_runtime: runtimeKey(FAULT_RUNTIME_KEYS.delayPercent),
    abort_percent_runtime: runtimeKey(FAULT_RUNTIME_KEYS.abortPercent),
    delay_duration_runtime: runtimeKey(FAULT_RUNTIME_KEYS.delayDuration),
    abort_http_status_runtime: runtimeKey(FAULT_RUNTIME_KEYS.abortHttpStatus),
    max_active_faults_runtime: runtimeKey(FAULT_RUNTIME_KEYS.maxActiveFaults),
    // Read only with response_rate_limit, refused above.
    response_rate_limit_percent_runtime: optionalString,
    abort_grpc_status_runtime: runtimeKey(FAULT_RUNTIME_KEYS.abortGrpcStatus),
    disable_downstream_cluster_stats: boolFalse,
    filter_metadata: unsupportedField("no dynamic metadata here"),
  })
  .transform(
    (f): FaultConfig => ({
      ...(f.abort && { abort: f.abort }),
      ...(f.delay && { delay: f.delay }),
      upstreamCluster: f.upstream_cluster,
      downstreamNodes: f.downstream_nodes,
      headers: f.headers,
      ...(f.max_active_faults !== undefined && { maxActiveFaults: f.max_active_faults }),
      disableDownstreamClusterStats: f.disable_downstream_cluster_stats,
      runtimeKeys: {
        delayPercent: f.delay_percent_runtime,
        abortPercent: f.abort_percent_runtime,
        delayDuration: f.delay_duration_runtime,
        abortHttpStatus: f.abort_http_status_runtime,
        abortGrpcStatus: f.abort_grpc_status_runtime,
        maxActiveFaults: f.max_active_faults_runtime,
      },
    }),
  ));
