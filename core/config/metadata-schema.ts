/**
 * envoy.config.core.v3.Metadata as polyvoy keeps it: filter_metadata, a Struct per filter
 * namespace. Routes (%METADATA(ROUTE:…)%), endpoints (subset load balancing,
 * %UPSTREAM_METADATA%, retry host predicates) and metadata_match read it.
 * typed_filter_metadata holds Any messages only extensions polyvoy lacks read; it is
 * refused as a field polyvoy does not support.
 */
// Namespace import: under one runtime, vitest's module loader drops zod's `z` named export.
import * as z from "zod";
import type { FilterMetadata } from "./bootstrap.ts";
import { lazySchema } from "./lazy-schema.ts";

export const metadataSchema = lazySchema(() =>
  z
    .strictObject({ filter_metadata: z.record(z.string(), z.record(z.string(), z.unknown())).default({}) })
    .transform((m): FilterMetadata => m.filter_metadata),
);
