import { loadClusterCode } from "./cluster-code-loaders.ts";
import { DnsCacheManager } from "./dns-cache-manager.ts";
import type { SecretManager } from "../tls/secret-manager.ts";
import type { ClusterConfig } from "../config/bootstrap.ts";
import { defaultsOnly, type RuntimeSnapshot } from "../runtime/runtime-loader.ts";
import type { Dispatcher } from "../event/dispatcher.ts";
import { Logger } from "../log.ts";
import { StatsStore } from "../stats/stats-store.ts";
import { Cluster, loadChecksCode } from "./cluster.ts";
import type { AggregateClusterSource } from "./aggregate-cluster.ts";
import type { DnsDiscovery } from "./dns-resolve-target.ts";
import type { EventLogSink } from "./health-check-event-logger.ts";
import { HealthFlag, NO_LOCALITY, type Host, type Locality } from "./host.ts";
import { HealthState, HealthTransition } from "./health-checker.ts";
import { Http1ConnPool, type PoolHandle, type UpstreamCallbacks } from "./http1-conn-pool.ts";
import { LazyModule } from "../util/lazy-module.ts";
import { LogicalDnsCluster } from "./logical-dns-cluster.ts";
import { EdsClusterImpl } from "./eds-cluster.ts";
import type { LoadAssignmentDecoder } from "../config/xds/load-assignment.ts";
import { StrictDnsCluster } from "./strict-dns-cluster.ts";
import { TcpConnPool, UnlimitedTcpConnPool } from "./tcp-conn-pool.ts";
import { clusterTcpKeepaliveRefusal } from "./tcp-keepalive.ts";
import type { Counter } from "../stats/counter.ts";
import type { Gauge } from "../stats/gauge.ts";
import { configHash } from "../util/config-hash.ts";
import { clusterAbstractRefusal } from "../network/abstract-pipe.ts";
import { tlsSdsBackingClusterProblem } from "../config/xds/backing-cluster.ts";

/** Envoy's default upstream idle_timeout (common_http_protocol_options): 1 hour. */
const DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS = 3_600_000;

/** A TCP pool's connections are handed out at once and close with their owner: an idle one is an accident, gone in a minute. */
const TCP_POOL_IDLE_TIMEOUT_MS = 60_000;

/** An HTTP connection pool of one host, whichever version it speaks. */
export interface HttpConnPool {
  newStream(callbacks: UpstreamCallbacks): PoolHandle | undefined;
  drainConnections(): void;
  /** Connections open, and streams waiting for one (tests, stats). */
  readonly connectionCount: number;
  readonly pendingCount: number;
}

/** How a cluster is added or updated (addOrUpdateCluster). */
export interface ClusterUpdateOptions {
  /** What identifies the config's content: an unchanged hash is no update. Default: configHash(config). */
  hash?: string;
  /** xDS version_info (the admin's config dump). */
  versionInfo?: string;
  /**
   * Added by CDS (Envoy's added_via_api): it cannot update or remove a cluster that was
   * not (a static one, or a reload's) — Envoy's ClusterData::blockUpdate — and is skipped.
   */
  addedViaApi?: boolean;
}

/** What updateCluster did: whether anything changes, and when the new cluster serves. */
export interface ClusterUpdate {
  readonly changed: boolean;
  /** True once it serves; false when replaced or removed first (or nothing changed); rejects when it cannot be initialized. */
  readonly warmed: Promise<boolean>;
  /**
   * Settles once the cluster's discovery started (its EDS watch is on the management
   * server's stream), or its initialization ended first: CDS holds its ACK until then, so
   * that its clusters' EDS names go out in one request before it (Envoy starts an EDS
   * cluster's subscription within addOrUpdateCluster, while CdsApiHelper pauses EDS).
   */
  readonly started: Promise<void>;
}

interface WarmingCluster {
  readonly cluster: Cluster;
  settle(active: boolean): void;
  /** Settles when it serves, is dropped or fails. */
  readonly done: Promise<void>;
}

/**
 * Owns every cluster by name, and their connection pools per host (Envoy's
 * `Upstream::ClusterManager`). Clusters can be added, replaced and removed while the
 * server runs (ClusterManagerImpl::addOrUpdateCluster / removeCluster): requests look
 * their cluster up by name when they start, so new ones use the new cluster; those in
 * flight keep the Cluster object they started with and finish on its pools, which a
 * replaced or removed cluster drains (no new streams, connections closed as their
 * streams end). Stats as Envoy's: cluster_manager.cluster_added / cluster_modified /
 * cluster_removed, active_clusters, warming_clusters.
 */
export class ClusterManager implements AggregateClusterSource<Cluster> {
  private readonly clusters = new Map<string, Cluster>();
  /** Each cluster's config hash and xDS version_info (addOrUpdateCluster). */
  private readonly hashes = new Map<Cluster, { hash: string; versionInfo: string | undefined; addedViaApi: boolean }>();

