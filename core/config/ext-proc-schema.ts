/**
 * envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor and ExtProcPerRoute
 * (core/http/filters/ext-proc.ts), after api/envoy/extensions/filters/http/ext_proc/v3/
 * ext_proc.proto and processing_mode.proto. What the filter does not implement (attributes,
 * metadata, the HTTP processor protocol, observability mode) is refused by name, never
 * accepted and ignored.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, stringEmpty, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { ExtProcConfig, ExtProcOverridesConfig, ExtProcPerRouteConfig, ExtProcProcessingMode, HeaderMutationRulesConfig } from "./bootstrap.ts";
import { durationMs, regexMatcher } from "./proto-schema.ts";
import { DEFAULT_MUTATION_RULES } from "../http/filters/ext-proc-mutation.ts";
import { isEmptyList, isFalse, unsupportedField } from "./unsupported-field.ts";
import { grpcService, metadataEntry } from "./grpc-service-schema.ts";

export const EXT_PROC_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor";
export const EXT_PROC_PER_ROUTE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute";

/** ext_proc.proto: message_timeout "defaults to 200 milliseconds". */
const DEFAULT_MESSAGE_TIMEOUT_MS = 200;
/** ext_proc.proto: message_timeout is at most 3600 s (validate: lte 3600s). */
const MAX_MESSAGE_TIMEOUT_MS = 3_600_000;

const HEADER_MODES = ["DEFAULT", "SEND", "SKIP"] as const;
const BODY_MODES = ["NONE", "STREAMED", "BUFFERED", "BUFFERED_PARTIAL", "FULL_DUPLEX_STREAMED"] as const;

/** An enum given by name or number (proto3 JSON takes both). */
function enumValue<T extends readonly string[]>(names: T) {
  return z.union([z.enum(names as unknown as [T[number], ...T[number][]]), z.number().int()]).transform((v, ctx): T[number] => {
    if (typeof v === "string") return v;
    const name = names[v];
    if (name === undefined) {
      ctx.addIssue({ code: "custom", message: `unknown value ${v} (one of ${names.join(", ")})` });
      return z.NEVER;
    }
    return name;
  });
}

/** ProcessingMode's fields, the modes polyvoy's filter implements (ext-proc.ts). */
const processingModeFields = lazySchema(() =>
  strictObject({
    request_header_mode: enumValue(HEADER_MODES).default("DEFAULT"),
    response_header_mode: enumValue(HEADER_MODES).default("DEFAULT"),
    request_body_mode: enumValue(BODY_MODES).default("NONE"),
    response_body_mode: enumValue(BODY_MODES).default("NONE"),
    request_trailer_mode: enumValue(HEADER_MODES).default("DEFAULT"),
    response_trailer_mode: enumValue(HEADER_MODES).default("DEFAULT"),
  }));

/** The modes, in the filter's terms. */
function toProcessingMode(m: z.infer<typeof processingModeFields>): ExtProcProcessingMode {
  return {
    // processing_mode.proto: DEFAULT is SEND for headers, SKIP for trailers.
    requestHeaders: m.request_header_mode !== "SKIP",
    responseHeaders: m.response_header_mode !== "SKIP",
    requestBody: m.request_body_mode,
    responseBody: m.response_body_mode,
    requestTrailers: m.request_trailer_mode === "SEND",
    responseTrailers: m.response_trailer_mode === "SEND",
  };
}

/**
 * A route's processing_mode: Envoy checks only the filter's own (config.cc
 * verifyProcessingModeConfig runs on the ExternalProcessor); a full duplex body whose trailer
 * mode is not SEND still sends its trailers once body went (ext-proc.ts onTrailers).
 */
const routeProcessingMode = lazySchema(() => processingModeFields.transform(toProcessingMode));

