/**
 * The admin's `/config_dump`: Envoy's envoy.admin.v3.ConfigDump shape — a `configs`
 * list with the bootstrap, then the static clusters, listeners and route configs — made
 * from the config document as loaded (after camelCase → snake_case), so it reads like
 * the config that is running. `?resource=static_clusters` (…) lists one kind, as Envoy's.
 * Resources from xDS files (core/config/xds/) are listed beside, each with its
 * version_info: CDS clusters under dynamic_active_clusters (dynamic_warming_clusters while
 * they warm), LDS listeners under dynamic_listeners (their active_state, and warming_state), RDS route configs under dynamic_route_configs,
 * and with `?include_eds` the EDS assignments under an EndpointsConfigDump's
 * dynamic_endpoint_configs. Every part has its sensitive fields (private keys, generic
 * secrets, passwords…) replaced by "[redacted]", as Envoy's dump does (redact.ts).
 */
import type { Bootstrap } from "../config/bootstrap.ts";
import { isoTimestamp } from "../util/civil-time.ts";
import type { DynamicResource } from "../config/xds/xds-manager.ts";
import type { DynamicSecretDump } from "../tls/secret-manager.ts";
import { redactSensitive } from "./redact.ts";

/** What xDS delivered, for the dump: CDS clusters, LDS listeners, RDS route configs, and EDS assignments (only with ?include_eds). */
export interface DynamicConfigs {
  readonly clusters?: readonly DynamicResource[];
  readonly listeners?: readonly DynamicResource[];
  /** CDS clusters and LDS listeners taken and still warming (dynamic_warming_clusters, warming_state). */
  readonly warmingClusters?: readonly DynamicResource[];
  readonly warmingListeners?: readonly DynamicResource[];
  readonly routes: readonly DynamicResource[];
  readonly endpoints?: readonly DynamicResource[];
  /** The SDS secrets held (SecretManager.dumpDynamic): dynamic_active_secrets, and dynamic_warming_secrets for those not sent yet. */
  readonly secrets?: readonly DynamicSecretDump[];
  /** CDS's and LDS's version_info (ClustersConfigDump / ListenersConfigDump version_info; "" or absent: none). */
  readonly clustersVersionInfo?: string;
  readonly listenersVersionInfo?: string;
}

const ADMIN = "type.googleapis.com/envoy.admin.v3.";
const CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener";
const SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/**
 * @param document the config as loaded (snake_case keys), when the server was given it;
 *   otherwise the effective Bootstrap is dumped as it is.
 * @param loadedAt wall-clock ms when the config was loaded (each entry's last_updated).
 */
