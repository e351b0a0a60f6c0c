import type { SecretManager } from "../tls/secret-manager.ts";
import type { ClusterConfig } from "../config/bootstrap.ts";
import { defaultsOnly, type RuntimeSnapshot } from "../runtime/runtime-loader.ts";
import type { Dispatcher } from "../event/dispatcher.ts";
import { Logger } from "../log.ts";
import type { StatsStore } from "../stats/stats-store.ts";
import { Cluster } from "./cluster.ts";
import type { DnsDiscovery } from "./dns-resolve-target.ts";
import type { EventLogSink } from "./health-check-event-logger.ts";
import { HealthFlag, NO_LOCALITY, type Host, type Locality } from "./host.ts";
import { HealthState, HealthTransition } from "./health-checker.ts";
import { Http1ConnPool, type PoolHandle, type UpstreamCallbacks } from "./http1-conn-pool.ts";
import { Http2ConnPool } from "./http2-conn-pool.ts";
import { MixedConnPool } from "./mixed-conn-pool.ts";
import { LogicalDnsCluster } from "./logical-dns-cluster.ts";
import { EdsClusterImpl } from "./eds-cluster.ts";
import type { LoadAssignmentDecoder } from "../config/xds/load-assignment.ts";
import { StrictDnsCluster } from "./strict-dns-cluster.ts";
import { TcpConnPool } from "./tcp-conn-pool.ts";
import type { Counter } from "../stats/counter.ts";
import type { Gauge } from "../stats/gauge.ts";
import { configHash } from "../util/config-hash.ts";

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
export class ClusterManager {
  private readonly clusters = new Map<string, Cluster>();
  /** Each cluster's config hash and xDS version_info (addOrUpdateCluster). */
  private readonly hashes = new Map<Cluster, { hash: string; versionInfo: string | undefined; addedViaApi: boolean }>();

