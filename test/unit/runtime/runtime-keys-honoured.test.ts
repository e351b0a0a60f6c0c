/**
 * Runtime keys with fixed names that Envoy reads where polyvoy has the feature: circuit
 * breakers (resource_manager_impl.h), zone aware routing (load_balancer_impl.cc), health
 * check interval bounds (health_checker_impl.cc) and the deprecated global connection
 * limit (tcp_listener_impl.cc). Each is changed through the admin layer, as
 * /runtime_modify does, and takes effect at the next check.
 */
import { describe, expect, test } from "vitest";
import { clustersAsText } from "../../../core/admin/clusters.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { Timers } from "../../../core/event/timers.ts";
import { OverloadManager } from "../../../core/overload/overload-manager.ts";
import { RuntimeLoader } from "../../../core/runtime/runtime-loader.ts";
import { StatsStore } from "../../../core/stats/stats-store.ts";
import { Cluster } from "../../../core/upstream/cluster.ts";
import { createHealthChecker } from "../../../core/upstream/health-checker-factory.ts";
import { HealthState, HealthTransition } from "../../../core/upstream/health-checker.ts";
import { Logger } from "../../../core/log.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

const runtime = new MemoryRuntime({ seed: 3 });
const dispatcher = { runtime, timers: new Timers(runtime) };
const withAdminLayer = () => new RuntimeLoader(runtime, { layers: [{ kind: "admin", name: "admin" }] });

function clusterConfig(extra = "") {
  return loadBootstrap(
    `
static_resources:
  clusters:
  - name: backend
    connect_timeout: 1s
    load_assignment:
      cluster_name: backend
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 9 } } } }] }]
    circuit_breakers:
      thresholds: [{ max_connections: 5, max_pending_requests: 6, max_requests: 7, max_retries: 8 }]
${extra}`,
    "yaml",
  ).clusters[0]!;
}

describe("circuit_breakers.<cluster>.<priority>.* (ResourceManagerImpl reads max() at each check)", () => {
  test("an admin-layer value replaces the configured threshold at once; '' restores it", () => {
    const values = withAdminLayer();
    const cluster = new Cluster(clusterConfig(), new StatsStore(), () => runtime.random(), { layeredRuntime: values });
    const r = cluster.resources;
    expect([r.connections.max, r.pendingRequests.max, r.requests.max, r.retries.max]).toEqual([5, 6, 7, 8]);
    r.requests.inc();
    r.requests.inc();
    expect(r.requests.canCreate()).toBe(true);
    values.mergeValues(new Map([["circuit_breakers.backend.default.max_requests", "2"], ["circuit_breakers.backend.default.max_connections", "1"], ["circuit_breakers.backend.default.max_pending_requests", "0"], ["circuit_breakers.backend.default.max_retries", "0"]]));
    expect(r.requests.canCreate()).toBe(false);
    expect(r.connections.canCreate()).toBe(true);
    expect(r.pendingRequests.canCreate()).toBe(false);
    expect(r.retries.canCreate()).toBe(false);
    values.mergeValues(new Map([["circuit_breakers.backend.default.max_requests", ""]]));
    expect(r.requests.canCreate()).toBe(true);
    // A key of another cluster changes nothing here.
    values.mergeValues(new Map([["circuit_breakers.other.default.max_connections", "0"]]));
    expect(r.connections.canCreate()).toBe(true);
  });

  test("priority high's keys set what /clusters shows for high_priority, default's for default_priority", () => {
    const values = withAdminLayer();
    const cluster = new Cluster(clusterConfig(), new StatsStore(), () => runtime.random(), { layeredRuntime: values });
    values.mergeValues(new Map([["circuit_breakers.backend.high.max_connections", "42"], ["circuit_breakers.backend.default.max_retries", "11"]]));
    const text = clustersAsText([cluster]);
    expect(text).toContain("backend::high_priority::max_connections::42\n");
    expect(text).toContain("backend::high_priority::max_requests::1024\n");
    expect(text).toContain("backend::default_priority::max_retries::11\n");
    expect(text).toContain("backend::default_priority::max_connections::5\n");
  });

  test("retry_budget.budget_percent / min_retry_concurrency: either key turns the budget on (Envoy's 20% and 3 for the other); '' turns it off again", () => {
    const values = withAdminLayer();
    const cluster = new Cluster(clusterConfig(), new StatsStore(), () => runtime.random(), { layeredRuntime: values });
    const r = cluster.resources;
    for (let i = 0; i < 20; i++) r.requests.inc();
    expect(r.retries.limit).toBe(8); // max_retries, no budget
    values.mergeValues(new Map([["circuit_breakers.backend.default.retry_budget.budget_percent", "50"]]));
    expect(r.retries.limit).toBe(10); // 50% of 20 active, over the default floor of 3
    values.mergeValues(new Map([["circuit_breakers.backend.default.retry_budget.min_retry_concurrency", "15"]]));
    expect(r.retries.limit).toBe(15);
    values.mergeValues(new Map([["circuit_breakers.backend.default.retry_budget.budget_percent", ""]]));
    expect(r.retries.limit).toBe(15); // 20% of 20 = 4, floor 15
    values.mergeValues(new Map([["circuit_breakers.backend.default.retry_budget.min_retry_concurrency", ""]]));
    expect(r.retries.limit).toBe(8);
  });

  test("a retry_budget key that is not a number still turns the budget on, at the fallback (Snapshot::get has a value; getDouble gives the default)", () => {
    const values = withAdminLayer();
    const cluster = new Cluster(clusterConfig(), new StatsStore(), () => runtime.random(), { layeredRuntime: values });
    const r = cluster.resources;
    for (let i = 0; i < 40; i++) r.requests.inc();
    expect(r.retries.limit).toBe(8);
    values.mergeValues(new Map([["circuit_breakers.backend.default.retry_budget.budget_percent", "lots"]]));
    expect(r.retries.usesBudget).toBe(true);
    expect(r.retries.limit).toBe(8); // 20% of 40
    values.mergeValues(new Map([["circuit_breakers.backend.default.retry_budget.budget_percent", "5"]]));
    expect(r.retries.limit).toBe(3); // 2 of 40, floor 3
  });

  test("while the budget is in use remaining_retries reads 0; rq_retry_open follows max_retries (RetryBudgetImpl::clearRemainingGauge)", () => {
    const values = withAdminLayer();
    const config = clusterConfig();
    const store = new StatsStore();
    const cluster = new Cluster({ ...config, circuitBreakers: { ...config.circuitBreakers, trackRemaining: true } }, store, () => runtime.random(), { layeredRuntime: values });
    const r = cluster.resources.retries;
    const gauge = (name: string) => store.gauge(`cluster.backend.circuit_breakers.default.${name}`).value;
    r.inc();
    expect(gauge("remaining_retries")).toBe(7);
    values.mergeValues(new Map([["circuit_breakers.backend.default.retry_budget.min_retry_concurrency", "100"]]));
    expect(r.canCreate()).toBe(true);
    expect(gauge("remaining_retries")).toBe(0);
    for (let i = 0; i < 7; i++) r.inc();
    expect(gauge("rq_retry_open")).toBe(1); // 8 retries at max_retries 8, though the budget admits more
    expect(r.canCreate()).toBe(true);
    values.mergeValues(new Map([["circuit_breakers.backend.default.retry_budget.min_retry_concurrency", ""]]));
    expect(r.canCreate()).toBe(false);
    r.dec();
    expect(gauge("remaining_retries")).toBe(1);
  });

  test("a configured retry_budget is overridden by its runtime keys", () => {
    const values = withAdminLayer();
    const config = clusterConfig();
    const cluster = new Cluster({ ...config, circuitBreakers: { ...config.circuitBreakers, retryBudget: { budgetPercent: 10, minRetryConcurrency: 1 } } }, new StatsStore(), () => runtime.random(), { layeredRuntime: values });
    const r = cluster.resources;
    for (let i = 0; i < 40; i++) r.requests.inc();
    expect(r.retries.limit).toBe(4);
    values.mergeValues(new Map([["circuit_breakers.backend.default.retry_budget.budget_percent", "25"]]));
    expect(r.retries.limit).toBe(10);
  });

  test("without a layered runtime the configured thresholds hold", () => {
    const cluster = new Cluster(clusterConfig(), new StatsStore());
    expect(cluster.resources.requests.max).toBe(7);
  });
});

