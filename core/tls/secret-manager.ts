import type { Runtime } from "../port.ts";
import type { SdsSecretConfig, SecretConfig } from "../config/bootstrap.ts";
import type { Logger } from "../log.ts";
import type { StatsStore } from "../stats/stats-store.ts";
import type { SubscriptionContext } from "../config/xds/subscription-types.ts";
import { readSecret } from "./read-secret.ts";
import { SdsApi, type ResolvedSecret, type SecretUpdateCallback } from "./sds-api.ts";

/** A secret as a TLS context uses it: what it is now, and (for SDS) its updates. */
export interface SecretProvider {
  /** Undefined while a management server has not sent it (its initial_fetch_timeout passed first). */
  readonly secret: ResolvedSecret | undefined;
  /** Returns the function that stops the updates. */
  addUpdateCallback(callback: SecretUpdateCallback): () => void;
}

/**
 * Envoy's SecretManagerImpl: static_resources.secrets by name (read once, at first use),
 * and one SdsApi per config source and secret name (an SDS file, or a management
 * server: Envoy keys them by the ConfigSource's hash and the name), shared by every TLS
 * context naming it.
 */
export class SecretManager {
  private readonly staticSecrets = new Map<string, SecretConfig>();
  private readonly staticProviders = new Map<string, Promise<SecretProvider>>();
  private readonly dynamic = new Map<string, { api: SdsApi; started: Promise<void> }>();
  /** How SDS from a management server reaches it (set by the server; absent: files only). */
  subscriptionContext: SubscriptionContext | undefined;

  constructor(
    private readonly runtime: Runtime,
    private readonly log: Logger,
    private readonly stats: StatsStore,
    secrets: readonly SecretConfig[] = [],
  ) {
    for (const secret of secrets) this.staticSecrets.set(`${kindOf(secret)}\0${secret.name}`, secret);
  }

  /** The provider of a tls_certificate_sds_secret_configs entry (rejects when its secret cannot be had). */
  tlsCertificate(ref: SdsSecretConfig): Promise<SecretProvider> {
    return this.provider(ref, "tlsCertificate");
  }

  /** The provider of a validation_context_sds_secret_config. */
  validationContext(ref: SdsSecretConfig): Promise<SecretProvider> {
    return this.provider(ref, "validationContext");
  }

  /** The provider of a generic secret (the oauth2 filter's token_secret and hmac_secret). */
  genericSecret(ref: SdsSecretConfig): Promise<SecretProvider> {
    return this.provider(ref, "genericSecret");
  }

  /** The SDS secrets' watches end (the server stops). */
  stop(): void {
    for (const { api } of this.dynamic.values()) api.stop();
  }

  private provider(ref: SdsSecretConfig, kind: ResolvedSecret["kind"]): Promise<SecretProvider> {
    if (!ref.sdsConfig) return this.staticProvider(ref.name, kind);
    const source = ref.sdsConfig;
    // The source as parsed: two that read alike share the subscription.
    const key = [kind, JSON.stringify(source), ref.name].join("\0");
    let entry = this.dynamic.get(key);
    if (!entry) {
      const api = new SdsApi(this.runtime, this.log, ref.name, kind, source, this.stats.scope(`sds.${ref.name}.`), this.subscriptionContext);
      entry = { api, started: api.start() };
      this.dynamic.set(key, entry);
    }
    const { api, started } = entry;
    return started.then(() => api);
  }

  private staticProvider(name: string, kind: ResolvedSecret["kind"]): Promise<SecretProvider> {
    const key = `${kind}\0${name}`;
    let provider = this.staticProviders.get(key);
    if (!provider) {
      const secret = this.staticSecrets.get(key);
      // The config loader checked the names (static-secrets-check.ts); a caller that skipped it learns here.
      if (!secret) return Promise.reject(new Error(`Unknown static secret: ${name}`));
      provider = readSecret(this.runtime, secret).then((resolved) => ({ secret: resolved, addUpdateCallback: () => () => undefined }));
      this.staticProviders.set(key, provider);
    }
    return provider.catch((err: unknown) => Promise.reject(new Error(`secret '${name}': ${err instanceof Error ? err.message : String(err)}`)));
  }
}

function kindOf(secret: SecretConfig): ResolvedSecret["kind"] {
  return "tlsCertificate" in secret ? "tlsCertificate" : "genericSecret" in secret ? "genericSecret" : "validationContext";
}
