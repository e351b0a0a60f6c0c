/**
 * tcp_proxy's hash_policy source_ip on a MAGLEV cluster, on the memory runtime: every
 * connection from one client IP reaches the same upstream; without the policy the
 * consistent hashing balancer picks at random, as Envoy's does.
 */
import { describe, expect, test } from "vitest";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { tcpProxyConfig } from "../support/configs.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAMS = [8081, 8082, 8083];

async function connectionsPerUpstream(hashPolicy: boolean): Promise<number[]> {
  const runtime = new MemoryRuntime({ seed: 5 });
  const accepted = UPSTREAMS.map(() => 0);
  for (const [i, port] of UPSTREAMS.entries()) await runtime.listen({ address: "127.0.0.1", port }, () => accepted[i]!++);
  const config = tcpProxyConfig({ listenPort: PROXY, upstreamPorts: UPSTREAMS }) as {
    static_resources: { listeners: { filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] }[]; clusters: Record<string, unknown>[] };
  };
  if (hashPolicy) config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.hash_policy = [{ source_ip: {} }];
  config.static_resources.clusters[0]!.lb_policy = "MAGLEV";
  await startProxy(runtime, config);
  for (let i = 0; i < 12; i++) {
    runtime.connect({ address: "127.0.0.1", port: PROXY }).setHandler({ onConnect() {}, onData() {}, onEnd() {}, onDrain() {}, onClose() {} });
    runtime.runDue();
  }
  runtime.advance(10);
  return accepted;
}

describe("tcp_proxy hash_policy", () => {
  test("source_ip: one client IP, one upstream", async () => {
    const counts = await connectionsPerUpstream(true);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(12);
    expect(counts.filter((n) => n > 0)).toEqual([12]);
  });

  test("without it, a MAGLEV cluster spreads connections at random", async () => {
    const counts = await connectionsPerUpstream(false);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(12);
    expect(counts.filter((n) => n > 0).length).toBeGreaterThan(1);
  });
});
