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
import { LogicalDnsCluster } from "./logical-dns-cluster.ts";
import { EdsClusterImpl } from "./eds-cluster.ts";
import { StrictDnsCluster } from "./strict-dns-cluster.ts";
import { TcpConnPool } from "./tcp-conn-pool.ts";

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

/** Owns every cluster by name, and their connection pools per host (Envoy's `Upstream::ClusterManager`). */
export class ClusterManager {
  private readonly clusters = new Map<string, Cluster>();
  private readonly pools = new Map<Host, HttpConnPool>();
  /** A host's HTTP/2 pool beside its HTTP/1 one (use_downstream_protocol_config needs both). */
  private readonly http2Pools = new Map<Host, HttpConnPool>();
  /** auto_sni: a host's pools by the SNI their connections send (Envoy keys pools by the transport socket options), "h2 " before the name for HTTP/2. */
  private readonly sniPools = new Map<Host, Map<string, HttpConnPool>>();
  private readonly tcpPools = new Map<Host, TcpConnPool>();
  /** The discovery of each STRICT_DNS and LOGICAL_DNS cluster. */
  private readonly dnsDiscoveries: DnsDiscovery[] = [];
  /** The discovery of each EDS cluster (eds-cluster.ts). */
  readonly edsClusters: EdsClusterImpl[] = [];
  private readonly runtimeValues: RuntimeSnapshot;
  constructor(
    configs: readonly ClusterConfig[],
    stats: StatsStore,
    /** The event loop its pools run on (their connections and timers). */
    private readonly dispatcher: Dispatcher,
    /** Where DNS discovery warns of names that do not resolve, and health checks log failures. */
    private readonly log: Logger = new Logger(dispatcher.runtime),
    /** The runtime outlier detection and the balancers read their keys from (none: the configured values). */
    layeredRuntime: RuntimeSnapshot = defaultsOnly(dispatcher.runtime),
    /** cluster_manager.local_cluster_name and node.locality: zone aware routing. */
    local: { readonly clusterName?: string; readonly locality?: Locality } = {},
  ) {
    this.runtimeValues = layeredRuntime;
    const random = () => dispatcher.runtime.random();
    const now = () => dispatcher.runtime.now();
    // The local cluster first: every cluster's balancer follows its hosts (Envoy's local_priority_set_).
    const localConfig = local.clusterName !== undefined ? configs.find((c) => c.name === local.clusterName) : undefined;
    const localLocality = localConfig ? (local.locality ?? NO_LOCALITY) : undefined;
    const localCluster = localConfig ? new Cluster(localConfig, stats, random, { now, layeredRuntime, ...(localLocality ? { localLocality } : {}) }) : undefined;
    for (const config of configs) {
      const cluster =
        config === localConfig
          ? localCluster!
          : new Cluster(config, stats, random, { now, layeredRuntime, ...(localLocality ? { localLocality } : {}), ...(localCluster ? { localPrioritySet: localCluster.prioritySet } : {}) });
      cluster.prioritySet.addMemberUpdateCallback((_added, removed) => this.onHostsRemoved(removed));
      this.clusters.set(config.name, cluster);
      if (config.type === "STATIC") continue;
      if (config.type === "EDS") {
        this.edsClusters.push(new EdsClusterImpl(cluster, dispatcher.runtime, this.log, stats));
        continue;
      }
      this.dnsDiscoveries.push(config.type === "STRICT_DNS" ? new StrictDnsCluster(cluster, dispatcher.runtime, this.log) : new LogicalDnsCluster(cluster, dispatcher.runtime, this.log));
    }
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
   * its names now and keeps refreshing them; nothing waits for the answers (Envoy's
   * init manager would hold the listeners until each DNS cluster's first resolution
   * completed): a request before a name's first answer finds no host. Resolves once
   * each health-checked host known by then had its first check (Envoy's cluster
   * warming: listeners start after it). A host failing a health check or ejected as an
   * outlier has its pools drained (Envoy's onHostHealthFailure): new requests to it, if
   * any, open new connections, and its idle ones close.
   */
  async initialize(openEventLog?: (path: string) => Promise<EventLogSink>, secrets?: SecretManager): Promise<void> {
    // Health check event logs first: a file that cannot be opened stops start-up, naming it.
    const eventLogs = new Map<Cluster, EventLogSink>();
    for (const cluster of this.clusters.values()) {
      const path = cluster.config.healthChecks?.[0]?.eventLogPath;
      if (path === undefined || !openEventLog) continue;
      try {
        eventLogs.set(cluster, await openEventLog(path));
      } catch (err) {
        throw new Error(`cluster '${cluster.name}': health_checks[0].event_log_path: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    for (const discovery of this.dnsDiscoveries) discovery.start();
    // An EDS cluster warms with its first read (Envoy's EdsClusterImpl initializes on its first update).
    const warming: Promise<void>[] = this.edsClusters.map((eds) => eds.start());
    for (const cluster of this.clusters.values()) {
      warming.push(cluster.initialize(this.dispatcher, this.log, eventLogs.get(cluster), this.runtimeValues, secrets));
      cluster.outlierDetector?.addChangedStateCallback((host) => {
        if (host.healthFlagGet(HealthFlag.FailedOutlierCheck)) this.onHostHealthFailure(host);
      });
      cluster.healthChecker?.addHostCheckCompleteCallback((host, transition, state) => {
        if (transition === HealthTransition.Changed && state === HealthState.Unhealthy) this.onHostHealthFailure(host);
      });
    }
    await Promise.all(warming);
  }

  private onHostHealthFailure(host: Host): void {
    this.onHostsRemoved([host]);
  }

  /** Stop discovery, health checking and outlier detection (at shutdown): no more DNS queries, checks or their timers. */
  shutdown(): void {
    for (const discovery of this.dnsDiscoveries) discovery.stop();
    for (const eds of this.edsClusters) eds.stop();
    for (const cluster of this.clusters.values()) cluster.stopHealthChecking();
  }

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  /** Every cluster, in config order (the admin's /clusters). */
  all(): Cluster[] {
    return [...this.clusters.values()];
  }

  /**
   * The HTTP connection pool for one host of a cluster, created on first use: HTTP/2 or
   * HTTP/1.1 as the cluster says (Envoy's ClusterInfoImpl::upstreamHttpProtocol), for
   * use_downstream_protocol_config by `downstreamProtocol` (the request's, "HTTP/2" or
   * "HTTP/1.x"; absent for a request with no downstream). With `serverName` (auto_sni),
   * the host's pool whose TLS connections send that SNI.
   */
  httpConnPool(cluster: Cluster, host: Host, serverName?: string, downstreamProtocol?: string): HttpConnPool {
    const config = cluster.config;
    const http2 = config.useDownstreamProtocol && downstreamProtocol !== undefined ? downstreamProtocol === "HTTP/2" : config.http2 !== undefined;
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