export function configDump(document: unknown, bootstrap: Bootstrap, loadedAt: number, dynamic: DynamicConfigs = { routes: [] }): Json {
  const lastUpdated = isoTimestamp(loadedAt);
  const doc = isObject(document) ? document : undefined;
  const resources = isObject(doc?.static_resources) ? doc.static_resources : {};
  const clusters = doc ? list(resources.clusters) : bootstrap.clusters;
  const listeners = doc ? list(resources.listeners) : bootstrap.listeners;
  // Inline route_configs of the HTTP connection managers.
  const routeConfigs: unknown[] = [];
  for (const listener of doc ? list(resources.listeners) : []) {
    for (const chain of list(isObject(listener) ? listener.filter_chains : undefined)) {
      for (const filter of list(isObject(chain) ? chain.filters : undefined)) {
        const typed = isObject(filter) ? filter.typed_config : undefined;
        if (isObject(typed) && isObject(typed.route_config)) routeConfigs.push(typed.route_config);
      }
    }
  }
  const typed = (type: string, value: unknown) => (isObject(value) ? { "@type": type, ...value } : value);
  return redactSensitive({
    configs: [
      { "@type": `${ADMIN}BootstrapConfigDump`, bootstrap: doc ?? bootstrap, last_updated: lastUpdated },
      {
        "@type": `${ADMIN}ClustersConfigDump`,
        ...(dynamic.clustersVersionInfo ? { version_info: dynamic.clustersVersionInfo } : {}),
        static_clusters: clusters.map((c) => ({ cluster: typed(CLUSTER_TYPE, c), last_updated: lastUpdated })),
        ...(dynamic.clusters?.length
          ? {
              dynamic_active_clusters: dynamic.clusters.map((c) => ({
                version_info: c.versionInfo,
                cluster: typed(CLUSTER_TYPE, c.document),
                last_updated: isoTimestamp(c.lastUpdated),
              })),
            }
          : {}),
        ...(dynamic.warmingClusters?.length
          ? {
              dynamic_warming_clusters: dynamic.warmingClusters.map((c) => ({
                version_info: c.versionInfo,
                cluster: typed(CLUSTER_TYPE, c.document),
                last_updated: isoTimestamp(c.lastUpdated),
              })),
            }
          : {}),
      },
      {
        "@type": `${ADMIN}ListenersConfigDump`,
        ...(dynamic.listenersVersionInfo ? { version_info: dynamic.listenersVersionInfo } : {}),
        static_listeners: listeners.map((l) => ({ listener: typed(LISTENER_TYPE, l), last_updated: lastUpdated })),
        ...(dynamic.listeners?.length || dynamic.warmingListeners?.length
          ? {
              // ListenersConfigDump.DynamicListener: the listener serving now is its active_state,
              // one taken and waiting for its init targets (RDS) its warming_state, by name.
              dynamic_listeners: dynamicListeners(dynamic.listeners ?? [], dynamic.warmingListeners ?? []).map(([name, active, warming]) => ({
                name,
                ...(active ? { active_state: { version_info: active.versionInfo, listener: typed(LISTENER_TYPE, active.document), last_updated: isoTimestamp(active.lastUpdated) } } : {}),
                ...(warming ? { warming_state: { version_info: warming.versionInfo, listener: typed(LISTENER_TYPE, warming.document), last_updated: isoTimestamp(warming.lastUpdated) } } : {}),
              })),
            }
          : {}),
      },
      {
        "@type": `${ADMIN}RoutesConfigDump`,
        static_route_configs: routeConfigs.map((r) => ({
          route_config: typed("type.googleapis.com/envoy.config.route.v3.RouteConfiguration", r),
          last_updated: lastUpdated,
        })),
        ...(dynamic.routes.length > 0
          ? {
              dynamic_route_configs: dynamic.routes.map((r) => ({
                version_info: r.versionInfo,
                route_config: typed("type.googleapis.com/envoy.config.route.v3.RouteConfiguration", r.document),
                last_updated: isoTimestamp(r.lastUpdated),
              })),
            }
          : {}),
      },
      ...(dynamic.endpoints
        ? [
            {
              "@type": `${ADMIN}EndpointsConfigDump`,
              ...(dynamic.endpoints.length > 0
                ? {
                    dynamic_endpoint_configs: dynamic.endpoints.map((e) => ({
                      version_info: e.versionInfo,
                      endpoint_config: typed("type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment", e.document),
                      last_updated: isoTimestamp(e.lastUpdated),
                    })),
                  }
                : {}),
            },
          ]
        : []),
      secretsConfigDump(doc ? list(resources.secrets) : (bootstrap.secrets ?? []), dynamic.secrets ?? []),
    ],
  }) as Json;
}

/**
 * Envoy's SecretsConfigDump (secret_manager_impl.cc dumpSecretConfigs), always present:
 * static_secrets (name and secret; Envoy sets no last_updated on them), then every SDS
 * secret held, a file's or a management server's, with its version_info and last_updated:
 * dynamic_active_secrets once it came, dynamic_warming_secrets (the secret's name only)
 * before. Each secret is redacted with the rest of the dump (MessageUtil::redact).
 */
function secretsConfigDump(statics: readonly unknown[], dynamic: readonly DynamicSecretDump[]): Json {
  const order = ["tls_certificate", "validation_context", "session_ticket_keys", "generic_secret"];
  const rank = (secret: unknown) => order.findIndex((key) => isObject(secret) && (secret[key] !== undefined || secret[snakeToCamel(key)] !== undefined));
  const staticSecrets = statics
    .map((secret, i) => ({ secret, i }))
    .sort((a, b) => rank(a.secret) - rank(b.secret) || a.i - b.i)
    .map(({ secret }) => ({ name: isObject(secret) ? secret.name : undefined, secret: isObject(secret) ? { "@type": SECRET_TYPE, ...secret } : secret }));
  const entry = (d: DynamicSecretDump) => ({
    name: d.name,
    ...(d.versionInfo !== "" ? { version_info: d.versionInfo } : {}),
    // Envoy's SecretData.last_updated_ starts at the epoch: a secret never sent shows 1970.
    last_updated: isoTimestamp(d.lastUpdated),
    secret: { "@type": SECRET_TYPE, ...(isObject(d.document) ? d.document : {}), name: d.name },
  });
  const active = dynamic.filter((d) => d.document !== undefined);
  const warming = dynamic.filter((d) => d.document === undefined);
  return {
    "@type": `${ADMIN}SecretsConfigDump`,
    ...(staticSecrets.length > 0 ? { static_secrets: staticSecrets } : {}),
    ...(active.length > 0 ? { dynamic_active_secrets: active.map(entry) } : {}),
    ...(warming.length > 0 ? { dynamic_warming_secrets: warming.map(entry) } : {}),
  };
}

