import type { MetadataMatchCriteria } from "../config/bootstrap.ts";
import type { Host } from "./host.ts";
import { PrioritySet } from "./host-set.ts";
import { LoadBalancerBase, random32, type LoadBalancerParams } from "./load-balancer-base.ts";
import type { DownstreamConnectionView, DynamicMetadata, LoadBalancer, LoadBalancerContext, PriorityLoad } from "./load-balancer.ts";

/** What an aggregate uses of a cluster it names (cluster.ts's Cluster; not imported, which would make a cycle). */
export interface AggregatedCluster {
  readonly name: string;
  readonly prioritySet: PrioritySet;
  readonly loadBalancer: LoadBalancer;
  /** Set on an aggregate: it has no hosts of its own. */
  readonly aggregate: object | undefined;
}

/** Where an aggregate finds the clusters it names, and learns that one changed (the cluster manager). */
export interface AggregateClusterSource<C extends AggregatedCluster = AggregatedCluster> {
  /** The cluster serving under `name`, if any. */
  get(name: string): C | undefined;
  /** Called with a cluster's name when the one serving under it changes (added, replaced, removed); returns what unsubscribes. */
  addClusterUpdateCallback(callback: (name: string) => void): () => void;
}

/** One level of the linearized priority set: which cluster, and its priority there. */
interface LinearizedPriority<C> {
  readonly cluster: C;
  readonly priority: number;
}

/**
 * The load split over the linearized levels (Envoy's AggregateClusterLoadBalancer::LoadBalancerImpl,
 * a LoadBalancerBase): priority loads, overprovisioning and total panic as for any cluster,
 * with the aggregate's healthy_panic_threshold. It never picks a host itself.
 */
class LinearizedPriorityLoad extends LoadBalancerBase {
  chooseHost(): Host | undefined {
    return undefined;
  }

  /** The level for `hash` (× 2, + 1 when its degraded hosts are to serve), under `load` or its own. */
  pick(hash: number, load?: PriorityLoad): number {
    return load ? this.choosePriority(hash, load.healthy, load.degraded) : this.choosePriority(hash);
  }
}

/**
 * The context the chosen cluster's balancer gets (Envoy's AggregateLoadBalancerContext,
 * lb_context.h): all the load on the chosen level, healthy or degraded as the aggregate
 * chose; the rest is the request's.
 */
class AggregateLoadBalancerContext implements LoadBalancerContext {
  constructor(
    private readonly inner: LoadBalancerContext | undefined,
    private readonly priority: number,
    private readonly degraded: boolean,
  ) {}

  determinePriorityLoad(_prioritySet: PrioritySet, original: PriorityLoad): PriorityLoad {
    const healthy = new Array<number>(original.healthy.length).fill(0);
    const degraded = new Array<number>(original.healthy.length).fill(0);
    (this.degraded ? degraded : healthy)[this.priority] = 100;
    return { healthy, degraded };
  }

  computeHashKey(): bigint | undefined {
    return this.inner?.computeHashKey?.();
  }

  shouldSelectAnotherHost(host: Host): boolean {
    return this.inner?.shouldSelectAnotherHost?.(host) ?? false;
  }

  hostSelectionRetryCount(): number {
    return this.inner?.hostSelectionRetryCount?.() ?? 0;
  }

  metadataMatchCriteria(): MetadataMatchCriteria | undefined {
    return this.inner?.metadataMatchCriteria?.();
  }

  downstreamHeaders(): { get(name: string): string | undefined } | undefined {
    return this.inner?.downstreamHeaders?.();
  }

  requestDynamicMetadata(): DynamicMetadata | undefined {
    return this.inner?.requestDynamicMetadata?.();
  }

  downstreamConnection(): DownstreamConnectionView | undefined {
    return this.inner?.downstreamConnection?.();
  }
}

/**
 * The aggregate cluster's load balancer (Envoy's source/extensions/clusters/aggregate/cluster.cc).
 * The priority levels of the clusters it names, in list order and skipping empty levels,
 * are concatenated into one priority set — cluster 1's P0..Pn, then cluster 2's — over
 * which the load is split as for any cluster; a pick chooses a level, then that cluster's
 * own balancer picks a host at its priority there. A name with no cluster (not yet added
 * by CDS, or removed) and an aggregate among them add no level. Rebuilt whole whenever
 * one of them changes: its hosts, their health, or the cluster serving under the name.
 *
 * The chosen host's pools, circuit breakers and connection stats are its own cluster's
 * (`clusterOf`); the router charges response codes, retries and timeouts to the aggregate.
 */
