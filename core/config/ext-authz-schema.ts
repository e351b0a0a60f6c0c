/**
 * envoy.extensions.filters.http.ext_authz.v3.ExtAuthz with an http_service or a
 * grpc_service (envoy_grpc), and ExtAuthzPerRoute (core/http/filters/ext-authz.ts). Every
 * field that would be accepted and ignored is refused by name.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, optionalString, strictObject, stringEmpty } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { ExtAuthzBufferSettings, ExtAuthzConfig, ExtAuthzPerRouteConfig } from "./bootstrap.ts";
import { durationMs, headerName, uint32 } from "./proto-schema.ts";
import { stringMatcher } from "./matcher-schema.ts";
import { fractionalPercent } from "./fractional-percent-schema.ts";
import { isEmptyList, isFalse, refuseField, unsupportedField } from "./unsupported-field.ts";
import { grpcService } from "./grpc-service-schema.ts";
import { coreRetryPolicy, HTTP_FETCH_RETRY_ON, HTTP_FETCH_RETRY_ON_BITS } from "./core-retry-policy-schema.ts";
import type { HeaderValueOption, StringMatcherConfig } from "./bootstrap.ts";
import { formattedHeaderValue, isPseudoOrHost } from "./custom-headers-schema.ts";
import { statusText } from "../http/codec/status-text.ts";

export const EXT_AUTHZ_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
export const EXT_AUTHZ_PER_ROUTE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute";

/** Envoy's default timeout for the authorization call (ext_authz config.cc, DefaultTimeout). */
const DEFAULT_TIMEOUT_MS = 200;

/** envoy.type.v3.HttpStatus's code: a number in [100, 599], or its StatusCode enum name ("Forbidden", "ServiceUnavailable"…). */
const statusCode = lazySchema(() =>
  z.union([z.number().int().min(100).max(599), z.string()]).transform((code, ctx): number => {
  if (typeof code === "number") return code;
  for (let status = 100; status < 600; status++) {
    const name = statusText(status).replace(/[^A-Za-z]/g, "");
    if (name !== "Unknown" && name === code) return status;
  }
  ctx.addIssue({ code: "custom", message: `unknown status code "${code}" (a number, or a StatusCode name such as Forbidden)` });
  return z.NEVER;
}));

/** envoy.type.matcher.v3.ListStringMatcher */
const listStringMatcher = lazySchema(() =>
  strictObject({ patterns: z.array(stringMatcher).min(1) }).transform((l) => l.patterns as StringMatcherConfig[]));

const bufferSettings = lazySchema(() =>
  strictObject({
      // Envoy: gt 0.
      max_request_bytes: uint32.min(1),
      allow_partial_message: boolFalse,
      pack_as_bytes: boolFalse,
    })
    .transform((b): ExtAuthzBufferSettings => ({ maxRequestBytes: b.max_request_bytes, allowPartialMessage: b.allow_partial_message, packAsBytes: b.pack_as_bytes })));

/** envoy.config.core.v3.HttpUri: uri is required by Envoy but only named (the cluster is where requests go). */
const httpUri = lazySchema(() =>
  strictObject({
  uri: nonEmptyString,
  cluster: nonEmptyString,
  timeout: durationMs.default(DEFAULT_TIMEOUT_MS),
}));

/**
 * envoy.config.core.v3.HeaderValue, as authorization_request.headers_to_add takes it: Envoy's
 * ext_authz HTTP client (ext_authz_http_impl.cc, ClientConfig) makes a HeaderParser of them
 * with OVERWRITE_IF_EXISTS_OR_ADD and evaluates it on each check request against the
 * downstream stream (`%REQ(host)%` is the client's Host); an empty result is not sent.
 */
