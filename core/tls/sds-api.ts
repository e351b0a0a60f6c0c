import type { Runtime } from "../port.ts";
import type { SdsConfigSource, SecretConfig } from "../config/bootstrap.ts";
import type { Logger } from "../log.ts";
import type { Counter } from "../stats/counter.ts";
import type { StatsScope } from "../stats/stats-store.ts";
import { FileWatch } from "../util/file-watch.ts";
import { filesOf, readSecret, type ResolvedSecret } from "./read-secret.ts";
import { withRegexEngine } from "../config/regex-engine.ts";

export type { ResolvedSecret } from "./read-secret.ts";

/**
 * A user of a secret (a TLS context): given the new secret, build what it needs and
 * return how to start using it, or throw to refuse the secret. Every user prepares
 * before any commits, so one user refusing leaves them all on the old secret.
 */
export type SecretUpdateCallback = (secret: ResolvedSecret) => () => void;

/**
 * Envoy's SdsApi over a filesystem subscription (secret/sds_api.cc): one named secret
 * read from an SDS file, kept up to date. The file is watched (its directory, or the
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
  /** Its text: an unchanged secret is not handed to users again (Envoy compares hashes). */
  private resolvedKey = "";
  private readonly users = new Set<SecretUpdateCallback>();
  private configWatch: FileWatch | undefined;
  private filesWatch: FileWatch | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly stats: { updateAttempt: Counter; updateSuccess: Counter; updateFailure: Counter; updateRejected: Counter; keyRotationFailed: Counter };

  constructor(
    private readonly runtime: Runtime,
    private readonly log: Logger,
    readonly name: string,
    readonly kind: ResolvedSecret["kind"],
    private readonly source: SdsConfigSource,
    scope: StatsScope,
  ) {
    this.stats = {
      updateAttempt: scope.counter("update_attempt"),
      updateSuccess: scope.counter("update_success"),
      updateFailure: scope.counter("update_failure"),
      updateRejected: scope.counter("update_rejected"),
      keyRotationFailed: scope.counter("key_rotation_failed"),
    };
  }

  /** The secret now (after start). */
  get secret(): ResolvedSecret {
    return this.resolved!;
  }

  /** Read the file for the first time and start watching; rejects, naming the file, when it gives no usable secret. */
  async start(): Promise<void> {
    if (this.resolved) return;
    const error = await this.refresh("config");
    if (error !== undefined) throw new Error(`sds_config ${this.source.path}: ${error}`);
    this.configWatch = new FileWatch(this.runtime, [this.source.path], this.source.watchedDirectory, () => this.schedule("config"));
  }

  addUpdateCallback(callback: SecretUpdateCallback): () => void {
    this.users.add(callback);
    return () => this.users.delete(callback);
  }

  stop(): void {
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
    if (trigger === "config") {
      try {
        const text = await this.runtime.readTextFile(this.source.path);
        const [{ readSecretResponse }, { releaseSchemas }] = await Promise.all([import("./sds-resource.ts"), import("../config/lazy-schema.ts")]);
        try {
          // A validation context may match SANs by safe_regex: the RE2 engine loads if the check meets one.
          config = await withRegexEngine(() => readSecretResponse(text, this.source.path, this.name));
        } finally {
          // As validateConfig: the schemas this check built are not kept until the next one (lazy-schema.ts).
          releaseSchemas();
        }
        if (!(this.kind in config)) throw new SdsError("rejected", `secret '${this.name}' is not a ${FIELD_OF_KIND[this.kind]}`);
      } catch (err) {
        const kind = errorKind(err);
        (kind === "failure" ? stats.updateFailure : stats.updateRejected).inc();
        const message = describe(err);
        this.log.warn(`sds '${this.name}': filesystem config update ${kind === "failure" ? "failure" : "rejected"}: ${message}${this.resolved ? " (the secret in use is kept)" : ""}`);
        return message;
      }
    }
    try {
      const resolved = await readSecret(this.runtime, config!);
      const key = JSON.stringify(resolved);
      if (key !== this.resolvedKey) {
        const commits = [...this.users].map((user) => user(resolved));
        for (const commit of commits) commit();
        if (this.resolved) this.log.info(`sds '${this.name}': secret updated from ${trigger === "config" ? this.source.path : "its files"}`);
        this.resolved = resolved;
        this.resolvedKey = key;
      }
      if (config !== this.config) this.watchFiles(config!);
      this.config = config;
    } catch (err) {
      (trigger === "config" ? stats.updateRejected : stats.keyRotationFailed).inc();
      const message = describe(err);
      this.log.warn(`sds '${this.name}': ${trigger === "config" ? "filesystem config update rejected" : "key rotation failed"}: ${message}${this.resolved ? " (the secret in use is kept)" : ""}`);
      return message;
    }
    if (trigger === "config") stats.updateSuccess.inc();
    return undefined;
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
