import { clusterTcpKeepaliveRefusal } from "./tcp-keepalive.ts";
import type { ClusterConfig, LocalityLbEndpointsConfig } from "../config/bootstrap.ts";
import { defaultsOnly, type RuntimeSnapshot } from "../runtime/runtime-loader.ts";
import { edsHealthFlag, Host, NO_LOCALITY, type Locality } from "./host.ts";
import { localityKey, PrioritySet, type HostSetOptions } from "./host-set.ts";
import { circuitBreakersRuntimePrefix, ResourceManager } from "./resource-manager.ts";
import { ClusterStats } from "./cluster-stats.ts";
import { Http2CodecStats } from "../http2/codec-stats.ts";
import type { StatsStore } from "../stats/stats-store.ts";
import type { LoadBalancer } from "./load-balancer.ts";
import type { Dispatcher } from "../event/dispatcher.ts";
import type { Logger } from "../log.ts";
import { HealthTransition, HealthState, type HealthCheckerImplBase } from "./health-checker.ts";
import { HealthCheckEventLogger, type EventLogSink } from "./health-check-event-logger.ts";
import type { OutlierDetector } from "./outlier-detection.ts";
import { LazyModule } from "../util/lazy-module.ts";
import { createLoadBalancer } from "./load-balancer-factory.ts";
import { AggregateClusterLoadBalancer, type AggregateClusterSource } from "./aggregate-cluster.ts";
import { ClusterLbStats } from "./lb-stats.ts";
import { MAX_ORIGINAL_DST_HOSTS, OriginalDstLoadBalancer } from "./original-dst-cluster.ts";
import { DynamicForwardProxyLoadBalancer } from "./dynamic-forward-proxy-cluster.ts";
import type { DnsCacheManager } from "./dns-cache-manager.ts";
import { DEFAULT_LOAD_BALANCING } from "../config/lb-policy-defaults.ts";
import type { RandomSource } from "./load-balancer-base.ts";
import type { Runtime, Socket } from "../port.ts";
import type { SslSocketFactory } from "../tls/ssl-socket-factory.ts";
import type { SecretManager } from "../tls/secret-manager.ts";
import { notReadySocket } from "../tls/not-ready-socket.ts";

/** Envoy's thresholds for priority HIGH when the config sets none (CircuitBreakers.Thresholds defaults). */
const HIGH_PRIORITY_DEFAULTS = { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 };