function snakeToCamel(key: string): string {
  return key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The names of the active and warming listeners, sorted, with each one's states. */
function dynamicListeners(active: readonly DynamicResource[], warming: readonly DynamicResource[]): [string, DynamicResource | undefined, DynamicResource | undefined][] {
  const activeByName = new Map(active.map((l) => [l.name, l]));
  const warmingByName = new Map(warming.map((l) => [l.name, l]));
  const names = [...new Set([...activeByName.keys(), ...warmingByName.keys()])].sort();
  return names.map((name) => [name, activeByName.get(name), warmingByName.get(name)]);
}

/** `?resource=`: the repeated fields that can be asked for, and their entries' type names. */
const RESOURCES: Record<string, string> = {
  static_clusters: `${ADMIN}ClustersConfigDump.StaticCluster`,
  dynamic_active_clusters: `${ADMIN}ClustersConfigDump.DynamicCluster`,
  dynamic_warming_clusters: `${ADMIN}ClustersConfigDump.DynamicCluster`,
  static_listeners: `${ADMIN}ListenersConfigDump.StaticListener`,
  dynamic_listeners: `${ADMIN}ListenersConfigDump.DynamicListener`,
  static_route_configs: `${ADMIN}RoutesConfigDump.StaticRouteConfig`,
  dynamic_route_configs: `${ADMIN}RoutesConfigDump.DynamicRouteConfig`,
  dynamic_endpoint_configs: `${ADMIN}EndpointsConfigDump.DynamicEndpointConfig`,
  static_secrets: `${ADMIN}SecretsConfigDump.StaticSecret`,
  dynamic_active_secrets: `${ADMIN}SecretsConfigDump.DynamicSecret`,
  dynamic_warming_secrets: `${ADMIN}SecretsConfigDump.DynamicSecret`,
};

/** The fields `?resource=` takes, for the 404's message. */
export const CONFIG_DUMP_RESOURCES: readonly string[] = Object.keys(RESOURCES);

/** Envoy's `/config_dump?resource=<field>`: each entry of that field, typed; undefined for an unknown field. */
export function configDumpResource(dump: Json, resource: string): Json | undefined {
  const type = RESOURCES[resource];
  if (type === undefined) return undefined;
  const entries: unknown[] = [];
  for (const config of list(dump.configs)) {
    if (!isObject(config)) continue;
    for (const entry of list(config[resource])) entries.push(isObject(entry) ? { "@type": type, ...entry } : entry);
  }
  return { configs: entries };
}

/**
 * `?mask=a.b,c`: a protobuf FieldMask over the JSON dump, as Envoy's config_dump_handler.cc
 * applies it (FieldMaskUtil::TrimMessage): with `?resource=` to each resource, else to each
 * top-level config. A message keeps only the named fields (and its `@type`: Envoy re-packs
 * each Any, and trimResourceMessage trims the Any inside a resource by the rest of the path);
 * a named field is kept whole. A path through a list trims each entry.
 */
export function maskConfigDump(dump: Json, mask: string): Json {
  const paths = mask.split(",").map((p) => p.trim()).filter((p) => p !== "").map((p) => p.split("."));
  return { configs: list(dump.configs).map((config) => trimByPaths(config, paths)) };
}

function trimByPaths(value: unknown, paths: readonly (readonly string[])[]): unknown {
  if (paths.some((p) => p.length === 0)) return value;
  if (Array.isArray(value)) return value.map((entry) => trimByPaths(entry, paths));
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  if (value["@type"] !== undefined) out["@type"] = value["@type"];
  for (const [key, field] of Object.entries(value)) {
    if (key === "@type") continue;
    const rest = paths.filter((p) => p[0] === key).map((p) => p.slice(1));
    if (rest.length > 0) out[key] = trimByPaths(field, rest);
  }
  return out;
}

/**
 * `?name_regex=`: Envoy's name matcher (config_dump_handler.cc buildNameMatcher, RE2, a full
 * match): each config's resources keep those whose name matches — a cluster's, listener's or
 * route config's `name`, an EDS assignment's `cluster_name`. The bootstrap is not filtered
 * (Envoy's bootstrap dump ignores the matcher).
 */
export function filterConfigDumpByName(dump: Json, matches: (name: string) => boolean): Json {
  return {
    configs: list(dump.configs).map((config) => {
      if (!isObject(config)) return config;
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(config)) {
        out[key] = Array.isArray(value) ? value.filter((entry) => {
          const name = resourceName(entry);
          return name === undefined || matches(name);
        }) : value;
      }
      return out;
    }),
  };
}

function resourceName(entry: unknown): string | undefined {
  if (!isObject(entry)) return undefined;
  for (const key of ["cluster", "listener", "route_config", "endpoint_config"]) {
    const inner = entry[key];
    if (isObject(inner)) {
      const name = inner.name ?? inner.cluster_name;
      if (typeof name === "string") return name;
    }
  }
  return typeof entry.name === "string" ? entry.name : undefined;
}
