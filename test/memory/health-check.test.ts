/**
 * Active health checking (core/upstream/health-checker.ts, http-health-checker.ts,
 * tcp-health-checker.ts) through a whole proxy on the memory runtime: the flags on
 * hosts, which hosts get traffic, thresholds, intervals, timeouts, and the stats.
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../core/config/load.ts";
import { Logger } from "../../core/log.ts";
import { Server } from "../../core/server.ts";
import { HealthFlag } from "../../core/upstream/host.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import type { Socket } from "../../core/port.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamHandler } from "./support/http-peers.ts";
import type { HttpMessage } from "./support/http-wire.ts";

const PROXY = 10000;
const UPSTREAMS = [8081, 8082, 8083];

let runtime: MemoryRuntime;
let server: Server;
let upstreams: MemoryHttpServer[] = [];

afterEach(() => {
  for (const upstream of upstreams) upstream.close();
  upstreams = [];
});

/** Start without awaiting first: start() waits for the first health checks, which need the clock driven. */
async function startServer(config: object): Promise<void> {
  server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
  const started = server.start();
  await runtime.settle();
  await started;
}

async function proxy(handlers: UpstreamHandler[], clusterExtra: Record<string, unknown>, seed = 1): Promise<void> {
  runtime = new MemoryRuntime({ seed });
  for (const [i, handler] of handlers.entries()) upstreams.push(await MemoryHttpServer.listen(runtime, UPSTREAMS[i]!, handler));
  const ports = UPSTREAMS.slice(0, handlers.length);
  await startServer(httpProxyConfig({ listenPort: PROXY, clusters: { backend: ports }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], clusterExtra }));
}

function stat(name: string): number | undefined {
  return (server.stats.get(name) as { value: number } | undefined)?.value;
}

function flags(): string[] {
  return server.clusterManager.get("backend")!.hosts.map((h) => h.healthFlagsText());
}

function header(message: HttpMessage, name: string): string | undefined {
  return message.headers.find(([n]) => n === name)?.[1];
}

const httpCheck = (extra: Record<string, unknown> = {}, http: Record<string, unknown> = {}) => ({
  health_checks: [{ timeout: "1s", interval: "5s", unhealthy_threshold: 2, healthy_threshold: 2, http_health_check: { path: "/healthz", ...http }, ...extra }],
});

/** An upstream answering /healthz with `status()` and anything else with 200 naming itself. */
function upstream(name: string, status: () => number, seen?: HttpMessage[]): UpstreamHandler {
  return (req, res) => {
    if (req.path === "/healthz") {
      seen?.push(req);
      res.respond(status(), "");
    } else res.respond(200, name);
  };
}

