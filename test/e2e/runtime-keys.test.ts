/**
 * Runtime keys with fixed names, changed live through POST /runtime_modify on every
 * runtime (Envoy reads each where it decides, so the next decision follows it):
 * - circuit_breakers.<cluster>.<priority>.max_* (ResourceManagerImpl): max_requests 0
 *   turns the next request into a 503 overflow; /clusters shows the live thresholds;
 * - upstream.zone_routing.enabled (ZoneAwareLoadBalancerBase::hostSourceToUse): 0 stops
 *   keeping picks in the node's zone;
 * - health_check.min_interval (HealthCheckerImplBase::intervalWithJitter): slows a fast
 *   health checker down;
 * - overload.global_downstream_max_connections (TcpListenerImpl::rejectCxOverGlobalLimit):
 *   a connection over it is closed at once and counted in downstream_global_cx_overflow;
 * - circuit_breakers.<cluster>.<priority>.retry_budget.budget_percent (RetryBudgetImpl): present,
 *   it turns the retry budget on for a cluster that configures none, replacing max_retries.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { ServerResponse } from "node:http";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { rawExchange } from "../support/raw-http.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

/** Requests in one burst of the retry budget test. */
const BURST = 6;
/** How long the failing upstream holds a retry: its place in the retry circuit breaker lasts while the burst's other failures decide. */
const RETRY_HOLD_MS = 1500;

const endpoint = (port: number) => ({ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } });
const inZone = (zone: string, port: number) => ({ locality: { region: "r", zone }, lb_endpoints: [endpoint(port)] });

