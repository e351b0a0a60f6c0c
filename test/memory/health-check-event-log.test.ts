/**
 * health_checks[].event_log_path: Envoy's HealthCheckEvent JSON lines
 * (health_checker_event_logger.cc) — a host going healthy or unhealthy, the first
 * check's failure, every failure with always_log_health_check_failures, passing checks
 * with always_log_health_check_success — on the memory runtime's clock.
 */
import { afterEach, expect, test } from "vitest";
import { loadBootstrap } from "../../core/config/load.ts";
import { Logger } from "../../core/log.ts";
import { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpServer } from "./support/http-peers.ts";

let runtime: MemoryRuntime;
let server: Server;
let upstreams: MemoryHttpServer[] = [];

afterEach(() => {
  for (const upstream of upstreams) upstream.close();
  upstreams = [];
});

async function start(statuses: (() => number)[], healthCheck: Record<string, unknown>): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  const ports = statuses.map((_, i) => 8081 + i);
  for (const [i, status] of statuses.entries()) upstreams.push(await MemoryHttpServer.listen(runtime, ports[i]!, (_req, res) => res.respond(status(), "")));
  const config = httpProxyConfig({
    listenPort: 10000,
    clusters: { backend: ports },
    routes: [{ match: { prefix: "/" }, cluster: "backend" }],
    clusterExtra: {
      health_checks: [{ timeout: "1s", interval: "1s", no_traffic_interval: "1s", unhealthy_threshold: 2, healthy_threshold: 2, http_health_check: { path: "/healthz" }, event_log_path: "/dev/stdout", ...healthCheck }],
    },
  });
  server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "error"));
  const started = server.start();
  await runtime.settle();
  await started;
}

/** The event lines written so far (the log file flushes every second). */
async function events(): Promise<Record<string, unknown>[]> {
  await runtime.settle(1000);
  return runtime.stdoutText
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const host = (port: number) => ({ socket_address: { protocol: "TCP", address: "127.0.0.1", resolver_name: "", ipv4_compat: false, port_value: port } });

test("the first check: add_healthy_event for a passing host, health_check_failure_event (first_check) for a failing one — it started unhealthy, so no ejection", async () => {
  await start([() => 200, () => 503], {});
  const lines = runtime.stdoutText;
  expect(lines).toBe(""); // buffered until the file's flush interval
  const all = await events();
  expect(all).toEqual([
    { health_checker_type: "HTTP", host: host(8081), cluster_name: "backend", add_healthy_event: { first_check: true }, timestamp: "2026-01-01T00:00:00Z", locality: { region: "", zone: "", sub_zone: "" } },
    { health_checker_type: "HTTP", host: host(8082), cluster_name: "backend", health_check_failure_event: { failure_type: "ACTIVE", first_check: true }, timestamp: "2026-01-01T00:00:00Z", locality: { region: "", zone: "", sub_zone: "" } },
  ]);
  // Field order as Envoy prints them.
  expect(runtime.stdoutText.split("\n")[0]).toBe(
    '{"health_checker_type":"HTTP","host":{"socket_address":{"protocol":"TCP","address":"127.0.0.1","resolver_name":"","ipv4_compat":false,"port_value":8081}},"cluster_name":"backend","add_healthy_event":{"first_check":true},"timestamp":"2026-01-01T00:00:00Z","locality":{"region":"","zone":"","sub_zone":""}}',
  );
});

test("later failures are logged only with always_log_health_check_failures; going unhealthy always is", async () => {
  let status = 200;
  await start([() => status], { always_log_health_check_failures: true });
  await events();
  status = 503;
  await runtime.settle(1000);
  const kinds = (await events()).map((e) => Object.keys(e)[3]);
  expect(kinds).toEqual(["add_healthy_event", "eject_unhealthy_event", "health_check_failure_event"]);
});

test("without always_log_health_check_failures a failure after the first check only logs the ejection", async () => {
  let status = 200;
  await start([() => status], {});
  await events();
  status = 503;
  await runtime.settle(2000);
  const kinds = (await events()).map((e) => Object.keys(e)[3]);
  expect(kinds).toEqual(["add_healthy_event", "eject_unhealthy_event"]);
});

test("always_log_health_check_success logs each passing check that changed nothing", async () => {
  await start([() => 200], { always_log_health_check_success: true });
  await runtime.settle(2000);
  const kinds = (await events()).map((e) => Object.keys(e)[3]);
  expect(kinds[0]).toBe("add_healthy_event");
  expect(kinds.slice(1).length).toBeGreaterThanOrEqual(2);
  expect(new Set(kinds.slice(1))).toEqual(new Set(["successful_health_check_event"]));
});

test("an event_log_path that cannot be opened stops start-up, naming it", async () => {
  runtime = new MemoryRuntime({ seed: 1 });
  const config = httpProxyConfig({
    listenPort: 10000,
    clusters: { backend: [8081] },
    routes: [{ match: { prefix: "/" }, cluster: "backend" }],
    clusterExtra: { health_checks: [{ timeout: "1s", interval: "1s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {}, event_log_path: "/no/such/dir/hc.log" }] },
  });
  server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "error"));
  await expect(server.start()).rejects.toThrow(/cluster 'backend': health_checks\[0\]\.event_log_path: cannot open access log file \/no\/such\/dir\/hc\.log/);
});