  /** CDS added this cluster (Envoy's added_via_api, shown by /clusters). */
  addedViaApi(cluster: Cluster): boolean {
    return this.hashes.get(cluster)?.addedViaApi === true;
  }
  /**
   * Told of each serving cluster that stops serving: removed by removeCluster, or replaced by
   * an update under its name (Envoy's ClusterUpdateCallbacks: onClusterRemoval, and
   * onClusterAddOrUpdate for the one replaced) — what holds the old one lets it go.
   */
  private readonly removalCallbacks = new Set<(cluster: Cluster) => void>();

  /** Told the name whose serving cluster changed: added, replaced or removed (aggregate clusters follow theirs). */
  private readonly updateCallbacks = new Set<(name: string) => void>();

  /** AggregateClusterSource: subscribe to changes of the cluster serving under a name; returns what unsubscribes. */
  addClusterUpdateCallback(callback: (name: string) => void): () => void {
    const entry = (name: string) => callback(name);
    this.updateCallbacks.add(entry);
    return () => this.updateCallbacks.delete(entry);
  }

  private notifyClusterUpdate(name: string): void {
    for (const callback of [...this.updateCallbacks]) callback(name);
  }

  /** Subscribe to serving clusters' removal or replacement; returns what unsubscribes. */
  addClusterRemovalCallback(callback: (cluster: Cluster) => void): () => void {
    const entry = (cluster: Cluster) => callback(cluster);
    this.removalCallbacks.add(entry);
    return () => this.removalCallbacks.delete(entry);
  }

  /** The cluster warming under each name (Envoy's warming_clusters_): a newer update or removeCluster drops it. */
  private readonly warming = new Map<string, WarmingCluster>();
  private readonly pools = new Map<Host, HttpConnPool>();
  /** A host's HTTP/2 pool beside its HTTP/1 one (use_downstream_protocol_config needs both). */
  private readonly http2Pools = new Map<Host, HttpConnPool>();
  /** auto_sni: a host's pools by the SNI their connections send (Envoy keys pools by the transport socket options), "h2 " before the name for HTTP/2. */
  private readonly sniPools = new Map<Host, Map<string, HttpConnPool>>();
  private readonly tcpPools = new Map<Host, TcpConnPool>();
  /** The discovery of each STRICT_DNS, LOGICAL_DNS and EDS cluster. */
  private readonly dnsDiscoveries = new Map<Cluster, DnsDiscovery | EdsClusterImpl>();
  private readonly runtimeValues: RuntimeSnapshot;
  /** The dynamic forward proxy's DNS caches by name, shared by its clusters and filters (dns-cache-manager.ts). */
  readonly dnsCaches: DnsCacheManager;
  private readonly localInfo: { readonly clusterName?: string; readonly locality?: Locality };
  /** The local cluster's priority set, which every other cluster's balancer follows (zone aware routing). */
  private localPrioritySet: Cluster["prioritySet"] | undefined;
  private localLocality: Locality | undefined;
  /** What initialize() was given, for clusters added later. */
  private openEventLog: ((path: string) => Promise<EventLogSink>) | undefined;
  private secrets: SecretManager | undefined;
  /** Whether a cluster may carry a management server's stream (static, not EDS from a server): an SDS source of a cluster added later must name one. Set by the server. */
  isPrimaryCluster: ((name: string) => boolean) | undefined;
  /**
   * Once a cluster's code is loaded: what other layers make of its config at load (its
   * upstream HTTP filters checked, their stats made at 0, as Envoy's ClusterInfoImpl builds
   * its filter factories when the cluster is created, over CDS too). Set by the server.
   */
  prepareClusterCode: ((config: ClusterConfig) => Promise<void> | undefined) | undefined;
  private initialized = false;
  private readonly cmStats: { clusterAdded: Counter; clusterModified: Counter; clusterRemoved: Counter; activeClusters: Gauge; warmingClusters: Gauge };
  constructor(
    configs: readonly ClusterConfig[],
    private readonly statsStore: StatsStore,
    /** The event loop its pools run on (their connections and timers). */
    private readonly dispatcher: Dispatcher,
    /** Where DNS discovery warns of names that do not resolve, and health checks log failures. */
    private readonly log: Logger = new Logger(dispatcher.runtime),
    /** The runtime outlier detection and the balancers read their keys from (none: the configured values). */
    layeredRuntime: RuntimeSnapshot = defaultsOnly(dispatcher.runtime),
    /** cluster_manager.local_cluster_name and node.locality: zone aware routing. */
    local: { readonly clusterName?: string; readonly locality?: Locality } = {},
    /** How EDS clusters read their resources (config/xds/eds-resource.ts; without it, an EDS cluster is refused). */
    private readonly decodeLoadAssignment?: LoadAssignmentDecoder,
  ) {
    this.runtimeValues = layeredRuntime;
    this.localInfo = local;
    this.dnsCaches = new DnsCacheManager(dispatcher.runtime, statsStore, log);
    const scope = statsStore.scope("cluster_manager.");
    this.cmStats = {
      clusterAdded: scope.counter("cluster_added"),
      clusterModified: scope.counter("cluster_modified"),
      clusterRemoved: scope.counter("cluster_removed"),
      activeClusters: scope.gauge("active_clusters"),
      warmingClusters: scope.gauge("warming_clusters"),
    };
    // The local cluster first: every cluster's balancer follows its hosts (Envoy's local_priority_set_).
    const localConfig = local.clusterName !== undefined ? configs.find((c) => c.name === local.clusterName) : undefined;
    if (localConfig) this.add(localConfig, {});
    for (const config of configs) if (config !== localConfig) this.add(config, {});
    // An aggregate built before a cluster it names finds it now.
    for (const config of configs) this.notifyClusterUpdate(config.name);
    this.cmStats.clusterAdded.inc(configs.length);
    this.cmStats.activeClusters.set(this.clusters.size);
  }

