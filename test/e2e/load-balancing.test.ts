/**
 * Load balancing seen from outside, on every runtime, with three node:http upstreams:
 * the route's hash_policy keeps a user on one upstream (ring hash by header, Maglev by a
 * cookie the proxy sets), priority 0 endpoints marked unhealthy fail over to priority 1,
 * load_balancing_weight splits round robin traffic, and /clusters shows it all.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const NAMES = ["a", "b", "c"] as const;

function endpoint(port: number, extra: Record<string, unknown> = {}): object {
  return { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } }, ...extra };
}

function config(listenPort: number, adminPort: number, ports: number[]): object {
  const all = [{ lb_endpoints: ports.map((p) => endpoint(p)) }];
  const cluster = (name: string, fields: object, endpoints: object[] = all) => ({
    name,
    connect_timeout: "1s",
    ...fields,
    load_assignment: { cluster_name: name, endpoints },
  });
  return {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
    static_resources: {
      listeners: [
        {
          name: "http",
          address: { socket_address: { address: "127.0.0.1", port_value: listenPort } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    stat_prefix: "in",
                    route_config: {
                      virtual_hosts: [
                        {
                          name: "all",
                          domains: ["*"],
                          routes: [
                            { match: { prefix: "/ring" }, route: { cluster: "ring", hash_policy: [{ header: { header_name: "x-user" } }] } },
                            { match: { prefix: "/maglev" }, route: { cluster: "maglev", hash_policy: [{ cookie: { name: "sticky", ttl: "60s", path: "/" } }] } },
                            { match: { prefix: "/failover" }, route: { cluster: "failover" } },
                            { match: { prefix: "/weighted" }, route: { cluster: "weighted" } },
                            { match: { prefix: "/draining" }, route: { cluster: "draining" } },
                          ],
                        },
                      ],
                    },
                    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        cluster("ring", { lb_policy: "RING_HASH" }),
        cluster("maglev", {
          load_balancing_policy: { policies: [{ typed_extension_config: { name: "m", typed_config: { "@type": "type.googleapis.com/envoy.extensions.load_balancing_policies.maglev.v3.Maglev" } } }] },
        }),
        cluster("failover", {}, [
          { priority: 0, lb_endpoints: [endpoint(ports[0]!, { health_status: "UNHEALTHY" }), endpoint(ports[1]!, { health_status: "DRAINING" })] },
          { priority: 1, locality: { region: "backup", zone: "z1" }, lb_endpoints: [endpoint(ports[2]!)] },
        ]),
        cluster("weighted", {}, [{ lb_endpoints: [endpoint(ports[0]!, { load_balancing_weight: 1 }), endpoint(ports[1]!, { load_balancing_weight: 3 })] }]),
        cluster("draining", {}, [{ lb_endpoints: [endpoint(ports[0]!), endpoint(ports[1]!, { health_status: "DRAINING" }), endpoint(ports[2]!, { health_status: "DRAINING" })] }]),
      ],
    },
  };
}

describe.each(RUNTIMES)("load balancing on %s", (runtime) => {
  const upstreams: HttpUpstream[] = [];
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;

  beforeAll(async () => {
    for (const name of NAMES) upstreams.push(await httpUpstream((_req, res) => res.end(name)));
    port = await freePort();
    adminPort = await freePort();
    proxy = await ProxyProcess.start(runtime, config(port, adminPort, upstreams.map((u) => u.port)), 2);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    for (const u of upstreams) await u.close();
  });

  async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; setCookie: string | string[] | undefined }> {
    const response = await request(`http://127.0.0.1:${port}${path}`, { headers });
    return { status: response.statusCode, body: await response.body.text(), setCookie: response.headers["set-cookie"] };
  }

  test("RING_HASH with a header hash_policy: the same x-user always reaches the same upstream", async () => {
    const chosen = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      for (let user = 0; user < 12; user++) {
        const { status, body } = await get(`/ring/${round}`, { "x-user": `user-${user}` });
        expect(status).toBe(200);
        if (round === 0) chosen.set(`user-${user}`, body);
        else expect(body, `user-${user}`).toBe(chosen.get(`user-${user}`));
      }
    }
    // Twelve users do not all land on one upstream.
    expect(new Set(chosen.values()).size).toBeGreaterThan(1);
  });

  test("MAGLEV (load_balancing_policy) with a cookie hash_policy: the proxy sets the cookie, and it sticks", async () => {
    const first = await get("/maglev");
    expect(first.status).toBe(200);
    const setCookie = String(first.setCookie);
    expect(setCookie).toMatch(/^sticky="[0-9a-f]{16}"; Max-Age=60; Path=\/; HttpOnly$/);
    const cookie = setCookie.split(";")[0]!;
    for (let i = 0; i < 5; i++) {
      const again = await get("/maglev", { cookie });
      expect(again.body).toBe(first.body);
      expect(again.setCookie).toBeUndefined();
    }
  });

  test("priority 0 endpoints marked UNHEALTHY/DRAINING: every request fails over to priority 1", async () => {
    for (let i = 0; i < 6; i++) expect((await get("/failover")).body).toBe("c");
  });

  test("DRAINING endpoints are excluded: one healthy host of three is not panic, it takes every request", async () => {
    for (let i = 0; i < 9; i++) expect((await get("/draining")).body).toBe("a");
  });

  test("load_balancing_weight 1:3 under ROUND_ROBIN", async () => {
    const counts = { a: 0, b: 0 } as Record<string, number>;
    for (let i = 0; i < 40; i++) counts[(await get("/weighted")).body]!++;
    // The EDF schedule is exact within one pick.
    expect(Math.abs(counts.a! - 10)).toBeLessThanOrEqual(1);
    expect(Math.abs(counts.b! - 30)).toBeLessThanOrEqual(1);
  });

  test("/clusters shows weights, health flags, locality and priority", async () => {
    const text = await (await request(`http://127.0.0.1:${adminPort}/clusters`)).body.text();
    const [a, b, c] = upstreams.map((u) => `127.0.0.1:${u.port}`);
    expect(text).toContain(`weighted::${b}::weight::3\n`);
    expect(text).toContain(`failover::${a}::health_flags::/failed_eds_health\n`);
    expect(text).toContain(`failover::${b}::health_flags::/eds_status_draining\n`);
    expect(text).toContain(`failover::${c}::priority::1\n`);
    expect(text).toContain(`failover::${c}::region::backup\n`);
    expect(text).toContain(`failover::${c}::zone::z1\n`);
  });
});
