import type { FilterMetadata } from "../config/bootstrap.ts";

/** Envoy's well-known namespace of load-balancing metadata (Config::MetadataFilters::ENVOY_LB). */
export const ENVOY_LB = "envoy.lb";

/**
 * A google.protobuf.Value as a string equal for equal values (Envoy's HashedValue and
 * ValueUtil::equal): struct keys sorted, numbers as JSON writes doubles (1 and 1.0 alike).
 */
export function valueKey(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(valueKey).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${valueKey(v)}`).join(",")}}`;
}

/**
 * Envoy's Config::Metadata::metadataLabelMatch over the `envoy.lb` namespace: every label
 * is a field of the host's metadata there with an equal value — or, with `listAsAny`, a
 * list holding an equal value. No labels match every host.
 */
export function metadataLabelMatch(labels: readonly (readonly [string, unknown])[], metadata: FilterMetadata, listAsAny: boolean): boolean {
  if (labels.length === 0) return true;
  const fields = metadata[ENVOY_LB];
  if (fields === undefined) return false;
  for (const [key, want] of labels) {
    if (!Object.hasOwn(fields, key)) return false;
    const have = fields[key];
    const wanted = valueKey(want);
    if (listAsAny && Array.isArray(have)) {
      if (!have.some((v) => valueKey(v) === wanted)) return false;
    } else if (valueKey(have) !== wanted) return false;
  }
  return true;
}