/** The filter's processing_mode. */
export const processingMode = lazySchema(() =>
  processingModeFields
    .superRefine((m, ctx) => {
      // config.cc verifyProcessingModeConfig: a full duplex body ends, when trailers come, only with the trailers' answer.
      for (const dir of ["request", "response"] as const) {
        if (m[`${dir}_body_mode`] === "FULL_DUPLEX_STREAMED" && m[`${dir}_trailer_mode`] !== "SEND") {
          ctx.addIssue({ code: "custom", message: `If the ext_proc filter has the ${dir}_body_mode set to FULL_DUPLEX_STREAMED, then the ${dir}_trailer_mode has to be set to SEND`, path: [`${dir}_trailer_mode`] });
        }
      }
    })
    .transform(toProcessingMode));

export const DEFAULT_PROCESSING_MODE: ExtProcProcessingMode = { requestHeaders: true, responseHeaders: true, requestBody: "NONE", responseBody: "NONE", requestTrailers: false, responseTrailers: false };

/** envoy.config.common.mutation_rules.v3.HeaderMutationRules: its BoolValues false when unset. */
const mutationRules = lazySchema(() =>
  strictObject({
    allow_all_routing: boolFalse,
    allow_envoy: boolFalse,
    disallow_system: boolFalse,
    disallow_all: boolFalse,
    allow_expression: regexMatcher.optional(),
    disallow_expression: regexMatcher.optional(),
    disallow_is_error: boolFalse,
  })
  .transform((r): HeaderMutationRulesConfig => ({
    allowAllRouting: r.allow_all_routing,
    allowEnvoy: r.allow_envoy,
    disallowSystem: r.disallow_system,
    disallowAll: r.disallow_all,
    ...(r.allow_expression !== undefined && { allowExpression: r.allow_expression }),
    ...(r.disallow_expression !== undefined && { disallowExpression: r.disallow_expression }),
    disallowIsError: r.disallow_is_error,
  })));

export const extProcConfig: z.ZodType<ExtProcConfig> = lazySchema(() =>
  strictObject({
    grpc_service: grpcService({ timeout: "taken", retryPolicy: "taken" }).optional(),
    http_service: unsupportedField("the HTTP processor protocol: use grpc_service"),
    failure_mode_allow: boolFalse,
    // false is the default (Envoy marks the field not implemented): true refused.
    async_mode: unsupportedField("the filter always waits for the processor's answers (Envoy does not implement async_mode either)", isFalse),
    processing_mode: processingMode.optional(),
    request_attributes: unsupportedField("no CEL attributes are sent", isEmptyList),
    response_attributes: unsupportedField("no CEL attributes are sent", isEmptyList),
    message_timeout: durationMs.optional(),
    stat_prefix: stringEmpty,
    mutation_rules: mutationRules.optional(),
    max_message_timeout: durationMs.optional(),
    disable_clear_route_cache: boolFalse,
    forward_rules: unsupportedField("every request and response header is sent"),
    filter_metadata: unsupportedField("no metadata is sent"),
    allow_mode_override: boolFalse,
    disable_immediate_response: unsupportedField(undefined, isFalse),
    metadata_options: unsupportedField("no dynamic metadata is forwarded or received"),
    observability_mode: unsupportedField("the filter always waits for the processor's answers", isFalse),
    route_cache_action: unsupportedField("use disable_clear_route_cache"),
    deferred_close_timeout: unsupportedField("observability_mode only"),
    send_body_without_waiting_for_header_response: unsupportedField("headers are answered before the body is sent", isFalse),
    allowed_override_modes: unsupportedField("any mode_override is taken with allow_mode_override", isEmptyList),
    processing_request_modifier: unsupportedField(),
    on_processing_response: unsupportedField(),
    status_on_error: unsupportedField("errors are Envoy's 500 (504 for a message timeout)"),
  })
    .superRefine((c, ctx) => {
      if (c.grpc_service === undefined) ctx.addIssue({ code: "custom", message: "must set grpc_service", path: ["grpc_service"] });
      const t = c.message_timeout;
      if (t !== undefined && (t <= 0 || t > MAX_MESSAGE_TIMEOUT_MS)) ctx.addIssue({ code: "custom", message: "must be greater than 0s and at most 3600s", path: ["message_timeout"] });
      const max = c.max_message_timeout;
      if (max !== undefined && (max < 0 || max > MAX_MESSAGE_TIMEOUT_MS)) ctx.addIssue({ code: "custom", message: "must be at least 0s and at most 3600s", path: ["max_message_timeout"] });
      const mode = c.processing_mode;
      if (c.failure_mode_allow && mode !== undefined && (mode.requestBody === "FULL_DUPLEX_STREAMED" || mode.responseBody === "FULL_DUPLEX_STREAMED")) {
        // config.cc: a full duplex body, handed to the processor as it comes and not kept, cannot go on without it.
        ctx.addIssue({ code: "custom", message: "If the ext_proc filter has either the request_body_mode or the response_body_mode set to FULL_DUPLEX_STREAMED, then the failure_mode_allow has to be left as false", path: ["failure_mode_allow"] });
      }
    })
    .transform((c): ExtProcConfig => ({
      grpc: c.grpc_service!.target,
      // GrpcService.timeout bounds a unary call; the processing stream lives as long as the request (Envoy's ext_proc opens it without one).
      ...(c.grpc_service!.timeoutMs !== undefined && { grpcTimeoutMs: c.grpc_service!.timeoutMs }),
      failureModeAllow: c.failure_mode_allow,
      processingMode: c.processing_mode ?? DEFAULT_PROCESSING_MODE,
      messageTimeoutMs: c.message_timeout ?? DEFAULT_MESSAGE_TIMEOUT_MS,
      // ext_proc.proto: unset is 0, which turns override_message_timeout off.
      maxMessageTimeoutMs: c.max_message_timeout ?? 0,
      statPrefix: c.stat_prefix,
      allowModeOverride: c.allow_mode_override,
      disableClearRouteCache: c.disable_clear_route_cache,
      mutationRules: c.mutation_rules ?? DEFAULT_MUTATION_RULES,
    })));