  /** CDS added this cluster (Envoy's added_via_api, shown by /clusters). */
  addedViaApi(cluster: Cluster): boolean {
    return this.hashes.get(cluster)?.addedViaApi === true;
  }
  /** addOrUpdateCluster calls, one at a time in the order asked (a reload and CDS may name one cluster). */
  private updates: Promise<unknown> = Promise.resolve();
  /** The cluster warming under each name (addOrUpdateCluster); removeCluster cancels it. */
  private readonly warming = new Map<string, Cluster>();
  private readonly pools = new Map<Host, HttpConnPool>();
  /** A host's HTTP/2 pool beside its HTTP/1 one (use_downstream_protocol_config needs both). */
  private readonly http2Pools = new Map<Host, HttpConnPool>();
  /** auto_sni: a host's pools by the SNI their connections send (Envoy keys pools by the transport socket options), "h2 " before the name for HTTP/2. */
  private readonly sniPools = new Map<Host, Map<string, HttpConnPool>>();
  private readonly tcpPools = new Map<Host, TcpConnPool>();
  /** The discovery of each STRICT_DNS, LOGICAL_DNS and EDS cluster. */
  private readonly dnsDiscoveries = new Map<Cluster, DnsDiscovery | EdsClusterImpl>();
  private readonly runtimeValues: RuntimeSnapshot;
  private readonly localInfo: { readonly clusterName?: string; readonly locality?: Locality };
  /** The local cluster's priority set, which every other cluster's balancer follows (zone aware routing). */
  private localPrioritySet: Cluster["prioritySet"] | undefined;
  private localLocality: Locality | undefined;
  /** What initialize() was given, for clusters added later. */
  private openEventLog: ((path: string) => Promise<EventLogSink>) | undefined;
  private secrets: SecretManager | undefined;
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
    });
    if (isLocal) this.localPrioritySet = cluster.prioritySet;
    cluster.prioritySet.addMemberUpdateCallback((_added, removed) => this.onHostsRemoved(removed));
    this.clusters.set(config.name, cluster);
    this.hashes.set(cluster, { hash: options.hash ?? configHash(config), versionInfo: options.versionInfo, addedViaApi: options.addedViaApi === true });
    if (config.type === "EDS") {
      if (this.decodeLoadAssignment === undefined) throw new Error(`cluster '${config.name}': EDS needs the server's load assignment decoder`);
      this.dnsDiscoveries.set(cluster, new EdsClusterImpl(cluster, runtime, this.log, this.statsStore, this.decodeLoadAssignment));
    }
    else if (config.type !== "STATIC") {
      this.dnsDiscoveries.set(cluster, config.type === "STRICT_DNS" ? new StrictDnsCluster(cluster, runtime, this.log) : new LogicalDnsCluster(cluster, runtime, this.log));
    }
    return cluster;
  }

  /**
   * Envoy's ClusterManagerImpl::addOrUpdateCluster: resolves true once the cluster is
   * added or replaced, false when its config is unchanged (nothing done). The new cluster
   * warms first (TLS context, first health checks, DNS discovery started) while the old
   * one, if any, serves; then new requests use it and the old one's pools drain.
   * Rejects (the old cluster serving on) when it cannot be initialized.
   * The local cluster (cluster_manager.local_cluster_name) cannot be replaced: the
   * other clusters' balancers follow its hosts.
   */
  addOrUpdateCluster(config: ClusterConfig, options: ClusterUpdateOptions = {}): Promise<boolean> {
    // One at a time: two updates of one name warming side by side would each retire the
    // cluster they found, and the first one's new cluster would never be retired.
    const run = () => this.addOrUpdate(config, options);
    const next = this.updates.then(run, run);
    this.updates = next.catch(() => {});
    return next;
  }

  private async addOrUpdate(config: ClusterConfig, options: ClusterUpdateOptions): Promise<boolean> {
    const hash = options.hash ?? configHash(config);
    const existing = this.clusters.get(config.name);
    const known = existing && this.hashes.get(existing);
    if (known && known.hash === hash) return false;
    // Envoy's ClusterData::blockUpdate: CDS cannot change a static cluster ("cds: add/update cluster '…' skipped").
    if (known && options.addedViaApi === true && !known.addedViaApi) {
      this.log.debug(`cds: add/update cluster '${config.name}' skipped: it is a static cluster`);
      return false;
    }
    if (existing && config.name === this.localInfo.clusterName) {
      throw new Error(`cluster '${config.name}' is the local cluster (cluster_manager.local_cluster_name): it cannot change while polyvoy runs`);
    }
    // Built apart, then swapped in: the map keeps the old one until the new one is warm.
    const cluster = this.add(config, { hash, addedViaApi: options.addedViaApi === true, ...(options.versionInfo !== undefined ? { versionInfo: options.versionInfo } : {}) });
    if (existing) this.clusters.set(config.name, existing);
    else this.clusters.delete(config.name);
    if (this.initialized) {
      this.cmStats.warmingClusters.inc();
      this.warming.set(config.name, cluster);
      try {
        await this.initializeCluster(cluster);
      } catch (err) {
        this.stopCluster(cluster);
        throw err;
      } finally {
        this.cmStats.warmingClusters.dec();
      }
      // Removed while it warmed (Envoy's removeCluster drops a warming cluster too).
      if (this.warming.get(config.name) !== cluster) {
        this.stopCluster(cluster);
        return false;
      }
      this.warming.delete(config.name);
    }
    const current = this.clusters.get(config.name);
    this.clusters.set(config.name, cluster);
    // What it replaces is what serves now (a removal while it warmed: nothing).
    if (current) {
      this.cmStats.clusterModified.inc();
      this.retire(current);
    } else {
      this.cmStats.clusterAdded.inc();
    }
    this.cmStats.activeClusters.set(this.clusters.size);
    return true;
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
    if (removable(warming)) this.warming.delete(name);
    const cluster = this.clusters.get(name);
    if (!removable(cluster)) return removable(warming);
    this.clusters.delete(name);
    this.cmStats.clusterRemoved.inc();
    this.cmStats.activeClusters.set(this.clusters.size);
    this.retire(cluster);
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
    this.initialized = true;
    // Health check event logs first: a file that cannot be opened stops start-up, naming it.
    const eventLogs = new Map<Cluster, EventLogSink | undefined>();
    for (const cluster of this.clusters.values()) eventLogs.set(cluster, await this.openClusterEventLog(cluster));
    for (const discovery of this.dnsDiscoveries.values()) discovery.start();
    await Promise.all([...this.clusters.values()].map((cluster) => this.startCluster(cluster, eventLogs.get(cluster))));
  }

  /** One cluster added after start-up: its event log, discovery, checks (Envoy's cluster warming). */
  private async initializeCluster(cluster: Cluster): Promise<void> {
    const eventLog = await this.openClusterEventLog(cluster);
    this.dnsDiscoveries.get(cluster)?.start();
    await this.startCluster(cluster, eventLog);
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
    const initialized = cluster.initialize(this.dispatcher, this.log, eventLog, this.runtimeValues, this.secrets);
    // A DNS cluster warms with each name's first resolution, answered or failed (Envoy's
    // DnsClusterImpl / LogicalDnsCluster::startPreInit), an EDS cluster with its first
    // update (EdsClusterImpl); wait_for_warm_on_init: false completes at once instead.
    const discovery = this.dnsDiscoveries.get(cluster);
    const waits = discovery !== undefined && cluster.config.waitForWarmOnInit !== false;
    const warmed = waits ? Promise.all([initialized, discovery.warmed]).then(() => undefined) : initialized;
    cluster.outlierDetector?.addChangedStateCallback((host) => {
      if (host.healthFlagGet(HealthFlag.FailedOutlierCheck)) this.onHostHealthFailure(host);
    });
    cluster.healthChecker?.addHostCheckCompleteCallback((host, transition, state) => {
      if (transition === HealthTransition.Changed && state === HealthState.Unhealthy) this.onHostHealthFailure(host);
    });
    return warmed;
  }

  private onHostHealthFailure(host: Host): void {
    this.onHostsRemoved([host]);
  }

  /** Stop discovery, health checking and outlier detection (at shutdown): no more DNS queries, checks or their timers. */
  shutdown(): void {
    for (const discovery of this.dnsDiscoveries.values()) discovery.stop();
    for (const cluster of this.clusters.values()) cluster.stopHealthChecking();
  }

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  /** The EDS clusters' discoveries (the admin's /config_dump?include_eds). */
  edsClusters(): EdsClusterImpl[] {
    return [...this.dnsDiscoveries.values()].filter((d) => d instanceof EdsClusterImpl);
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

  private newHttpPool(cluster: Cluster, host: Host, http2: boolean, serverName?: string): HttpConnPool {
    const idleTimeoutMs = cluster.config.idleTimeoutMs ?? DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS;
    if (cluster.config.autoHttp) return new MixedConnPool(cluster, host, this.dispatcher, idleTimeoutMs, serverName);
    return http2
      ? new Http2ConnPool(cluster, host, this.dispatcher, idleTimeoutMs, serverName)
      : new Http1ConnPool(cluster, host, this.dispatcher, idleTimeoutMs, serverName);
  }

  private sniConnPool(cluster: Cluster, host: Host, serverName: string, http2: boolean): HttpConnPool {
    let byName = this.sniPools.get(host);
    if (!byName) this.sniPools.set(host, (byName = new Map()));
    const key = http2 ? `h2 ${serverName}` : serverName;
    let pool = byName.get(key);
    if (!pool) {
      pool = this.newHttpPool(cluster, host, http2, serverName);
      byName.set(key, pool);
    }
    return pool;
  }

  /** The TCP connection pool for one host of a cluster (tcp_proxy's upstream), created on first use. */
  tcpConnPool(cluster: Cluster, host: Host): TcpConnPool {
    let pool = this.tcpPools.get(host);
    if (!pool) {
      pool = new TcpConnPool(cluster, host, this.dispatcher, TCP_POOL_IDLE_TIMEOUT_MS);
      this.tcpPools.set(host, pool);
    }
    return pool;
  }

  /** Drain every pool (at shutdown): idle connections close now, busy ones when their streams end. */
  drainConnections(): void {
    for (const pool of this.pools.values()) pool.drainConnections();
    for (const pool of this.http2Pools.values()) pool.drainConnections();
    for (const byName of this.sniPools.values()) for (const pool of byName.values()) pool.drainConnections();
    for (const pool of this.tcpPools.values()) pool.drainConnections();
  }
}
