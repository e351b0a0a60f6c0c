/**
 * Subset load balancing and endpoint metadata seen from outside, on every runtime, with
 * four node:http upstreams whose endpoints carry `envoy.lb` metadata: a route's
 * metadata_match reaches only its subset, a weighted cluster's metadata_match overrides the
 * route's, a request with no subset falls back to the default_subset, the response says
 * which host served it through %UPSTREAM_METADATA%, the access log line too, the
 * lb_subsets_* stats count it, and omit_canary_hosts keeps retries off canaries.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

/** name, envoy.lb metadata, status it answers with. */
const HOSTS = [
  ["a", { version: "v1", stage: "prod" }, 200],
  ["b", { version: "v1", canary: true }, 503],
  ["c", { version: "v2" }, 200],
  ["d", { version: "v2", canary: true }, 503],
] as const;

function endpoint(port: number, lb: object): object {
  return { endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } }, metadata: { filter_metadata: { "envoy.lb": lb } } };
}

const lbMatch = (lb: object) => ({ filter_metadata: { "envoy.lb": lb } });

function config(listenPort: number, adminPort: number, ports: number[], logPath: string, tcpPort: number): object {
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
                    access_log: [
                      {
                        name: "envoy.access_loggers.file",
                        typed_config: {
                          "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                          path: logPath,
                          log_format: { text_format_source: { inline_string: "%REQ(:PATH)% %UPSTREAM_METADATA(envoy.lb:version)% %METADATA(UPSTREAM_HOST:envoy.lb:stage)%\n" } },
                        },
                      },
                    ],
                    route_config: {
                      response_headers_to_add: [{ header: { key: "x-version", value: "%UPSTREAM_METADATA(envoy.lb:version)%" } }],
                      virtual_hosts: [
                        {
                          name: "all",
                          domains: ["*"],
                          routes: [
                            { match: { prefix: "/v1-prod" }, route: { cluster: "subsets", metadata_match: lbMatch({ version: "v1", stage: "prod" }) } },
                            { match: { prefix: "/v1" }, route: { cluster: "subsets", metadata_match: lbMatch({ version: "v1" }) } },
                            { match: { prefix: "/v9" }, route: { cluster: "subsets", metadata_match: lbMatch({ version: "v9" }) } },
                            {
                              match: { prefix: "/weighted" },
                              route: { metadata_match: lbMatch({ version: "v1" }), weighted_clusters: { clusters: [{ name: "subsets", weight: 1, metadata_match: lbMatch({ version: "v2" }) }] } },
                            },
                            {
                              match: { prefix: "/retry" },
                              route: {
                                cluster: "plain",
                                retry_policy: {
                                  retry_on: "5xx",
                                  num_retries: 1,
                                  host_selection_retry_max_attempts: 5,
                                  retry_host_predicate: [{ name: "envoy.retry_host_predicates.omit_canary_hosts" }],
                                },
                              },
                            },
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
        {
          name: "tcp",
          address: { socket_address: { address: "127.0.0.1", port_value: tcpPort } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.tcp_proxy",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                    stat_prefix: "tcp",
                    metadata_match: lbMatch({ version: "v1" }),
                    weighted_clusters: { clusters: [{ name: "subsets", weight: 1, metadata_match: lbMatch({ stage: "prod" }) }] },
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: "subsets",
          connect_timeout: "2s",
          lb_subset_config: {
            fallback_policy: "DEFAULT_SUBSET",
            default_subset: { version: "v2" },
            subset_selectors: [{ keys: ["version"] }, { keys: ["version", "stage"] }],
          },
          load_assignment: { cluster_name: "subsets", endpoints: [{ lb_endpoints: HOSTS.map(([, lb], i) => endpoint(ports[i]!, lb)) }] },
        },
        {
          name: "plain",
          connect_timeout: "2s",
          // a, b, d, c: round robin would retry b's 503 on d, another canary, without the predicate.
          load_assignment: { cluster_name: "plain", endpoints: [{ lb_endpoints: [0, 1, 3, 2].map((i) => endpoint(ports[i]!, HOSTS[i]![1])) }] },
        },
      ],
    },
  };
}

describe.each(RUNTIMES)("subset load balancing on %s", (runtime) => {
  const upstreams: HttpUpstream[] = [];
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;
  let logPath: string;
  let tcpPort: number;

  beforeAll(async () => {
    for (const [name, , status] of HOSTS) upstreams.push(await httpUpstream((_req, res) => ((res.statusCode = status), res.end(name))));
    port = await freePort();
    adminPort = await freePort();
    logPath = join(inject("tempRoot"), `subset-lb-${runtime}-${port}.log`);
    tcpPort = await freePort();
    proxy = await ProxyProcess.start(runtime, config(port, adminPort, upstreams.map((u) => u.port), logPath, tcpPort));
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    for (const u of upstreams) await u.close();
  });

  async function get(path: string): Promise<{ status: number; body: string; version: string | undefined }> {
    const response = await request(`http://127.0.0.1:${port}${path}`);
    return { status: response.statusCode, body: await response.body.text(), version: response.headers["x-version"] as string | undefined };
  }

  async function bodies(path: string, n = 8): Promise<string[]> {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) seen.add((await get(path)).body);
    return [...seen].sort();
  }

  async function stat(name: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/stats?filter=^cluster\\.subsets\\.${name}$`)).text();
    return Number(/: (\d+)$/m.exec(text)?.[1] ?? NaN);
  }

  test("metadata_match picks the subset; %UPSTREAM_METADATA% names the host's version in a header and the access log", async () => {
    expect(await bodies("/v1")).toEqual(["a", "b"]);
    expect(await bodies("/v1-prod")).toEqual(["a"]);
    const one = await get("/v1-prod");
    expect(one.version).toBe("v1");
    await expect.poll(() => readFileSync(logPath, "utf8"), { timeout: 10_000 }).toMatch(/^\/v1-prod v1 prod$/m);
    // A host without the key: the operator is unset ("-").
    expect(readFileSync(logPath, "utf8")).toMatch(/^\/v1 v1 -$/m);
  });

  test("a weighted cluster's metadata_match overrides the route's; no subset: the default_subset (version v2)", async () => {
    expect(await bodies("/weighted")).toEqual(["c", "d"]);
    const fallbackBefore = await stat("lb_subsets_fallback");
    expect(await bodies("/v9", 6)).toEqual(["c", "d"]);
    expect(await stat("lb_subsets_fallback")).toBe(fallbackBefore + 6);
    // version=v1, version=v2, (stage=prod, version=v1).
    expect(await stat("lb_subsets_active")).toBe(3);
    expect(await stat("lb_subsets_created")).toBe(3);
    expect(await stat("lb_subsets_selected")).toBeGreaterThanOrEqual(8 + 8 + 1 + 8);
  });

  test("tcp_proxy: metadata_match with a weighted cluster's merged over it (version v1, stage prod) reaches only a", async () => {
    for (let i = 0; i < 4; i++) {
      const response = await request(`http://127.0.0.1:${tcpPort}/`, { reset: true });
      expect(await response.body.text()).toBe("a");
    }
  });

  test("omit_canary_hosts: a retry never lands on a canary (envoy.lb canary: true), so every request ends on a or c", async () => {
    for (let i = 0; i < 8; i++) {
      const { status, body } = await get("/retry");
      expect(status).toBe(200);
      expect(["a", "c"]).toContain(body);
    }
  });
});