/**
 * ExtProcOverrides: what a route changes of the filter's config (Envoy's FilterConfigPerRoute,
 * merged across levels in ext-proc-route.ts). failure_mode_allow is newer Envoy's BoolValue.
 */
const extProcOverrides = lazySchema(() =>
  strictObject({
    processing_mode: routeProcessingMode.optional(),
    async_mode: unsupportedField("the filter always waits for the processor's answers (Envoy does not implement async_mode either)", isFalse),
    request_attributes: unsupportedField("no CEL attributes are sent", isEmptyList),
    response_attributes: unsupportedField("no CEL attributes are sent", isEmptyList),
    grpc_service: grpcService({ timeout: "taken", retryPolicy: "taken" }).optional(),
    metadata_options: unsupportedField("no dynamic metadata is forwarded or received"),
    grpc_initial_metadata: z.array(metadataEntry).default([]),
    failure_mode_allow: z.boolean().optional(),
  }).transform((o): ExtProcOverridesConfig => ({
    ...(o.processing_mode !== undefined && { processingMode: o.processing_mode }),
    ...(o.grpc_service !== undefined && { grpc: o.grpc_service.target, ...(o.grpc_service.timeoutMs !== undefined && { grpcTimeoutMs: o.grpc_service.timeoutMs }) }),
    grpcInitialMetadata: o.grpc_initial_metadata,
    ...(o.failure_mode_allow !== undefined && { failureModeAllow: o.failure_mode_allow }),
  })));

export const extProcPerRouteConfig: z.ZodType<ExtProcPerRouteConfig> = lazySchema(() =>
  strictObject({
    // A oneof, one of the two required (validate.required); disabled: const true.
    disabled: z.literal(true).optional(),
    overrides: extProcOverrides.optional(),
  })
    .superRefine((c, ctx) => {
      if (c.disabled === undefined && c.overrides === undefined) ctx.addIssue({ code: "custom", message: "must set one of disabled, overrides" });
      if (c.disabled !== undefined && c.overrides !== undefined) ctx.addIssue({ code: "custom", message: "only one of disabled, overrides may be set (a oneof)", path: ["overrides"] });
    })
    .transform((c): ExtProcPerRouteConfig => ({ disabled: c.disabled === true, ...(c.overrides !== undefined && { overrides: c.overrides }) })));