export class AggregateClusterLoadBalancer<C extends AggregatedCluster = AggregatedCluster> implements LoadBalancer {
  private levels: readonly LinearizedPriority<C>[] = [];
  private load: LinearizedPriorityLoad;
  /** Each host of the levels, to its linearized level: its cluster (pools) and retry priorities. */
  private hostLevels = new Map<Host, number>();
  private linearized = new PrioritySet();
  /** The clusters followed, with what stops following each one's hosts. */
  private readonly following = new Map<string, { cluster: C; unsubscribe: () => void }>();
  private unsubscribeSource: (() => void) | undefined;
  /** Envoy's hostToLinearizedPriority: undefined when the host's level is gone (CDS/EDS changed it). */
  private readonly priorityOf = (host: Host): number | undefined => this.hostLevels.get(host);

  constructor(
    readonly clusterNames: readonly string[],
    private readonly params: Omit<LoadBalancerParams, "prioritySet" | "localPrioritySet">,
    private readonly source: AggregateClusterSource<C> | undefined,
    /** The aggregate's own name: its config may not name itself, but a CDS cycle must not recurse. */
    private readonly ownName: string,
  ) {
    this.load = new LinearizedPriorityLoad({ ...params, prioritySet: new PrioritySet() });
    if (source) this.unsubscribeSource = source.addClusterUpdateCallback((name) => this.clusterNames.includes(name) && this.follow());
    this.follow();
  }

  /** Stop following the clusters (the aggregate was replaced or removed). */
  stop(): void {
    this.unsubscribeSource?.();
    this.unsubscribeSource = undefined;
    for (const entry of this.following.values()) entry.unsubscribe();
    this.following.clear();
  }

  /** The cluster of a host this balancer chose (its pools are that cluster's). */
  clusterOf(host: Host): C | undefined {
    const level = this.hostLevels.get(host);
    return level === undefined ? undefined : this.levels[level]?.cluster;
  }

  /** The linearized levels, for tests and the admin: each level's cluster name and priority there. */
  get priorities(): readonly { readonly cluster: string; readonly priority: number }[] {
    return this.levels.map((level) => ({ cluster: level.cluster.name, priority: level.priority }));
  }

  /** The linearized priority set (tests). */
  get prioritySet(): PrioritySet {
    return this.linearized;
  }

  chooseHost(context: LoadBalancerContext | undefined): Host | undefined {
    if (this.levels.length === 0) return undefined;
    // Envoy's chooseHost: the request may move the load (a retry's retry_priority), mapping
    // its attempted hosts to their linearized levels (hostToLinearizedPriority).
    const load = context?.determinePriorityLoad ? context.determinePriorityLoad(this.linearized, this.load, this.priorityOf) : undefined;
    const chosen = this.load.pick(random32(this.params.random), load);
    const level = this.levels[chosen >> 1];
    if (!level) return undefined;
    return level.cluster.loadBalancer.chooseHost(new AggregateLoadBalancerContext(context, level.priority, (chosen & 1) === 1));
  }

  /** Follow the clusters serving under the names now (Envoy's onClusterAddOrUpdate / onClusterRemoval), then rebuild. */
  private follow(): void {
    for (const name of this.clusterNames) {
      const cluster = name === this.ownName ? undefined : this.source?.get(name);
      const current = this.following.get(name);
      if (current?.cluster === cluster) continue;
      current?.unsubscribe();
      this.following.delete(name);
      // An aggregate among them has no hosts of its own (Envoy's linearization finds its priority set empty).
      if (cluster && cluster.aggregate === undefined) this.following.set(name, { cluster, unsubscribe: cluster.prioritySet.addMemberUpdateCallback(() => this.linearize()) });
    }
    this.linearize();
  }

  /** Envoy's linearizePrioritySet: the non-empty levels of each cluster in list order, into a new priority set. */
  private linearize(): void {
    const prioritySet = new PrioritySet();
    const levels: LinearizedPriority<C>[] = [];
    const hostLevels = new Map<Host, number>();
    for (const name of this.clusterNames) {
      const cluster = this.following.get(name)?.cluster;
      if (!cluster) continue;
      for (const set of cluster.prioritySet.hostSetsPerPriority) {
        if (set.hosts.length === 0) continue;
        for (const host of set.hosts) hostLevels.set(host, levels.length);
        prioritySet.updateHosts(levels.length, set.hosts, [], [], set.options);
        levels.push({ cluster, priority: set.priority });
      }
    }
    this.levels = levels;
    this.hostLevels = hostLevels;
    this.linearized = prioritySet;
    this.load = new LinearizedPriorityLoad({ ...this.params, prioritySet });
  }
}
