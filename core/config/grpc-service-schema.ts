/**
 * envoy.config.core.v3.GrpcService with envoy_grpc: where a filter's gRPC calls go
 * (core/http/grpc-async-client.ts). google_grpc (the C++ gRPC client) is not there; every
 * other field is taken or refused by name.
 */
// Namespace import: under one runtime, vitest's module loader drops zod's `z` named export.
import * as z from "zod";
import { nonEmptyString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { GrpcServiceTarget } from "./bootstrap.ts";
import { durationMs, headerName, headerValue } from "./proto-schema.ts";
import { isFalse, unsupportedField } from "./unsupported-field.ts";

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
  retry_policy: unsupportedField("gRPC service calls are not retried"),
  max_receive_message_length: unsupportedField("responses are bounded at 4 MiB"),
  skip_envoy_headers: unsupportedField("polyvoy adds no x-envoy-* headers to gRPC service calls", isFalse),
}));

/** envoy.config.core.v3.HeaderValue as initial_metadata takes it. */
const metadataEntry = lazySchema(() =>
  strictObject({ key: headerName, value: headerValue.default("") }).transform((h): [string, string] => [h.key.toLowerCase(), h.value]));

export function grpcService(what: { timeout: "taken" | string }) {
  return strictObject({
      envoy_grpc: envoyGrpc.optional(),
      google_grpc: unsupportedField("the C++ gRPC client: use envoy_grpc"),
      timeout: what.timeout === "taken" ? durationMs.optional() : unsupportedField(what.timeout),
      initial_metadata: z.array(metadataEntry).default([]),
      retry_policy: unsupportedField("gRPC service calls are not retried"),
    })
    .superRefine((g, ctx) => {
      if (g.envoy_grpc === undefined) ctx.addIssue({ code: "custom", message: "must set envoy_grpc" });
    })
    .transform(
      (g): GrpcServiceConfig => ({
        target: { clusterName: g.envoy_grpc!.cluster_name, authority: g.envoy_grpc!.authority, initialMetadata: g.initial_metadata },
        timeoutMs: typeof g.timeout === "number" ? g.timeout : undefined,
      }),
    );
}