/** A fixed sequence for clusters built without the runtime's random() (tests only). */
function fallbackRandom(): RandomSource {
  let state = 0x9e3779b9;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

/** What a cluster takes from the server besides its config. */
export interface ClusterOptions {
  /** The port's monotonic clock (slow start). */
  readonly now?: () => number;
  /** The node's locality (node.locality), when the bootstrap names a local cluster. */
  readonly localLocality?: Locality;
  /** The local cluster's hosts (cluster_manager.local_cluster_name), for zone aware routing. */
  readonly localPrioritySet?: PrioritySet;
  /** The runtime the load balancer reads its runtime keys from (none: the configured values). */
  readonly layeredRuntime?: RuntimeSnapshot;
  /** A dynamic forward proxy cluster's: where its DNS cache is shared by name (the cluster manager's); required for one. */
  readonly dnsCaches?: DnsCacheManager;
  /** An aggregate cluster's: where it finds the clusters it names (the cluster manager); none: they are never found. */
  readonly aggregateSource?: AggregateClusterSource<Cluster>;
}

/** Envoy's ClusterLoadReportStats: counted for load reports only (load-stats-reporter.ts), not in /stats. */
export interface LoadReportStats {
  /** Requests a circuit breaker refused (router: a reset of reason overflow), Envoy's upstream_rq_dropped. */
  upstreamRqDropped: number;
}

/**
 * One upstream cluster (Envoy's `ClusterImplBase` with its `ClusterInfo`): its hosts by
 * priority, the load balancer over them, circuit breakers and stats. A STATIC cluster's
 * hosts come from `load_assignment` once, here; a STRICT_DNS or LOGICAL_DNS cluster's
 * from its discovery (strict-dns-cluster.ts, logical-dns-cluster.ts), which the cluster
 * manager runs, into the same PrioritySet.
 */
export class Cluster {
  readonly name: string;
  readonly prioritySet: PrioritySet = new PrioritySet();
  readonly loadBalancer: LoadBalancer;
  /** An aggregate cluster's balancer (cluster_type envoy.clusters.aggregate), which is also its loadBalancer; it has no hosts of its own. */
  readonly aggregate: AggregateClusterLoadBalancer<Cluster> | undefined;
  /** An ORIGINAL_DST cluster's balancer, which is also its loadBalancer: it makes the hosts it picks. */
  readonly originalDst: OriginalDstLoadBalancer | undefined;
  /** A dynamic forward proxy cluster's balancer, which is also its loadBalancer: its hosts are its DNS cache's. */
  readonly dynamicForwardProxy: DynamicForwardProxyLoadBalancer | undefined;
  /** Circuit breakers, shared by the connection pools of all its hosts. */
  readonly resources: ResourceManager;
  /**
   * Priority HIGH's circuit breakers: no route is of priority HIGH (route `priority` is
   * refused), so nothing counts against them; /clusters shows their thresholds.
   */
  readonly resourcesHigh: ResourceManager;

  readonly stats: ClusterStats;
  /** Counted for the load reporter only (load-stats-reporter.ts; Envoy's ClusterInfo::loadReportStats, not in /stats). */
  readonly loadReportStats: LoadReportStats = { upstreamRqDropped: 0 };
  /** Active health checking (`health_checks`), once initialized. */
  healthChecker: HealthCheckerImplBase | undefined;
  /** stopHealthChecking ran: checks whose code was still loading do not start. */
  private checksStopped = false;
  /** Resolves the first round of health checks' wait (startChecks) when the checks stop first. */
  private settleWarming: (() => void) | undefined;
  /** Outlier detection (`outlier_detection`), once initialized. */
  outlierDetector: OutlierDetector | undefined;
  /**
   * Called once the health checker and outlier detector exist, before they start: the
   * cluster manager's callbacks go on them there (Envoy's ClusterManagerImpl adds them in
   * onClusterInit). After initialize() returns would be too early for a cluster with TLS,
   * whose checks are made once its transport socket is.
   */
  onChecksCreated: (() => void) | undefined;
  /** The node's locality, whose hosts lead the per-locality lists (zone aware routing). */
  private readonly localLocality: Locality | undefined;
  /** The cluster's TLS (`transport_socket`), once initialized. */
  transportSocketFactory: SslSocketFactory | undefined;
  private http2Stats: Http2CodecStats | undefined;

  constructor(
    readonly config: ClusterConfig,
    readonly statsStore: StatsStore,
    /** The port's random(), for the load balancer's random choices. */
    random: RandomSource = fallbackRandom(),
    options: ClusterOptions = {},
  ) {
    this.localLocality = options.localLocality;
    const store = statsStore;
    this.name = config.name;
    const runtime = options.layeredRuntime;
    this.resources = new ResourceManager(config.circuitBreakers, store.scope(`cluster.${config.name}.circuit_breakers.default.`), { runtime: runtime && { runtime, prefix: circuitBreakersRuntimePrefix(config.name, "default") } });
    // Envoy's ResourceManagers make both priorities' gauges at cluster creation (upstream_impl.cc,
    // generateCircuitBreakersStats): the *_open ones always, remaining_* with track_remaining.
    // No route is of priority HIGH, so they stay at 0 and at the limits.
    this.resourcesHigh = new ResourceManager(config.circuitBreakersHigh ?? HIGH_PRIORITY_DEFAULTS, store.scope(`cluster.${config.name}.circuit_breakers.high.`), {
      runtime: runtime && { runtime, prefix: circuitBreakersRuntimePrefix(config.name, "high") },
    });
    this.stats = new ClusterStats(store, config.name);
    this.prioritySet.addMemberUpdateCallback((added, removed) => {
      if (added.length > 0 || removed.length > 0) this.stats.membershipChange.inc();
      this.updateMembershipStats();
    });
    if (config.type === "STATIC") this.setStaticHosts();
    // No hosts until the first answer: the balancer finds an empty priority 0.
    else this.prioritySet.getOrCreateHostSet(0);
    // An aggregate's balancer picks one of its clusters' levels, then their balancer a host (aggregate-cluster.ts).
    const aggregateNames = config.aggregateClusters;
    this.aggregate = aggregateNames && new AggregateClusterLoadBalancer<Cluster>(aggregateNames, { stats: new ClusterLbStats(store.scope(`cluster.${config.name}.`)), random, config: config.loadBalancing ?? DEFAULT_LOAD_BALANCING, ...(runtime && { runtime }) }, options.aggregateSource, config.name);
    const originalDst = config.originalDst;
    this.originalDst = originalDst && new OriginalDstLoadBalancer(originalDst, this.prioritySet, store.scope(`cluster.${config.name}.`), MAX_ORIGINAL_DST_HOSTS, config.name);
    const dfp = config.dynamicForwardProxy;
    if (dfp && !options.dnsCaches) throw new Error(`cluster '${config.name}': a dynamic_forward_proxy cluster needs the cluster manager's DNS caches`);
    this.dynamicForwardProxy = dfp && new DynamicForwardProxyLoadBalancer(options.dnsCaches!.getCache(dfp.dnsCache), this.prioritySet, config.transportSocket ? 443 : 80);
    // After the hosts: a balancer starts from the hosts it is given (later changes reach it by callback).
    this.loadBalancer = this.aggregate ?? this.originalDst ?? this.dynamicForwardProxy ?? createLoadBalancer(config.loadBalancing, this.prioritySet, store.scope(`cluster.${config.name}.`), random, config.lbSubset ? { ...options, lbSubset: config.lbSubset } : options);
  }

  /** Its HTTP/2 upstream connections' codec stats (cluster.<name>.http2.*, Envoy's names), made on first use. */
  get http2CodecStats(): Http2CodecStats {
    return (this.http2Stats ??= new Http2CodecStats(this.statsStore.scope(`cluster.${this.name}.`)));
  }

  /**
   * Start health checking and outlier detection (Envoy's ClusterImplBase::initialize with
   * setHealthChecker / setOutlierDetector). Resolves once every host had its first
   * health check — Envoy's cluster warming, which start-up waits for — or at once
   * without health checks. `eventLog`: the open event_log_path file.
   */
  initialize(dispatcher: Dispatcher, log?: Logger, eventLog?: EventLogSink, layeredRuntime: RuntimeSnapshot = defaultsOnly(dispatcher.runtime), secrets?: SecretManager): Promise<void> {
    const keepaliveRefusal = clusterTcpKeepaliveRefusal(this.config, dispatcher.runtime);
    if (keepaliveRefusal !== undefined) return Promise.reject(new Error(keepaliveRefusal));
    if (!this.checksStopped) this.originalDst?.start(dispatcher.timers, log);
    if (!this.checksStopped) this.dynamicForwardProxy?.start();
    const tls = this.config.transportSocket;
    if (!tls) return this.initializeChecks(dispatcher, log, eventLog, layeredRuntime);
    // The TLS context first: health checks connect through it. TLS's code loads only when a
    // listener or cluster has a transport socket.
    return import("../tls/ssl-socket-factory.ts")
      .catch((err: unknown) => Promise.reject(new Error(`cannot load the TLS code: ${err instanceof Error ? err.message : String(err)}`)))
      .then(({ SslSocketFactory }) => SslSocketFactory.create(dispatcher.runtime, tls, this.statsStore.scope(`cluster.${this.name}.ssl.`), this.config.autoSanValidation === true, secrets, this.statsStore.scope(`cluster.${this.name}.client_ssl_socket_factory.`)))
      .then(
      (factory) => {
        // Removed or replaced while its secrets were awaited: they are released at once.
        if (this.checksStopped) factory.close();
        this.transportSocketFactory = factory;
        return this.initializeChecks(dispatcher, log, eventLog, layeredRuntime);
      },
      (err: unknown) => Promise.reject(new Error(`cluster '${this.name}': transport_socket: ${err instanceof Error ? err.message : String(err)}`)),
    );
  }

  /**
   * Connect to one of its hosts (pools, health checks, xDS streams, sinks): through the
   * cluster's transport socket (TLS) when it has one, else plain TCP. A cluster with TLS
   * whose context is not made yet (its SDS secrets awaited, up to initial_fetch_timeout)
   * never sends plaintext: the connection fails as Envoy's NotReadySslSocket does.
   */
  connect(runtime: Runtime, address: string, port: number, serverName?: string, pipe = false): Socket {
    const factory = this.transportSocketFactory;
    // tcp_keepalive is TCP's (Envoy sets it with IPPROTO_TCP options): not on a Unix socket.
    const keepalive = this.config.tcpKeepalive;
    const options = pipe ? { address, port, pipe } : keepalive !== undefined ? { address, port, keepalive } : { address, port };
    if (factory) return factory.connect(options, serverName);
    if (this.config.transportSocket === undefined) return runtime.connect(options);
    this.statsStore.counter(`cluster.${this.name}.client_ssl_socket_factory.upstream_context_secrets_not_ready`).inc();
    return notReadySocket(runtime.connect(options), true);
  }

  private initializeChecks(dispatcher: Dispatcher, log: Logger | undefined, eventLog: EventLogSink | undefined, layeredRuntime: RuntimeSnapshot): Promise<void> {
    const healthCheck = this.config.healthChecks?.[0];
    const outlier = this.config.outlierDetection;
    if (healthCheck === undefined && outlier === undefined) return this.startChecks(undefined, dispatcher, eventLog);
    const start = (): Promise<void> => {
      if (outlier) {
        const { OutlierDetector, RuntimeOutlierDetectionConfig } = OUTLIER_DETECTION.get();
        const settings = new RuntimeOutlierDetectionConfig(outlier, layeredRuntime);
        this.outlierDetector = new OutlierDetector(settings, this.prioritySet, dispatcher, this.statsStore.scope(`cluster.${this.name}.outlier_detection.`));
        this.outlierDetector.addChangedStateCallback(() => this.prioritySet.refreshHealth());
      }
      const checker = healthCheck && HEALTH_CHECKERS.get().createHealthChecker(this, healthCheck, dispatcher, log);
      if (checker) checker.layeredRuntime = layeredRuntime;
      return this.startChecks(checker, dispatcher, eventLog);
    };
    if ((!healthCheck || HEALTH_CHECKERS.loaded) && (!outlier || OUTLIER_DETECTION.loaded)) return start();
    // Stopped meanwhile (removed, shut down): none starts.
    return Promise.all([healthCheck && HEALTH_CHECKERS.load(), outlier && OUTLIER_DETECTION.load()])
      .catch((err: unknown) => Promise.reject(new Error(`cluster '${this.name}': ${err instanceof Error ? err.message : String(err)}`)))
      .then(() => (this.checksStopped ? undefined : start()));
  }

  private startChecks(checker: HealthCheckerImplBase | undefined, dispatcher: Dispatcher, eventLog: EventLogSink | undefined): Promise<void> {
    // Stopped (removed, shut down) before its checks could start (its TLS context was still
    // being made): none starts, and nothing waits on them.
    if (this.checksStopped) return Promise.resolve();
    let warmed: Promise<void> = Promise.resolve();
    if (checker) {
      if (eventLog) checker.eventLogger = new HealthCheckEventLogger(eventLog, this.name, checker.type, () => dispatcher.runtime.wallClock());
      this.healthChecker = checker;
      let pending = this.prioritySet.allHosts().length;
      if (pending > 0) {
        warmed = new Promise((resolve) => {
          checker.addHostCheckCompleteCallback(() => pending > 0 && --pending === 0 && resolve());
          // Stopped (removed, replaced, shut down) before every host was checked once: nothing
          // waits on its warming any more (the cluster manager's initialize() would hang).
          this.settleWarming = resolve;
        });
      }
      checker.addHostCheckCompleteCallback((host, transition, state) => {
        if (transition === HealthTransition.Changed) this.prioritySet.refreshHealth();
        if (state === HealthState.Healthy) this.outlierDetector?.onActiveHealthCheckPassed(host);
      });
    }
    this.onChecksCreated?.();
    // The detector monitors the hosts first, so a health check that passes at once finds it ready.
    this.outlierDetector?.initialize();
    this.healthChecker?.start();
    return warmed;
  }

  /** Stop health checking and outlier detection (shutdown): their timers off, checks' connections closed. */
  stopHealthChecking(): void {
    this.aggregate?.stop();
    this.originalDst?.stop();
    this.dynamicForwardProxy?.stop();
    this.checksStopped = true;
    this.settleWarming?.();
    this.healthChecker?.stop();
    this.outlierDetector?.stop();
  }

  /** Every host of every priority (the admin's /clusters). */
  get hosts(): readonly Host[] {
    return this.prioritySet.allHosts();
  }

  /**
   * What a priority level needs besides its hosts, from load_assignment: each locality's
   * load_balancing_weight and the overprovisioning factor. Discovery passes it with every
   * `prioritySet.updateHosts` (DNS clusters too: their localities come from the same config).
   */
  hostSetOptions(
    priority: number,
    /** An EDS cluster's: those of its last ClusterLoadAssignment. */
    endpoints: readonly LocalityLbEndpointsConfig[] = this.config.endpoints,
    factor: number | undefined = this.config.overprovisioningFactor,
  ): HostSetOptions {
    const localityWeights = new Map<string, number>();
    for (const group of endpoints) {
      if (group.priority === priority) localityWeights.set(localityKey(group.locality ?? NO_LOCALITY), group.loadBalancingWeight ?? 0);
    }
    return {
      localityWeights,
      ...(factor !== undefined ? { overprovisioningFactor: factor } : {}),
      ...(this.localLocality ? { localLocality: localityKey(this.localLocality) } : {}),
    };
  }

  private setStaticHosts(): void {
    const byPriority: Host[][] = [];
    for (const group of this.config.endpoints) {
      const hosts = (byPriority[group.priority] ??= []);
      for (const endpoint of group.lbEndpoints) {
        const { address, port } = endpoint.address;
        hosts.push(
          new Host(address, port, {
            weight: endpoint.loadBalancingWeight,
            priority: group.priority,
            ...(endpoint.hostname !== undefined ? { hostname: endpoint.hostname } : {}),
            ...(group.locality ? { locality: group.locality } : {}),
            healthFlags: edsHealthFlag(endpoint.healthStatus),
            ...(endpoint.healthCheck ? { healthCheckPort: endpoint.healthCheck.port, healthCheckHostname: endpoint.healthCheck.hostname } : {}),
            ...(endpoint.metadata ? { metadata: endpoint.metadata } : {}),
            ...(group.metadata ? { localityMetadata: group.metadata } : {}),
            ...(endpoint.address.pipe ? { pipe: true } : {}),
          }),
        );
      }
    }
    if (byPriority.length === 0) byPriority.push([]);
    for (let priority = 0; priority < byPriority.length; priority++) {
      const hosts = byPriority[priority] ?? [];
      this.prioritySet.updateHosts(priority, hosts, hosts, [], this.hostSetOptions(priority));
    }
  }

  /** Envoy's membership gauges (ClusterImplBase::onPreInitComplete and its member update callback). */
  private updateMembershipStats(): void {
    let total = 0;
    let healthy = 0;
    let degraded = 0;
    let excluded = 0;
    for (const set of this.prioritySet.hostSetsPerPriority) {
      total += set.hosts.length;
      healthy += set.healthyHosts.length;
      degraded += set.degradedHosts.length;
      excluded += set.excludedHosts.length;
    }
    this.stats.membershipTotal.set(total);
    this.stats.membershipHealthy.set(healthy);
    this.stats.membershipDegraded.set(degraded);
    this.stats.membershipExcluded.set(excluded);
  }
}

/**
 * The checks' code a cluster of `config` needs, loading (undefined when it is in or none is
 * needed): the cluster manager loads it before discovery starts, so a cluster warms the same
 * way whether DNS or the import answers first.
 */
export function loadChecksCode(config: ClusterConfig): Promise<unknown> | undefined {
  const loads = [config.healthChecks?.[0] !== undefined && HEALTH_CHECKERS.loaded === undefined && HEALTH_CHECKERS.load(), config.outlierDetection !== undefined && OUTLIER_DETECTION.loaded === undefined && OUTLIER_DETECTION.load()].filter((load) => load !== false);
  return loads.length > 0 ? Promise.all(loads) : undefined;
}

/**
 * The health checkers' code (with the HTTP/2 and gRPC codecs the HTTP and gRPC ones use) and
 * the outlier detector's: loaded by the first cluster that has health_checks or
 * outlier_detection, as TLS's is; most start-ups need neither before listening.
 */
const HEALTH_CHECKERS = new LazyModule(() => import("./health-checker-factory.ts"), "the health checkers' code");
const OUTLIER_DETECTION = new LazyModule(
  () => Promise.all([import("./outlier-detection.ts"), import("./outlier-runtime-config.ts")]).then(([{ OutlierDetector }, { RuntimeOutlierDetectionConfig }]) => ({ OutlierDetector, RuntimeOutlierDetectionConfig })),
  "the outlier detector's code",
);
