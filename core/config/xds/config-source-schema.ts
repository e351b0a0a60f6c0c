/**
 * envoy.config.core.v3.ConfigSource as polyvoy reads it: a file (path_config_source, or
 * the older `path`), Envoy's filesystem subscription (config_subscription/filesystem/);
 * for LDS, CDS, RDS, EDS, SDS and RTDS also a management server: a state-of-the-world gRPC stream
 * (api_config_source with api_type GRPC, grpc-mux.ts), an incremental one (DELTA_GRPC,
 * delta-grpc-mux.ts), JSON polling (REST, http-subscription.ts) or the ADS stream
 * (`ads: {}`, dynamic_resources.ads_config); RTDS too. `self` is refused by name. Used by SDS (sds_config), RDS (rds.config_source), EDS
 * (eds_cluster_config) and dynamic_resources (lds_config, cds_config, ads_config).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "../schema-kit/index.ts";
import { boolFalse, nonEmptyString, optionalNonEmptyString, optionalString, strictObject } from "../shared-schemas.ts";
import type { AdsConfigSource, ApiConfigSource, RestConfigSource, SdsConfigSource, XdsConfigSource } from "../bootstrap.ts";
import { grpcService } from "../grpc-service-schema.ts";
import { durationMs, oneOf, uint32 } from "../proto-schema.ts";
import { isEmptyList, isFalse, refuseField, unsupportedField } from "../unsupported-field.ts";
import { lazySchema } from "../lazy-schema.ts";
import { unsupportedValueMessage } from "../refusal.ts";

/** WatchedDirectory: the directory whose moves reload the file (Envoy's atomic symlink swap). */
export const watchedDirectory = lazySchema(() =>
  strictObject({ path: nonEmptyString }).transform((w) => w.path));

/** PathConfigSource */
const pathConfigSource = lazySchema(() =>
  strictObject({
  path: nonEmptyString,
  watched_directory: watchedDirectory.optional(),
}));


/** Envoy's default initial_fetch_timeout (config_source.proto). */
const DEFAULT_INITIAL_FETCH_TIMEOUT_MS = 15_000;

/** Envoy's RateLimitSettings defaults (source/common/config/utility.h: DefaultMaxTokens, DefaultFillRate per second). */
const DEFAULT_RATE_LIMIT_MAX_TOKENS = 100;
const DEFAULT_RATE_LIMIT_FILL_RATE = 10;

/** Envoy's default request_timeout for REST (Utility::apiConfigSourceRequestTimeout). */
const DEFAULT_REST_REQUEST_TIMEOUT_MS = 1000;

/**
 * ApiConfigSource (api_config_source.proto): api_type GRPC (state of the world, grpc-mux.ts),
 * DELTA_GRPC (incremental, delta-grpc-mux.ts) or REST (JSON polling, http-subscription.ts),
 * with the checks of Envoy's Utility::checkApiConfigSourceNames and apiConfigSourceRefreshDelay.
 */
