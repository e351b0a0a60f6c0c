/**
 * The dynamic forward proxy (HTTP filter + cluster + DNS cache) seen from outside, on every
 * runtime: real upstreams reached by the names in the request's Host — `localhost` and this
 * machine's host name, both resolving to 127.0.0.1 through /etc/hosts — a name that does not
 * resolve (Envoy's 503 "DNS resolution failure"), the per-route host rewrites, a route to
 * another cluster passing through untouched, unused hosts removed after host_ttl, the
 * dns_cache.<name>.* stats at /stats, and upstream TLS whose SNI and certificate check
 * come from the host (the DFP cluster's default auto_sni and auto_san_validation).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { lookup } from "node:dns/promises";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { mintTestCerts, type TestCerts } from "../support/test-certs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const FILTER = "type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig";
const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.PerRouteConfig";
const CLUSTER = "type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig";

const DNS_CACHE = { name: "dfp_cache", dns_lookup_family: "V4_ONLY", dns_refresh_rate: "0.2s", dns_min_refresh_rate: "1s", host_ttl: "1s", dns_query_timeout: "2s" };

let a: HttpUpstream;
let b: HttpUpstream;
let fixed: HttpUpstream;
let certs: TestCerts;
let tlsServer: https.Server;
let tlsPort = 0;
/**
 * This machine's host name when it resolves to 127.0.0.1 (it does where /etc/hosts names
 * it), else undefined: the tests that need a second name for 127.0.0.1 are skipped, and
 * say why in their titles.
 */
const otherName: string | undefined = await (async () => {
  const name = hostname().toLowerCase();
  const resolved = await lookup(name, { family: 4 }).catch(() => undefined);
  return name !== "localhost" && resolved?.address === "127.0.0.1" ? name : undefined;
})();
const needsOtherName = otherName === undefined ? ` (skipped: this machine's host name '${hostname()}' does not resolve to 127.0.0.1)` : "";

beforeAll(async () => {
  a = await httpUpstream((req, res) => res.end(`a saw ${req.headers.host}${req.body.length > 0 ? ` and ${req.body.toString()}` : ""}`));
  b = await httpUpstream((req, res) => res.end(`b saw ${req.headers.host}`));
  fixed = await httpUpstream((req, res) => res.end(`static saw ${req.headers.host}`));
  certs = mintTestCerts();
  // certs.server names localhost (and example.com, 127.0.0.1), not this machine's name.
  tlsServer = https.createServer({ key: certs.read(certs.server.key), cert: certs.read(certs.server.cert) }, (req, res) => {
    res.end(`tls saw ${String((req.socket as TLSSocket).servername)}`);
  });
  await new Promise<void>((r) => tlsServer.listen(0, "127.0.0.1", r));
  tlsPort = (tlsServer.address() as AddressInfo).port;
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await fixed?.close();
  tlsServer?.closeAllConnections();
  tlsServer?.close();
});

