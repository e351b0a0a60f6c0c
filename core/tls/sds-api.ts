import type { Runtime } from "../port.ts";
import type { SdsConfigSource, SecretConfig, XdsConfigSource } from "../config/bootstrap.ts";
import type { RawDiscoveryResponse } from "../config/xds/raw-discovery-response.ts";
import type { Subscription, SubscriptionContext } from "../config/xds/subscription-types.ts";
import { backingClusterProblem } from "../config/xds/backing-cluster.ts";
import type { Logger } from "../log.ts";
import type { Counter } from "../stats/counter.ts";
import type { StatsScope } from "../stats/stats-store.ts";
import { FileWatch } from "../util/file-watch.ts";
import { filesOf, readSecret, type ResolvedSecret } from "./read-secret.ts";
import { resolvedSecretDocument } from "./resolved-secret-document.ts";
import { withRegexEngine } from "../config/regex-engine.ts";
import type { DeliveredSecret } from "./sds-resource.ts";

export type { ResolvedSecret } from "./read-secret.ts";

/**
 * A user of a secret (a TLS context): given the new secret, build what it needs and
 * return how to start using it, or throw to refuse the secret. Every user prepares
 * before any commits, so one user refusing leaves them all on the old secret.
 */
export type SecretUpdateCallback = (secret: ResolvedSecret) => () => void;

/**
 * Envoy's SdsApi (secret/sds_api.cc): one named secret kept up to date, from an SDS file
 * or from a management server.
 *
 * From a management server (api_config_source GRPC, DELTA_GRPC or REST, or `ads`): a
 * subscription to the one name (config/xds/subscription.ts), its stats
 * (update_attempt, update_success, update_rejected, update_failure, init_fetch_timeout,
 * version, …) under `sds.<name>.` as Envoy's. start() resolves on the first update,
 * applied or refused, or once initial_fetch_timeout passed: the listener or cluster
 * waiting on it (Envoy's init target) then goes on, without the secret if none came
 * (its TLS is not ready: ssl-socket-factory.ts). A pushed secret that does not validate,
 * names files that cannot be read or a context that cannot be built is NACKed with the
 * reason; the secret in use is kept. The files a pushed secret names are watched as below.
 *
 * From a file: the file is watched (its directory, or the
 * path_config_source's watched_directory), and so are the files the secret names (their
 * directories, or the secret's watched_directory): a new file or a rotated certificate
 * is read, checked and handed to the secret's users for new connections. A file that
 * cannot be used keeps the secret as it was, logged and counted under `sds.<name>.`:
 * update_attempt / update_success / update_failure (unreadable, not a
 * DiscoveryResponse) / update_rejected (refused: wrong name or count, invalid secret,
 * unreadable certificate, a context that cannot be built) and key_rotation_failed (the
 * secret's own files changed and could not be used).
 */
export class SdsApi {
  private config: SecretConfig | undefined;
  private resolved: ResolvedSecret | undefined;
  /**
   * For /config_dump (Envoy's SdsApi::secretData): the version_info of the update whose
   * secret is in use ("" before one), when it was taken (wall-clock ms, 0 before one) and
   * the Secret as written (snake_case, private keys in it: the dump redacts them), the
   * files it names inlined as last read (Envoy's resolved copy: resolved-secret-document.ts).
   */
  versionInfo = "";
  lastUpdated = 0;
  document: unknown;
  /** The Secret as delivered, files not inlined: a rotation of its files inlines them again. */
  private deliveredDocument: unknown;
  /** Its text: an unchanged secret is not handed to users again (Envoy compares hashes). */
  private resolvedKey = "";
  private readonly users = new Set<SecretUpdateCallback>();
  private configWatch: FileWatch | undefined;
  private filesWatch: FileWatch | undefined;
  private running: Promise<void> = Promise.resolve();
  /** A management server's subscription (server sources only). */
  private subscription: Subscription | undefined;
  private stopped = false;
  private markSubscribed!: () => void;
  /**
   * A management server's: settles once the subscription's watch is on its stream (or its
   * start gave up), before the first update: a listener is built then and warms on
   * start() (its init target).
   */
  readonly subscribed = new Promise<void>((resolve) => (this.markSubscribed = resolve));
  private readonly stats: { updateAttempt: Counter; updateSuccess: Counter; updateFailure: Counter; updateRejected: Counter; keyRotationFailed: Counter };

