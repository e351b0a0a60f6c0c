/**
 * Http1ProtocolOptions.enable_trailers, downstream (the HCM's http_protocol_options) and
 * upstream (a cluster's): Envoy's HTTP/1 codec drops trailers unless it is true
 * (codec_impl.cc ignores trailer fields and ends a chunked body with the last chunk alone).
 * polyvoy's HTTP/1 codec always reads and writes trailers, so `true` is what it does;
 * `false`, asking for them to be dropped, is refused rather than ignored. Left unset, polyvoy
 * forwards them where Envoy would drop them (docs/http.md).
 */
// Namespace import: under one runtime, vitest's module loader drops zod's `z` named export.
import * as z from "zod";

export const enableTrailers = z
  .boolean()
  .optional()
  .superRefine((value, ctx) => {
    if (value === false) ctx.addIssue({ code: "custom", message: "not supported: false (polyvoy's HTTP/1 codec always forwards trailers; set true, or leave it unset)" });
  });