describe.each(RUNTIMES)("dynamic forward proxy on %s", (runtime) => {
  let proxy: ProxyProcess;
  let dir = "";
  const ports = { http: 0, admin: 0, sni: 0 };
  const agent = new Agent({ keepAliveTimeout: 10_000 });
  /** The config the proxy started with (the reload test rewrites its file). */
  let startConfig: Record<string, unknown> = {};
  /** The CDS file's content: one dynamic forward proxy cluster on the shared cache, with `dnsCache` as its dns_cache_config. */
  const cdsFile = (version: string, dnsCache: Record<string, unknown>) =>
    JSON.stringify({
      version_info: version,
      resources: [
        {
          "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
          name: "dfp_cds",
          connect_timeout: "1s",
          lb_policy: "CLUSTER_PROVIDED",
          cluster_type: { name: "envoy.clusters.dynamic_forward_proxy", typed_config: { "@type": CLUSTER, dns_cache_config: dnsCache } },
        },
      ],
    });
  /** Write a file as config tooling does: a temp file renamed over it. */
  const replaceFile = (path: string, text: string) => {
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
  };

  async function get(path: string, host: string, headers: Record<string, string> = {}, body?: string): Promise<string> {
    const res = await request(`http://127.0.0.1:${ports.http}${path}`, { dispatcher: agent, headers: { host, ...headers }, ...(body !== undefined ? { method: "POST" as const, body } : {}) });
    return `${res.statusCode} ${await res.body.text()}`;
  }

  async function stat(name: string): Promise<number> {
    const res = await request(`http://127.0.0.1:${ports.admin}/stats?filter=^${name.replace(/\./g, "\\.")}$`, { dispatcher: agent });
    const body = await res.body.text();
    return Number(body.match(/: (\S+)\n?$/)?.[1] ?? "NaN");
  }

  async function waitForStat(name: string, value: number): Promise<number> {
    let seen = NaN;
    for (let i = 0; i < 60; i++) {
      seen = await stat(name);
      if (seen === value) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return seen;
  }

  beforeAll(async () => {
    [ports.http, ports.admin, ports.sni] = await Promise.all([freePort(), freePort(), freePort()]);
    dir = mkdtempSync(join(tmpdir(), "polyvoy-dfp-"));
    const dfpCluster = (name: string, extra: Record<string, unknown> = {}) => ({
      name,
      connect_timeout: "1s",
      lb_policy: "CLUSTER_PROVIDED",
      cluster_type: { name: "envoy.clusters.dynamic_forward_proxy", typed_config: { "@type": CLUSTER, dns_cache_config: DNS_CACHE } },
      // Connections close soon after their last request, so a removed host has nothing left open.
      common_http_protocol_options: { idle_timeout: "0.3s" },
      ...extra,
    });
    const perRoute = (config: Record<string, unknown>) => ({ typed_per_filter_config: { "envoy.filters.http.dynamic_forward_proxy": { "@type": PER_ROUTE, ...config } } });
    writeFileSync(join(dir, "cds.json"), cdsFile("v1", DNS_CACHE));
    const config = {
      dynamic_resources: { cds_config: { path_config_source: { path: join(dir, "cds.json") }, resource_api_version: "V3" } },
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
                      "@type": HCM,
                      stat_prefix: "http",
                      access_log: [
                        {
                          name: "envoy.access_loggers.file",
                          typed_config: {
                            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                            path: join(dir, "access.log"),
                            log_format: { text_format: "%REQ(:AUTHORITY)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n" },
                          },
                        },
                      ],
                      route_config: {
                        virtual_hosts: [
                          {
                            name: "all",
                            domains: ["*"],
                            routes: [
                              { match: { prefix: "/literal" }, route: { cluster: "dfp" }, ...perRoute({ host_rewrite_literal: `localhost:${b.port}` }) },
                              { match: { prefix: "/header" }, route: { cluster: "dfp" }, ...perRoute({ host_rewrite_header: "x-target" }) },
                              { match: { prefix: "/static" }, route: { cluster: "static" } },
                              { match: { prefix: "/tls" }, route: { cluster: "dfp_tls" } },
                              // dfp_cds comes from the CDS file: named by a header, as a static route_config's clusters must exist at load.
                              { match: { prefix: "/cds" }, route: { cluster_header: "x-cluster" } },
                              { match: { prefix: "/" }, route: { cluster: "dfp" } },
                            ],
                          },
                        ],
                      },
                      http_filters: [
                        { name: "envoy.filters.http.dynamic_forward_proxy", typed_config: { "@type": FILTER, dns_cache_config: DNS_CACHE } },
                        { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
                      ],
                    },
                  },
                ],
              },
            ],
          },
          {
            name: "sni",
            address: { socket_address: { address: "127.0.0.1", port_value: ports.sni } },
            listener_filters: [{ name: "envoy.filters.listener.tls_inspector", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" } }],
            filter_chains: [
              {
                filters: [
                  { name: "envoy.filters.network.sni_dynamic_forward_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig", dns_cache_config: DNS_CACHE, port_value: tlsPort } },
                  { name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "sni", cluster: "dfp_sni" } },
                ],
              },
            ],
          },
        ],
        clusters: [
          dfpCluster("dfp_sni"),
          dfpCluster("dfp"),
          dfpCluster("dfp_tls", {
            transport_socket: {
              name: "envoy.transport_sockets.tls",
              typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", common_tls_context: { validation_context: { trusted_ca: { filename: certs.ca } } } },
            },
          }),
          { name: "static", connect_timeout: "1s", load_assignment: { cluster_name: "static", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: fixed.port } } } }] }] } },
        ],
      },
    };
    startConfig = config;
    proxy = await ProxyProcess.start(runtime, config, 2);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await agent.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the Host names the upstream: resolved once, then from the cache", async () => {
    expect(await get("/", `localhost:${a.port}`)).toBe(`200 a saw localhost:${a.port}`);
    expect(await get("/", `localhost:${a.port}`)).toBe(`200 a saw localhost:${a.port}`);
    expect(await get("/", `LOCALHOST:${b.port}`)).toBe(`200 b saw LOCALHOST:${b.port}`);
    expect(await stat("dns_cache.dfp_cache.host_added")).toBe(2);
    expect(await stat("dns_cache.dfp_cache.dns_query_success")).toBeGreaterThanOrEqual(2);
    expect(await stat("dns_cache.dfp_cache.host_address_changed")).toBe(2);
    expect(await stat("cluster.dfp.upstream_rq_total")).toBe(3);
  });

  test.skipIf(otherName === undefined)(`another name of the same address is a host of its own${needsOtherName}`, async () => {
    expect(await get("/", `${otherName}:${b.port}`)).toBe(`200 b saw ${otherName}:${b.port}`);
    expect(await stat("dns_cache.dfp_cache.host_added")).toBe(3);
    expect(await stat("dns_cache.dfp_cache.host_address_changed")).toBe(3);
  });

  test("a name that does not resolve: 503 DNS resolution failure", async () => {
    expect(await get("/", "nowhere.invalid")).toBe("503 DNS resolution failure");
    // Envoy's response flag DF and details dns_resolution_failure{<why>}.
    const logged = () => { try { return readFileSync(join(dir, "access.log"), "utf8").split("\n").filter((l) => l.startsWith("nowhere.invalid ")); } catch { return []; } };
    await expect.poll(logged, { timeout: 10_000 }).toHaveLength(1);
    expect(logged()[0]).toMatch(/^nowhere\.invalid 503 DF dns_resolution_failure\{\w+\}$/);
    expect(await stat("cluster.dfp.upstream_rq_total")).toBe(otherName !== undefined ? 4 : 3);
  });

  test("a request with a body to a new host waits for the answer with its body", async () => {
    expect(await get("/", `127.0.0.1:${a.port}`, {}, "hello")).toBe(`200 a saw 127.0.0.1:${a.port} and hello`);
  });

  test("PerRouteConfig: host_rewrite_literal and host_rewrite_header set the Host looked up and sent", async () => {
    expect(await get("/literal", "ignored.invalid")).toBe(`200 b saw localhost:${b.port}`);
    expect(await get("/header", "ignored.invalid", { "x-target": `localhost:${a.port}` })).toBe(`200 a saw localhost:${a.port}`);
  });

  test("a route to another cluster type passes through untouched: no lookup", async () => {
    const added = await stat("dns_cache.dfp_cache.host_added");
    expect(await get("/static", "static-only.invalid")).toBe("200 static saw static-only.invalid");
    expect(await stat("dns_cache.dfp_cache.host_added")).toBe(added);
  });

  test("hosts unused for host_ttl are removed from the cache and the cluster", async () => {
    expect(await get("/", `localhost:${a.port}`)).toBe(`200 a saw localhost:${a.port}`);
    expect(await waitForStat("dns_cache.dfp_cache.num_hosts", 0)).toBe(0);
    expect(await stat("dns_cache.dfp_cache.host_removed")).toBeGreaterThanOrEqual(otherName !== undefined ? 3 : 2);
    expect(await waitForStat("cluster.dfp.membership_total", 0)).toBe(0);
    // Asked again, the name is resolved again.
    expect(await get("/", `localhost:${a.port}`)).toBe(`200 a saw localhost:${a.port}`);
  });

  test("upstream TLS: the host is the SNI", async () => {
    expect(await get("/tls", `localhost:${tlsPort}`)).toBe("200 tls saw localhost");
  });

  test.skipIf(otherName === undefined)(`upstream TLS: a host the certificate does not name is refused (auto_san_validation)${needsOtherName}`, async () => {
    expect(await get("/tls", `${otherName}:${tlsPort}`)).toMatch(/^503 upstream connect error/);
    expect(await stat("cluster.dfp_tls.ssl.fail_verify_san")).toBeGreaterThanOrEqual(1);
  });

  test("auto_sni: the SNI is the host lower-cased, so case variants of one name share one pool and connection", async () => {
    const before = await stat("cluster.dfp_tls.upstream_cx_total");
    for (let i = 0; i < 16; i++) {
      const variant = [..."localhost"].map((c, j) => ((i >> j) & 1 ? c.toUpperCase() : c)).join("");
      expect(await get("/tls", `${variant}:${tlsPort}`)).toBe("200 tls saw localhost");
    }
    expect((await stat("cluster.dfp_tls.upstream_cx_total")) - before).toBeLessThanOrEqual(1);
  });

  test("envoy.filters.network.sni_dynamic_forward_proxy: the SNI names the upstream on port_value, the TLS passed through", async () => {
    const viaSni = (servername: string) =>
      new Promise<string>((resolve) => {
        const req = https.request({ host: "127.0.0.1", port: ports.sni, servername, path: "/", ca: certs.read(certs.ca), agent: false }, (res) => {
          let body = "";
          res.on("data", (d: Buffer) => (body += d.toString()));
          res.on("end", () => resolve(`${res.statusCode} ${body}`));
        });
        req.on("error", (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
        req.end();
      });
    expect(await viaSni("localhost")).toBe("200 tls saw localhost");
    expect(await stat("cluster.dfp_sni.upstream_cx_total")).toBe(1);
    // A name that does not resolve: tcp_proxy finds no host and closes the connection.
    expect(await viaSni("nowhere.invalid")).toMatch(/^error /);
    expect(await stat("cluster.dfp_sni.upstream_cx_none_healthy")).toBe(1);
  });

  test("a CDS update giving the cache other settings is refused (Envoy's message); the running cluster serves on", async () => {
    expect(await get("/cds", `localhost:${a.port}`, { "x-cluster": "dfp_cds" })).toBe(`200 a saw localhost:${a.port}`);
    const rejected = await stat("cluster_manager.cds.update_rejected");
    replaceFile(join(dir, "cds.json"), cdsFile("v2", { ...DNS_CACHE, max_hosts: 7 }));
    expect(await waitForStat("cluster_manager.cds.update_rejected", rejected + 1)).toBe(rejected + 1);
    expect(proxy.stderr).toMatch(/config specified DNS cache 'dfp_cache' with different settings/);
    expect(await get("/cds", `localhost:${a.port}`, { "x-cluster": "dfp_cds" })).toBe(`200 a saw localhost:${a.port}`);
    expect(proxy.child.exitCode).toBeNull();
  });

  test("a SIGHUP reload giving the cache other settings is refused; the running config serves on", async () => {
    const changed = JSON.parse(JSON.stringify(startConfig).replaceAll('"host_ttl":"1s"', '"host_ttl":"9s"')) as Record<string, unknown>;
    expect(JSON.stringify(changed)).toContain('"host_ttl":"9s"');
    const before = proxy.stderr.length;
    replaceFile(proxy.configPath, JSON.stringify(changed));
    proxy.child.kill("SIGHUP");
    await proxy.waitForLog(/config reload(?: refused|: \d+ resource\(s\) not applied)/);
    expect(proxy.stderr.slice(before)).toMatch(/config specified DNS cache 'dfp_cache' with different settings/);
    expect(await get("/", `localhost:${a.port}`)).toBe(`200 a saw localhost:${a.port}`);
    expect(proxy.child.exitCode).toBeNull();
  });
});

