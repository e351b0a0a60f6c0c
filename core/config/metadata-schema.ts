/**
 * envoy.config.core.v3.Metadata as polyvoy keeps it: filter_metadata, a Struct per filter
 * namespace. Routes (%METADATA(ROUTE:…)%), endpoints (subset load balancing,
 * %UPSTREAM_METADATA%, retry host predicates) and metadata_match read it.
 * typed_filter_metadata holds Any messages only extensions polyvoy lacks read; it is
 * refused as a field polyvoy does not support.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { nonEmptyString, strictObject } from "./shared-schemas.ts";
import type { FilterMetadata, MetadataMatchCriteria } from "./bootstrap.ts";
import { lazySchema } from "./lazy-schema.ts";

export const metadataSchema = lazySchema(() =>
  strictObject({ filter_metadata: z.record(z.string(), z.record(z.string(), z.unknown())).default({}) })
    .transform((m): FilterMetadata => m.filter_metadata),
);

/** envoy.type.metadata.v3.MetadataKey: key min_len 1, path min_items 1, each segment a `key` (the oneof's only member). */
export const metadataKey = lazySchema(() =>
  strictObject({
    key: nonEmptyString,
    path: z.array(strictObject({ key: nonEmptyString })).min(1, { message: "value must contain at least 1 item(s)" }),
  }));

/**
 * metadata_match (a route's, a weighted cluster's, tcp_proxy's): the `envoy.lb` fields as
 * sorted criteria for the subset load balancer (Envoy's MetadataMatchCriteriaImpl reads
 * only that namespace, so the others do nothing there either). Undefined when it has none.
 */
export const metadataMatch = lazySchema(() =>
  metadataSchema.transform((m): MetadataMatchCriteria | undefined => {
    const lb = m["envoy.lb"];
    if (lb === undefined || Object.keys(lb).length === 0) return undefined;
    return Object.entries(lb).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }),
);

/** Envoy's MetadataMatchCriteriaImpl::mergeMatchCriteria: the parent's criteria with the child's added and overriding. */
export function mergeMatchCriteria(parent: MetadataMatchCriteria | undefined, child: MetadataMatchCriteria): MetadataMatchCriteria {
  const merged = new Map(parent ?? []);
  for (const [name, value] of child) merged.set(name, value);
  return [...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A weighted cluster entry's criteria: its own merged over the parent's, else the parent's (Envoy's WeightedClusterEntry). */
export function clusterMatchCriteria(parent: MetadataMatchCriteria | undefined, own: MetadataMatchCriteria | undefined): MetadataMatchCriteria | undefined {
  return own !== undefined ? mergeMatchCriteria(parent, own) : parent;
}
