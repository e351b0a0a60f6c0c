/**
 * envoy.extensions.filters.network.postgres_proxy.v3alpha.PostgresProxy
 * (contrib/envoy/extensions/filters/network/postgres_proxy/v3alpha/postgres_proxy.proto).
 * terminate_ssl needs Envoy's starttls transport socket and upstream_ssl needs a
 * StartTLS upstream socket; polyvoy has neither, so both are accepted only at their
 * defaults (false, DISABLE) and refused by name otherwise.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { nonEmptyString, strictObject } from "./shared-schemas.ts";
import type { PostgresProxyConfig } from "./bootstrap.ts";
import { lazySchema } from "./lazy-schema.ts";
import { isFalse, unsupportedField, unsupportedValue } from "./unsupported-field.ts";

/** A google.protobuf.BoolValue: a bool, or `{ value }`. */
const boolValue = lazySchema(() =>
  z.union([z.boolean(), strictObject({ value: z.boolean() }).transform((w) => w.value)]));

export const postgresProxyConfig: z.ZodType<PostgresProxyConfig> = lazySchema(() =>
  strictObject({
      stat_prefix: nonEmptyString,
      enable_sql_parsing: boolValue.optional(),
      terminate_ssl: unsupportedField(
        "only false: it needs Envoy's starttls transport socket, which polyvoy does not have; the SSLRequest then passes to the server",
        isFalse,
      ),
      upstream_ssl: unsupportedValue(
        "supported: DISABLE; REQUIRE and PREFER need a StartTLS upstream transport socket, which polyvoy does not have",
        // Envoy reads enum names in any case.
        (v) => (typeof v === "string" ? v.toUpperCase() === "DISABLE" : v === 0),
      ),
    })
    .transform((c): PostgresProxyConfig => ({ statPrefix: c.stat_prefix, enableSqlParsing: c.enable_sql_parsing ?? true })));
