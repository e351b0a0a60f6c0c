import type { ApiConfigSource, RestConfigSource } from "../bootstrap.ts";

/**
 * Envoy's Config::Utility::checkApiConfigSourceSubscriptionBackingCluster (run by
 * SubscriptionFactoryImpl for each subscription): the envoy_grpc or REST cluster a source
 * names must be static and not EDS — the cluster bringing config cannot come from it. The
 * bootstrap's own sources are checked at load (config/load.ts); this is for those that
 * arrive later (an LDS listener's SDS). The reason, or undefined.
 */
export function backingClusterProblem(source: ApiConfigSource | RestConfigSource, isPrimaryCluster: (name: string) => boolean): string | undefined {
  // google_grpc reaches its target without a cluster of the config (Envoy checks envoy_grpc only).
  if (source.kind === "grpc" && source.target.google !== undefined) return undefined;
  const name = source.kind === "grpc" ? source.target.clusterName : source.clusterName;
  if (isPrimaryCluster(name)) return undefined;
  return `envoy.config.core.v3.ApiConfigSource must have a statically defined non-EDS cluster: '${name}' does not exist, was added via api, or is an EDS cluster`;
}
