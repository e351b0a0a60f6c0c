import type { LbSubsetConfig, LbSubsetSelectorConfig, MetadataMatchCriteria } from "../config/bootstrap.ts";
import type { Host } from "./host.ts";
import { localityKey, PrioritySet, type HostSet, type HostSetOptions } from "./host-set.ts";
import type { ClusterLbStats } from "./lb-stats.ts";
import type { LoadBalancer, LoadBalancerContext } from "./load-balancer.ts";
import { ENVOY_LB, metadataLabelMatch, valueKey } from "./metadata-match.ts";

/** Makes the balancer of one subset over its priority set: the cluster's lb_policy. */
export type ChildLoadBalancerFactory = (prioritySet: PrioritySet) => LoadBalancer;

/**
 * The hosts of one subset, by priority, with a balancer of the cluster's policy over them
 * (Envoy's PriorityLbSubset with its PrioritySubsetImpl). Each level keeps the original
 * level's order, health and options; locality weights only with locality_weight_aware.
 */
class PrioritySubset {
  readonly prioritySet = new PrioritySet();
  readonly lb: LoadBalancer;
  /** The hosts that belong, gathered during one refresh. */
  members = new Set<Host>();

  constructor(factory: ChildLoadBalancerFactory) {
    this.prioritySet.getOrCreateHostSet(0);
    this.lb = factory(this.prioritySet);
  }

  /** Has hosts in some priority, whatever their health (Envoy's LbSubset::active). */
  active(): boolean {
    return this.prioritySet.hostSetsPerPriority.some((set) => set.hosts.length > 0);
  }

  /** The gathered members become the subset's hosts, level by level; only levels that changed are updated. */
  finalize(original: readonly HostSet[], config: LbSubsetConfig): void {
    for (const set of original) {
      const hosts = set.hosts.filter((host) => this.members.has(host));
      const mine = this.prioritySet.getOrCreateHostSet(set.priority);
      const before = new Set(mine.hosts);
      const added = hosts.filter((host) => !before.delete(host));
      const removed = [...before];
      this.prioritySet.updateHosts(set.priority, hosts, added, removed, subsetOptions(set, hosts, config));
    }
    // Levels the original no longer has.
    for (const mine of this.prioritySet.hostSetsPerPriority.slice(original.length)) {
      if (mine.hosts.length > 0) this.prioritySet.updateHosts(mine.priority, [], [], mine.hosts, {});
    }
    this.members = new Set();
  }
}

/**
 * A subset's level options (Envoy's HostSubsetImpl::update and determineLocalityWeights):
 * the original's overprovisioning factor and local locality; its locality weights only
 * with locality_weight_aware, scaled by the share of each locality's hosts in the subset
 * with scale_locality_weight.
 */
function subsetOptions(original: HostSet, hosts: readonly Host[], config: LbSubsetConfig): HostSetOptions {
  const { localityWeights, ...rest } = original.options;
  if (!config.localityWeightAware || localityWeights === undefined) return rest;
  if (!config.scaleLocalityWeight) return { ...rest, localityWeights };
  const totals = new Map<string, number>();
  for (const host of original.hosts) totals.set(localityKey(host.locality), (totals.get(localityKey(host.locality)) ?? 0) + 1);
  const counts = new Map<string, number>();
  for (const host of hosts) counts.set(localityKey(host.locality), (counts.get(localityKey(host.locality)) ?? 0) + 1);
  const scaled = new Map<string, number>();
  for (const [key, weight] of localityWeights) {
    const total = totals.get(key) ?? 0;
    // Envoy: weight × subset hosts / original hosts of the locality, an integer.
    scaled.set(key, total === 0 ? 0 : Math.floor((weight * (counts.get(key) ?? 0)) / total));
  }
  return { ...rest, localityWeights: scaled };
}

/** A node of the subset tree (Envoy's LbSubsetEntry): its subset once a host had its key-values, and deeper keys. */
class SubsetEntry {
  subset: PrioritySubset | undefined;
  /** key → value (valueKey) → entry: the next key of a longer selector. */
  readonly children: SubsetMap = new Map();

  active(): boolean {
    return this.subset !== undefined && this.subset.active();
  }
}

type SubsetMap = Map<string, Map<string, SubsetEntry>>;

/** key → deeper keys, and the selector fallback of the selector ending here (Envoy's SubsetSelectorMap). */
interface SelectorNode {
  readonly keys: Map<string, SelectorNode>;
  fallback?: LbSubsetSelectorConfig;
}