describe("health_check.min_interval / health_check.max_interval (intervalWithJitter)", () => {
  test("bound every interval, the maximum first; unset, the configured interval", () => {
    const config = clusterConfig(`    health_checks: [{ timeout: 1s, interval: 5s, no_traffic_interval: 60s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }]`);
    const cluster = new Cluster(config, new StatsStore());
    const checker = createHealthChecker(cluster, config.healthChecks![0]!, dispatcher, undefined);
    const values = withAdminLayer();
    checker.layeredRuntime = values;
    expect(checker.interval(HealthState.Healthy, HealthTransition.Unchanged)).toBe(60_000);
    values.mergeValues(new Map([["health_check.max_interval", "250"]]));
    expect(checker.interval(HealthState.Healthy, HealthTransition.Unchanged)).toBe(250);
    values.mergeValues(new Map([["health_check.min_interval", "400"]]));
    expect(checker.interval(HealthState.Healthy, HealthTransition.Unchanged)).toBe(400);
    values.mergeValues(new Map([["health_check.max_interval", ""], ["health_check.min_interval", "90000"]]));
    expect(checker.interval(HealthState.Healthy, HealthTransition.Unchanged)).toBe(90_000);
  });
});

describe("overload.global_downstream_max_connections (deprecated runtime form of the global limit)", () => {
  const log = new Logger(runtime, "off");

  test("limits accepted connections when no monitor is configured, read at each accept", () => {
    const values = withAdminLayer();
    const overload = new OverloadManager(undefined, dispatcher, new StatsStore(), log, values);
    expect(overload.tryAllocateDownstreamConnection()).toBe(true);
    expect(overload.tryAllocateDownstreamConnection()).toBe(true);
    values.mergeValues(new Map([["overload.global_downstream_max_connections", "2"]]));
    expect(overload.tryAllocateDownstreamConnection()).toBe(false);
    overload.releaseDownstreamConnection();
    expect(overload.tryAllocateDownstreamConnection()).toBe(true);
    expect(overload.tryAllocateDownstreamConnection()).toBe(false);
    values.mergeValues(new Map([["overload.global_downstream_max_connections", "3"]]));
    expect(overload.tryAllocateDownstreamConnection()).toBe(true);
  });

  test("the resource monitor wins over the runtime key when both are set", () => {
    const values = withAdminLayer();
    values.mergeValues(new Map([["overload.global_downstream_max_connections", "1"]]));
    const bootstrap = loadBootstrap(
      `
overload_manager:
  resource_monitors:
  - name: envoy.resource_monitors.global_downstream_max_connections
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig
      max_active_downstream_connections: 3
`,
      "yaml",
    );
    const overload = new OverloadManager(bootstrap.overloadManager, dispatcher, new StatsStore(), log, values);
    expect([1, 2, 3, 4].map(() => overload.tryAllocateDownstreamConnection())).toEqual([true, true, true, false]);
  });
});
