/**
 * envoy.extensions.filters.http.buffer.v3.Buffer and BufferPerRoute: the buffer HTTP
 * filter's config (core/http/filters/buffer.ts).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { BufferConfig } from "./bootstrap.ts";
import { oneOf, uint32 } from "./proto-schema.ts";

export const BUFFER_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer";
export const BUFFER_PER_ROUTE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute";

/** Buffer: max_request_bytes is required and > 0. */
const buffer = lazySchema(() =>
  strictObject({ max_request_bytes: uint32.min(1) }));

export const bufferConfig: z.ZodType<BufferConfig> = lazySchema(() =>
  buffer.transform((b): BufferConfig => ({ disabled: false, maxRequestBytes: b.max_request_bytes })));

/** BufferPerRoute: oneof `disabled` (which must be true) or `buffer`, one required. */
export const bufferPerRouteConfig: z.ZodType<BufferConfig> = lazySchema(() =>
  strictObject({
    // Envoy: `disabled` must be true (const) when set.
    disabled: z.literal(true).optional(),
    buffer: buffer.optional(),
  })
  .transform((r, ctx): BufferConfig => {
    oneOf(r, ["disabled", "buffer"], ctx, true);
    return { disabled: r.disabled === true, maxRequestBytes: r.buffer?.max_request_bytes ?? 0 };
  }));
