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

export const AGGREGATE_CLUSTER_NAME = "envoy.clusters.aggregate";
export const AGGREGATE_CLUSTER_TYPE_URL = "type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig";

/** Cluster.CustomClusterType: the aggregate cluster is the one polyvoy has. */
export const customClusterType = lazySchema(() =>
  strictObject({
    name: nonEmptyString,
    typed_config: z.looseObject({ "@type": z.string() }).optional(),
  }).transform((t, ctx): string[] => {
    if (t.name !== AGGREGATE_CLUSTER_NAME) {
      ctx.addIssue({ code: "custom", path: ["name"], message: `cluster type '${t.name}' is not one polyvoy has (supported: ${AGGREGATE_CLUSTER_NAME})` });
      return z.NEVER;
    }
    const typed = t.typed_config;
    if (typed?.["@type"] !== AGGREGATE_CLUSTER_TYPE_URL) {
      ctx.addIssue({ code: "custom", path: ["typed_config", "@type"], message: `${AGGREGATE_CLUSTER_NAME} needs typed_config of type ${AGGREGATE_CLUSTER_TYPE_URL}` });
      return z.NEVER;
    }
    const parsed = aggregateClusterConfig.safeParse(typed);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ code: "custom", path: ["typed_config", ...issue.path.map(String)], message: issue.message });
      return z.NEVER;
    }
    return parsed.data.clusters;
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