  constructor(
    private readonly runtime: Runtime,
    private readonly log: Logger,
    readonly name: string,
    readonly kind: ResolvedSecret["kind"],
    private readonly source: XdsConfigSource,
    private readonly scope: StatsScope,
    /** How a management server is reached (server sources only). */
    private readonly context?: SubscriptionContext,
  ) {
    this.stats = {
      updateAttempt: scope.counter("update_attempt"),
      updateSuccess: scope.counter("update_success"),
      updateFailure: scope.counter("update_failure"),
      updateRejected: scope.counter("update_rejected"),
      keyRotationFailed: scope.counter("key_rotation_failed"),
    };
  }

  /** The secret now (after start); undefined when a management server has not sent it yet. */
  get secret(): ResolvedSecret | undefined {
    return this.resolved;
  }

  /**
   * A file: read it for the first time and start watching; rejects, naming the file, when
   * it gives no usable secret. A management server: subscribe, and resolve once the first
   * update was applied or refused, or initial_fetch_timeout passed.
   */
  async start(): Promise<void> {
    if (this.resolved) return;
    const source = this.source;
    if (!("path" in source)) return this.subscribe(source);
    const error = await this.refresh("config");
    if (error !== undefined) throw new Error(`sds_config ${source.path}: ${error}`);
    this.configWatch = new FileWatch(this.runtime, [source.path], source.watchedDirectory, () => this.schedule("config"));
  }

  private async subscribe(source: Exclude<XdsConfigSource, SdsConfigSource>): Promise<void> {
    const [{ createSubscription }, { SECRET_TYPE }] = await Promise.all([import("../config/xds/subscription.ts"), import("./sds-resource.ts")]);
    // Released by every user while its code loaded: nothing is asked for.
    if (this.stopped) return this.markSubscribed();
    const context = this.context ?? { runtime: this.runtime, log: this.log };
    if (source.kind === "ads") {
      // Envoy's SubscriptionFactoryImpl throws for an ADS source without ADS: the listener or
      // cluster naming the secret is refused (an LDS/CDS update NACKed), not started without it.
      if (context.openMux === undefined) throw new Error(ADS_NOT_CONFIGURED);
      await context.openMux(source, SECRET_TYPE);
    } else if (context.isPrimaryCluster !== undefined) {
      // As an ADS source without ADS: an LDS listener or CDS cluster naming it is refused (NACKed).
      const problem = backingClusterProblem(source, context.isPrimaryCluster);
      if (problem !== undefined) throw new Error(`sds_config of secret '${this.name}': ${problem}`);
    }
    const subscription = createSubscription(context, `sds '${this.name}'`, source, SECRET_TYPE, [this.name], this.scope, (response, origin) => this.onConfigUpdate(response, origin));
    this.subscription = subscription;
    const started = subscription.start();
    void (subscription.subscribed ?? Promise.resolve()).then(() => this.markSubscribed());
    await started;
  }

  /** A management server's update: checked, read and handed to the users, or thrown (NACKed) leaving the secret in use. */
  private async onConfigUpdate(response: RawDiscoveryResponse, origin: string): Promise<void> {
    const [{ readSecretResources }, { releaseSchemas }] = await Promise.all([import("./sds-resource.ts"), import("../config/lazy-schema.ts")]);
    let delivered: DeliveredSecret;
    try {
      delivered = await withRegexEngine(() => readSecretResources(response.resources, origin, this.name));
    } finally {
      releaseSchemas();
    }
    if (!(this.kind in delivered.config)) throw new SdsError("rejected", `secret '${this.name}' is not a ${FIELD_OF_KIND[this.kind]}`);
    // In turn with the rotations of the files a secret names.
    const applied = this.running.then(() => this.apply(delivered.config, origin, { ...delivered, versionInfo: response.versionInfo }));
    this.running = applied.catch(() => undefined);
    await applied;
  }

  addUpdateCallback(callback: SecretUpdateCallback): () => void {
    this.users.add(callback);
    return () => this.users.delete(callback);
  }

  /** No user is left (or the server stops): the watch ends, the name leaves the subscription's request. */
  stop(): void {
    this.stopped = true;
    this.subscription?.stop();
    this.configWatch?.close();
    this.filesWatch?.close();
  }

  /** One refresh at a time, in order. */
  private schedule(trigger: "config" | "files"): void {
    this.running = this.running.then(() => this.refresh(trigger).then(() => undefined));
  }