describe("HTTP health checks", () => {
  test("a host answering 503 to /healthz is failed (/failed_active_hc) and gets no traffic; the check sends host = cluster name and user-agent Envoy/HC", async () => {
    const seen: HttpMessage[] = [];
    await proxy([upstream("a", () => 200, seen), upstream("b", () => 503), upstream("c", () => 200)], httpCheck());
    expect(flags()).toEqual(["healthy", "/failed_active_hc", "healthy"]);
    expect(header(seen[0]!, "host")).toBe("backend");
    expect(header(seen[0]!, "user-agent")).toBe("Envoy/HC");
    expect(seen[0]!.method).toBe("GET");
    expect(stat("cluster.backend.health_check.attempt")).toBe(3);
    expect(stat("cluster.backend.health_check.success")).toBe(2);
    expect(stat("cluster.backend.health_check.failure")).toBe(1);
    expect(stat("cluster.backend.health_check.network_failure")).toBe(0);
    expect(stat("cluster.backend.health_check.healthy")).toBe(2);
    expect(stat("cluster.backend.membership_healthy")).toBe(2);
    const client = new MemoryHttpClient(runtime, PROXY);
    for (let i = 0; i < 6; i++) client.request("GET", `/r${i}`);
    await runtime.settle();
    expect(client.responses.map((r) => r.text()).sort()).toEqual(["a", "a", "a", "c", "c", "c"]);
  });

  test("without traffic the next check waits no_traffic_interval (60 s); once the cluster carried traffic, interval", async () => {
    let checks = 0;
    await proxy([upstream("a", () => (checks++, 200))], httpCheck());
    expect(checks).toBe(1);
    await runtime.settle(59_000);
    expect(checks).toBe(1);
    await runtime.settle(1_000);
    expect(checks).toBe(2);
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    await runtime.settle();
    // The check scheduled before the traffic still waits its 60 s; the one after it, 5 s.
    await runtime.settle(60_000);
    expect(checks).toBe(3);
    await runtime.settle(5_000);
    expect(checks).toBe(4);
  });

  test("without traffic, a passing check still counting toward healthy_threshold waits no_traffic_interval, not no_traffic_healthy_interval (Envoy's interval: Healthy and not ChangePending)", async () => {
    let status = 200;
    let checks = 0;
    await proxy([upstream("a", () => (checks++, status))], httpCheck({ no_traffic_interval: "5s", no_traffic_healthy_interval: "60s", healthy_threshold: 3 }));
    expect(checks).toBe(1);
    expect(flags()).toEqual(["healthy"]);
    status = 500;
    // A healthy host without traffic: no_traffic_healthy_interval; the wrong status fails it at once.
    await runtime.settle(60_000);
    expect(checks).toBe(2);
    expect(flags()).toEqual(["/failed_active_hc"]);
    status = 200;
    // Failed: no_traffic_interval. Then two passes still pending (1 and 2 of 3), each 5 s later.
    await runtime.settle(5_000);
    expect(checks).toBe(3);
    await runtime.settle(5_000);
    expect(checks).toBe(4);
    expect(flags()).toEqual(["/failed_active_hc"]);
    await runtime.settle(5_000);
    expect(checks).toBe(5);
    expect(flags()).toEqual(["healthy"]);
    // Healthy again (the transition done): no_traffic_healthy_interval.
    await runtime.settle(59_000);
    expect(checks).toBe(5);
    await runtime.settle(1_000);
    expect(checks).toBe(6);
  });

  test("an endpoint's health_check_config: checks go to its port_value (traffic stays on the serving port), with its hostname as host", async () => {
    runtime = new MemoryRuntime({ seed: 1 });
    const seen: HttpMessage[] = [];
    // Both hosts serve traffic on 8081/8082 and answer /healthz 200 there; the health
    // ports 9081/9082 answer 503 for the first host and 200 for the second.
    for (const [i, port] of [8081, 8082].entries()) upstreams.push(await MemoryHttpServer.listen(runtime, port, upstream(`host${i}`, () => 200)));
    upstreams.push(await MemoryHttpServer.listen(runtime, 9081, upstream("health0", () => 503, seen)));
    upstreams.push(await MemoryHttpServer.listen(runtime, 9082, upstream("health1", () => 200, seen)));
    const config = httpProxyConfig({ listenPort: PROXY, clusters: { backend: [8081, 8082] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], clusterExtra: httpCheck() }) as any;
    const endpoints = config.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints;
    endpoints[0].endpoint.health_check_config = { port_value: 9081, hostname: "backend-local-1" };
    endpoints[1].endpoint.health_check_config = { port_value: 9082 };
    await startServer(config);
    expect(flags()).toEqual(["/failed_active_hc", "healthy"]);
    expect(seen.map((m) => header(m, "host")).sort()).toEqual(["backend", "backend-local-1"]);
    const client = new MemoryHttpClient(runtime, PROXY);
    for (let i = 0; i < 2; i++) client.request("GET", `/r${i}`);
    await runtime.settle();
    expect(client.responses.map((r) => r.text())).toEqual(["host1", "host1"]);
  });

  test("an endpoint's health_check_config.hostname goes before the check's own host (Envoy's getHostname); without one, the check's host", async () => {
    runtime = new MemoryRuntime({ seed: 1 });
    const seen: HttpMessage[] = [];
    for (const [i, port] of [8081, 8082].entries()) upstreams.push(await MemoryHttpServer.listen(runtime, port, upstream(`host${i}`, () => 200, seen)));
    const config = httpProxyConfig({ listenPort: PROXY, clusters: { backend: [8081, 8082] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], clusterExtra: httpCheck({}, { host: "configured.example" }) }) as any;
    config.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.health_check_config = { hostname: "endpoint.example" };
    await startServer(config);
    expect(flags()).toEqual(["healthy", "healthy"]);
    expect(seen.map((m) => header(m, "host")).sort()).toEqual(["configured.example", "endpoint.example"]);
  });

  test("a wrong status fails a healthy host at once; passing again needs healthy_threshold checks in a row, the ones in between at healthy_edge_interval", async () => {
    let status = 200;
    await proxy([upstream("a", () => status)], httpCheck({ healthy_edge_interval: "1s", no_traffic_interval: "5s" }));
    expect(flags()).toEqual(["healthy"]);
    // Traffic, so the traffic intervals apply from the next check on.
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    await runtime.settle();
    status = 500;
    await runtime.settle(5_000);
    expect(flags()).toEqual(["/failed_active_hc"]);
    status = 200;
    // unhealthy_interval (= interval, 5 s): one pass of two, still failed — only a host's very first check passes it alone.
    await runtime.settle(5_000);
    expect(flags()).toEqual(["/failed_active_hc"]);
    expect(stat("cluster.backend.health_check.healthy")).toBe(0);
    // The second pass comes after healthy_edge_interval (1 s), not interval.
    await runtime.settle(1_000);
    expect(flags()).toEqual(["healthy"]);
    expect(stat("cluster.backend.health_check.healthy")).toBe(1);
  });

  test("no answer within timeout is a network failure: the host fails only after unhealthy_threshold of them, flagged /active_hc_timeout", async () => {
    let hang = false;
    await proxy(
      [(req, res) => (hang && req.path === "/healthz" ? undefined : res.respond(200, "ok"))],
      httpCheck({ unhealthy_threshold: 3, no_traffic_interval: "5s" }),
    );
    expect(flags()).toEqual(["healthy"]);
    hang = true;
    await runtime.settle(6_000);
    await runtime.settle(6_000);
    expect(flags()).toEqual(["healthy"]);
    expect(stat("cluster.backend.health_check.network_failure")).toBe(2);
    await runtime.settle(6_000);
    expect(flags()).toEqual(["/failed_active_hc/active_hc_timeout"]);
    expect(stat("cluster.backend.health_check.failure")).toBe(3);
  });

  test("a refused connection is a network failure; expected_statuses and retriable_statuses decide the rest", async () => {
    runtime = new MemoryRuntime({ seed: 1 });
    upstreams.push(await MemoryHttpServer.listen(runtime, 8081, upstream("a", () => 418)));
    upstreams.push(await MemoryHttpServer.listen(runtime, 8082, upstream("b", () => 429)));
    // 8083: nothing listens.
    const config = httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: UPSTREAMS },
      routes: [{ match: { prefix: "/" }, cluster: "backend" }],
      clusterExtra: httpCheck({}, { expected_statuses: [{ start: 200, end: 300 }, { start: 418, end: 419 }], retriable_statuses: [{ start: 429, end: 430 }] }),
    });
    await startServer(config);
    // First checks: every host starts failed; a pass makes it healthy at once.
    expect(flags()).toEqual(["healthy", "/failed_active_hc", "/failed_active_hc"]);
    expect(stat("cluster.backend.health_check.network_failure")).toBe(1);
  });

  test("request_headers_to_add/_remove, host and method are sent; reuse_connection false opens a connection per check", async () => {
    const seen: HttpMessage[] = [];
    await proxy(
      [upstream("a", () => 200, seen)],
      httpCheck({ reuse_connection: false, no_traffic_interval: "5s" }, { host: "svc.local", method: "HEAD", request_headers_to_add: [{ header: { key: "x-check", value: "1" } }] }),
    );
    await runtime.settle(5_000);
    expect(seen).toHaveLength(2);
    expect(seen[0]!.method).toBe("HEAD");
    expect(header(seen[0]!, "host")).toBe("svc.local");
    expect(header(seen[0]!, "x-check")).toBe("1");
    // Each check's connection was closed after its answer.
    expect(upstreams[0]!.connections.size).toBe(0);
  });

  test("x-envoy-immediate-health-check-fail on a proxied answer fails and excludes the host at once (passive_failure)", async () => {
    await proxy(
      [(req, res) => (req.path === "/healthz" ? res.respond(200) : res.respond(503, "draining", { "x-envoy-immediate-health-check-fail": "true" })), upstream("b", () => 200)],
      httpCheck(),
    );
    expect(flags()).toEqual(["healthy", "healthy"]);
    const client = new MemoryHttpClient(runtime, PROXY);
    // Round robin starts at a random host (as Envoy's): two requests reach both.
    client.request("GET", "/x");
    await runtime.settle();
    client.request("GET", "/y");
    await runtime.settle();
    expect(flags()).toEqual(["/failed_active_hc/excluded_via_immediate_hc_fail", "healthy"]);
    expect(stat("cluster.backend.health_check.passive_failure")).toBe(1);
  });

  test("hosts added later (discovery through PrioritySet.updateHosts) are checked too, and start failed until their first check", async () => {
    await proxy([upstream("a", () => 200), upstream("b", () => 200)], httpCheck());
    const cluster = server.clusterManager.get("backend")!;
    const [a, b] = cluster.hosts;
    cluster.prioritySet.updateHosts(0, [a!], [], [b!]);
    expect(cluster.healthChecker!.sessionCount).toBe(1);
    const { Host } = await import("../../core/upstream/host.ts");
    const c = new Host("127.0.0.1", 8082);
    cluster.prioritySet.updateHosts(0, [a!, c], [c], []);
    expect(c.healthFlagGet(HealthFlag.FailedActiveHc)).toBe(true);
    expect(cluster.prioritySet.hostSetsPerPriority[0]!.healthyHosts).toEqual([a]);
    await runtime.settle();
    expect(c.healthFlagGet(HealthFlag.FailedActiveHc)).toBe(false);
    expect(cluster.prioritySet.hostSetsPerPriority[0]!.healthyHosts).toEqual([a, c]);
  });
});

