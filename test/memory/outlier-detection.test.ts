/**
 * Outlier detection (core/upstream/outlier-detection.ts) through a whole proxy on the
 * memory runtime: consecutive-error ejections fed by the router, ejection time and its
 * backoff, max_ejection_percent, success-rate and failure-percentage sweeps, and stats.
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../core/config/load.ts";
import { Logger } from "../../core/log.ts";
import { Server } from "../../core/server.ts";
import { successRateEjectionThreshold } from "../../core/upstream/outlier-detection.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { clustersAsText } from "../../core/admin/clusters.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamHandler } from "./support/http-peers.ts";

const PROXY = 10000;
const PORTS = [8081, 8082, 8083, 8084, 8085];

let runtime: MemoryRuntime;
let server: Server;
let upstreams: MemoryHttpServer[] = [];

afterEach(() => {
  for (const upstream of upstreams) upstream.close();
  upstreams = [];
});

async function proxy(handlers: UpstreamHandler[], outlier: Record<string, unknown>, seed = 1): Promise<void> {
  runtime = new MemoryRuntime({ seed });
  for (const [i, handler] of handlers.entries()) upstreams.push(await MemoryHttpServer.listen(runtime, PORTS[i]!, handler));
  const config = httpProxyConfig({
    listenPort: PROXY,
    clusters: { backend: PORTS.slice(0, handlers.length) },
    routes: [{ match: { prefix: "/" }, cluster: "backend" }],
    clusterExtra: { outlier_detection: outlier },
  });
  server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
  await server.start();
}

function stat(name: string): number | undefined {
  return (server.stats.get(name) as { value: number } | undefined)?.value;
}

function flags(): string[] {
  return server.clusterManager.get("backend")!.hosts.map((h) => h.healthFlagsText());
}

const ok = (name: string): UpstreamHandler => (_req, res) => res.respond(200, name);
const failing = (status: number): UpstreamHandler => (_req, res) => res.respond(status, "bad");

async function send(n: number): Promise<string[]> {
  const client = new MemoryHttpClient(runtime, PROXY);
  for (let i = 0; i < n; i++) client.request("GET", `/${i}`);
  await runtime.settle();
  return client.responses.map((r) => r.text());
}

describe("consecutive errors", () => {
  test("5 consecutive 5xx eject the host (flag, stats, no traffic); it comes back at the first sweep after base_ejection_time", async () => {
    await proxy([ok("a"), failing(500), ok("c")], { max_ejection_percent: 100, interval: "1s", base_ejection_time: "3s" });
    // Round robin: every third request goes to b; 15 requests give it 5.
    await send(15);
    expect(flags()).toEqual(["healthy", "/failed_outlier_check", "healthy"]);
    expect(stat("cluster.backend.outlier_detection.ejections_active")).toBe(1);
    expect(stat("cluster.backend.outlier_detection.ejections_detected_consecutive_5xx")).toBe(1);
    expect(stat("cluster.backend.outlier_detection.ejections_enforced_consecutive_5xx")).toBe(1);
    expect(stat("cluster.backend.outlier_detection.ejections_enforced_total")).toBe(1);
    expect(stat("cluster.backend.outlier_detection.ejections_total")).toBe(1);
    expect(stat("cluster.backend.outlier_detection.ejections_consecutive_5xx")).toBe(1);
    expect(new Set(await send(6))).toEqual(new Set(["a", "c"]));
    await runtime.settle(2_000);
    expect(flags()[1]).toBe("/failed_outlier_check");
    await runtime.settle(1_000);
    expect(flags()).toEqual(["healthy", "healthy", "healthy"]);
    expect(stat("cluster.backend.outlier_detection.ejections_active")).toBe(0);
  });

  test("gRPC: a grpc-status in the response headers is judged as the HTTP status it amounts to; one that does not parse is a 500 (Envoy's InvalidCode)", async () => {
    const grpc = (status: string): UpstreamHandler => (_req, res) => res.respond(200, "", { "content-type": "application/grpc", "grpc-status": status });
    await proxy([grpc("0"), grpc("not-a-code"), grpc("14")], { max_ejection_percent: 100, interval: "1s", base_ejection_time: "3s" });
    const client = new MemoryHttpClient(runtime, PROXY);
    for (let i = 0; i < 15; i++) client.request("POST", `/pkg.Svc/M${i}`, { headers: { "content-type": "application/grpc" }, body: new Uint8Array(5) });
    await runtime.settle();
    expect(client.responses.map((r) => r.status)).toEqual(new Array(15).fill(200));
    expect(flags()).toEqual(["healthy", "/failed_outlier_check", "/failed_outlier_check"]);
    expect(stat("cluster.backend.outlier_detection.ejections_enforced_consecutive_5xx")).toBe(2);
  });

  test("a second ejection lasts twice base_ejection_time (backoff), capped by max_ejection_time", async () => {
    await proxy([ok("a"), failing(500)], { max_ejection_percent: 100, interval: "1s", base_ejection_time: "2s", max_ejection_time: "3s" });
    await send(10);
    expect(flags()[1]).toBe("/failed_outlier_check");
    await runtime.settle(2_000);
    expect(flags()[1]).toBe("healthy");
    await send(10);
    expect(flags()[1]).toBe("/failed_outlier_check");
    await runtime.settle(2_000);
    expect(flags()[1]).toBe("/failed_outlier_check");
    // min(2 s × 2, 3 s) = 3 s.
    await runtime.settle(1_000);
    expect(flags()[1]).toBe("healthy");
  });

  test("max_ejection_percent (default 10 %): with 3 hosts, ejecting one would pass it, so it is only counted as overflow", async () => {
    await proxy([ok("a"), failing(500), ok("c")], {});
    await send(15);
    expect(flags()).toEqual(["healthy", "healthy", "healthy"]);
    expect(stat("cluster.backend.outlier_detection.ejections_overflow")).toBe(1);
    expect(stat("cluster.backend.outlier_detection.ejections_detected_consecutive_5xx")).toBe(1);
    expect(stat("cluster.backend.outlier_detection.ejections_enforced_total")).toBe(0);
  });

  test("gateway failures (502–504) are detected but not enforced by default (enforcing_consecutive_gateway_failure 0)", async () => {
    await proxy([ok("a"), failing(503)], { max_ejection_percent: 100, consecutive_5xx: 1000 });
    await send(10);
    expect(flags()).toEqual(["healthy", "healthy"]);
    expect(stat("cluster.backend.outlier_detection.ejections_detected_consecutive_gateway_failure")).toBe(1);
    expect(stat("cluster.backend.outlier_detection.ejections_enforced_consecutive_gateway_failure")).toBe(0);
  });

  test("connect failures count as 503s, or with split_external_local_origin_errors as local-origin failures", async () => {
    await proxy([ok("a")], { max_ejection_percent: 100, split_external_local_origin_errors: true, consecutive_local_origin_failure: 2 });
    // Add a host nobody listens on.
    const cluster = server.clusterManager.get("backend")!;
    const { Host } = await import("../../core/upstream/host.ts");
    const dead = new Host("127.0.0.1", 8099);
    cluster.prioritySet.updateHosts(0, [...cluster.hosts, dead], [dead], []);
    await send(4);
    expect(dead.healthFlagsText()).toBe("/failed_outlier_check");
    expect(stat("cluster.backend.outlier_detection.ejections_enforced_consecutive_local_origin_failure")).toBe(1);
  });
});

describe("with active health checking", () => {
  test("a passing health check unejects an ejected host at once (successful_active_health_check_uneject_host, default true)", async () => {
    runtime = new MemoryRuntime({ seed: 1 });
    upstreams.push(await MemoryHttpServer.listen(runtime, 8081, ok("a")));
    upstreams.push(await MemoryHttpServer.listen(runtime, 8082, (req, res) => res.respond(req.path === "/healthz" ? 200 : 500, "b")));
    const config = httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [8081, 8082] },
      routes: [{ match: { prefix: "/" }, cluster: "backend" }],
      clusterExtra: {
        outlier_detection: { max_ejection_percent: 100, base_ejection_time: "300s" },
        health_checks: [{ timeout: "1s", interval: "5s", unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: "/healthz" } }],
      },
    });
    server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
    const started = server.start();
    await runtime.settle();
    await started;
    await send(10);
    expect(flags()).toEqual(["healthy", "/failed_outlier_check"]);
    // The check after the first waits no_traffic_interval (the cluster had no traffic then); it passes.
    await runtime.settle(59_000);
    expect(flags()).toEqual(["healthy", "/failed_outlier_check"]);
    await runtime.settle(1_000);
    expect(flags()).toEqual(["healthy", "healthy"]);
    expect(stat("cluster.backend.outlier_detection.ejections_active")).toBe(0);
  });
});

describe("success rate", () => {
  test("Envoy's example: rates {50, 100, 100, 100, 100}, factor 1.9 → mean 90, threshold 52", () => {
    const { mean, threshold } = successRateEjectionThreshold(450, [50, 100, 100, 100, 100], 1.9);
    expect(mean).toBe(90);
    expect(threshold).toBeCloseTo(52, 10);
  });

  test("a sweep ejects the host whose success rate is below mean − 1.9 σ; /clusters shows each host's rate", async () => {
    let n = 0;
    // e answers 500 to half its requests: never 5 in a row.
    const flaky: UpstreamHandler = (_req, res) => res.respond(n++ % 2 === 0 ? 500 : 200, "e");
    await proxy([ok("a"), ok("b"), ok("c"), ok("d"), flaky], { max_ejection_percent: 100, success_rate_request_volume: 10, consecutive_5xx: 1000 });
    await send(100);
    await runtime.settle(10_000);
    expect(flags()).toEqual(["healthy", "healthy", "healthy", "healthy", "/failed_outlier_check"]);
    expect(stat("cluster.backend.outlier_detection.ejections_detected_success_rate")).toBe(1);
    expect(stat("cluster.backend.outlier_detection.ejections_enforced_success_rate")).toBe(1);
    const text = clustersAsText(server.clusterManager.all());
    expect(text).toContain("backend::127.0.0.1:8081::success_rate::100\n");
    expect(text).toContain("backend::127.0.0.1:8085::success_rate::50\n");
    expect(text).toContain("backend::127.0.0.1:8085::local_origin_success_rate::-1\n");
  });

  test("failure percentage: a host failing at least failure_percentage_threshold % is ejected when enforced", async () => {
    await proxy([ok("a"), ok("b"), failing(500)], {
      max_ejection_percent: 100,
      consecutive_5xx: 1000,
      failure_percentage_minimum_hosts: 3,
      failure_percentage_request_volume: 5,
      enforcing_failure_percentage: 100,
      success_rate_minimum_hosts: 100,
    });
    await send(30);
    await runtime.settle(10_000);
    expect(flags()).toEqual(["healthy", "healthy", "/failed_outlier_check"]);
    expect(stat("cluster.backend.outlier_detection.ejections_enforced_failure_percentage")).toBe(1);
  });
});