export const apiConfigSource = lazySchema(() =>
  strictObject({
    api_type: optionalString,
    transport_api_version: z.literal("V3").optional(),
    grpc_services: z.array(grpcService({ timeout: "timeout (an xDS stream has no deadline)" })).default([]),
    cluster_names: z.array(nonEmptyString).default([]),
    refresh_delay: durationMs.optional(),
    request_timeout: durationMs.optional(),
    // envoy.config.core.v3.RateLimitSettings: a token bucket on the stream's requests
    // (Envoy's Utility::parseRateLimitSettings: max_tokens 100, fill_rate 10/s by default).
    rate_limit_settings: strictObject({
      max_tokens: uint32.optional(),
      fill_rate: z.number().refine((rate) => rate > 0, { message: "must be greater than 0" }).optional(),
    }).optional(),
    set_node_on_first_message_only: boolFalse,
    config_validators: unsupportedField(undefined, isEmptyList),
  })
  .superRefine((c, ctx) => {
    const type = c.api_type ?? "LEGACY_SOURCE";
    if (type === "GRPC" || type === "DELTA_GRPC") {
      if (c.cluster_names.length > 0) ctx.addIssue({ code: "custom", path: ["cluster_names"], message: "(DELTA_)GRPC must not have a cluster name specified (it names its cluster in grpc_services)" });
      if (c.grpc_services.length !== 1) ctx.addIssue({ code: "custom", path: ["grpc_services"], message: "Only singleton gRPC service lists supported" });
      // Envoy reads them for REST only; taking them here would accept a field and ignore it.
      if (c.refresh_delay !== undefined) ctx.addIssue({ code: "custom", path: ["refresh_delay"], message: "refresh_delay is for api_type REST only (a gRPC stream is pushed to)" });
      if (c.request_timeout !== undefined) ctx.addIssue({ code: "custom", path: ["request_timeout"], message: "request_timeout is for api_type REST only (a gRPC stream has no deadline)" });
      if (type === "DELTA_GRPC" && c.rate_limit_settings !== undefined) refuseField(ctx, "with DELTA_GRPC: polyvoy limits the requests of GRPC (state of the world) streams only", ["rate_limit_settings"]);
    } else if (type === "REST") {
      if (c.grpc_services.length > 0) ctx.addIssue({ code: "custom", path: ["grpc_services"], message: "REST, not a gRPC type, must not have a gRPC service specified" });
      if (c.cluster_names.length !== 1) ctx.addIssue({ code: "custom", path: ["cluster_names"], message: "REST must have a singleton cluster name specified" });
      if (c.refresh_delay === undefined) ctx.addIssue({ code: "custom", path: ["refresh_delay"], message: "refresh_delay is required for REST API configuration sources" });
      // Envoy's RestApiFetcher jitters by `random() % refresh_delay` (0 divides by zero): a poll
      // every few microseconds is refused. The port's timers take any longer delay.
      else if (typeof c.refresh_delay === "number" && c.refresh_delay < 1) ctx.addIssue({ code: "custom", path: ["refresh_delay"], message: "must be at least 1ms" });
      if (c.set_node_on_first_message_only) ctx.addIssue({ code: "custom", path: ["set_node_on_first_message_only"], message: "set_node_on_first_message_only is for gRPC streams (every REST request carries the node)" });
      if (c.rate_limit_settings !== undefined) ctx.addIssue({ code: "custom", path: ["rate_limit_settings"], message: "rate_limit_settings is for gRPC streams (Envoy's REST fetcher polls at refresh_delay)" });
    } else {
      ctx.addIssue({ code: "custom", path: ["api_type"], message: unsupportedValueMessage(String(type), "supported: GRPC, DELTA_GRPC, REST") });
    }
  })
  .transform((c): ApiSource =>
    c.api_type === "REST"
      ? { kind: "rest", clusterName: c.cluster_names[0]!, refreshDelayMs: c.refresh_delay as number, requestTimeoutMs: typeof c.request_timeout === "number" ? c.request_timeout : DEFAULT_REST_REQUEST_TIMEOUT_MS }
      : {
          kind: "grpc",
          target: c.grpc_services[0]!.target,
          nodeOnFirstMessageOnly: c.set_node_on_first_message_only,
          delta: c.api_type === "DELTA_GRPC",
          ...(c.rate_limit_settings !== undefined && { rateLimit: { maxTokens: c.rate_limit_settings.max_tokens ?? DEFAULT_RATE_LIMIT_MAX_TOKENS, fillRate: c.rate_limit_settings.fill_rate ?? DEFAULT_RATE_LIMIT_FILL_RATE } }),
        },
  ));

/** An api_config_source as read, before its initial_fetch_timeout is added. */
export type ApiSource = Omit<ApiConfigSource, "initialFetchTimeoutMs"> | Omit<RestConfigSource, "initialFetchTimeoutMs">;

/**
 * ConfigSource: the file and the directory to watch, or (with `server`) a management
 * server. `what` names the subscription for the refusals.
 */
export function configSourceSchema(what: string): z.ZodType<SdsConfigSource>;
export function configSourceSchema(what: string, server: "server"): z.ZodType<XdsConfigSource>;
export function configSourceSchema(what: string, server?: "server"): z.ZodType<XdsConfigSource> {
  return lazySchema(() => configSourceObject(what, server));
}

function configSourceObject(what: string, server?: "server"): z.ZodType<XdsConfigSource> {
  const serverField = () => (server ? undefined : unsupportedField(`polyvoy reads ${what} from files only, not from a management server: use path_config_source`));
  return strictObject({
      path: optionalNonEmptyString,
      path_config_source: pathConfigSource.optional(),
      resource_api_version: z.literal("V3").optional(),
      initial_fetch_timeout: server ? durationMs.optional() : unsupportedField(`a ${what} file is read before anything waits on it`),
      api_config_source: serverField() ?? apiConfigSource.optional(),
      ads: serverField() ?? strictObject({}).optional(),
      self: unsupportedField(`polyvoy has no xDS client for a management server's self source: use api_config_source or ads`),
      authorities: unsupportedField(undefined, isEmptyList),
    })
    .transform((c, ctx): XdsConfigSource => {
      const key = oneOf(c, ["path", "path_config_source", "api_config_source", "ads"] as const, ctx, true);
      if (key === undefined) return z.NEVER;
      const initialFetchTimeoutMs = typeof c.initial_fetch_timeout === "number" ? c.initial_fetch_timeout : DEFAULT_INITIAL_FETCH_TIMEOUT_MS;
      if (key === "api_config_source") return { ...(c.api_config_source as ApiSource), initialFetchTimeoutMs };
      if (key === "ads") return { kind: "ads", initialFetchTimeoutMs } satisfies AdsConfigSource;
      if (c.initial_fetch_timeout !== undefined && server) {
        ctx.addIssue({ code: "custom", path: ["initial_fetch_timeout"], message: `initial_fetch_timeout is for a management server (a ${what} file is read before anything waits on it)` });
        return z.NEVER;
      }
      if (key === "path") return { path: c.path! };
      const source = c.path_config_source!;
      return { path: source.path, ...(typeof source.watched_directory === "string" ? { watchedDirectory: source.watched_directory } : {}) };
    });
}