const headerToAdd = lazySchema(() =>
  strictObject({
    key: headerName.refine((name) => !isPseudoOrHost(name), { message: ":-prefixed or host headers may not be modified" }),
    value: formattedHeaderValue.default({ value: "" }),
  })
    .transform((h): HeaderValueOption => ({ key: h.key, value: h.value.value, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD", keepEmptyValue: false, ...(h.value.formatted && { formatted: true as const }) })));

const httpService = lazySchema(() =>
  strictObject({
  server_uri: httpUri,
  path_prefix: z.string().regex(/^(\/.*)?$/, { message: 'must start with "/"' }).default(""),
  authorization_request: strictObject({
      allowed_headers: listStringMatcher.optional(),
      headers_to_add: z.array(headerToAdd).default([]),
    })
    .prefault({}),
  authorization_response: strictObject({
      allowed_upstream_headers: listStringMatcher.optional(),
      allowed_upstream_headers_to_append: listStringMatcher.optional(),
      allowed_client_headers: listStringMatcher.optional(),
      allowed_client_headers_on_success: listStringMatcher.optional(),
      dynamic_metadata_from_headers: listStringMatcher.optional(),
    })
    .prefault({}),
  // ext_authz_http_impl.cc: convertCoreToRouteRetryPolicy(retry_policy, "5xx,gateway-error,connect-failure,reset").
  retry_policy: coreRetryPolicy(HTTP_FETCH_RETRY_ON_BITS, HTTP_FETCH_RETRY_ON).optional(),
}));

export const extAuthzConfig: z.ZodType<ExtAuthzConfig> = lazySchema(() =>
  strictObject({
    http_service: httpService.optional(),
    grpc_service: grpcService({ timeout: "taken", retryPolicy: "taken" }).optional(),
    transport_api_version: z.enum(["V3"], { message: "only V3 is supported" }).optional(),
    failure_mode_allow: boolFalse,
    failure_mode_allow_header_add: boolFalse,
    with_request_body: bufferSettings.optional(),
    clear_route_cache: boolFalse,
    status_on_error: strictObject({ code: statusCode }).optional(),
    stat_prefix: stringEmpty,
    filter_enabled: strictObject({ default_value: fractionalPercent, runtime_key: optionalString }).optional(),
    // envoy.config.core.v3.RuntimeFeatureFlag
    deny_at_disable: strictObject({ default_value: z.boolean(), runtime_key: optionalString }).optional(),
    include_peer_certificate: boolFalse,
    include_tls_session: boolFalse,
    metadata_context_namespaces: z.array(z.string()).default([]),
    typed_metadata_context_namespaces: unsupportedField("polyvoy's dynamic metadata has no typed (Any) values", isEmptyList),
    filter_enabled_metadata: unsupportedField("no dynamic metadata to match"),
    allowed_headers: listStringMatcher.optional(),
    disallowed_headers: unsupportedField(),
    decoder_header_mutation_rules: unsupportedField(),
    validate_mutations: unsupportedField(undefined, isFalse),
    encode_raw_headers: unsupportedField(undefined, isFalse),
    bootstrap_metadata_labels_key: unsupportedField("no node metadata labels"),
    emit_filter_state_stats: unsupportedField(undefined, isFalse),
    charge_cluster_response_stats: unsupportedField(),
  })
  .superRefine((c, ctx) => {
    if ((c.http_service === undefined) === (c.grpc_service === undefined)) ctx.addIssue({ code: "custom", message: "must set one of http_service, grpc_service" });
    // Envoy ignores pack_as_bytes for an HTTP service; polyvoy says so rather than accept it.
    if (c.http_service !== undefined && c.with_request_body?.packAsBytes) {
      refuseField(ctx, "with http_service: it applies to grpc_service only", ["with_request_body", "pack_as_bytes"]);
    }
    // Likewise the certificate: Envoy's HTTP client builds its request from the CheckRequest's
    // headers and body only (ext_authz_http_impl.cc, RawHttpClientImpl::check).
    if (c.http_service !== undefined && c.include_peer_certificate) {
      refuseField(ctx, "with http_service: an HTTP service is sent no certificate", ["include_peer_certificate"]);
    }
    // Envoy's FilterConfig (ext_authz.cc): "Invalid duplicate configuration for allowed_headers."
    if (c.allowed_headers !== undefined && c.http_service?.authorization_request.allowed_headers !== undefined) {
      ctx.addIssue({ code: "custom", message: "Invalid duplicate configuration for allowed_headers.", path: ["allowed_headers"] });
    }
    // Envoy builds the metadata context for either service, but its HTTP client sends only the
    // check's headers and body (ext_authz_http_impl.cc): refused rather than ignored.
    if (c.http_service !== undefined && c.metadata_context_namespaces.length > 0) {
      refuseField(ctx, "with http_service: an HTTP service is sent no metadata (Envoy sends it to a grpc_service only)", ["metadata_context_namespaces"]);
    }
    if (c.http_service !== undefined && c.include_tls_session) {
      refuseField(ctx, "with http_service: an HTTP service is sent no TLS session", ["include_tls_session"]);
    }
  })
  .transform((c): ExtAuthzConfig => {
    const grpc = c.grpc_service;
    const service = c.http_service ?? httpService.parse({ server_uri: { uri: "grpc", cluster: "grpc" } });
    const response = service.authorization_response;
    return {
      cluster: grpc?.target.clusterName ?? service.server_uri.cluster,
      timeoutMs: grpc === undefined ? service.server_uri.timeout : (grpc.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      ...(grpc && { grpc: grpc.target }),
      ...(service.retry_policy !== undefined && { httpRetryPolicy: service.retry_policy }),
      pathPrefix: service.path_prefix,
      // Envoy's FilterConfig: a gRPC service gets every header unless the top-level
      // allowed_headers is set (then only those); an HTTP service gets
      // authorization_request.allowed_headers, else the top-level one, plus the headers always sent.
      allowedHeaders: service.authorization_request.allowed_headers ?? c.allowed_headers ?? [],
      ...(grpc !== undefined && c.allowed_headers !== undefined && { grpcAllowedHeaders: c.allowed_headers }),
      metadataContextNamespaces: c.metadata_context_namespaces,
      headersToAdd: service.authorization_request.headers_to_add,
      allowedUpstreamHeaders: response.allowed_upstream_headers ?? [],
      allowedUpstreamHeadersToAppend: response.allowed_upstream_headers_to_append ?? [],
      allowedClientHeaders: response.allowed_client_headers ?? [],
      allowedClientHeadersOnSuccess: response.allowed_client_headers_on_success ?? [],
      dynamicMetadataFromHeaders: response.dynamic_metadata_from_headers ?? [],
      includePeerCertificate: c.include_peer_certificate,
      includeTlsSession: c.include_tls_session,
      failureModeAllow: c.failure_mode_allow,
      failureModeAllowHeaderAdd: c.failure_mode_allow_header_add,
      ...(c.with_request_body && { withRequestBody: c.with_request_body }),
      // Envoy's toErrorCode: anything outside the codes it knows is 403.
      statusOnError: c.status_on_error?.code ?? 403,
      clearRouteCache: c.clear_route_cache,
      statPrefix: c.stat_prefix,
      ...(c.filter_enabled && { filterEnabled: c.filter_enabled.default_value }),
      denyAtDisable: c.deny_at_disable?.default_value ?? false,
    };
  }));

export const extAuthzPerRouteConfig: z.ZodType<ExtAuthzPerRouteConfig> = lazySchema(() =>
  strictObject({
    // Envoy: const true.
    disabled: z.literal(true).optional(),
    check_settings: strictObject({
        context_extensions: z.record(z.string(), z.string()).default({}),
        disable_request_body_buffering: boolFalse,
        with_request_body: bufferSettings.optional(),
      })
      .superRefine((s, ctx) => {
        if (s.disable_request_body_buffering && s.with_request_body) {
          ctx.addIssue({ code: "custom", message: "only one of disable_request_body_buffering or with_request_body can be set" });
        }
      })
      .optional(),
  })
  .superRefine((c, ctx) => {
    if (c.disabled === undefined && c.check_settings === undefined) ctx.addIssue({ code: "custom", message: "must set one of disabled, check_settings" });
    if (c.disabled !== undefined && c.check_settings !== undefined) ctx.addIssue({ code: "custom", message: "must set only one of disabled, check_settings" });
  })
  .transform(
    (c): ExtAuthzPerRouteConfig => ({
      disabled: c.disabled === true,
      contextExtensions: c.check_settings?.context_extensions ?? {},
      disableRequestBodyBuffering: c.check_settings?.disable_request_body_buffering ?? false,
      ...(c.check_settings?.with_request_body && { withRequestBody: c.check_settings.with_request_body }),
    }),
  ));
