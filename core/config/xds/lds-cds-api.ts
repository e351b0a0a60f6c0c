import type { StatsStore } from "../../stats/stats-store.ts";
import type { ClusterConfig, ListenerConfig, XdsConfigSource } from "../bootstrap.ts";
import type { RawDiscoveryResponse } from "./raw-discovery-response.ts";
import { createSubscription, type Subscription, type SubscriptionContext } from "./subscription.ts";
import { withDataSources, type DataSourceReader } from "../data-source-files.ts";
import type { DynamicResource, XdsResourceOwner } from "./xds-manager.ts";

const LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener";
const CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

/** What LDS or CDS changes: the listener manager's or the cluster manager's add/update and remove. */
export interface ResourceManager<T> {
  /**
   * `changed` when it changes anything (the resource is taken and warms; the update does
   * not wait for it); `warmed` resolves true once it serves, false (or rejects) when it
   * never will (replaced or removed first, or it could not be initialized or bound).
   */
  addOrUpdate(config: T, options: { hash: string; versionInfo: string }): Promise<{ changed: boolean; warmed: Promise<boolean> }>;
  remove(name: string): boolean;
  /** Resolves once what the updates so far started is warm (CDS's clusters): the first update's init target waits for it. */
  whenWarm?(): Promise<void>;
}

/**
 * Envoy's LdsApiImpl and CdsApiImpl (source/common/listener_manager/lds_api.cc,
 * source/common/upstream/cds_api_impl.cc) over a filesystem subscription: each file is
 * the state of the world. Every resource is checked with the static_resources schema
 * first (one invalid: the whole update is rejected, nothing changes); then each is added
 * or updated (an unchanged one, by its text, is left alone) and those the file no longer
 * names are removed. One that cannot be applied (a listener that cannot bind) is
 * reported as the update's rejection while the others apply, as Envoy does. Stats:
 * `listener_manager.lds.*` / `cluster_manager.cds.*` (the subscription's).
 */
export class DynamicResourceApi<T extends ListenerConfig | ClusterConfig> implements XdsResourceOwner {
  private readonly subscription: Subscription;
  /** What this API added and serves, by name. */
  private readonly current = new Map<string, DynamicResource>();
  /**
   * What this API added and still warms, by name (a cluster waiting for its EDS, a
   * listener for its RDS): /config_dump's dynamic_warming_clusters and warming_state, as
   * Envoy's; it moves to `current` once it serves.
   */
  private readonly warming = new Map<string, DynamicResource>();
  /**
   * The version_info of the last update that added, changed or removed something, even
   * if it was refused for another resource (Envoy's CdsApiHelper and LdsApiImpl set
   * system_version_info_ when any_applied): /config_dump's top-level version_info.
   */
  systemVersionInfo = "";
  /** Reads the DataSource files a resource names (a route's direct_response body…). */
  private readonly reader: DataSourceReader;

  constructor(
    readonly kind: "listener" | "cluster",
    source: XdsConfigSource,
    context: SubscriptionContext,
    stats: StatsStore,
    private readonly manager: ResourceManager<T>,
  ) {
    this.reader = context.runtime;
    const scope = stats.scope(kind === "listener" ? "listener_manager.lds." : "cluster_manager.cds.");
    const typeUrl = kind === "listener" ? LISTENER_TYPE : CLUSTER_TYPE;
    this.subscription = createSubscription(context, kind === "listener" ? "lds" : "cds", source, typeUrl, [], scope, (response, path) => this.onConfigUpdate(response, path));
  }

  /**
   * The first read (applied or not: Envoy's init target is ready either way), and the
   * warming of what it added: Envoy's ClusterManagerInitHelper starts LDS once CDS's
   * clusters are initialized. Later updates are answered (ACKed) before they warm.
   */
  async start(): Promise<void> {
    await this.subscription.start();
    await this.manager.whenWarm?.();
  }

  stop(): void {
    this.subscription.stop();
  }

  dump(): readonly DynamicResource[] {
    return [...this.current.values()];
  }

  dumpWarming(): readonly DynamicResource[] {
    return [...this.warming.values()];
  }

  get versionInfo(): string {
    return this.subscription.versionInfo;
  }

  private async onConfigUpdate(response: RawDiscoveryResponse, path: string): Promise<void> {
    const { decodeResource, XdsUpdateError } = await import("./discovery-response.ts");
    const { listenerSchema, cluster } = await import("../schema.ts");
    const { releaseSchemas } = await import("../lazy-schema.ts");
    let decoded;
    try {
      // A listener's routes may hold regexes: the RE2 engine is loaded if the check meets one;
      // the DataSource files it names are read (data-source-files.ts).
      decoded = (
        await withDataSources(this.reader, () =>
          response.resources.map((resource, i) =>
            this.kind === "listener" ? decodeResource(resource, LISTENER_TYPE, listenerSchema, path, i) : decodeResource(resource, CLUSTER_TYPE, cluster, path, i),
          ),
        )
      ).result;
    } finally {
      // As validateConfig: the schemas this check built are not kept until the next one (lazy-schema.ts).
      releaseSchemas();
    }
    const names = new Set<string>();
    for (const { value } of decoded) {
      const name = value.name ?? "";
      if (names.has(name)) throw new XdsUpdateError("rejected", `duplicate ${this.kind} ${name} found`);
      names.add(name);
    }
    // What the update no longer names: LDS removes it before adding the rest, so a new
    // listener may take the address of one removed (Envoy's lds_api.cc: "Do not change the
    // order"); CDS after (cds_api_helper.cc).
    const removed = [...new Set([...this.current.keys(), ...this.warming.keys()])].filter((name) => !names.has(name));
    if (this.kind === "listener") this.removeAll(removed, response.versionInfo);
    const errors: string[] = [];
    for (const { value, document } of decoded) {
      const name = value.name ?? "";
      const text = JSON.stringify(document);
      try {
        const { changed, warmed } = await this.manager.addOrUpdate(value as T, { hash: text, versionInfo: response.versionInfo });
        // Not changed: the same text, or a static resource of that name (Envoy skips it; it stays static).
        if (changed) {
          const entry: DynamicResource = { name, versionInfo: response.versionInfo, lastUpdated: this.wallClock(), document };
          this.warming.set(name, entry);
          const settle = (serves: boolean) => {
            if (this.warming.get(name) !== entry) return;
            this.warming.delete(name);
            // One that cannot serve (it could not bind) is not dumped as serving; what served before, if anything, stays.
            if (serves) this.current.set(name, entry);
          };
          warmed.then(settle, () => settle(false));
          this.systemVersionInfo = response.versionInfo;
        }
      } catch (err) {
        errors.push(`${this.kind} '${name}': ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (this.kind === "cluster") this.removeAll(removed, response.versionInfo);
    if (errors.length > 0) throw new XdsUpdateError("rejected", `Error adding/updating ${this.kind}(s) ${errors.join("; ")}`);
  }

  private removeAll(names: readonly string[], versionInfo: string): void {
    for (const name of names) {
      this.manager.remove(name);
      this.current.delete(name);
      this.warming.delete(name);
      this.systemVersionInfo = versionInfo;
    }
  }

  private wallClock(): number {
    return this.subscription.clock();
  }
}