  /** Read and apply; the reason it was not applied, or undefined. */
  private async refresh(trigger: "config" | "files"): Promise<string | undefined> {
    const stats = this.stats;
    if (trigger === "config") stats.updateAttempt.inc();
    let config = this.config;
    let delivered: (DeliveredSecret & { readonly versionInfo: string }) | undefined;
    if (trigger === "config") {
      try {
        const path = (this.source as SdsConfigSource).path;
        const text = await this.runtime.readTextFile(path);
        const [{ readSecretResponse }, { releaseSchemas }] = await Promise.all([import("./sds-resource.ts"), import("../config/lazy-schema.ts")]);
        try {
          // A validation context may match SANs by safe_regex: the RE2 engine loads if the check meets one.
          delivered = await withRegexEngine(() => readSecretResponse(text, path, this.name));
          config = delivered.config;
        } finally {
          // As validateConfig: the schemas this check built are not kept until the next one (lazy-schema.ts).
          releaseSchemas();
        }
        if (!(this.kind in config!)) throw new SdsError("rejected", `secret '${this.name}' is not a ${FIELD_OF_KIND[this.kind]}`);
      } catch (err) {
        const kind = errorKind(err);
        (kind === "failure" ? stats.updateFailure : stats.updateRejected).inc();
        const message = describe(err);
        this.log.warn(`sds '${this.name}': filesystem config update ${kind === "failure" ? "failure" : "rejected"}: ${message}${this.resolved ? " (the secret in use is kept)" : ""}`);
        return message;
      }
    }
    try {
      await this.apply(config!, trigger === "config" && "path" in this.source ? this.source.path : "its files", delivered);
    } catch (err) {
      (trigger === "config" ? stats.updateRejected : stats.keyRotationFailed).inc();
      const message = describe(err);
      this.log.warn(`sds '${this.name}': ${trigger === "config" ? "filesystem config update rejected" : "key rotation failed"}: ${message}${this.resolved ? " (the secret in use is kept)" : ""}`);
      return message;
    }
    if (trigger === "config") stats.updateSuccess.inc();
    return undefined;
  }

  /**
   * Read the secret's files, hand it to every user (all prepare, then all commit) and watch
   * its files; throws, keeping the secret in use. `delivered`: a new update (not a rotation
   * of its files), its version and text kept for /config_dump.
   */
  private async apply(config: SecretConfig, from: string, delivered?: DeliveredSecret & { readonly versionInfo: string }): Promise<void> {
    const resolved = await readSecret(this.runtime, config);
    const key = JSON.stringify(resolved);
    if (key !== this.resolvedKey) {
      const commits = [...this.users].map((user) => user(resolved));
      for (const commit of commits) commit();
      if (this.resolved) this.log.info(`sds '${this.name}': secret updated from ${from}`);
      this.resolved = resolved;
      this.resolvedKey = key;
    }
    if (config !== this.config) this.watchFiles(config);
    this.config = config;
    if (delivered) {
      // sds_api.cc onConfigUpdate: secret_data_'s last_updated_ and version_info_.
      this.versionInfo = delivered.versionInfo;
      this.lastUpdated = this.runtime.wallClock();
      this.deliveredDocument = delivered.document;
    }
    // On an update and on a rotation of its files (sds_api.cc onWatchUpdate resolves again; version and time stay).
    this.document = resolvedSecretDocument(this.deliveredDocument, config, resolved);
  }

  /** Watch the files the secret reads (Envoy: their directories, or the secret's watched_directory). */
  private watchFiles(config: SecretConfig): void {
    this.filesWatch?.close();
    const inner = "tlsCertificate" in config ? config.tlsCertificate : "genericSecret" in config ? config.genericSecret : config.validationContext;
    const files = filesOf(inner);
    const watchedDirectory = "watchedDirectory" in inner ? inner.watchedDirectory : undefined;
    this.filesWatch = files.length > 0 ? new FileWatch(this.runtime, files, watchedDirectory, () => this.schedule("files")) : undefined;
  }
}

/** Envoy's message (subscription_factory_impl.cc) for an ADS source without ads_config. */
const ADS_NOT_CONFIGURED = "ADS must be configured to support an ADS config source (dynamic_resources.ads_config)";

/** The Secret field each kind of secret is in, for the refusal of a secret of another kind. */
const FIELD_OF_KIND: Record<ResolvedSecret["kind"], string> = { tlsCertificate: "tls_certificate", validationContext: "validation_context", genericSecret: "generic_secret" };

/** A refusal made here (the SDS resource module's own errors carry the same `kind`). */
class SdsError extends Error {
  constructor(
    readonly kind: "failure" | "rejected",
    message: string,
  ) {
    super(message);
  }
}

function errorKind(err: unknown): "failure" | "rejected" {
  const kind = (err as { kind?: unknown }).kind;
  if (kind === "failure" || kind === "rejected") return kind;
  // The file could not be read (a PortError): Envoy's update failure.
  return typeof (err as { code?: unknown }).code === "string" ? "failure" : "rejected";
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e.message === "string" ? e.message : String(err);
  return typeof e.code === "string" && !message.includes(e.code) ? `${e.code} ${message}` : message;
}
