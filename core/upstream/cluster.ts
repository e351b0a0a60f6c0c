import type { ClusterConfig } from "../config/bootstrap.ts";
import { edsHealthFlag, Host, NO_LOCALITY } from "./host.ts";
import { localityKey, PrioritySet, type HostSetOptions } from "./host-set.ts";
import { ResourceManager } from "./resource-manager.ts";
import { ClusterStats } from "./cluster-stats.ts";
import type { StatsStore } from "../stats/stats-store.ts";
import type { LoadBalancer } from "./load-balancer.ts";
import type { Dispatcher } from "../event/dispatcher.ts";
import type { Logger } from "../log.ts";
import { HealthTransition, HealthState, type HealthCheckerImplBase } from "./health-checker.ts";
import { createHealthChecker } from "./health-checker-factory.ts";
import { OutlierDetector } from "./outlier-detection.ts";
import { createLoadBalancer } from "./load-balancer-factory.ts";
import type { RandomSource } from "./load-balancer-base.ts";
import type { Runtime, Socket } from "../port.ts";
import { SslSocketFactory } from "../tls/ssl-socket-factory.ts";

/** A fixed sequence for clusters built without the runtime's random() (tests only). */
function fallbackRandom(): RandomSource {
  let state = 0x9e3779b9;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
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
  /** Circuit breakers, shared by the connection pools of all its hosts. */
  readonly resources: ResourceManager;

  readonly stats: ClusterStats;
  /** Active health checking (`health_checks`), once initialized. */
  healthChecker: HealthCheckerImplBase | undefined;
  /** Outlier detection (`outlier_detection`), once initialized. */
  outlierDetector: OutlierDetector | undefined;
  /** The cluster's TLS (`transport_socket`), once initialized. */
  transportSocketFactory: SslSocketFactory | undefined;

  constructor(
    readonly config: ClusterConfig,
    readonly statsStore: StatsStore,
    /** The port's random(), for the load balancer's random choices. */
    random: RandomSource = fallbackRandom(),
  ) {
    const store = statsStore;
    this.name = config.name;
    this.resources = new ResourceManager(config.circuitBreakers, store.scope(`cluster.${config.name}.circuit_breakers.default.`));
    this.stats = new ClusterStats(store, config.name);
    this.prioritySet.addMemberUpdateCallback((added, removed) => {
      if (added.length > 0 || removed.length > 0) this.stats.membershipChange.inc();
      this.updateMembershipStats();
    });
    if (config.type === "STATIC") this.setStaticHosts();
    // No hosts until the first answer: the balancer finds an empty priority 0.
    else this.prioritySet.getOrCreateHostSet(0);
    // After the hosts: a balancer starts from the hosts it is given (later changes reach it by callback).
    this.loadBalancer = createLoadBalancer(config.loadBalancing, this.prioritySet, store.scope(`cluster.${config.name}.`), random);
  }

  /**
   * Start health checking and outlier detection (Envoy's ClusterImplBase::initialize with
   * setHealthChecker / setOutlierDetector). Resolves once every host had its first
   * health check — Envoy's cluster warming, which start-up waits for — or at once
   * without health checks.
   */
  initialize(dispatcher: Dispatcher, log?: Logger): Promise<void> {
    const tls = this.config.transportSocket;
    if (!tls) return this.initializeChecks(dispatcher, log);
    // The TLS context first: health checks connect through it.
    return SslSocketFactory.create(dispatcher.runtime, tls, this.statsStore.scope(`cluster.${this.name}.ssl.`), this.config.autoSanValidation === true).then(
      (factory) => {
        this.transportSocketFactory = factory;
        return this.initializeChecks(dispatcher, log);
      },
      (err: unknown) => Promise.reject(new Error(`cluster '${this.name}': transport_socket: ${err instanceof Error ? err.message : String(err)}`)),
    );
  }

  /**
   * Connect to one of its hosts (pools and health checks): through the cluster's
   * transport socket (TLS) when it has one, else plain TCP.
   */
  connect(runtime: Runtime, address: string, port: number, serverName?: string): Socket {
    const factory = this.transportSocketFactory;
    return factory ? factory.connect({ address, port }, serverName) : runtime.connect({ address, port });
  }

  private initializeChecks(dispatcher: Dispatcher, log?: Logger): Promise<void> {
    const outlier = this.config.outlierDetection;
    if (outlier) {
      this.outlierDetector = new OutlierDetector(outlier, this.prioritySet, dispatcher, this.statsStore.scope(`cluster.${this.name}.outlier_detection.`));
      this.outlierDetector.addChangedStateCallback(() => this.prioritySet.refreshHealth());
    }
    const healthCheck = this.config.healthChecks?.[0];
    let warmed: Promise<void> = Promise.resolve();
    if (healthCheck) {
      const checker = createHealthChecker(this, healthCheck, dispatcher, log);
      this.healthChecker = checker;
      let pending = this.prioritySet.allHosts().length;
      if (pending > 0) warmed = new Promise((resolve) => checker.addHostCheckCompleteCallback(() => pending > 0 && --pending === 0 && resolve()));
      checker.addHostCheckCompleteCallback((host, transition, state) => {
        if (transition === HealthTransition.Changed) this.prioritySet.refreshHealth();
        if (state === HealthState.Healthy) this.outlierDetector?.onActiveHealthCheckPassed(host);
      });
    }
    // The detector monitors the hosts first, so a health check that passes at once finds it ready.
    this.outlierDetector?.initialize();
    this.healthChecker?.start();
    return warmed;
  }

  /** Stop health checking and outlier detection (shutdown): their timers off, checks' connections closed. */
  stopHealthChecking(): void {
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
  hostSetOptions(priority: number): HostSetOptions {
    const localityWeights = new Map<string, number>();
    for (const group of this.config.endpoints) {
      if (group.priority === priority) localityWeights.set(localityKey(group.locality ?? NO_LOCALITY), group.loadBalancingWeight ?? 0);
    }
    const factor = this.config.overprovisioningFactor;
    return factor !== undefined ? { localityWeights, overprovisioningFactor: factor } : { localityWeights };
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
    for (const set of this.prioritySet.hostSetsPerPriority) {
      total += set.hosts.length;
      healthy += set.healthyHosts.length;
      degraded += set.degradedHosts.length;
    }
    this.stats.membershipTotal.set(total);
    this.stats.membershipHealthy.set(healthy);
    this.stats.membershipDegraded.set(degraded);
  }
}
