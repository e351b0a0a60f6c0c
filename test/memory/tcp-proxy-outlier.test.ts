/**
 * tcp_proxy's connect results feed outlier detection, as Envoy's tcp_proxy does
 * (LOCAL_ORIGIN_CONNECT_FAILED, LOCAL_ORIGIN_TIMEOUT, LOCAL_ORIGIN_CONNECT_SUCCESS_FINAL):
 * a host that refuses or does not answer connects is ejected.
 */
import { expect, test } from "vitest";
import type { Socket } from "../../core/port.ts";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { tcpProxyConfig } from "../support/configs.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const LIVE = 8080;
const DEAD = 8081;

async function setup(outlierDetection: Record<string, unknown>): Promise<{ runtime: MemoryRuntime; server: Server; accepted: Socket[] }> {
  const runtime = new MemoryRuntime({ seed: 3 });
  const accepted: Socket[] = [];
  await runtime.listen({ address: "127.0.0.1", port: LIVE }, (socket) => accepted.push(socket));
  const config = tcpProxyConfig({ listenPort: PROXY, upstreamPorts: [LIVE, DEAD] }) as { static_resources: { clusters: Record<string, unknown>[] } };
  config.static_resources.clusters[0]!.outlier_detection = { base_ejection_time: "30s", max_ejection_percent: 100, ...outlierDetection };
  const server = await startProxy(runtime, config);
  return { runtime, server, accepted };
}

function stat(server: Server, name: string): number {
  return (server.stats.get(`cluster.upstream.${name}`) as { value: number } | undefined)?.value ?? 0;
}

function flags(server: Server): string[] {
  return server.clusterManager.get("upstream")!.hosts.map((h) => `${h.port} ${h.healthFlagsText()}`);
}

/** `n` client connections, one after another, each given time to connect upstream (or fail). */
async function connections(runtime: MemoryRuntime, n: number, waitMs = 10): Promise<void> {
  for (let i = 0; i < n; i++) {
    runtime.connect({ address: "127.0.0.1", port: PROXY });
    runtime.advance(waitMs);
    await runtime.settle();
  }
}

test("refused connects count as 503s (errors not split): consecutive_5xx ejects the host, then every connection goes to the other", async () => {
  const { runtime, server, accepted } = await setup({ consecutive_5xx: 2 });
  await connections(runtime, 4);
  expect(flags(server)).toEqual(["8080 healthy", "8081 /failed_outlier_check"]);
  expect(stat(server, "outlier_detection.ejections_enforced_consecutive_5xx")).toBe(1);
  const before = accepted.length;
  await connections(runtime, 4);
  expect(accepted.length - before).toBe(4);
});

test("split_external_local_origin_errors: refused connects are local-origin failures (consecutive_local_origin_failure)", async () => {
  const { runtime, server } = await setup({ split_external_local_origin_errors: true, consecutive_local_origin_failure: 2 });
  await connections(runtime, 4);
  expect(flags(server)).toEqual(["8080 healthy", "8081 /failed_outlier_check"]);
  expect(stat(server, "outlier_detection.ejections_enforced_consecutive_local_origin_failure")).toBe(1);
});

test("connect timeouts count as 504s: consecutive_gateway_failure ejects the host", async () => {
  const { runtime, server } = await setup({ consecutive_5xx: 100, consecutive_gateway_failure: 2, enforcing_consecutive_gateway_failure: 100 });
  // The dead port now swallows connects: each times out after connect_timeout (1 s).
  await runtime.listen({ address: "127.0.0.1", port: DEAD }, () => {});
  runtime.setFaults({ port: DEAD }, { connectDelayMs: 60_000 });
  await connections(runtime, 4, 1500);
  expect(flags(server)).toEqual(["8080 healthy", "8081 /failed_outlier_check"]);
  expect(stat(server, "outlier_detection.ejections_enforced_consecutive_gateway_failure")).toBe(1);
});
