/**
 * A cluster of `type: ORIGINAL_DST` (core/upstream/original-dst-cluster.ts): its
 * `original_dst_lb_config` and `cleanup_interval`, and what Envoy's
 * OriginalDstClusterFactory::createClusterImpl refuses, with its messages.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, strictObject, stringEmpty } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { OriginalDstConfig } from "./bootstrap.ts";
import { metadataKey } from "./metadata-schema.ts";

/** cluster.proto: cleanup_interval "defaults to 5000ms". */
export const DEFAULT_CLEANUP_INTERVAL_MS = 5000;

/** envoy.config.cluster.v3.Cluster.OriginalDstLbConfig */
export const originalDstLbConfig = lazySchema(() =>
  strictObject({
    use_http_header: boolFalse,
    http_header_name: stringEmpty,
    // A UInt32Value with `lte: 65535`.
    upstream_port_override: z.number().int().min(0).max(65535).optional(),
    metadata_key: metadataKey.optional(),
  }));

type OriginalDstLbConfigInput = z.output<typeof originalDstLbConfig>;

/** The cluster fields checked here (schema.ts's cluster, before its transform). */
interface OriginalDstFields {
  type?: string | undefined;
  lb_policy?: string;
  load_balancing_policy?: unknown;
  load_assignment?: unknown;
  original_dst_lb_config?: OriginalDstLbConfigInput | undefined;
  cleanup_interval?: number | undefined;
  [field: string]: unknown;
}

/**
 * Fields about hosts' health or a balancer's choice, which an ORIGINAL_DST cluster's balancer
 * never reads (it returns the request's destination whatever its health): Envoy accepts and
 * ignores them; polyvoy refuses them.
 */
const UNUSED_ON_ORIGINAL_DST: Readonly<Record<string, string>> = {
  health_checks: "its hosts are picked whatever their health (Envoy's too): health checks would change nothing",
  outlier_detection: "its hosts are picked whatever their health (Envoy's too): ejections would change nothing",
  lb_subset_config: "its balancer picks the request's destination, never a subset",
  common_lb_config: "its balancer picks the request's destination: no panic threshold, locality or hashing applies",
};

export function checkOriginalDstCluster(c: OriginalDstFields, ctx: z.RefinementCtx): void {
  if (c.type !== "ORIGINAL_DST") {
    for (const field of ["original_dst_lb_config", "cleanup_interval"]) {
      if (c[field] !== undefined) ctx.addIssue({ code: "custom", path: [field], message: "applies to type: ORIGINAL_DST clusters only" });
    }
    return;
  }
  const policy = c.lb_policy ?? "ROUND_ROBIN";
  if (policy !== "CLUSTER_PROVIDED") {
    ctx.addIssue({ code: "custom", path: ["lb_policy"], message: `cluster: LB policy ${policy} is not valid for Cluster type ORIGINAL_DST. Only 'CLUSTER_PROVIDED' is allowed with cluster type 'ORIGINAL_DST'` });
  }
  if (c.load_balancing_policy !== undefined) ctx.addIssue({ code: "custom", path: ["load_balancing_policy"], message: "an ORIGINAL_DST cluster provides its own balancer: only lb_policy CLUSTER_PROVIDED is allowed" });
  if (c.load_assignment !== undefined) ctx.addIssue({ code: "custom", path: ["load_assignment"], message: "ORIGINAL_DST clusters must have no load assignment configured" });
  const lb = c.original_dst_lb_config;
  if (lb && !lb.use_http_header && lb.http_header_name !== "") {
    ctx.addIssue({ code: "custom", path: ["original_dst_lb_config", "http_header_name"], message: `ORIGINAL_DST cluster: invalid config http_header_name=${lb.http_header_name} and use_http_header is false. Set use_http_header to true if http_header_name is desired.` });
  }
  for (const [field, why] of Object.entries(UNUSED_ON_ORIGINAL_DST)) {
    if (c[field] !== undefined) ctx.addIssue({ code: "custom", path: [field], message: `an ORIGINAL_DST cluster does not use it: ${why}` });
  }
}

/** What the cluster runs with (Envoy's OriginalDstCluster constructor). */
export function originalDstConfig(lb: OriginalDstLbConfigInput | undefined, cleanupIntervalMs: number | undefined): OriginalDstConfig {
  // Whole milliseconds, as Envoy's PROTOBUF_GET_MS_OR_DEFAULT (truncated), and at least 1: a timer needs one.
  const config: OriginalDstConfig = { cleanupIntervalMs: cleanupIntervalMs === undefined ? DEFAULT_CLEANUP_INTERVAL_MS : Math.max(1, Math.floor(cleanupIntervalMs)) };
  // An empty http_header_name: Envoy's x-envoy-original-dst-host; a set one, lower-cased as its LowerCaseString.
  if (lb?.use_http_header) config.httpHeaderName = lb.http_header_name === "" ? "x-envoy-original-dst-host" : lb.http_header_name.toLowerCase();
  if (lb?.metadata_key) config.metadataKey = { namespace: lb.metadata_key.key, path: lb.metadata_key.path.map((segment) => segment.key) };
  if (lb?.upstream_port_override !== undefined) config.portOverride = lb.upstream_port_override;
  return config;
}
