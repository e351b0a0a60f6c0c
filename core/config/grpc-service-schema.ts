/**
 * envoy.config.core.v3.GrpcService: where a filter's gRPC calls go (core/http/grpc-async-client.ts,
 * grpc-async-stream.ts). envoy_grpc names a cluster; google_grpc (Envoy's client on the C++
 * gRPC library, source/common/grpc/google_async_client_impl.cc) names a target_uri, which
 * becomes an internal HTTP/2 cluster (google-grpc-target.ts). Every other field is taken or
 * refused by name.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { nonEmptyString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { GrpcServiceTarget, RetryPolicyConfig } from "./bootstrap.ts";
import { durationMs, headerName, headerValue } from "./proto-schema.ts";
import { isFalse, unsupportedField } from "./unsupported-field.ts";
import { googleGrpcTarget } from "./google-grpc-target.ts";
import { coreRetryPolicy } from "./core-retry-policy-schema.ts";
import { dataSource } from "./data-source-schema.ts";

export interface GrpcServiceConfig {
  target: GrpcServiceTarget;
  /** GrpcService.timeout in ms; undefined when not set (each filter has its default). */
  timeoutMs: number | undefined;
}

const envoyGrpc = lazySchema(() =>
  strictObject({
  cluster_name: nonEmptyString,
  // Envoy: an HTTP header value, the :authority; empty means the cluster's name.
  authority: headerValue.default(""),
  // Envoy reads it only for an xDS stream's reconnect back-off (Config::Utility::prepareJitteredExponentialBackOffStrategy).
  retry_policy: unsupportedField("Envoy reads it only as an xDS stream's reconnect back-off, which polyvoy does not take from config: set the GrpcService's retry_policy to retry unary calls"),
  max_receive_message_length: unsupportedField("responses are bounded at 4 MiB"),
  skip_envoy_headers: unsupportedField("polyvoy adds no x-envoy-* headers to gRPC service calls", isFalse),
}));

/** envoy.config.core.v3.HeaderValue as initial_metadata takes it. */
export const metadataEntry = lazySchema(() =>
  strictObject({ key: headerName, value: headerValue.default("") }).transform((h): [string, string] => [h.key.toLowerCase(), h.value]));

/** GrpcService.GoogleGrpc: what google-grpc-target.ts builds the internal cluster from; the rest refused by name. */
const googleGrpc = lazySchema(() =>
  strictObject({
    target_uri: nonEmptyString,
    stat_prefix: nonEmptyString,
    channel_credentials: strictObject({
      // Envoy's getGoogleGrpcChannelCredentials (google_grpc_creds_impl.cc): grpc::SslCredentialsOptions.
      // DataSources read when the config is (a missing file is a config error, as Envoy's
      // Config::DataSource::read in getGoogleGrpcChannelCredentials), handed to the cluster inline.
      ssl_credentials: strictObject({
        root_certs: dataSource.optional(),
        private_key: dataSource.optional(),
        cert_chain: dataSource.optional(),
      }).optional(),
      local_credentials: unsupportedField("gRPC's local credentials (a peer check of the loopback or UDS connection): leave channel_credentials out for plaintext"),
      google_default: unsupportedField("Google's default credentials (GCE metadata, ADC)"),
    }).optional(),
    call_credentials: unsupportedField("per-call credentials (access tokens, JWT, STS, IAM, plugins): set initial_metadata", (v) => Array.isArray(v) && v.length === 0),
    credentials_factory_name: unsupportedField("a credentials factory", (v) => v === ""),
    config: unsupportedField("a credentials factory's config"),
    per_stream_buffer_limit_bytes: unsupportedField("the per-stream buffer limit of the C++ client (calls are bounded by their message limit)"),
    channel_args: unsupportedField("gRPC channel arguments"),
  }));

/**
 * `timeout` and `retryPolicy`: "taken" where the caller applies it, else the reason it is
 * refused. GrpcService.retry_policy is Envoy's for unary calls and streams alike
 * (AsyncStreamImpl takes it unless the stream sets its own); polyvoy retries unary calls and
 * ext_proc's stream, which asks for its messages to be kept for a retry
 * (setBufferBodyForRetry, grpc-async-stream.ts). Envoy's other streams (xDS, access logs,
 * metrics service, tracers) do not ask: a retry there would start over without the messages
 * already sent, which polyvoy does not copy.
 */
export function grpcService(what: { timeout: "taken" | string; retryPolicy?: "taken" | string }) {
  const retryPolicy =
    what.retryPolicy ??
    "Envoy retries this gRPC stream without resending the messages it already sent (no setBufferBodyForRetry); polyvoy retries unary calls (ext_authz, ratelimit) and ext_proc's stream only";
  return strictObject({
      envoy_grpc: envoyGrpc.optional(),
      google_grpc: googleGrpc.optional(),
      timeout: what.timeout === "taken" ? durationMs.optional() : unsupportedField(what.timeout),
      initial_metadata: z.array(metadataEntry).default([]),
      // Grpc::AsyncClientImpl hands it to the HTTP async client, whose router retries
      // (convertCoreToRouteRetryPolicy with no default conditions). With google_grpc it is
      // refused below: Envoy's Google gRPC client (google_async_client_impl.cc) does not read it.
      retry_policy: retryPolicy === "taken" ? coreRetryPolicy(0).optional() : unsupportedField(retryPolicy),
    })
    .superRefine((g, ctx) => {
      // Envoy: the target_specifier oneof must be set.
      if (g.envoy_grpc === undefined && g.google_grpc === undefined) ctx.addIssue({ code: "custom", message: "must set envoy_grpc or google_grpc" });
      if (g.envoy_grpc !== undefined && g.google_grpc !== undefined) ctx.addIssue({ code: "custom", message: "envoy_grpc and google_grpc are one of: set one" });
      // Envoy would accept it and never retry: refused rather than applied or silently dropped.
      if (g.google_grpc !== undefined && g.retry_policy !== undefined && retryPolicy === "taken") {
        ctx.addIssue({ code: "custom", path: ["retry_policy"], message: "not read with google_grpc: Envoy's Google gRPC client does not retry calls (use envoy_grpc to retry them)" });
      }
    })
    .transform((g, ctx): GrpcServiceConfig => {
      const timeoutMs = typeof g.timeout === "number" ? g.timeout : undefined;
      const retry = g.retry_policy as RetryPolicyConfig | undefined;
      const withRetry = <T extends object>(target: T): T & { retryPolicy?: RetryPolicyConfig } => (retry === undefined ? target : { ...target, retryPolicy: retry });
      if (g.envoy_grpc !== undefined) return { target: withRetry({ clusterName: g.envoy_grpc.cluster_name, authority: g.envoy_grpc.authority, initialMetadata: g.initial_metadata }), timeoutMs };
      const google = googleGrpcTarget(g.google_grpc!, (path, message) => ctx.addIssue({ code: "custom", path: ["google_grpc", ...path], message }));
      if (google === undefined) return z.NEVER;
      return { target: { clusterName: google.cluster.name, authority: google.authority, initialMetadata: g.initial_metadata, google }, timeoutMs };
    });
}
