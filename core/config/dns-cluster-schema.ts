/**
 * The Cluster fields of DNS discovery (STRICT_DNS, LOGICAL_DNS): refresh rates, TTLs,
 * the lookup family and the resolver. Envoy accepts them on any cluster and ignores them
 * on other types (cluster.proto, DnsLookupFamily), and so does this.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { nonEmptyString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { DnsClusterConfig, DnsLookupFamily } from "./bootstrap.ts";
import { durationMs } from "./proto-schema.ts";
import { refuseField } from "./unsupported-field.ts";
import { unsupportedNameMessage } from "./refusal.ts";

/** Envoy's dns_refresh_rate default (strict_dns_cluster.cc, logical_dns_cluster.cc): 5 s. */
export const DEFAULT_DNS_REFRESH_RATE_MS = 5000;

/** Envoy validates these Durations as `gt: {nanos: 1000000}`. */
export const overOneMs = lazySchema(() =>
  durationMs.refine((ms) => ms > 1, { message: "must be greater than 1ms" }));

/** Cluster.RefreshRate */
export const refreshRate = lazySchema(() =>
  strictObject({
  base_interval: overOneMs,
  max_interval: overOneMs.optional(),
}));

const GETADDRINFO = "type.googleapis.com/envoy.extensions.network.dns_resolver.getaddrinfo.v3.GetAddrInfoDnsResolverConfig";
const CARES = "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig";

const NO_CUSTOM_RESOLVERS =
  "polyvoy resolves names with the runtime's getaddrinfo (/etc/hosts, then the servers in /etc/resolv.conf), as Envoy's getaddrinfo resolver: resolver addresses and options cannot be set";

/**
 * typed_dns_resolver_config: the getaddrinfo resolver is what polyvoy has, so it is
 * accepted without settings; so is a c-ares resolver without settings (the system's
 * resolvers, as getaddrinfo uses). Anything that would change where or how names are
 * looked up is refused, saying why.
 */
export const typedDnsResolverConfig = lazySchema(() =>
  strictObject({
    name: nonEmptyString,
    typed_config: z.looseObject({ "@type": z.string() }),
  })
  .superRefine((resolver, ctx) => {
    const { "@type": type, ...settings } = resolver.typed_config;
    if (type !== GETADDRINFO && type !== CARES) {
      ctx.addIssue({ code: "custom", message: unsupportedNameMessage("DNS resolver", type, [GETADDRINFO]), path: ["typed_config", "@type"] });
      return;
    }
    for (const key of Object.keys(settings)) {
      refuseField(ctx, NO_CUSTOM_RESOLVERS, ["typed_config", key]);
    }
  }));

/** The deprecated dns_resolution_config (resolvers and options for c-ares): nothing in it can be honoured. */
export const dnsResolutionConfig = lazySchema(() =>
  z.looseObject({}).superRefine((config, ctx) => {
  for (const key of Object.keys(config)) refuseField(ctx, NO_CUSTOM_RESOLVERS, [key]);
}));

/** The DNS fields, spread into the Cluster's schema. */
export const dnsClusterFields = {
  dns_refresh_rate: lazySchema(() =>
  overOneMs).optional(),
  dns_failure_refresh_rate: refreshRate.optional(),
  respect_dns_ttl: lazySchema(() =>
  z.boolean()).optional(),
  dns_lookup_family: lazySchema(() =>
  z.enum(["AUTO", "V4_ONLY", "V6_ONLY", "V4_PREFERRED", "ALL"])).optional(),
  dns_jitter: lazySchema(() =>
  durationMs).optional(),
  typed_dns_resolver_config: typedDnsResolverConfig.optional(),
  dns_resolution_config: dnsResolutionConfig.optional(),
};

type DnsFields = { [K in keyof typeof dnsClusterFields]?: z.output<(typeof dnsClusterFields)[K]> };

/**
 * Envoy's own checks (Config::Utility::prepareDnsRefreshStrategy): max_interval
 * defaults to ten times base_interval and may not be below it.
 */
export function checkDnsFields(c: DnsFields, ctx: z.RefinementCtx): void {
  const rate = c.dns_failure_refresh_rate;
  if (rate?.max_interval !== undefined && rate.max_interval < rate.base_interval) {
    ctx.addIssue({ code: "custom", message: "dns_failure_refresh_rate must have max_interval greater than or equal to the base_interval", path: ["dns_failure_refresh_rate", "max_interval"] });
  }
}

/** The effective settings, with Envoy's defaults. */
export function dnsClusterConfig(c: DnsFields): DnsClusterConfig {
  const rate = c.dns_failure_refresh_rate;
  const config: DnsClusterConfig = {
    refreshRateMs: c.dns_refresh_rate ?? DEFAULT_DNS_REFRESH_RATE_MS,
    respectDnsTtl: c.respect_dns_ttl ?? false,
    lookupFamily: (c.dns_lookup_family ?? "AUTO") satisfies DnsLookupFamily,
    jitterMs: c.dns_jitter ?? 0,
  };
  if (rate) config.failureRefreshRate = { baseIntervalMs: rate.base_interval, maxIntervalMs: rate.max_interval ?? rate.base_interval * 10 };
  return config;
}
