/**
 * An aggregate cluster (cluster_type envoy.clusters.aggregate) seen from outside, on every
 * runtime: two STATIC clusters of real node:http upstreams, the first actively health
 * checked. While its only host passes, the aggregate's traffic goes there; when it fails
 * its checks, to the second cluster; when it recovers, back. The stats are split as
 * Envoy's: response codes on the aggregate (the router's cluster), requests and
 * connections on the cluster that served them (its pools).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const HTTP_FILTER_PREFIX = "type.googleapis.com/envoy.extensions.filters.http";

function staticCluster(name: string, port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
    ...extra,
  };
}

describe.each(RUNTIMES)("aggregate cluster on %s", (runtime) => {
  let primary: HttpUpstream;
  let secondary: HttpUpstream;
  let proxy: ProxyProcess;
  let primaryHealthy = true;
  const ports = { http: 0, admin: 0 };
  const agent = new Agent({ keepAliveTimeout: 10_000 });

  async function get(port: number, path: string): Promise<{ status: number; body: string }> {
    const res = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: agent });
    return { status: res.statusCode, body: await res.body.text() };
  }

  async function stat(name: string): Promise<number> {
    const body = (await get(ports.admin, `/stats?filter=^${name}$`)).body;
    return Number(body.match(/: (\S+)\n?$/)?.[1] ?? "NaN");
  }

  /** Poll /clusters until the primary's host shows `flags`. */
  async function waitForPrimary(flags: string): Promise<void> {
    const line = `primary::127.0.0.1:${primary.port}::health_flags::${flags}\n`;
    for (let i = 0; i < 100; i++) {
      if ((await get(ports.admin, "/clusters")).body.includes(line)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`primary never became ${flags}`);
  }

  async function bodies(n: number): Promise<string[]> {
    const seen: string[] = [];
    for (let i = 0; i < n; i++) {
      const res = await get(ports.http, `/r${i}`);
      expect(res.status).toBe(200);
      seen.push(res.body);
    }
    return seen;
  }

  beforeAll(async () => {
    primary = await httpUpstream((req, res) => {
      if (req.url === "/healthz") {
        res.statusCode = primaryHealthy ? 200 : 503;
        res.end();
      } else res.end("primary");
    });
    secondary = await httpUpstream((_req, res) => res.end("secondary"));
    [ports.http, ports.admin] = await Promise.all([freePort(), freePort()]);
    const check = { timeout: "0.5s", interval: "0.2s", no_traffic_interval: "0.2s", unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: "/healthz" } };
    const config = {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports.admin } } },
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
                      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                      stat_prefix: "http",
                      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "agg" } }] }] },
                      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": `${HTTP_FILTER_PREFIX}.router.v3.Router` } }],
                    },
                  },
                ],
              },
            ],
          },
        ],
        clusters: [
          // As Envoy's docs write it: before the clusters it names.
          {
            name: "agg",
            connect_timeout: "0.25s",
            lb_policy: "CLUSTER_PROVIDED",
            cluster_type: {
              name: "envoy.clusters.aggregate",
              typed_config: { "@type": "type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig", clusters: ["primary", "secondary"] },
            },
          },
          staticCluster("primary", primary.port, { health_checks: [check] }),
          staticCluster("secondary", secondary.port),
        ],
      },
    };
    proxy = await ProxyProcess.start(runtime, config, 2);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await agent.close();
    await primary?.close();
    await secondary?.close();
  });

  test("the first cluster serves while its host is healthy; the second when it fails its checks; the first again once it recovers", async () => {
    await waitForPrimary("healthy");
    expect(new Set(await bodies(4))).toEqual(new Set(["primary"]));
    primaryHealthy = false;
    await waitForPrimary("/failed_active_hc");
    expect(new Set(await bodies(4))).toEqual(new Set(["secondary"]));
    primaryHealthy = true;
    await waitForPrimary("healthy");
    expect(new Set(await bodies(4))).toEqual(new Set(["primary"]));
    // Response codes are the aggregate's (the router's cluster); requests and connections the
    // serving cluster's (its pools), as Envoy's.
    expect(await stat("cluster.agg.upstream_rq_200")).toBe(12);
    expect(await stat("cluster.primary.upstream_rq_total")).toBe(8);
    expect(await stat("cluster.secondary.upstream_rq_total")).toBe(4);
    expect(await stat("cluster.secondary.upstream_cx_total")).toBeGreaterThanOrEqual(1);
  });

  test("/clusters lists the aggregate (no hosts of its own) and config_dump shows its cluster_type", async () => {
    const clusters = (await get(ports.admin, "/clusters")).body;
    expect(clusters).toContain("agg::observability_name::agg\n");
    expect(clusters).not.toMatch(/^agg::127\.0\.0\.1/m);
    const dump = (await get(ports.admin, "/config_dump?resource=static_clusters")).body;
    expect(dump).toContain('"envoy.clusters.aggregate"');
    expect(dump).toContain('"CLUSTER_PROVIDED"');
  });
});
