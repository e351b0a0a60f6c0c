/**
 * The HCM's `tracing` (envoy.extensions.filters.network.http_connection_manager.v3.
 * HttpConnectionManager.Tracing) and the bootstrap's (envoy.config.trace.v3.Tracing).
 * polyvoy has no tracer, so a provider is refused by name; without one Envoy's tracer is
 * its null tracer, and what remains has effects polyvoy reproduces: the request-id
 * sampling decision written into x-request-id and the `tracing.*` stats
 * (core/http/conn-manager/tracing-decision.ts). The span-only fields (custom_tags,
 * verbose, max_path_tag_length, spawn_upstream_span) change nothing without a tracer, in
 * Envoy as here, and are accepted.
 */
// Namespace import: under one runtime, vitest's module loader drops zod's `z` named export.
import * as z from "zod";
import { optionalBool, strictObject, stringEmpty } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { TracingConfig } from "./bootstrap.ts";
import { uint32 } from "./proto-schema.ts";

const NO_TRACER = "polyvoy has no tracer to send spans to: remove the provider";

/** A tracer by its extension name: refused with that name. */
const provider = lazySchema(() =>
  strictObject({ name: stringEmpty, typed_config: z.unknown().optional() })
  .superRefine((p, ctx) => {
    const name = p.name !== "" ? p.name : String((p.typed_config as { "@type"?: string } | undefined)?.["@type"] ?? "(unnamed)");
    ctx.addIssue({ code: "custom", message: `${name} is an Envoy tracer that polyvoy does not support yet (${NO_TRACER})` });
  }));

/** envoy.type.v3.Percent */
const percent = lazySchema(() =>
  strictObject({ value: z.number().min(0).max(100) }).transform((p) => p.value));

export const hcmTracing: z.ZodType<TracingConfig, unknown> = lazySchema(() =>
  strictObject({
    client_sampling: percent.optional(),
    random_sampling: percent.optional(),
    overall_sampling: percent.optional(),
    verbose: optionalBool,
    max_path_tag_length: z.union([uint32, strictObject({ value: uint32 })]).optional(),
    custom_tags: z.array(z.unknown()).optional(),
    spawn_upstream_span: z.union([z.boolean(), strictObject({ value: z.boolean() })]).optional(),
    provider: provider.optional(),
  })
  .transform(
    (t): TracingConfig => ({
      // Envoy's HttpConnectionManagerConfig: client and overall as whole percents, random out of 10 000.
      clientSampling: { numerator: Math.floor(t.client_sampling ?? 100), denominator: 100, runtimeKey: "tracing.client_enabled" },
      randomSampling: { numerator: Math.round((t.random_sampling ?? 100) * 100), denominator: 10_000, runtimeKey: "tracing.random_sampling" },
      overallSampling: { numerator: Math.floor(t.overall_sampling ?? 100), denominator: 100, runtimeKey: "tracing.global_enabled" },
      // The listener's traffic_direction decides it (listenerSchema).
      operationName: "ingress",
    }),
  ));

/** The bootstrap's tracing: only its provider (`http`), which is refused. */
export const bootstrapTracing = lazySchema(() =>
  strictObject({ http: provider.optional() }));
