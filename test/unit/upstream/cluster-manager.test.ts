import { StatsStore } from "../../../core/stats/stats-store.ts";
import { describe, expect, test } from "vitest";
import type { ClusterConfig } from "../../../core/config/bootstrap.ts";
import { ClusterManager } from "../../../core/upstream/cluster-manager.ts";
import type { LoadBalancer } from "../../../core/upstream/load-balancer.ts";
import { Timers } from "../../../core/event/timers.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

/** The event loop the pools would run on (none is made in these tests). */
const runtime = new MemoryRuntime({ seed: 1 });
const DISPATCHER = { runtime, timers: new Timers(runtime) };

/** The next `n` picks, as address:port strings. */
const picks = (lb: LoadBalancer, n: number): (string | undefined)[] =>
  Array.from({ length: n }, () => lb.chooseHost(undefined)?.toString());

function cluster(name: string, ports: number[]): ClusterConfig {
  return {
    name,
    type: "STATIC",
    connectTimeoutMs: 5000,
    lbPolicy: "ROUND_ROBIN",
    perConnectionBufferLimitBytes: 1 << 20,
    endpoints: [{ priority: 0, lbEndpoints: ports.map((port) => ({ address: { address: "127.0.0.1", port }, loadBalancingWeight: 1 })) }],
    circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
  };
}

describe("ClusterManager", () => {
  test("looks clusters up by name; unknown names give undefined", () => {
    const manager = new ClusterManager([cluster("a", [1]), cluster("b", [2, 3])], new StatsStore(), DISPATCHER);
    expect(manager.get("a")?.name).toBe("a");
    expect(manager.get("b")?.hosts.map(String)).toEqual(["127.0.0.1:2", "127.0.0.1:3"]);
    expect(manager.get("c")).toBeUndefined();
  });

  test("each cluster balances round robin over its endpoints, independently of the others", () => {
    const manager = new ClusterManager([cluster("a", [1, 2, 3]), cluster("b", [7, 8])], new StatsStore(), DISPATCHER);
    const a = manager.get("a")!.loadBalancer;
    const b = manager.get("b")!.loadBalancer;
    // Envoy's round robin starts at a random host, then goes in order.
    const firstA = picks(a, 2);
    const startA = ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"].indexOf(firstA[0]!);
    const inOrderA = (i: number) => `127.0.0.1:${((startA + i) % 3) + 1}`;
    expect(firstA).toEqual([inOrderA(0), inOrderA(1)]);
    const firstB = picks(b, 3);
    expect(firstB[2]).toBe(firstB[0]);
    expect(new Set(firstB)).toEqual(new Set(["127.0.0.1:7", "127.0.0.1:8"]));
    expect(picks(a, 3)).toEqual([inOrderA(2), inOrderA(3), inOrderA(4)]);
  });

  test("a cluster with no endpoints yields no host", () => {
    const manager = new ClusterManager([cluster("empty", [])], new StatsStore(), DISPATCHER);
    expect(manager.get("empty")!.loadBalancer.chooseHost(undefined)).toBeUndefined();
  });

  test("the same cluster object is returned on every lookup, so the rotation is shared", () => {
    const manager = new ClusterManager([cluster("a", [1, 2])], new StatsStore(), DISPATCHER);
    expect(manager.get("a")).toBe(manager.get("a"));
    const [first] = picks(manager.get("a")!.loadBalancer, 1);
    expect(picks(manager.get("a")!.loadBalancer, 1)).toEqual([first === "127.0.0.1:1" ? "127.0.0.1:2" : "127.0.0.1:1"]);
  });
});
