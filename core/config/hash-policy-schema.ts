/**
 * envoy.config.route.v3.RouteAction.HashPolicy: what a request is hashed by for the
 * consistent hashing balancers (RING_HASH, MAGLEV).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, nonEmptyString, strictObject, stringEmpty } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { HashPolicyConfig } from "./bootstrap.ts";
import { durationMs, headerName, headerValue, oneOf, replaceAllRegex } from "./proto-schema.ts";
import { unsupportedField } from "./unsupported-field.ts";

const cookieAttribute = lazySchema(() =>
  strictObject({
  name: z.string().min(1).max(16384).regex(/^[^\0\r\n;= ]+$/, { message: "must be a cookie attribute name" }),
  value: headerValue.max(16384).default(""),
}));

const hashPolicyEntry = lazySchema(() =>
  strictObject({
    header: strictObject({
        header_name: headerName,
        regex_rewrite: strictObject({ pattern: strictObject({ regex: replaceAllRegex, google_re2: strictObject({}).optional() }), substitution: z.string() }).optional(),
      })
      .optional(),
    cookie: strictObject({
        name: nonEmptyString,
        ttl: durationMs.optional(),
        path: stringEmpty,
        attributes: z.array(cookieAttribute).default([]),
      })
      .optional(),
    connection_properties: strictObject({ source_ip: boolFalse }).optional(),
    query_parameter: strictObject({ name: nonEmptyString }).optional(),
    // Envoy hashes a filter state object that implements Hashable; no polyvoy filter stores one.
    filter_state: unsupportedField("no polyvoy filter stores a hashable filter state object"),
    terminal: boolFalse,
  })
  .transform((h, ctx): HashPolicyConfig | undefined => {
    const kind = oneOf(h, ["header", "cookie", "connection_properties", "query_parameter", "filter_state"] as const, ctx, true);
    const terminal = h.terminal;
    switch (kind) {
      case "header": {
        const header = h.header!;
        const policy: HashPolicyConfig = { type: "header", headerName: header.header_name, terminal };
        if (header.regex_rewrite) policy.regexRewrite = { pattern: header.regex_rewrite.pattern.regex, substitution: header.regex_rewrite.substitution };
        return policy;
      }
      case "cookie": {
        const cookie = h.cookie!;
        const policy: HashPolicyConfig = { type: "cookie", name: cookie.name, path: cookie.path, attributes: cookie.attributes, terminal };
        // Envoy keeps the whole seconds of the ttl (std::chrono::seconds(ttl.seconds())).
        if (cookie.ttl !== undefined) policy.ttlSeconds = Math.floor(cookie.ttl / 1000);
        return policy;
      }
      case "connection_properties":
        // source_ip: false adds no hash method, as in Envoy.
        return h.connection_properties!.source_ip ? { type: "source_ip", terminal } : undefined;
      case "query_parameter":
        return { type: "query_parameter", name: h.query_parameter!.name, terminal };
      default:
        return undefined;
    }
  }));

/** RouteAction.hash_policy */
export const hashPolicy = lazySchema(() =>
  z.array(hashPolicyEntry).transform((list) => list.filter((p): p is HashPolicyConfig => p !== undefined)));
