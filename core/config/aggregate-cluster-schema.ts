/**
 * Cluster.cluster_type `envoy.clusters.aggregate` (envoy.extensions.clusters.aggregate.v3.ClusterConfig):
 * a cluster whose hosts are those of the clusters it names, their priority levels
 * concatenated in list order (core/upstream/aggregate-cluster.ts). Envoy's checks and
 * messages: the proto's `clusters` min_items 1, and ClusterManagerImpl::loadCluster's
 * "cluster provided LB (not) specified" for an lb_policy other than CLUSTER_PROVIDED.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { nonEmptyString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { DynamicForwardProxyClusterConfig } from "./bootstrap.ts";
import { DYNAMIC_FORWARD_PROXY_CLUSTER_NAME, DYNAMIC_FORWARD_PROXY_CLUSTER_TYPE_URL, dynamicForwardProxyClusterConfig } from "./dynamic-forward-proxy-schema.ts";

export const AGGREGATE_CLUSTER_NAME = "envoy.clusters.aggregate";
export const AGGREGATE_CLUSTER_TYPE_URL = "type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig";

/** What a Cluster.CustomClusterType names: an aggregate's clusters, or a dynamic forward proxy's settings. */
export type CustomClusterType =
  | { readonly kind: "aggregate"; readonly clusters: string[] }
  | { readonly kind: "dynamic_forward_proxy"; readonly config: DynamicForwardProxyClusterConfig; readonly allowInsecure: boolean };

const CUSTOM_CLUSTER_TYPES: Readonly<Record<string, { typeUrl: string; schema: () => z.ZodType }>> = {
  [AGGREGATE_CLUSTER_NAME]: { typeUrl: AGGREGATE_CLUSTER_TYPE_URL, schema: () => aggregateClusterConfig },
  [DYNAMIC_FORWARD_PROXY_CLUSTER_NAME]: { typeUrl: DYNAMIC_FORWARD_PROXY_CLUSTER_TYPE_URL, schema: () => dynamicForwardProxyClusterConfig },
};

/** Cluster.CustomClusterType: the aggregate and dynamic forward proxy clusters are the ones polyvoy has. */
export const customClusterType = lazySchema(() =>
  strictObject({
    name: nonEmptyString,
    typed_config: z.looseObject({ "@type": z.string() }).optional(),
  }).transform((t, ctx): CustomClusterType => {
    const kind = CUSTOM_CLUSTER_TYPES[t.name];
    if (kind === undefined) {
      ctx.addIssue({ code: "custom", path: ["name"], message: `cluster type '${t.name}' is not one polyvoy has (supported: ${Object.keys(CUSTOM_CLUSTER_TYPES).join(", ")})` });
      return z.NEVER;
    }
    const typed = t.typed_config;
    if (typed?.["@type"] !== kind.typeUrl) {
      ctx.addIssue({ code: "custom", path: ["typed_config", "@type"], message: `${t.name} needs typed_config of type ${kind.typeUrl}` });
      return z.NEVER;
    }
    const parsed = kind.schema().safeParse(typed);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, code: "custom", path: ["typed_config", ...issue.path.map(String)], message: issue.message });
      return z.NEVER;
    }
    if (t.name === AGGREGATE_CLUSTER_NAME) return { kind: "aggregate", clusters: (parsed.data as { clusters: string[] }).clusters };
    const dfp = parsed.data as DynamicForwardProxyClusterConfig & { allowInsecure: boolean };
    return { kind: "dynamic_forward_proxy", config: { dnsCache: dfp.dnsCache }, allowInsecure: dfp.allowInsecure };
  }));

/** envoy.extensions.clusters.aggregate.v3.ClusterConfig */
const aggregateClusterConfig = lazySchema(() =>
  strictObject({
    "@type": z.string(),
    // cluster.proto: repeated string clusters = 1 [(validate.rules).repeated = {min_items: 1}].
    clusters: z.array(nonEmptyString).min(1, { message: "value must contain at least 1 item(s)" }),
  }).superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.clusters.forEach((name, i) => {
      // Envoy's linearization would give the same hosts twice the load; a list naming one cluster twice is a mistake.
      if (seen.has(name)) ctx.addIssue({ code: "custom", path: ["clusters", i], message: `cluster '${name}' is named twice` });
      seen.add(name);
    });
  }));

/**
 * Cluster fields about an aggregate's own hosts or connections, which it has none of: its
 * clusters' own apply (Envoy accepts and ignores them here; polyvoy refuses them).
 */
export const AGGREGATE_IGNORED_FIELDS = [
  "load_assignment",
  "health_checks",
  "outlier_detection",
  "lb_subset_config",
  "transport_socket",
  "typed_extension_protocol_options",
  "http2_protocol_options",
  "http_protocol_options",
  "common_http_protocol_options",
  "upstream_http_protocol_options",
  "max_requests_per_connection",
  "preconnect_policy",
  "eds_cluster_config",
  "upstream_connection_options",
] as const;

/** Envoy's messages (cluster_manager_impl.cc, loadCluster). */
export function clusterProvidedMismatch(name: string, aggregate: boolean): string {
  return aggregate
    ? `cluster manager: cluster provided LB not specified but cluster '${name}' provided one. Check cluster documentation.`
    : `cluster manager: cluster provided LB specified but cluster '${name}' did not provide one. Check cluster documentation.`;
}