describe.each(RUNTIMES)("runtime keys changed by /runtime_modify on %s", (runtime) => {
  let zones: HttpUpstream[] = [];
  let failing: HttpUpstream;
  /** The current burst's first attempts at the failing upstream (the retry budget test). */
  let firstAttempts: ServerResponse[] = [];
  let proxy: ProxyProcess;
  const ports = { http: 0, admin: 0 };
  const agent = new Agent({ keepAliveTimeout: 10_000, pipelining: 1 });

  async function call(port: number, path: string, method = "GET") {
    const res = await request(`http://127.0.0.1:${port}${path}`, { method: method as "GET", dispatcher: agent });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  }
  const modify = async (query: string) => expect((await call(ports.admin, `/runtime_modify?${query}`, "POST")).status).toBe(200);
  const stat = async (name: string) => {
    const text = (await call(ports.admin, `/stats?filter=^${name.replace(/\./g, "\\.")}$`)).body;
    const match = /: (\d+)/.exec(text);
    return match ? Number(match[1]) : undefined;
  };

  beforeAll(async () => {
    zones = await Promise.all([httpUpstream(), httpUpstream(), httpUpstream()]);
    // A burst's first attempts are held until all BURST have arrived and then fail together
    // (every request is active when the retries are decided); a retry fails slowly, so it
    // holds its place in the retry circuit breaker while the others ask for theirs.
    const fail = (res: ServerResponse) => res.writeHead(503, { "content-type": "text/plain" }).end("upstream says no");
    failing = await httpUpstream((_req, res) => {
      if (firstAttempts.length < BURST) {
        firstAttempts.push(res);
        if (firstAttempts.length === BURST) firstAttempts.forEach(fail);
      } else {
        setTimeout(() => fail(res), RETRY_HOLD_MS);
      }
    });
    [ports.http, ports.admin] = await Promise.all([freePort(), freePort()]);
    const [z1, z2, z3] = zones.map((u) => u.port) as [number, number, number];
    proxy = await ProxyProcess.start(
      runtime,
      {
        admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports.admin } } },
        node: { locality: { region: "r", zone: "z1" } },
        cluster_manager: { local_cluster_name: "fleet" },
        layered_runtime: { layers: [{ name: "admin", admin_layer: {} }] },
        static_resources: {
          listeners: [
            {
              name: "http",
              address: { socket_address: { address: "127.0.0.1", port_value: ports.http } },
              filter_chains: [
                {
                  filters: [
                    {
                      name: "envoy.filters.network.http_connection_manager",
                      typed_config: {
                        "@type": HCM,
                        stat_prefix: "ingress_http",
                        route_config: {
                          virtual_hosts: [
                            {
                              name: "all",
                              domains: ["*"],
                              routes: [
                                { match: { prefix: "/cb" }, route: { cluster: "backend" } },
                                { match: { prefix: "/zone" }, route: { cluster: "zoned" } },
                                { match: { prefix: "/flaky" }, route: { cluster: "flaky", retry_policy: { retry_on: "5xx", num_retries: 1 } } },
                              ],
                            },
                          ],
                        },
                        http_filters: [ROUTER],
                      },
                    },
                  ],
                },
              ],
            },
          ],
          clusters: [
            // The local fleet: one host in each zone (never routed to).
            { name: "fleet", load_assignment: { cluster_name: "fleet", endpoints: [inZone("z1", z1), inZone("z2", z2), inZone("z3", z3)] } },
            {
              name: "zoned",
              common_lb_config: { zone_aware_lb_config: { min_cluster_size: 1 } },
              load_assignment: { cluster_name: "zoned", endpoints: [inZone("z1", z1), inZone("z2", z2), inZone("z3", z3)] },
            },
            {
              name: "backend",
              circuit_breakers: { thresholds: [{ max_requests: 50 }] },
              load_assignment: { cluster_name: "backend", endpoints: [{ lb_endpoints: [endpoint(z1)] }] },
            },
            // No retry_budget: max_retries 1 alone limits concurrent retries.
            {
              name: "flaky",
              circuit_breakers: { thresholds: [{ max_retries: 1 }] },
              load_assignment: { cluster_name: "flaky", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: failing.port } } } }] }] },
            },
            {
              name: "checked",
              health_checks: [{ timeout: "1s", interval: "0.1s", no_traffic_interval: "0.1s", unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: "/healthz" } }],
              load_assignment: { cluster_name: "checked", endpoints: [{ lb_endpoints: [endpoint(z2)] }] },
            },
          ],
        },
      },
      2,
    );
  });

  afterAll(async () => {
    await agent.close();
    await proxy?.stop("SIGKILL");
    await Promise.all([...zones, failing].map((u) => u?.close()));
  });

  test("circuit_breakers.backend.default.max_requests 0: the next request overflows (503, x-envoy-overloaded); '' restores the configured 50", async () => {
    expect((await call(ports.http, "/cb")).status).toBe(200);
    await modify("circuit_breakers.backend.default.max_requests=0&circuit_breakers.backend.high.max_connections=7");
    const refused = await call(ports.http, "/cb");
    expect(refused.status).toBe(503);
    expect(refused.headers["x-envoy-overloaded"]).toBe("true");
    const clusters = (await call(ports.admin, "/clusters")).body;
    expect(clusters).toContain("backend::default_priority::max_requests::0\n");
    expect(clusters).toContain("backend::high_priority::max_connections::7\n");
    await modify("circuit_breakers.backend.default.max_requests=");
    expect((await call(ports.http, "/cb")).status).toBe(200);
    expect((await call(ports.admin, "/clusters")).body).toContain("backend::default_priority::max_requests::50\n");
  });

  test("upstream.zone_routing.enabled 0: picks leave the node's zone; unset: all stay in z1", async () => {
    const spread = async (n: number) => {
      const before = zones.map((u) => u.requests.filter((r) => r.url === "/zone").length);
      for (let i = 0; i < n; i++) expect((await call(ports.http, "/zone")).status).toBe(200);
      return zones.map((u, i) => u.requests.filter((r) => r.url === "/zone").length - before[i]!);
    };
    expect(await spread(9)).toEqual([9, 0, 0]);
    await modify("upstream.zone_routing.enabled=0");
    const off = await spread(9);
    // Plain round robin over the three zones.
    expect(off[1]! + off[2]!).toBeGreaterThan(0);
    await modify("upstream.zone_routing.enabled=");
    expect(await spread(6)).toEqual([6, 0, 0]);
  });

  test("health_check.min_interval 5000 slows a 100 ms health checker down to one check per 5 s", async () => {
    const checks = () => zones[1]!.requests.filter((r) => r.url === "/healthz").length;
    const start = checks();
    // At least 4 checks within 1.5 s (every 0.1 s); seen as soon as they are there.
    for (const until = Date.now() + 1500; checks() - start < 4 && Date.now() < until; ) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(checks() - start).toBeGreaterThanOrEqual(4);
    await modify("health_check.min_interval=5000");
    // The timer armed before the change still fires once.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = checks();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(checks() - after).toBeLessThanOrEqual(1);
    await modify("health_check.min_interval=");
  });

  test("overload.global_downstream_max_connections: a connection over it is closed at once (downstream_global_cx_overflow)", async () => {
    // The agent holds one keep-alive connection to the HTTP listener.
    expect((await call(ports.http, "/cb")).status).toBe(200);
    await modify("overload.global_downstream_max_connections=1");
    const before = (await stat("listener.127.0.0.1_" + ports.http + ".downstream_global_cx_overflow")) ?? 0;
    // Closed unanswered; with the request unread the kernel may answer the close with a reset.
    const refused = await rawExchange(ports.http, "GET /cb HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", 5000).catch((err: NodeJS.ErrnoException) => {
      expect(err.code).toBe("ECONNRESET");
      return { text: "", closed: true };
    });
    expect(refused).toEqual({ text: "", closed: true });
    expect(await stat("listener.127.0.0.1_" + ports.http + ".downstream_global_cx_overflow")).toBe(before + 1);
    await modify("overload.global_downstream_max_connections=");
    const reply = await rawExchange(ports.http, "GET /cb HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", 5000);
    expect(reply.text).toMatch(/^HTTP\/1\.1 200/);
  });

  test("circuit_breakers.flaky.default.retry_budget.budget_percent turns the retry budget on without a configured one; '' restores max_retries", async () => {
    const retryStats = async () => ({ retry: (await stat("cluster.flaky.upstream_rq_retry")) ?? 0, overflow: (await stat("cluster.flaky.upstream_rq_retry_overflow")) ?? 0 });
    // BURST requests at once; each first attempt fails, and each asks for one retry.
    const burst = async () => {
      const before = await retryStats();
      firstAttempts = [];
      const replies = await Promise.all(Array.from({ length: BURST }, () => call(ports.http, "/flaky")));
      for (const reply of replies) {
        // A retry refused by the circuit breaker forwards the upstream's own reply (the router's
        // RetryStatus::NoOverflow sets the UO flag only; x-envoy-overloaded is for local replies).
        expect(reply.status).toBe(503);
        expect(reply.body).toBe("upstream says no");
        expect(reply.headers["x-envoy-overloaded"]).toBeUndefined();
      }
      const after = await retryStats();
      return { retry: after.retry - before.retry, overflow: after.overflow - before.overflow };
    };
    // max_retries 1: one retry, the other five overflow.
    expect(await burst()).toEqual({ retry: 1, overflow: 5 });
    // 10 % of at most 6 active requests truncates to 0, under min_retry_concurrency's default 3.
    await modify("circuit_breakers.flaky.default.retry_budget.budget_percent=10");
    expect(await burst()).toEqual({ retry: 3, overflow: 3 });
    // A value that is not a number still turns the budget on, at Envoy's 20 %: again the floor of 3.
    await modify("circuit_breakers.flaky.default.retry_budget.budget_percent=lots");
    expect(await burst()).toEqual({ retry: 3, overflow: 3 });
    await modify("circuit_breakers.flaky.default.retry_budget.budget_percent=");
    expect(await burst()).toEqual({ retry: 1, overflow: 5 });
  }, 60_000);
});
