/**
 * envoy.extensions.filters.http.checksum.v3alpha.ChecksumConfig (Envoy's contrib
 * checksum filter: core/http/filters/checksum.ts): `checksums` (a path matcher and the
 * expected body's SHA-256 in hex each) and `reject_unmatched`.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { ChecksumConfig, StringMatcherConfig } from "./bootstrap.ts";
import { stringMatcher } from "./matcher-schema.ts";

export const CHECKSUM_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.checksum.v3alpha.ChecksumConfig";

/**
 * 64 hex digits. Envoy's Hex::decode turns anything else into no bytes, a checksum no body
 * has: every response on its path would be refused. Refused here instead, by its field.
 */
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

const checksum = lazySchema(() =>
  strictObject({
    // Required here: a Checksum without a path_matcher matches no path Envoy could mean.
    path_matcher: stringMatcher,
    sha256: z.string().regex(SHA256_HEX, { message: "must be a SHA-256 in hex: 64 hex digits" }),
  }));

export const checksumConfig: z.ZodType<ChecksumConfig> = lazySchema(() =>
  strictObject({
    checksums: z.array(checksum).default([]),
    reject_unmatched: boolFalse,
  })
  .transform((c): ChecksumConfig => ({
    checksums: c.checksums.map((entry) => ({ pathMatcher: entry.path_matcher as StringMatcherConfig, sha256: entry.sha256.toLowerCase() })),
    rejectUnmatched: c.reject_unmatched,
  })));