describe("intervals and jitter", () => {
  test("interval_jitter and interval_jitter_percent add a uniform draw below each bound; the wait is never below the base", async () => {
    await proxy([upstream("a", () => 200)], httpCheck({ interval_jitter: "1s", interval_jitter_percent: 10 }));
    const checker = server.clusterManager.get("backend")!.healthChecker!;
    const waits = Array.from({ length: 2000 }, () => checker.intervalWithJitter(5000, 1000));
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(5000);
    // 5000 + up to 499 (10 % of 5000, exclusive) + up to 999.
    expect(Math.max(...waits)).toBeLessThanOrEqual(6498);
    expect(Math.max(...waits)).toBeGreaterThan(6200);
    expect(checker.intervalWithJitter(0, 0)).toBe(1);
  });

  test("initial_jitter delays each host's first check by a random part of it", async () => {
    runtime = new MemoryRuntime({ seed: 3 });
    const firstAt: number[] = [];
    for (const port of UPSTREAMS) {
      upstreams.push(
        await MemoryHttpServer.listen(runtime, port, (req, res) => {
          if (firstAt.length < 3) firstAt.push(runtime.now());
          res.respond(200);
        }),
      );
    }
    const config = httpProxyConfig({ listenPort: PROXY, clusters: { backend: UPSTREAMS }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], clusterExtra: httpCheck({ initial_jitter: "3s" }) });
    server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
    const started = server.start();
    await runtime.settle(3_000);
    await started;
    expect(firstAt).toHaveLength(3);
    for (const at of firstAt) expect(at).toBeLessThan(3_000);
    expect(new Set(firstAt).size).toBeGreaterThan(1);
  });
});