describe.each(RUNTIMES)("dynamic forward proxy: preresolve_hostnames on %s", (runtime) => {
  let proxy: ProxyProcess;
  const ports = { http: 0, admin: 0 };
  const agent = new Agent({ keepAliveTimeout: 10_000 });
  const PRE_CACHE = { name: "pre_cache", dns_lookup_family: "V4_ONLY", preresolve_hostnames: [{ address: "localhost", port_value: 0 }] };

  async function stat(name: string): Promise<number> {
    const res = await request(`http://127.0.0.1:${ports.admin}/stats?filter=^${name.replace(/\./g, "\\.")}$`, { dispatcher: agent });
    return Number((await res.body.text()).match(/: (\S+)\n?$/)?.[1] ?? "NaN");
  }

  beforeAll(async () => {
    [ports.http, ports.admin] = await Promise.all([freePort(), freePort()]);
    PRE_CACHE.preresolve_hostnames[0]!.port_value = a.port;
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
                      "@type": HCM,
                      stat_prefix: "http",
                      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "pre" } }] }] },
                      http_filters: [
                        { name: "envoy.filters.http.dynamic_forward_proxy", typed_config: { "@type": FILTER, dns_cache_config: PRE_CACHE } },
                        { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
                      ],
                    },
                  },
                ],
              },
            ],
          },
        ],
        clusters: [{ name: "pre", connect_timeout: "1s", lb_policy: "CLUSTER_PROVIDED", cluster_type: { name: "envoy.clusters.dynamic_forward_proxy", typed_config: { "@type": CLUSTER, dns_cache_config: PRE_CACHE } } }],
      },
    };
    proxy = await ProxyProcess.start(runtime, config, 1);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await agent.close();
  });

  test("a preresolved host is in the cache and the cluster before any request; its first request asks the resolver nothing", async () => {
    expect(await stat("dns_cache.pre_cache.host_added")).toBe(1);
    let members = 0;
    for (let i = 0; i < 50 && members !== 1; i++) {
      members = await stat("cluster.pre.membership_total");
      if (members !== 1) await new Promise((r) => setTimeout(r, 100));
    }
    expect(members).toBe(1);
    const attempts = await stat("dns_cache.pre_cache.dns_query_attempt");
    const res = await request(`http://127.0.0.1:${ports.http}/`, { dispatcher: agent, headers: { host: `localhost:${a.port}` } });
    expect(`${res.statusCode} ${await res.body.text()}`).toBe(`200 a saw localhost:${a.port}`);
    expect(await stat("dns_cache.pre_cache.host_added")).toBe(1);
    expect(await stat("dns_cache.pre_cache.dns_query_attempt")).toBe(attempts);
  });
});