  /** Build a cluster and put it in the map under its name (its discovery made, not started). */
  private add(config: ClusterConfig, options: ClusterUpdateOptions): Cluster {
    const runtime = this.dispatcher.runtime;
    const random = () => runtime.random();
    const now = () => runtime.now();
    const isLocal = config.name === this.localInfo.clusterName;
    if (isLocal) this.localLocality = this.localInfo.locality ?? NO_LOCALITY;
    const localLocality = this.localLocality;
    const cluster = new Cluster(config, this.statsStore, random, {
      now,
      layeredRuntime: this.runtimeValues,
      ...(localLocality ? { localLocality } : {}),
      ...(!isLocal && this.localPrioritySet ? { localPrioritySet: this.localPrioritySet } : {}),
      aggregateSource: this,
      dnsCaches: this.dnsCaches,
    });
    if (isLocal) this.localPrioritySet = cluster.prioritySet;
    cluster.prioritySet.addMemberUpdateCallback((_added, removed) => this.onHostsRemoved(removed));
    this.clusters.set(config.name, cluster);
    this.hashes.set(cluster, { hash: options.hash ?? configHash(config), versionInfo: options.versionInfo, addedViaApi: options.addedViaApi === true });
    if (config.type === "EDS") {
      if (this.decodeLoadAssignment === undefined) throw new Error(`cluster '${config.name}': EDS needs the server's load assignment decoder`);
      this.dnsDiscoveries.set(cluster, new EdsClusterImpl(cluster, runtime, this.log, this.statsStore, this.decodeLoadAssignment));
    }
    // STATIC hosts come from the config, ORIGINAL_DST ones from its balancer's picks: no discovery.
    else if (config.type === "STRICT_DNS" || config.type === "LOGICAL_DNS") {
      this.dnsDiscoveries.set(cluster, config.type === "STRICT_DNS" ? new StrictDnsCluster(cluster, runtime, this.log) : new LogicalDnsCluster(cluster, runtime, this.log));
    }
    return cluster;
  }