describe("TCP health checks", () => {
  test("send/receive hex payloads: a host answering the expected bytes passes, one answering others fails", async () => {
    runtime = new MemoryRuntime({ seed: 1 });
    const answer = (reply: string) => (socket: Socket) => {
      socket.setHandler({
        onConnect() {},
        onData(data) {
          if (String.fromCharCode(...data) === "PING") socket.write(new TextEncoder().encode(reply));
        },
        onEnd() {},
        onDrain() {},
        onClose() {},
      });
    };
    await runtime.listen({ address: "127.0.0.1", port: 8081 }, answer("xxPONGyy"));
    await runtime.listen({ address: "127.0.0.1", port: 8082 }, answer("NOPE"));
    const config = httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [8081, 8082] },
      routes: [{ match: { prefix: "/" }, cluster: "backend" }],
      clusterExtra: { health_checks: [{ timeout: "1s", interval: "5s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: { send: { text: "50494E47" }, receive: [{ text: "504f4e47" }] } }] },
    });
    server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
    const started = server.start();
    await runtime.settle(1_000);
    await started;
    expect(flags()).toEqual(["healthy", "/failed_active_hc/active_hc_timeout"]);
    expect(stat("cluster.backend.health_check.success")).toBe(1);
    expect(stat("cluster.backend.health_check.network_failure")).toBe(1);
  });
});