/**
 * Envoy's subset load balancer (source/extensions/load_balancing_policies/subset/subset_lb.cc):
 * the hosts are grouped into subsets by the values of their `envoy.lb` metadata for the
 * keys of each subset_selectors entry; a request whose route has metadata_match is served
 * by the subset with exactly those key-values, through a balancer of the cluster's
 * lb_policy over that subset. A request without criteria, or whose subset does not exist
 * or has no hosts, takes the selector's fallback_policy, else the cluster's: no host
 * (NO_FALLBACK), any host (ANY_ENDPOINT), or the default_subset's hosts (DEFAULT_SUBSET);
 * with panic_mode_any, any host when that fallback has none to offer.
 */
export class SubsetLoadBalancer implements LoadBalancer {
  private readonly subsets: SubsetMap = new Map();
  private readonly selectors: SelectorNode = { keys: new Map() };
  private subsetAny: PrioritySubset | undefined;
  private subsetDefault: PrioritySubset | undefined;
  private readonly fallbackSubset: PrioritySubset | undefined;
  private readonly panicModeSubset: PrioritySubset | undefined;

  constructor(
    private readonly config: LbSubsetConfig,
    private readonly original: PrioritySet,
    private readonly stats: ClusterLbStats,
    private readonly factory: ChildLoadBalancerFactory,
  ) {
    if (config.fallbackPolicy === "ANY_ENDPOINT") this.fallbackSubset = this.any();
    else if (config.fallbackPolicy === "DEFAULT_SUBSET") this.fallbackSubset = this.defaultSubset();
    if (config.panicModeAny) this.panicModeSubset = this.any();
    for (const selector of config.selectors) this.addSelector(selector);
    this.refresh();
    original.addMemberUpdateCallback(() => {
      this.refresh();
      this.purgeEmptySubsets(this.subsets);
    });
  }

  private any(): PrioritySubset {
    return (this.subsetAny ??= new PrioritySubset(this.factory));
  }

  private defaultSubset(): PrioritySubset {
    return (this.subsetDefault ??= new PrioritySubset(this.factory));
  }

  /** Envoy's initSubsetSelectorMap: the selector's fallback sits on the node of its last key. */
  private addSelector(selector: LbSubsetSelectorConfig): void {
    let node = this.selectors;
    selector.keys.forEach((key, i) => {
      let child = node.keys.get(key);
      if (child === undefined) {
        child = { keys: new Map() };
        node.keys.set(key, child);
        if (i === selector.keys.length - 1) {
          child.fallback = selector;
          if (selector.fallbackPolicy === "ANY_ENDPOINT") this.any();
          else if (selector.fallbackPolicy === "DEFAULT_SUBSET") this.defaultSubset();
        }
      }
      node = child;
    });
  }

  chooseHost(context: LoadBalancerContext | undefined): Host | undefined {
    return this.chooseHostIteration(context, context?.metadataMatchCriteria?.());
  }

  /** Envoy's chooseHostIteration: the criteria's subset, else the selector's fallback, else the cluster's. */
  private chooseHostIteration(context: LoadBalancerContext | undefined, given: MetadataMatchCriteria | undefined): Host | undefined {
    if (given !== undefined) {
      const criteria = this.config.allowRedundantKeys ? (this.filterBySelectors(given) ?? given) : given;
      const entry = this.findSubset(criteria);
      if (entry !== undefined && entry.active()) {
        this.stats.lbSubsetsSelected.inc();
        return entry.subset!.lb.chooseHost(context);
      }
      const fallback = this.findSelectorFallback(criteria);
      if (fallback !== undefined && fallback.fallbackPolicy !== "NOT_DEFINED") return this.chooseForSelectorFallback(fallback, context, criteria);
    }
    if (this.fallbackSubset === undefined) return undefined;
    const host = this.fallbackSubset.lb.chooseHost(context);
    if (host !== undefined) {
      this.stats.lbSubsetsFallback.inc();
      return host;
    }
    if (this.panicModeSubset !== undefined) {
      const panic = this.panicModeSubset.lb.chooseHost(context);
      if (panic !== undefined) this.stats.lbSubsetsFallbackPanic.inc();
      return panic;
    }
    return undefined;
  }

  /** Envoy's filterCriteriaBySelectors (allow_redundant_keys): the criteria cut to the first selector whose keys they all have. */
  private filterBySelectors(criteria: MetadataMatchCriteria): MetadataMatchCriteria | undefined {
    for (const selector of this.config.selectors) {
      const cut = criteria.filter(([name]) => selector.keys.includes(name));
      if (cut.length > 0 && cut.length === selector.keys.length) return cut;
    }
    return undefined;
  }

  private chooseForSelectorFallback(selector: LbSubsetSelectorConfig, context: LoadBalancerContext | undefined, criteria: MetadataMatchCriteria): Host | undefined {
    switch (selector.fallbackPolicy) {
      case "ANY_ENDPOINT":
        return this.subsetAny?.lb.chooseHost(context);
      case "DEFAULT_SUBSET":
        return this.subsetDefault?.lb.chooseHost(context);
      case "KEYS_SUBSET": {
        // The whole subset lookup again with only the fallback keys' criteria.
        const keys = selector.fallbackKeysSubset ?? [];
        return this.chooseHostIteration(context, criteria.filter(([name]) => keys.includes(name)));
      }
      default:
        return undefined;
    }
  }