  /**
   * Envoy's ClusterManagerImpl::addOrUpdateCluster, awaited: resolves true once the new
   * cluster serves (see updateCluster), false when nothing changed or it was replaced or
   * removed while it warmed; rejects when it cannot be built or initialized (the old
   * cluster serving on). A reload awaits this; CDS uses updateCluster (it ACKs before warming).
   */
  addOrUpdateCluster(config: ClusterConfig, options: ClusterUpdateOptions = {}): Promise<boolean> {
    try {
      const update = this.updateCluster(config, options);
      return update.changed ? update.warmed : Promise.resolve(false);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Envoy's ClusterData::blockUpdate: CDS cannot change a static cluster (one serving or warming under `name`, not added by it). */
  private blockedUpdate(name: string, options: ClusterUpdateOptions): boolean {
    if (options.addedViaApi !== true) return false;
    const existing = this.clusters.get(name);
    const warming = this.warming.get(name)?.cluster;
    return [existing, warming].some((cluster) => cluster !== undefined && this.hashes.get(cluster)?.addedViaApi === false);
  }

  /** Whether the cluster serving or warming under `name` has this config hash: the update changes nothing. */
  private sameAsCurrent(name: string, hash: string): boolean {
    const existing = this.clusters.get(name);
    const warming = this.warming.get(name)?.cluster;
    return [existing, warming].some((cluster) => cluster !== undefined && this.hashes.get(cluster)?.hash === hash);
  }

  /**
   * Envoy's ClusterManagerImpl::addOrUpdateCluster: validates and builds the cluster now
   * (throws when it cannot be built; nothing changes), and returns whether anything
   * changes. After start-up the new cluster warms (TLS context, its first health checks,
   * its first EDS answer, discovery started) in the warming map while the old one, if
   * any, serves; `warmed` resolves true when it is swapped in (new requests use it, the
   * old one's pools drain), false when a newer update of that name or a removal replaced
   * it first (Envoy's warming_clusters_), and rejects when it cannot be initialized.
   * Clusters warm side by side: one that never warms (an EDS answer that never comes)
   * holds back only itself. An update with the config that serves (or warms) now changes
   * nothing, and CDS cannot change a static cluster (Envoy's blockUpdate). The local
   * cluster (cluster_manager.local_cluster_name) cannot be replaced: the other clusters'
   * balancers follow its hosts.
   */
  updateCluster(config: ClusterConfig, options: ClusterUpdateOptions = {}): ClusterUpdate {
    const name = config.name;
    const hash = options.hash ?? configHash(config);
    const existing = this.clusters.get(name);
    const known = existing && this.hashes.get(existing);
    const warmingNow = this.warming.get(name);
    const knownWarming = warmingNow && this.hashes.get(warmingNow.cluster);
    const unchanged: ClusterUpdate = { changed: false, warmed: Promise.resolve(false), started: Promise.resolve() };
    if (this.blockedUpdate(name, options)) {
      this.log.debug(`cds: add/update cluster '${name}' skipped: it is a static cluster`);
      return unchanged;
    }
    if (knownWarming && knownWarming.hash === hash) return unchanged;
    if (known && known.hash === hash) {
      // Back to what serves: a different config still warming is dropped (Envoy keeps it
      // warming and swaps it in, so the state would not be the update's; see docs/control-plane.md).
      if (warmingNow) this.dropWarming(name, warmingNow);
      return unchanged;
    }
    if (existing && name === this.localInfo.clusterName) {
      throw new Error(`cluster '${name}' is the local cluster (cluster_manager.local_cluster_name): it cannot change while polyvoy runs`);
    }
    this.refuseUnreachableEndpoints(config);
    // Refused before it is built: thrown here, the update is NACKed (update_rejected), as
    // any config the cluster cannot run with; warming would fail it only after the ACK.
    const keepaliveRefusal = clusterTcpKeepaliveRefusal(config, this.dispatcher.runtime);
    if (keepaliveRefusal !== undefined) throw new Error(keepaliveRefusal);
    // Envoy's SubscriptionFactoryImpl checks an SDS source's cluster while the CDS update's
    // cluster is made (checkApiConfigSourceSubscriptionBackingCluster): it throws, the update
    // is rejected. Checked here, not when the cluster warms after the ACK (or, read from a
    // file before start-up's initialize, fails start-up).
    const tls = config.transportSocket;
    if (tls !== undefined && this.isPrimaryCluster !== undefined) {
      const problem = tlsSdsBackingClusterProblem(tls.common, this.isPrimaryCluster);
      if (problem !== undefined) throw new Error(`transport_socket: ${problem}`);
    }
    // Built apart, then swapped in: the map keeps the old one until the new one is warm.
    const cluster = this.add(config, { hash, addedViaApi: options.addedViaApi === true, ...(options.versionInfo !== undefined ? { versionInfo: options.versionInfo } : {}) });
    if (existing) this.clusters.set(name, existing);
    else this.clusters.delete(name);
    // Envoy counts the update when it is taken, warming or not.
    if (existing || warmingNow) this.cmStats.clusterModified.inc();
    else this.cmStats.clusterAdded.inc();
    if (!this.initialized) {
      // Before start-up's initialize (a CDS file read first): it starts with the others.
      this.activate(name, cluster);
      return { changed: true, warmed: Promise.resolve(true), started: Promise.resolve() };
    }
    // A newer update of a cluster still warming replaces the warming one.
    if (warmingNow) this.dropWarming(name, warmingNow);
    let settle!: (active: boolean) => void;
    let fail!: (err: unknown) => void;
    const warmed = new Promise<boolean>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    const entry: WarmingCluster = { cluster, settle, done: warmed.then(() => undefined, () => undefined) };
    this.warming.set(name, entry);
    this.cmStats.warmingClusters.set(this.warming.size);
    const current = (): boolean => this.warming.get(name) === entry;
    let markStarted!: () => void;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    this.initializeCluster(cluster, current, (subscribed) => void subscribed.then(markStarted, markStarted)).then(
      () => {
        markStarted();
        // Dropped while it warmed: what it started since stops too.
        if (!current()) return this.stopCluster(cluster);
        this.warming.delete(name);
        this.cmStats.warmingClusters.set(this.warming.size);
        this.activate(name, cluster);
        settle(true);
      },
      (err: unknown) => {
        markStarted();
        if (!current()) return this.stopCluster(cluster);
        this.warming.delete(name);
        this.cmStats.warmingClusters.set(this.warming.size);
        this.stopCluster(cluster);
        fail(err);
      },
    );
    return { changed: true, warmed, started };
  }

  /** Envoy's clusterWarmingToActive: the cluster serves; what served under its name (now) is retired. */
  private activate(name: string, cluster: Cluster): void {
    const current = this.clusters.get(name);
    this.clusters.set(name, cluster);
    if (current) {
      this.retire(current);
      for (const callback of [...this.removalCallbacks]) callback(current);
    }
    this.cmStats.activeClusters.set(this.clusters.size);
    this.notifyClusterUpdate(name);
  }

  /** A warming cluster replaced or removed: it stops, its update resolves false. */
  private dropWarming(name: string, entry: WarmingCluster): void {
    this.warming.delete(name);
    this.cmStats.warmingClusters.set(this.warming.size);
    this.stopCluster(entry.cluster);
    entry.settle(false);
  }

  /** Resolves once no cluster warms (those added while waiting too): start-up's CDS waits for its clusters (Envoy's ClusterManagerInitHelper). */
  async whenWarm(): Promise<void> {
    while (this.warming.size > 0) await Promise.all([...this.warming.values()].map((entry) => entry.done));
  }

  /**
   * Envoy's ClusterManagerImpl::removeCluster: new requests no longer find it (as a
   * cluster never configured: 503 NC); those in flight finish on its pools, which drain.
   * False when there is no cluster of that name, or it is the local cluster, or `viaApi`
   * (CDS) names one it did not add. One of that name warming is dropped.
   */
  removeCluster(name: string, options: { viaApi?: boolean } = {}): boolean {
    if (name === this.localInfo.clusterName) return false;
    // Envoy's removeCluster: only what CDS added can CDS remove.
    const removable = (c: Cluster | undefined): c is Cluster => c !== undefined && (options.viaApi !== true || this.hashes.get(c)?.addedViaApi === true);
    const warming = this.warming.get(name);
    const cluster = this.clusters.get(name);
    const removeWarming = warming !== undefined && removable(warming.cluster);
    const removeActive = removable(cluster);
    if (removeWarming) this.dropWarming(name, warming);
    if (removeActive) {
      this.clusters.delete(name);
      this.retire(cluster);
      for (const callback of [...this.removalCallbacks]) callback(cluster);
      this.notifyClusterUpdate(name);
    }
    if (!removeWarming && !removeActive) return false;
    this.cmStats.clusterRemoved.inc();
    this.cmStats.activeClusters.set(this.clusters.size);
    return true;
  }

  /** The xDS version_info a cluster was last added or updated with. */
  versionInfo(name: string): string | undefined {
    const cluster = this.clusters.get(name);
    return cluster && this.hashes.get(cluster)?.versionInfo;
  }

  /** A cluster replaced or removed: discovery and checks stop, its hosts' pools drain. */
  private retire(cluster: Cluster): void {
    this.stopCluster(cluster);
    this.onHostsRemoved(cluster.prioritySet.allHosts());
  }

  private stopCluster(cluster: Cluster): void {
    this.dnsDiscoveries.get(cluster)?.stop();
    this.dnsDiscoveries.delete(cluster);
    this.hashes.delete(cluster);
    cluster.stopHealthChecking();
    // Its secrets released: a rotation builds no context for it, a subscription no one holds stops.
    cluster.transportSocketFactory?.close();
  }

  /**
   * A host left its cluster (a DNS refresh, …): its pools take no new streams and close
   * their connections as in-flight streams finish (Envoy's ClusterManagerImpl drains the
   * pools of removed hosts). The next pick cannot choose it, so no new pool appears.
   */
  private onHostsRemoved(removed: readonly Host[]): void {
    for (const host of removed) {
      this.pools.get(host)?.drainConnections();
      this.pools.delete(host);
      this.http2Pools.get(host)?.drainConnections();
      this.http2Pools.delete(host);
      for (const pool of this.sniPools.get(host)?.values() ?? []) pool.drainConnections();
      this.sniPools.delete(host);
      this.tcpPools.get(host)?.drainConnections();
      this.tcpPools.delete(host);
    }
  }

  /**
   * Start discovery, health checking and outlier detection. Every DNS cluster resolves
   * its names now and keeps refreshing them. Resolves once each DNS cluster had its
   * first resolution of every name (answered or failed), each EDS cluster its first
   * update, and each health-checked host known by then its first check (Envoy's
   * ClusterManagerInitHelper: the server starts its listeners after it), except for
   * clusters with wait_for_warm_on_init: false. A host failing a health check or ejected as an
   * outlier has its pools drained (Envoy's onHostHealthFailure): new requests to it, if
   * any, open new connections, and its idle ones close.
   */
  async initialize(openEventLog?: (path: string) => Promise<EventLogSink>, secrets?: SecretManager): Promise<void> {
    this.openEventLog = openEventLog;
    this.secrets = secrets;
    // The clusters this start-up initializes: those known now. One CDS adds or replaces from
    // here on (a watched CDS file changing while these warm) warms on its own in
    // updateCluster, which starts its discovery and checks: they must not start twice (a
    // second DNS refresh chain or health checker that stop() would never end).
    const initial = [...this.clusters.values()];
    for (const cluster of initial) this.refuseUnreachableEndpoints(cluster.config);
    this.initialized = true;
    // Replaced or removed (by CDS) while this start-up awaited: retired, it starts nothing.
    const serving = (cluster: Cluster): boolean => this.clusters.get(cluster.name) === cluster;
    // Health check event logs first: a file that cannot be opened stops start-up, naming it.
    const eventLogs = new Map<Cluster, EventLogSink | undefined>();
    for (const cluster of initial) eventLogs.set(cluster, await this.openClusterEventLog(cluster));
    // The code the clusters' pools and checks need, before discovery (EDS over gRPC opens a
    // stream through the xDS cluster's HTTP/2 pool at once) and before any check starts.
    await Promise.all(initial.map((cluster) => this.loadCode(cluster)));
    const starting = initial.filter(serving);
    for (const cluster of starting) this.dnsDiscoveries.get(cluster)?.start();
    await Promise.all(starting.map((cluster) => this.startCluster(cluster, eventLogs.get(cluster))));
  }

  /** Throws when this runtime can reach none of an endpoint's kind: every connect would fail, so the config is refused, as a listener on it is (listener.ts). */
  private refuseUnreachableEndpoints(config: ClusterConfig): void {
    const refusal = clusterAbstractRefusal(this.dispatcher.runtime, config);
    if (refusal !== undefined) throw new Error(refusal);
  }

  /** One cluster added after start-up: its event log, discovery, checks (Envoy's cluster warming). */
  private async initializeCluster(cluster: Cluster, current: () => boolean, onDiscoveryStarted: (subscribed: Promise<void>) => void): Promise<void> {
    const eventLog = await this.openClusterEventLog(cluster);
    await this.loadCode(cluster);
    // Replaced or removed while its event log opened or its code loaded: nothing starts.
    if (!current()) return;
    const discovery = this.dnsDiscoveries.get(cluster);
    discovery?.start();
    onDiscoveryStarted(discovery instanceof EdsClusterImpl ? discovery.subscribed : Promise.resolve());
    await this.startCluster(cluster, eventLog);
  }

  /**
   * A CDS update's cluster's upstream HTTP filters, made before the update is taken: Envoy
   * builds a cluster's filter factories when it makes the cluster (ClusterInfoImpl's
   * http_filter_factories_), so a Lua script that does not compile throws there and the update
   * is rejected (update_rejected) — not ACKed, to fail only while warming. The made configs are
   * kept (per config object) for the warming that follows.
   */
  async prepareUpdateCode(config: ClusterConfig, options: ClusterUpdateOptions = {}): Promise<void> {
    if (config.upstreamHttpFilters === undefined || config.upstreamHttpFilters.length === 0) return;
    // Envoy's addOrUpdateCluster (source/common/upstream/cluster_manager_impl.cc) skips an update it will not take before it builds anything:
    // a static cluster's name, or the config that serves or warms now (its Lua file is not
    // read again, so an edit to it alone neither rebuilds nor rejects the cluster).
    if (this.blockedUpdate(config.name, options) || this.sameAsCurrent(config.name, options.hash ?? configHash(config))) return;
    // Thrown as it is: the CDS update's error already names the cluster (lds-cds-api.ts).
    await loadClusterCode(config);
    await this.prepareClusterCode?.(config);
  }

  /** Load the code `cluster`'s pools (HTTP/2, mixed), upstream HTTP filters and checks (health checkers, outlier detection) need, if not in yet. */
  private async loadCode(cluster: Cluster): Promise<void> {
    try {
      await Promise.all([this.poolCodeLoading(cluster), loadChecksCode(cluster.config), loadClusterCode(cluster.config)]);
      await this.prepareClusterCode?.(cluster.config);
    } catch (err) {
      throw new Error(`cluster '${cluster.name}': ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /**
   * The load of the code `cluster`'s pools need, undefined when it is in. An internal client
   * (a gRPC stream, an async request) waits for it before its first pool: a static cluster's
   * EDS or SDS subscription may open one before initialize() loaded it.
   */
  poolCodeLoading(cluster: Cluster): Promise<unknown> | undefined {
    return mayUseHttp2(cluster.config) && HTTP2_POOLS.loaded === undefined ? HTTP2_POOLS.load() : undefined;
  }

  private async openClusterEventLog(cluster: Cluster): Promise<EventLogSink | undefined> {
    const path = cluster.config.healthChecks?.[0]?.eventLogPath;
    if (path === undefined || !this.openEventLog) return undefined;
    try {
      return await this.openEventLog(path);
    } catch (err) {
      throw new Error(`cluster '${cluster.name}': health_checks[0].event_log_path: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private startCluster(cluster: Cluster, eventLog: EventLogSink | undefined): Promise<void> {
    // A failed host's pooled connections are drained (Envoy's onHostHealthFailure), whether
    // outlier detection ejected it or its active health check failed.
    cluster.onChecksCreated = () => {
      cluster.outlierDetector?.addChangedStateCallback((host) => {
        if (host.healthFlagGet(HealthFlag.FailedOutlierCheck)) this.onHostHealthFailure(host);
      });
      cluster.healthChecker?.addHostCheckCompleteCallback((host, transition, state) => {
        if (transition === HealthTransition.Changed && state === HealthState.Unhealthy) this.onHostHealthFailure(host);
      });
    };
    const initialized = cluster.initialize(this.dispatcher, this.log, eventLog, this.runtimeValues, this.secrets);
    // A DNS cluster warms with each name's first resolution, answered or failed (Envoy's
    // DnsClusterImpl / LogicalDnsCluster::startPreInit), an EDS cluster with its first
    // update (EdsClusterImpl); wait_for_warm_on_init: false completes at once instead.
    const discovery = this.dnsDiscoveries.get(cluster);
    const waits = discovery !== undefined && cluster.config.waitForWarmOnInit !== false;
    return waits ? Promise.all([initialized, discovery.warmed]).then(() => undefined) : initialized;
  }

  private onHostHealthFailure(host: Host): void {
    this.onHostsRemoved([host]);
  }

  /** Stop discovery, health checking and outlier detection (at shutdown): no more DNS queries, checks or their timers. */
  shutdown(): void {
    for (const [name, entry] of [...this.warming]) this.dropWarming(name, entry);
    for (const discovery of this.dnsDiscoveries.values()) discovery.stop();
    for (const cluster of this.clusters.values()) cluster.stopHealthChecking();
    this.dnsCaches.stop();
  }

  /** A cluster of the config (static, CDS): never an internal one, which no route, header or cluster name reaches. */
  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  /** A google_grpc target's internal cluster once internalCluster() built it; only the gRPC clients ask. */
  getInternal(name: string): Cluster | undefined {
    const entry = this.internal.get(name);
    return entry !== undefined && entry.ready === undefined && entry.failed === undefined ? entry.cluster : undefined;
  }

  /**
   * google_grpc targets' clusters (config/google-grpc-target.ts), by name: built and
   * initialized on first use, shared by every service naming the same target. Envoy's
   * Google gRPC client has no cluster: these are not in all() (/clusters, config_dump)
   * and their stats go to a store of their own, not /stats.
   */
  private readonly internal = new Map<string, { cluster: Cluster; ready: Promise<void> | undefined; failed?: string }>();

  /**
   * The internal cluster `config` describes: undefined once it is ready (getInternal(config.name)
   * returns it), else the promise of its initialization (TLS context read, pools' code
   * loaded), which rejects with why it cannot be built.
   */
  internalCluster(config: ClusterConfig): Promise<void> | undefined {
    let entry = this.internal.get(config.name);
    if (entry === undefined) {
      const runtime = this.dispatcher.runtime;
      const cluster = new Cluster(config, new StatsStore(), () => runtime.random(), { now: () => runtime.now(), layeredRuntime: this.runtimeValues });
      const created = { cluster, ready: undefined as Promise<void> | undefined, failed: undefined as string | undefined };
      entry = created;
      this.internal.set(config.name, created);
      const discovery = config.type === "STRICT_DNS" ? new StrictDnsCluster(cluster, runtime, this.log) : undefined;
      if (discovery) this.dnsDiscoveries.set(cluster, discovery);
      created.ready = this.loadCode(cluster)
        .then(() => {
          // Removed while its code loaded (removeInternalClustersExcept): nothing starts; the
          // caller waiting still names it, so it waits for the cluster built again.
          if (this.internal.get(config.name) !== created) return this.internalCluster(config);
          discovery?.start();
          return this.startCluster(cluster, undefined);
        })
        .then(
          () => { created.ready = undefined; },
          (err: unknown) => {
            created.failed = err instanceof Error ? err.message : String(err);
            this.log.warn(`google_grpc: ${created.failed}`);
            throw err;
          },
        );
    }
    if (entry.failed !== undefined) return Promise.reject(new Error(entry.failed));
    return entry.ready;
  }

  /**
   * The internal clusters whose names are not in `named` (no config asks for them any
   * more: a reload or xDS changed the target) go, as a removed cluster does: DNS stops,
   * their pools drain (calls in flight finish, idle connections close). A call that still
   * names one builds it again (internalCluster). Returns the names removed.
   */
  /** Some google_grpc internal cluster exists (a sweep has something to remove). */
  get hasInternalClusters(): boolean {
    return this.internal.size > 0;
  }

  removeInternalClustersExcept(named: ReadonlySet<string>): string[] {
    const removed: string[] = [];
    for (const [name, entry] of [...this.internal]) {
      if (named.has(name)) continue;
      this.internal.delete(name);
      this.retire(entry.cluster);
      removed.push(name);
    }
    return removed;
  }

  /** The EDS clusters' discoveries (the admin's /config_dump?include_eds). */
  edsClusters(): EdsClusterImpl[] {
    return [...this.dnsDiscoveries.values()].filter((d) => d instanceof EdsClusterImpl);
  }

  /** The configs of the clusters serving and warming (what may name a google_grpc target: an EDS config source). */
  configs(): ClusterConfig[] {
    return [...this.clusters.values(), ...[...this.warming.values()].map((entry) => entry.cluster)].map((cluster) => cluster.config);
  }

  /** Every cluster, in config order (the admin's /clusters). */
  all(): Cluster[] {
    return [...this.clusters.values()];
  }

  /**
   * The HTTP connection pool for one host of a cluster, created on first use: HTTP/2,
   * HTTP/1.1 or (auto_config) chosen by ALPN per connection, as the cluster says (Envoy's ClusterInfoImpl::upstreamHttpProtocol), for
   * use_downstream_protocol_config by `downstreamProtocol` (the request's, "HTTP/2" or
   * "HTTP/1.x"; absent for a request with no downstream). With `serverName` (auto_sni),
   * the host's pool whose TLS connections send that SNI.
   */
  httpConnPool(cluster: Cluster, host: Host, serverName?: string, downstreamProtocol?: string): HttpConnPool {
    cluster = poolCluster(cluster, host);
    const config = cluster.config;
    // auto_config's pools (the mixed pool, which picks the protocol per connection) are kept as the HTTP/1 ones.
    const http2 = config.autoHttp ? false : config.useDownstreamProtocol && downstreamProtocol !== undefined ? downstreamProtocol === "HTTP/2" : config.http2 !== undefined;
    if (serverName !== undefined) return this.sniConnPool(cluster, host, serverName, http2);
    const pools = http2 ? this.http2Pools : this.pools;
    let pool = pools.get(host);
    if (!pool) {
      pool = this.newHttpPool(cluster, host, http2);
      pools.set(host, pool);
    }
    return pool;
  }

  /**
   * The pool a bidirectional gRPC stream of polyvoy's own (ext_proc's Process) takes: HTTP/2
   * whatever the cluster's protocol options say (auto_config's mixed pool picks by ALPN),
   * since a full-duplex stream with trailers needs it. Envoy would take the cluster's
   * protocol (ClusterInfoImpl::upstreamHttpProtocol), HTTP/1.1 without
   * http2_protocol_options, which a gRPC server refuses (envoyproxy/envoy#19246); polyvoy
   * does what the config means.
   */
  grpcStreamConnPool(cluster: Cluster, host: Host): HttpConnPool {
    cluster = poolCluster(cluster, host);
    if (cluster.config.autoHttp) return this.httpConnPool(cluster, host);
    let pool = this.http2Pools.get(host);
    if (!pool) {
      pool = this.newHttpPool(cluster, host, true);
      this.http2Pools.set(host, pool);
    }
    return pool;
  }

  /** The load of the HTTP/2 pools' code for grpcStreamConnPool, undefined when it is in. */
  grpcStreamPoolCodeLoading(): Promise<unknown> | undefined {
    return HTTP2_POOLS.loaded === undefined ? HTTP2_POOLS.load() : undefined;
  }

  private newHttpPool(cluster: Cluster, host: Host, http2: boolean, serverName?: string): HttpConnPool {
    const idleTimeoutMs = cluster.config.idleTimeoutMs ?? DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS;
    // The HTTP/2 pools' code loaded before the cluster warmed (startCluster).
    if (cluster.config.autoHttp) return new (HTTP2_POOLS.get().MixedConnPool)(cluster, host, this.dispatcher, idleTimeoutMs, serverName);
    return http2
      ? new (HTTP2_POOLS.get().Http2ConnPool)(cluster, host, this.dispatcher, idleTimeoutMs, serverName)
      : new Http1ConnPool(cluster, host, this.dispatcher, idleTimeoutMs, serverName);
  }

  private sniConnPool(cluster: Cluster, host: Host, serverName: string, http2: boolean): HttpConnPool {
    let byName = this.sniPools.get(host);
    if (!byName) this.sniPools.set(host, (byName = new Map()));
    const key = http2 ? `h2 ${serverName}` : serverName;
    let pool = byName.get(key);
    if (!pool) {
      // Pools of other names left with no connection and no stream are dropped (Envoy erases
      // an idle pool: ClusterManagerImpl's httpConnPoolIsIdle), so a host's pools stay those
      // with connections, however many names requests give it.
      for (const [name, idle] of byName) {
        if (idle.connectionCount === 0 && idle.pendingCount === 0) {
          idle.drainConnections();
          byName.delete(name);
        }
      }
      pool = this.newHttpPool(cluster, host, http2, serverName);
      byName.set(key, pool);
    }
    return pool;
  }

  /** The TCP connection pool for one host of a cluster (tcp_proxy's upstream), created on first use. */
  tcpConnPool(cluster: Cluster, host: Host): TcpConnPool {
    cluster = poolCluster(cluster, host);
    let pool = this.tcpPools.get(host);
    if (!pool) {
      pool = new TcpConnPool(cluster, host, this.dispatcher, TCP_POOL_IDLE_TIMEOUT_MS);
      this.tcpPools.set(host, pool);
    }
    return pool;
  }

  /**
   * A TCP pool of its own for one connection to `host`, outside the cluster's circuit
   * breakers and not kept here (redis_proxy's transaction client; its owner closes it).
   */
  unlimitedTcpConnPool(cluster: Cluster, host: Host): TcpConnPool {
    return new UnlimitedTcpConnPool(poolCluster(cluster, host), host, this.dispatcher, 0);
  }

  /** Drain every pool (at shutdown): idle connections close now, busy ones when their streams end. */
  drainConnections(): void {
    for (const pool of this.pools.values()) pool.drainConnections();
    for (const pool of this.http2Pools.values()) pool.drainConnections();
    for (const byName of this.sniPools.values()) for (const pool of byName.values()) pool.drainConnections();
    for (const pool of this.tcpPools.values()) pool.drainConnections();
  }
}

/**
 * The cluster whose pool serves `host`: an aggregate's hosts are its clusters', whose
 * protocol, TLS, timeouts and circuit breakers their connections use (Envoy's pools take
 * them from host->cluster()).
 */
function poolCluster(cluster: Cluster, host: Host): Cluster {
  return cluster.aggregate?.clusterOf(host) ?? cluster;
}

/** The cluster's pools may be HTTP/2 ones (httpConnPool): http2_protocol_options, auto_config, or use_downstream_protocol_config. */
function mayUseHttp2(config: ClusterConfig): boolean {
  return config.http2 !== undefined || config.autoHttp === true || config.useDownstreamProtocol === true;
}

/**
 * The HTTP/2 and mixed (auto_config) pools' code, with the HTTP/2 codec: loaded by the first
 * cluster that may use it, before it warms; most start-ups need none of it before listening.
 */
const HTTP2_POOLS = new LazyModule(() => Promise.all([import("./http2-conn-pool.ts"), import("./mixed-conn-pool.ts")]).then(([{ Http2ConnPool }, { MixedConnPool }]) => ({ Http2ConnPool, MixedConnPool })), "the HTTP/2 pools' code");
