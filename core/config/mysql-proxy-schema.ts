/**
 * envoy.extensions.filters.network.mysql_proxy.v3.MySQLProxy
 * (api/contrib/envoy/extensions/filters/network/mysql_proxy/v3/mysql_proxy.proto).
 * access_log is `[#not-implemented-hide:]` in Envoy (it reads no such file), so polyvoy takes
 * it only empty rather than accept a path and write nothing. downstream_ssl (Envoy's newer
 * SSL termination, mysql_filter.cc onSSLRequest) needs a starttls transport socket, which
 * polyvoy does not have: only DISABLE, where the SSL request passes to the server.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { nonEmptyString, strictObject } from "./shared-schemas.ts";
import type { MySQLProxyConfig } from "./bootstrap.ts";
import { lazySchema } from "./lazy-schema.ts";
import { unsupportedField, unsupportedValue } from "./unsupported-field.ts";

export const mysqlProxyConfig: z.ZodType<MySQLProxyConfig> = lazySchema(() =>
  strictObject({
      stat_prefix: nonEmptyString,
      access_log: unsupportedField(
        "only empty: Envoy does not implement it either ([#not-implemented-hide:] in mysql_proxy.proto); log the connection with tcp_proxy's access_log and %DYNAMIC_METADATA(envoy.filters.network.mysql_proxy)%",
        (v) => v === "",
      ),
      downstream_ssl: unsupportedValue(
        "supported: DISABLE; terminating the client's SSL needs Envoy's starttls transport socket, which polyvoy does not have",
        // Envoy reads enum names in any case.
        (v) => (typeof v === "string" ? v.toUpperCase() === "DISABLE" : v === 0),
      ),
    })
    .transform((c): MySQLProxyConfig => ({ statPrefix: c.stat_prefix })));
