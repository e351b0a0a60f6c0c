/**
 * --concurrency 2 on every runtime: a cluster's circuit_breakers.<priority>.*_open gauges
 * are 0 or 1 in the supervisor's merged /stats (open when a worker's breaker is), as in
 * Envoy's one process, not the sum of the workers' (core/admin/worker-stats.ts).
 */
import { describe, expect, test } from "vitest";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

/** Workers each load and compile the program: slow on a loaded machine. */
const STARTED_MS = 90_000;

describe.each(RUNTIMES)("circuit breaker gauges with workers (%s)", (runtime) => {
  test("thresholds of 0 open every breaker in each worker: the merged gauges read 1", { timeout: 180_000 }, async () => {
    const listen = await freePort();
    const admin = await freePort();
    const zero = { max_connections: 0, max_pending_requests: 0, max_requests: 0, max_retries: 0 };
    const config = {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: admin } } },
      ...httpProxyConfig({
        listenPort: listen,
        clusters: { backend: [await freePort()] },
        routes: [{ match: { prefix: "/" }, cluster: "backend" }],
        clusterExtra: { circuit_breakers: { thresholds: [zero] } },
      }),
    };
    const proxy = await ProxyProcess.start(runtime, config, 0, ["--concurrency", "2"]);
    try {
      await proxy.waitForLog(/all 2 workers started/, 1, STARTED_MS);
      const text = await (await fetch(`http://127.0.0.1:${admin}/stats?filter=circuit_breakers\\.default\\..*_open$`)).text();
      expect(text.trim().split("\n")).toEqual([
        "cluster.backend.circuit_breakers.default.cx_open: 1",
        "cluster.backend.circuit_breakers.default.rq_open: 1",
        "cluster.backend.circuit_breakers.default.rq_pending_open: 1",
        "cluster.backend.circuit_breakers.default.rq_retry_open: 1",
      ]);
    } finally {
      await proxy.stop("SIGKILL");
    }
  });
});
