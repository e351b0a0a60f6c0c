/**
 * The subset load balancer (Envoy's subset_lb.cc) over hosts whose endpoints carry
 * `envoy.lb` metadata: the route's metadata_match picks the subset, fallback_policy what
 * happens without one, and the lb_subsets_* stats count it as Envoy does.
 */
import { describe, expect, test } from "vitest";
import type { MetadataMatchCriteria } from "../../../core/config/bootstrap.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { Cluster } from "../../../core/upstream/cluster.ts";
import { HealthFlag } from "../../../core/upstream/host.ts";
import type { LoadBalancerContext } from "../../../core/upstream/load-balancer.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

function clusterFrom(yaml: string): { cluster: Cluster; stat: (name: string) => number } {
  const runtime = new MemoryRuntime({ seed: 3 });
  const store = new StatsStore();
  const cluster = new Cluster(loadBootstrap(yaml, "yaml").clusters[0]!, store, () => runtime.random());
  return { cluster, stat: (name) => (store.get(`cluster.c.${name}`) as { value: number } | undefined)?.value ?? 0 };
}

const at = (port: number, lb: string) => `{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } }, metadata: { filter_metadata: { envoy.lb: ${lb} } } }`;

/** Hosts 1, 2: v1 (2 canary); 3: v2; 4: v2 and stage prod; 5: no envoy.lb metadata. */
const ENDPOINTS = `    load_assignment:
      cluster_name: c
      endpoints:
      - lb_endpoints:
        - ${at(1, "{ version: v1 }")}
        - ${at(2, "{ version: v1, canary: true }")}
        - ${at(3, "{ version: v2 }")}
        - ${at(4, "{ version: v2, stage: prod }")}
        - { endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 5 } } } }
`;

function config(subset: string): string {
  return `static_resources:
  clusters:
  - name: c
    lb_subset_config:
${subset}
${ENDPOINTS}`;
}

const criteria = (entries: Record<string, unknown>): LoadBalancerContext => {
  const sorted: MetadataMatchCriteria = Object.entries(entries).sort(([a], [b]) => (a < b ? -1 : 1));
  return { metadataMatchCriteria: () => sorted };
};

function ports(cluster: Cluster, context: LoadBalancerContext | undefined, n = 20): number[] {
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const host = cluster.loadBalancer.chooseHost(context);
    seen.add(host ? host.port : 0);
  }
  return [...seen].sort();
}