describe("TCP health checks: connect only", () => {
  test("without receive, each check is a connect that is closed once made (Envoy's TcpActiveHealthCheckSession::onEvent): the host stays healthy", async () => {
    runtime = new MemoryRuntime({ seed: 1 });
    let accepted = 0;
    let closedByProxy = 0;
    // A host that accepts and never says a word.
    await runtime.listen({ address: "127.0.0.1", port: 8081 }, (socket: Socket) => {
      accepted++;
      let closed = false;
      const onClosed = () => {
        if (!closed) closedByProxy++;
        closed = true;
      };
      socket.setHandler({
        onConnect() {},
        onData() {},
        onEnd: onClosed,
        onDrain() {},
        onClose: onClosed,
      });
    });
    const config = httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [8081] },
      routes: [{ match: { prefix: "/" }, cluster: "backend" }],
      clusterExtra: { health_checks: [{ timeout: "1s", interval: "5s", no_traffic_interval: "5s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }] },
    });
    server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
    const started = server.start();
    await runtime.settle(1_000);
    await started;
    // Four more intervals: four more checks, each its own connection.
    await runtime.settle(21_000);
    expect(flags()).toEqual(["healthy"]);
    expect(stat("cluster.backend.health_check.attempt")).toBe(5);
    expect(stat("cluster.backend.health_check.success")).toBe(5);
    expect(stat("cluster.backend.health_check.failure")).toBe(0);
    expect(accepted).toBe(5);
    expect(closedByProxy).toBe(5);
  });

  test("with send and no receive, the connection is closed once made and send is never written (Envoy closes with NoFlush)", async () => {
    runtime = new MemoryRuntime({ seed: 1 });
    let received = 0;
    await runtime.listen({ address: "127.0.0.1", port: 8081 }, (socket: Socket) => {
      socket.setHandler({
        onConnect() {},
        onData(data: Uint8Array) {
          received += data.byteLength;
        },
        onEnd() {},
        onDrain() {},
        onClose() {},
      });
    });
    const config = httpProxyConfig({
      listenPort: PROXY,
      clusters: { backend: [8081] },
      routes: [{ match: { prefix: "/" }, cluster: "backend" }],
      clusterExtra: { health_checks: [{ timeout: "1s", interval: "5s", no_traffic_interval: "5s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: { send: { text: "50494E47" } } }] },
    });
    server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
    const started = server.start();
    await runtime.settle(1_000);
    await started;
    await runtime.settle(11_000);
    expect(flags()).toEqual(["healthy"]);
    expect(stat("cluster.backend.health_check.success")).toBe(3);
    expect(received).toBe(0);
  });
});
