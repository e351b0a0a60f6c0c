import type * as z from "../config/schema-kit/index.ts";
import type { ClusterConfig, CommonTlsContextConfig, ListenerConfig, SecretConfig } from "../config/bootstrap.ts";

/**
 * static_resources.secrets against their users (Envoy's SecretManagerImpl): names are
 * unique per kind ("Duplicate static TlsCertificate secret name …"), and an
 * SdsSecretConfig without sds_config names a static secret of the kind it needs
 * ("Unknown static secret: …"), so a typo fails at load, not at the first handshake.
 */
export function checkStaticSecrets(
  resources: { listeners: readonly ListenerConfig[]; clusters: readonly ClusterConfig[]; secrets: readonly SecretConfig[] },
  ctx: z.RefinementCtx,
): void {
  const certificates = new Set<string>();
  const validationContexts = new Set<string>();
  const genericSecrets = new Set<string>();
  // Also run on a tree whose other parts failed to parse: anything may be missing.
  (resources.secrets ?? []).forEach((secret, i) => {
    if (!secret) return;
    const [names, kind] =
      "tlsCertificate" in secret ? [certificates, "TlsCertificate"] : "genericSecret" in secret ? [genericSecrets, "GenericSecret"] : [validationContexts, "CertificateValidationContext"];
    if (names.has(secret.name)) ctx.addIssue({ code: "custom", path: ["static_resources", "secrets", i, "name"], message: `Duplicate static ${kind} secret name ${secret.name}` });
    names.add(secret.name);
  });
  const check = (common: CommonTlsContextConfig, at: (string | number)[]): void => {
    (common?.tlsCertificateSds ?? []).forEach((ref, i) => {
      if (!ref.sdsConfig && !certificates.has(ref.name)) {
        ctx.addIssue({ code: "custom", path: [...at, "tls_certificate_sds_secret_configs", i, "name"], message: `Unknown static secret: ${ref.name}` });
      }
    });
    const ref = common?.validationContextSds;
    if (ref && !ref.sdsConfig && !validationContexts.has(ref.name)) {
      ctx.addIssue({ code: "custom", path: [...at, "validation_context_sds_secret_config", "name"], message: `Unknown static secret: ${ref.name}` });
    }
  };
  const socket = ["transport_socket", "typed_config", "common_tls_context"];
  (resources.listeners ?? []).forEach((listener, i) => {
    (listener?.filterChains ?? []).forEach((chain, j) => {
      if (chain?.transportSocket) check(chain.transportSocket.common, ["static_resources", "listeners", i, "filter_chains", j, ...socket]);
    });
    const fallback = listener?.defaultFilterChain?.transportSocket;
    if (fallback) check(fallback.common, ["static_resources", "listeners", i, "default_filter_chain", ...socket]);
  });
  (resources.clusters ?? []).forEach((cluster, i) => {
    if (cluster?.transportSocket) check(cluster.transportSocket.common, ["static_resources", "clusters", i, ...socket]);
  });
}
