import type { Runtime } from "../../port.ts";
import type { SdsConfigSource } from "../bootstrap.ts";
import type { Logger } from "../../log.ts";
import type { Counter } from "../../stats/counter.ts";
import type { Gauge } from "../../stats/gauge.ts";
import type { Histogram } from "../../stats/histogram.ts";
import type { StatsScope } from "../../stats/stats-store.ts";
import { FileWatch } from "../../util/file-watch.ts";
import type { RawDiscoveryResponse } from "./raw-discovery-response.ts";

/**
 * What a subscription's owner does with a DiscoveryResponse: check every resource and
 * apply them all, or throw to refuse the update (the config in use is kept). An error
 * with `kind: "failure"` counts as update_failure; anything else as update_rejected.
 */
export type ConfigUpdateCallback = (response: RawDiscoveryResponse, path: string) => Promise<void> | void;

/** Envoy's SubscriptionStats (config/subscription.h), under the owner's scope. */
export class SubscriptionStats {
  readonly updateAttempt: Counter;
  readonly updateSuccess: Counter;
  readonly updateFailure: Counter;
  readonly updateRejected: Counter;
  /** Wall-clock ms of the last accepted update. */
  readonly updateTime: Gauge;
  /** A hash of the last accepted version_info (Envoy: xxHash64 of it; here a 52-bit polynomial hash). */
  readonly version: Gauge;
  /** initial_fetch_timeout passed before the first update (management servers only). */
  readonly initFetchTimeout: Counter;
  /** How long an accepted update took to apply, ms (gRPC subscriptions: Envoy's GrpcSubscriptionImpl records it). */
  readonly updateDuration: Histogram;

  constructor(scope: StatsScope) {
    this.updateAttempt = scope.counter("update_attempt");
    this.updateSuccess = scope.counter("update_success");
    this.updateFailure = scope.counter("update_failure");
    this.updateRejected = scope.counter("update_rejected");
    this.updateTime = scope.gauge("update_time");
    this.version = scope.gauge("version");
    this.initFetchTimeout = scope.counter("init_fetch_timeout");
    this.updateDuration = scope.histogram("update_duration");
  }
}

/**
 * Envoy's FilesystemSubscriptionImpl (config_subscription/filesystem/
 * filesystem_subscription_impl.cc): the file of a path_config_source is read at start
 * and again whenever it (or its watched_directory) changes; each read is one
 * DiscoveryResponse handed whole to the owner, state of the world. A file that cannot
 * be read or parsed (update_failure), or whose resources the owner refuses
 * (update_rejected), is logged and changes nothing: the last good config keeps serving.
 */
export class FilesystemSubscription {
  private readonly stats: SubscriptionStats;
  private watch: FileWatch | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  /** version_info of the last accepted update ("" before one). */
  versionInfo = "";
  /** Wall-clock ms of the last accepted update (0 before one). */
  lastUpdated = 0;

  constructor(
    private readonly runtime: Runtime,
    private readonly log: Logger,
    /** How the logs name it: "rds 'local_route'", "cds", … */
    private readonly name: string,
    private readonly source: SdsConfigSource,
    scope: StatsScope,
    private readonly onUpdate: ConfigUpdateCallback,
  ) {
    this.stats = new SubscriptionStats(scope);
  }

  /** Wall-clock ms now (the port's). */
  clock(): number {
    return this.runtime.wallClock();
  }

  get path(): string {
    return this.source.path;
  }

  /**
   * Read the file for the first time and start watching. Resolves when the first update
   * was applied, or with the reason it was not (Envoy's init target is ready either way:
   * the owner starts without that config).
   */
  async start(): Promise<string | undefined> {
    const error = await this.refresh();
    if (!this.stopped) this.watch = new FileWatch(this.runtime, [this.source.path], this.source.watchedDirectory, () => this.schedule());
    return error;
  }

  stop(): void {
    this.stopped = true;
    this.watch?.close();
  }

  /** One refresh at a time, in order. */
  private schedule(): void {
    this.running = this.running.then(() => this.refresh().then(() => undefined));
  }

  /** Read and apply; the reason it was not applied, or undefined. */
  private async refresh(): Promise<string | undefined> {
    if (this.stopped) return "stopped";
    const stats = this.stats;
    stats.updateAttempt.inc();
    let response: RawDiscoveryResponse;
    try {
      const text = await this.runtime.readTextFile(this.source.path);
      const { readDiscoveryResponse } = await import("./discovery-response.ts");
      response = readDiscoveryResponse(text, this.source.path);
      await this.onUpdate(response, this.source.path);
    } catch (err) {
      const failure = errorKind(err) === "failure";
      (failure ? stats.updateFailure : stats.updateRejected).inc();
      const message = describeUpdateError(err);
      const kept = this.lastUpdated > 0 ? " (the config in use is kept)" : "";
      this.log.warn(`${this.name}: filesystem config update ${failure ? "failure" : "rejected"}: ${message}${kept}`);
      return message;
    }
    stats.updateSuccess.inc();
    this.versionInfo = response.versionInfo;
    this.lastUpdated = this.runtime.wallClock();
    stats.updateTime.set(this.lastUpdated);
    stats.version.set(versionHash(response.versionInfo));
    return undefined;
  }
}

export function errorKind(err: unknown): "failure" | "rejected" {
  const kind = (err as { kind?: unknown }).kind;
  if (kind === "failure" || kind === "rejected") return kind;
  // The file could not be read (a PortError): Envoy's update failure.
  return typeof (err as { code?: unknown }).code === "string" ? "failure" : "rejected";
}

export function describeUpdateError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e.message === "string" ? e.message : String(err);
  return typeof e.code === "string" && !message.includes(e.code) ? `${e.code} ${message}` : message;
}

/** A polynomial hash of the string, kept to 52 bits (a gauge holds a double). */
export function versionHash(version: string): number {
  let hash = 0;
  for (let i = 0; i < version.length; i++) hash = (hash * 131 + version.charCodeAt(i)) % 2 ** 52;
  return hash;
}