describe("subset load balancing", () => {
  test("the criteria's subset serves; lb_subsets_active/created/selected count subsets and picks", () => {
    const { cluster, stat } = clusterFrom(config(`      subset_selectors: [{ keys: [version] }, { keys: [stage, version] }]`));
    // version=v1, version=v2, (stage=prod, version=v2).
    expect(stat("lb_subsets_active")).toBe(3);
    expect(stat("lb_subsets_created")).toBe(3);
    expect(ports(cluster, criteria({ version: "v1" }))).toEqual([1, 2]);
    expect(ports(cluster, criteria({ version: "v2" }))).toEqual([3, 4]);
    expect(ports(cluster, criteria({ version: "v2", stage: "prod" }))).toEqual([4]);
    expect(stat("lb_subsets_selected")).toBe(60);
    expect(stat("lb_subsets_fallback")).toBe(0);
  });

  test("NO_FALLBACK (the default): no subset, no host; no criteria, no host", () => {
    const { cluster } = clusterFrom(config(`      subset_selectors: [{ keys: [version] }]`));
    expect(ports(cluster, criteria({ version: "v3" }))).toEqual([0]);
    expect(ports(cluster, undefined)).toEqual([0]);
  });

  test("ANY_ENDPOINT: any host, counted in lb_subsets_fallback", () => {
    const { cluster, stat } = clusterFrom(config(`      fallback_policy: ANY_ENDPOINT\n      subset_selectors: [{ keys: [version] }]`));
    expect(ports(cluster, criteria({ version: "v3" }), 50)).toEqual([1, 2, 3, 4, 5]);
    expect(stat("lb_subsets_fallback")).toBe(50);
    // Criteria whose keys no selector has fall back too.
    expect(ports(cluster, criteria({ shard: 1 }), 50)).toEqual([1, 2, 3, 4, 5]);
  });

  test("DEFAULT_SUBSET: the default_subset's hosts; panic_mode_any: any host when that subset is empty", () => {
    const { cluster } = clusterFrom(config(`      fallback_policy: DEFAULT_SUBSET\n      default_subset: { version: v2 }\n      subset_selectors: [{ keys: [version] }]`));
    expect(ports(cluster, undefined)).toEqual([3, 4]);
    const empty = clusterFrom(config(`      fallback_policy: DEFAULT_SUBSET\n      default_subset: { version: v9 }\n      panic_mode_any: true\n      subset_selectors: [{ keys: [version] }]`));
    expect(ports(empty.cluster, undefined, 50)).toEqual([1, 2, 3, 4, 5]);
    expect(empty.stat("lb_subsets_fallback_panic")).toBe(50);
    expect(empty.stat("lb_subsets_fallback")).toBe(0);
  });

  test("a selector's fallback_policy: NO_FALLBACK over the cluster's ANY_ENDPOINT; KEYS_SUBSET retries with fewer keys", () => {
    const none = clusterFrom(config(`      fallback_policy: ANY_ENDPOINT\n      subset_selectors: [{ keys: [version], fallback_policy: NO_FALLBACK }]`));
    expect(ports(none.cluster, criteria({ version: "v3" }))).toEqual([0]);
    const keys = clusterFrom(config(`      subset_selectors: [{ keys: [version] }, { keys: [stage, version], fallback_policy: KEYS_SUBSET, fallback_keys_subset: [version] }]`));
    // No stage=dev subset: the version=v2 one.
    expect(ports(keys.cluster, criteria({ version: "v2", stage: "dev" }))).toEqual([3, 4]);
  });

  test("list_as_any: a list value puts the host in a subset per element", () => {
    const { cluster } = clusterFrom(`static_resources:
  clusters:
  - name: c
    lb_subset_config: { list_as_any: true, subset_selectors: [{ keys: [version] }] }
    load_assignment:
      cluster_name: c
      endpoints:
      - lb_endpoints: [${at(1, "{ version: [v1, v2] }")}, ${at(2, "{ version: v2 }")}]
`);
    expect(ports(cluster, criteria({ version: "v1" }))).toEqual([1]);
    expect(ports(cluster, criteria({ version: "v2" }))).toEqual([1, 2]);
  });

  test("health is the original's: an unhealthy host of a subset is not picked while another is healthy", () => {
    const { cluster } = clusterFrom(config(`      subset_selectors: [{ keys: [version] }]`));
    const host1 = cluster.hosts.find((h) => h.port === 1)!;
    host1.healthFlagSet(HealthFlag.FailedActiveHc);
    cluster.prioritySet.refreshHealth();
    expect(ports(cluster, criteria({ version: "v1" }))).toEqual([2]);
  });

  test("a subset left without hosts is removed (lb_subsets_removed), and comes back", () => {
    const { cluster, stat } = clusterFrom(config(`      subset_selectors: [{ keys: [version] }]`));
    const set = cluster.prioritySet.hostSetsPerPriority[0]!;
    const all = set.hosts;
    const withoutV1 = all.filter((h) => h.metadata["envoy.lb"]?.["version"] !== "v1");
    cluster.prioritySet.updateHosts(0, withoutV1, [], all.filter((h) => !withoutV1.includes(h)), set.options);
    expect(stat("lb_subsets_removed")).toBe(1);
    expect(stat("lb_subsets_active")).toBe(1);
    expect(ports(cluster, criteria({ version: "v1" }))).toEqual([0]);
    cluster.prioritySet.updateHosts(0, all, all.filter((h) => !withoutV1.includes(h)), [], set.options);
    expect(stat("lb_subsets_created")).toBe(3);
    expect(stat("lb_subsets_active")).toBe(2);
    expect(ports(cluster, criteria({ version: "v1" }))).toEqual([1, 2]);
  });

  test("allow_redundant_keys: criteria with keys no selector has use the first selector they cover", () => {
    const { cluster } = clusterFrom(config(`      allow_redundant_keys: true\n      subset_selectors: [{ keys: [version] }]`));
    expect(ports(cluster, criteria({ version: "v2", team: "x" }))).toEqual([3, 4]);
  });

  test("the config's refusals: single_host_per_subset, metadata_fallback_policy FALLBACK_LIST, KEYS_SUBSET without keys", () => {
    expect(() => clusterFrom(config(`      subset_selectors: [{ keys: [version], single_host_per_subset: true }]`))).toThrow(/single_host_per_subset/);
    expect(() => clusterFrom(config(`      metadata_fallback_policy: FALLBACK_LIST\n      subset_selectors: [{ keys: [version] }]`))).toThrow(/metadata_fallback_policy/);
    expect(() => clusterFrom(config(`      subset_selectors: [{ keys: [version], fallback_policy: KEYS_SUBSET }]`))).toThrow(/fallback_keys_subset cannot be empty/);
    expect(() => clusterFrom(config(`      subset_selectors: [{ keys: [version], fallback_policy: KEYS_SUBSET, fallback_keys_subset: [version] }]`))).toThrow(/cannot be equal to keys/);
  });
});
