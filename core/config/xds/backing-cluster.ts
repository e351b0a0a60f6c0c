import type { ApiConfigSource, CommonTlsContextConfig, RestConfigSource, SdsSecretConfig } from "../bootstrap.ts";

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

/**
 * Envoy's is_primary_cluster (cluster_manager_impl.cc): a static cluster that is not EDS,
 * or EDS read from a file (isPathBasedConfigSource: path or path_config_source) — one
 * that needs no management server to come up, so a subscription may be carried by it.
 */
export function isPrimaryClusterType(type: string, edsConfigIsPath: boolean): boolean {
  return type.toUpperCase() !== "EDS" || edsConfigIsPath;
}

/**
 * A TLS context's secrets from management servers (tls_certificate_sds_secret_configs,
 * validation_context_sds_secret_config), each source checked as SdsApi would when it
 * subscribes: the first problem, naming the field and the secret, or undefined. Run on a
 * CDS cluster before the update is taken, so it is NACKed rather than taken and failed.
 */
export function tlsSdsBackingClusterProblem(common: CommonTlsContextConfig, isPrimaryCluster: (name: string) => boolean): string | undefined {
  const refs: [string, SdsSecretConfig][] = common.tlsCertificateSds.map((ref, i) => [`tls_certificate_sds_secret_configs[${i}]`, ref]);
  if (common.validationContextSds !== undefined) refs.push(["validation_context_sds_secret_config", common.validationContextSds]);
  for (const [field, ref] of refs) {
    const source = ref.sdsConfig;
    if (source === undefined || "path" in source || source.kind === "ads") continue;
    const problem = backingClusterProblem(source, isPrimaryCluster);
    if (problem !== undefined) return `${field} ('${ref.name}'): sds_config of secret '${ref.name}': ${problem}`;
  }
  return undefined;
}