  /** Envoy's findSubset: criteria and subsets are sorted alike, so one walk down the tree. */
  private findSubset(criteria: MetadataMatchCriteria): SubsetEntry | undefined {
    let subsets = this.subsets;
    for (let i = 0; i < criteria.length; i++) {
      const [name, value] = criteria[i]!;
      const entry = subsets.get(name)?.get(valueKey(value));
      if (entry === undefined) return undefined;
      if (i + 1 === criteria.length) return entry;
      subsets = entry.children;
    }
    return undefined;
  }

  /** Envoy's tryFindSelectorFallbackParams: the selector whose keys are exactly the criteria's names. */
  private findSelectorFallback(criteria: MetadataMatchCriteria): LbSubsetSelectorConfig | undefined {
    let node = this.selectors;
    for (let i = 0; i < criteria.length; i++) {
      const child = node.keys.get(criteria[i]![0]);
      if (child === undefined) return undefined;
      if (i + 1 === criteria.length) return child.fallback;
      node = child;
    }
    return undefined;
  }

  /** Envoy's update for every level: fallback subsets, then every selector's subsets, from the hosts' metadata now. */
  private refresh(): void {
    const levels = this.original.hostSetsPerPriority;
    const all = levels.flatMap((set) => set.hosts);
    if (this.subsetAny !== undefined) {
      for (const host of all) this.subsetAny.members.add(host);
      this.subsetAny.finalize(levels, this.config);
    }
    if (this.subsetDefault !== undefined) {
      for (const host of all) if (metadataLabelMatch(this.config.defaultSubset, host.metadata, this.config.listAsAny)) this.subsetDefault.members.add(host);
      this.subsetDefault.finalize(levels, this.config);
    }
    for (const host of all) {
      for (const selector of this.config.selectors) {
        for (const kvs of this.extractSubsetMetadata(selector.keys, host)) {
          const entry = this.findOrCreateEntry(kvs);
          if (entry.subset === undefined) {
            entry.subset = new PrioritySubset(this.factory);
            this.stats.lbSubsetsActive.inc();
            this.stats.lbSubsetsCreated.inc();
          }
          entry.subset.members.add(host);
        }
      }
    }
    forEachEntry(this.subsets, (entry) => entry.subset?.finalize(levels, this.config));
  }

  /**
   * Envoy's extractSubsetMetadata: the host's `envoy.lb` value for each key, or nothing if
   * it lacks one; with list_as_any a list value makes one key-value set per element.
   */
  private extractSubsetMetadata(keys: readonly string[], host: Host): (readonly [string, unknown])[][] {
    const fields = host.metadata[ENVOY_LB];
    if (fields === undefined || keys.length === 0) return [];
    let all: (readonly [string, unknown])[][] = [[]];
    for (const key of keys) {
      if (!Object.hasOwn(fields, key)) return [];
      const value = fields[key];
      const values = this.config.listAsAny && Array.isArray(value) ? value : [value];
      all = all.flatMap((kvs) => values.map((v) => [...kvs, [key, v] as const]));
    }
    return all;
  }

  private findOrCreateEntry(kvs: readonly (readonly [string, unknown])[]): SubsetEntry {
    let subsets = this.subsets;
    let entry: SubsetEntry | undefined;
    for (const [name, value] of kvs) {
      let values = subsets.get(name);
      if (values === undefined) subsets.set(name, (values = new Map()));
      const key = valueKey(value);
      entry = values.get(key);
      if (entry === undefined) values.set(key, (entry = new SubsetEntry()));
      subsets = entry.children;
    }
    return entry!;
  }

  /** Envoy's purgeEmptySubsets: a subset left without hosts (and without deeper subsets) is removed. */
  private purgeEmptySubsets(subsets: SubsetMap): void {
    for (const [name, values] of subsets) {
      for (const [value, entry] of values) {
        this.purgeEmptySubsets(entry.children);
        if (entry.active() || entry.children.size > 0) continue;
        if (entry.subset !== undefined) {
          this.stats.lbSubsetsActive.dec();
          this.stats.lbSubsetsRemoved.inc();
        }
        values.delete(value);
      }
      if (values.size === 0) subsets.delete(name);
    }
  }
}

function forEachEntry(subsets: SubsetMap, visit: (entry: SubsetEntry) => void): void {
  for (const values of subsets.values()) {
    for (const entry of values.values()) {
      visit(entry);
      forEachEntry(entry.children, visit);
    }
  }
}
