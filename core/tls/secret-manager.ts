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
 * One user's hold on a secret (a TLS context's): what it reads, what its listener or
 * cluster waits for, and its release when that is gone.
 */
export interface SecretLease {
  /**
   * The provider once it can be used: a static secret or an SDS file once read (rejects
   * naming what is wrong); a management server's once its watch is on the stream (or its
   * start failed: rejected), its secret undefined until sent.
   */
  readonly provider: Promise<SecretProvider>;
  /**
   * A management server's secret: settles on its first update (applied or refused) or once
   * initial_fetch_timeout passed: the listener's or cluster's init target (Envoy's SdsApi
   * init target). Undefined for static secrets and files (read before the provider).
   */
  readonly initTarget: Promise<void> | undefined;
  /** The user is gone: an SDS subscription no user holds any more stops (Envoy's SdsApi destructor). */
  release(): void;
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
  /** Each SdsApi with its users' count: at zero it stops and goes, its name leaves the subscription's request. */
  private readonly dynamic = new Map<string, { api: SdsApi; started: Promise<void>; users: number }>();
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

  /**
   * A TLS context's hold on a tls_certificate_sds_secret_configs entry or a
   * validation_context_sds_secret_config, or a filter's on a generic secret (the oauth2
   * filter's token_secret and hmac_secret): released when its listener or cluster is gone.
   */
  lease(ref: SdsSecretConfig, kind: ResolvedSecret["kind"]): SecretLease {
    if (!ref.sdsConfig) return { provider: this.staticProvider(ref.name, kind), initTarget: undefined, release: () => undefined };
    const key = [kind, JSON.stringify(ref.sdsConfig), ref.name].join("\0");
    const entry = this.acquire(key, ref, kind);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      if (--entry.users > 0 || this.dynamic.get(key) !== entry) return;
      this.dynamic.delete(key);
      entry.api.stop();
    };
    const { api, started } = entry;
    if ("path" in ref.sdsConfig) return { provider: started.then(() => api), initTarget: undefined, release };
    // The build goes on once the watch is on the stream; the first update is the init target.
    return { provider: Promise.race([started, api.subscribed]).then(() => api), initTarget: started.catch(() => undefined), release };
  }

  /** The SDS secrets' watches end (the server stops). */
  stop(): void {
    for (const { api } of this.dynamic.values()) api.stop();
  }

  /**
   * Envoy's SecretManagerImpl::dumpSecretConfigs: every SDS secret held (a file's or a
   * management server's), TLS certificates, then validation contexts, then generic
   * secrets (Envoy's order), each by name; one not sent yet has no secret (warming).
   */
  dumpDynamic(): DynamicSecretDump[] {
    const out: DynamicSecretDump[] = [];
    for (const { api } of this.dynamic.values()) {
      out.push({ kind: api.kind, name: api.name, versionInfo: api.versionInfo, lastUpdated: api.lastUpdated, document: api.secret !== undefined ? api.document : undefined });
    }
    return out.sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** How many SDS subscriptions are held (tests: a released one is gone). */
  get subscriptionCount(): number {
    return this.dynamic.size;
  }

  /** The SdsApi of `key` (the source as parsed: two that read alike share it), started when first asked for, one user more. */
  private acquire(key: string, ref: SdsSecretConfig, kind: ResolvedSecret["kind"]): { api: SdsApi; started: Promise<void>; users: number } {
    let entry = this.dynamic.get(key);
    if (!entry) {
      const api = new SdsApi(this.runtime, this.log, ref.name, kind, ref.sdsConfig!, this.stats.scope(`sds.${ref.name}.`), this.subscriptionContext);
      entry = { api, started: api.start(), users: 0 };
      // Nobody may wait on it (every user released it first): its failure is its users' to report.
      entry.started.catch(() => undefined);
      this.dynamic.set(key, entry);
    }
    entry.users++;
    return entry;
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

/** One SDS secret for /config_dump (admin/config-dump.ts makes its DynamicSecret). */
export interface DynamicSecretDump {
  readonly kind: ResolvedSecret["kind"];
  readonly name: string;
  readonly versionInfo: string;
  /** Wall-clock ms of its last update (0: none yet). */
  readonly lastUpdated: number;
  /** The Secret as written (snake_case); undefined while it is not there yet (dynamic_warming_secrets). */
  readonly document: unknown;
}

/** dumpSecretConfigs' order: tls_certificate, validation_context (session_ticket_keys), generic_secret. */
const KIND_ORDER: readonly ResolvedSecret["kind"][] = ["tlsCertificate", "validationContext", "genericSecret"];

function kindOf(secret: SecretConfig): ResolvedSecret["kind"] {
  return "tlsCertificate" in secret ? "tlsCertificate" : "genericSecret" in secret ? "genericSecret" : "validationContext";
}
