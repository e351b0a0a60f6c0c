/**
 * The admin interface on `admin.address`, on every runtime: a proxy with an HTTP route
 * and a tcp_proxy to real upstreams takes traffic, and the admin endpoints must show
 * it in Envoy's formats (text, JSON, Prometheus with Envoy's tag extraction, /clusters
 * lines), report and change the server's state (ready, health checks, log level,
 * counters, drain) and shut it down (/quitquitquit exits 0). Mutating endpoints refuse
 * GET with 405, as Envoy's do.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as net from "node:net";
import { Agent, request } from "undici";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const REQUESTS = 100;

/** The HTTP front proxy of the other tests, plus admin.address and a tcp_proxy listener. */
function adminConfig(ports: { http: number; tcp: number; admin: number; upstream: number }): Record<string, unknown> {
  const config = httpProxyConfig({
    listenPort: ports.http,
    clusters: { backend: [ports.upstream], tcp_backend: [ports.upstream] },
    routes: [{ match: { prefix: "/" }, cluster: "backend" }],
  }) as { static_resources: { listeners: unknown[]; clusters: Record<string, unknown>[] } };
  // HIGH thresholds: no route is high priority, but /clusters shows them as configured.
  config.static_resources.clusters[1]!.circuit_breakers = { thresholds: [{ priority: "HIGH", max_connections: 7, max_retries: 9 }] };
  config.static_resources.listeners.push({
    name: "tcp",
    address: { socket_address: { address: "127.0.0.1", port_value: ports.tcp } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.tcp_proxy",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
              stat_prefix: "tcp_in",
              cluster: "tcp_backend",
            },
          },
        ],
      },
    ],
  });
  return { admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports.admin } } }, ...config };
}

interface AdminAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** `/stats` text as a map: `name: value` lines (histograms keep their quantile summary). */
function parseStatsText(body: string): Map<string, string> {
  const stats = new Map<string, string>();
  for (const line of body.split("\n")) {
    if (line === "") continue;
    const at = line.indexOf(": ");
    expect(at, `a "name: value" line: ${line}`).toBeGreaterThan(0);
    stats.set(line.slice(0, at), line.slice(at + 2));
  }
  return stats;
}

/**
 * Whether the port refuses connections, allowing the runtime up to a second to close its
 * listening socket (Deno closes it once its pending accept is cancelled, a moment later).
 */
async function closedSoon(port: number): Promise<boolean> {
  const deadline = Date.now() + 1000;
  for (;;) {
    if (await refused(port)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether a TCP connection to the port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED"));
  });
}

describe.each(RUNTIMES)("admin interface on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  const ports = { http: 0, tcp: 0, admin: 0, upstream: 0 };
  const agent = new Agent({ keepAliveTimeout: 10_000, pipelining: 1 });
  const adminAgent = new Agent({ keepAliveTimeout: 10_000, pipelining: 1 });

  async function admin(path: string, method: "GET" | "POST" = "GET"): Promise<AdminAnswer> {
    const res = await request(`http://127.0.0.1:${ports.admin}${path}`, { method, dispatcher: adminAgent });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  }

  async function stats(query = ""): Promise<Map<string, string>> {
    const res = await admin(`/stats${query}`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("text/plain; charset=UTF-8");
    return parseStatsText(res.body);
  }

  beforeAll(async () => {
    upstream = await httpUpstream();
    ports.upstream = upstream.port;
    [ports.http, ports.tcp, ports.admin] = await Promise.all([freePort(), freePort(), freePort()]);
    // Three listeners report "listening on": the admin's, the HTTP one and the TCP one.
    // %n: the admin's lines are the admin component's (Envoy's admin.cc logs as admin).
    proxy = await ProxyProcess.start(runtime, adminConfig(ports), 3, ["--log-format", "[%l][%n] %v"]);
    for (let i = 0; i < REQUESTS; i++) {
      const res = await request(`http://127.0.0.1:${ports.http}/r/${i}`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    }
    // One request through the tcp_proxy (its own connection, its own cluster).
    const viaTcp = await request(`http://127.0.0.1:${ports.tcp}/tcp`, { reset: true });
    expect(viaTcp.statusCode).toBe(200);
    await viaTcp.body.text();
  });

  afterAll(async () => {
    await agent.close();
    await adminAgent.close();
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  test("/stats: counters and gauges as 'name: value' lines, sorted, then histograms with Envoy's quantiles", async () => {
    const res = await admin("/stats");
    const s = parseStatsText(res.body);
    expect(s.get("cluster.backend.upstream_rq_200")).toBe(String(REQUESTS));
    expect(s.get("cluster.backend.upstream_rq_2xx")).toBe(String(REQUESTS));
    expect(s.get("cluster.backend.upstream_rq_total")).toBe(String(REQUESTS));
    expect(s.get("cluster.backend.upstream_rq_5xx")).toBe("0");
    // Keep-alive: the 100 requests came on one client connection and reused upstream connections.
    const upstreamConnections = Number(s.get("cluster.backend.upstream_cx_total"));
    expect(upstreamConnections).toBeGreaterThanOrEqual(1);
    expect(upstreamConnections).toBeLessThanOrEqual(3);
    expect(s.get("http.ingress_http.downstream_rq_2xx")).toBe(String(REQUESTS));
    expect(s.get("http.ingress_http.downstream_rq_total")).toBe(String(REQUESTS));
    // The client's keep-alive connection(s): undici may open a second one.
    const downstreamConnections = Number(s.get(`listener.127.0.0.1_${ports.http}.downstream_cx_total`));
    expect(downstreamConnections).toBeGreaterThanOrEqual(1);
    expect(downstreamConnections).toBeLessThanOrEqual(3);
    expect(s.get("tcp.tcp_in.downstream_cx_total")).toBe("1");
    expect(s.get("cluster.tcp_backend.upstream_cx_total")).toBe("1");
    // The admin's own connection manager and listener count under http.admin / listener.admin.
    expect(Number(s.get("http.admin.downstream_rq_total"))).toBeGreaterThanOrEqual(1);
    expect(Number(s.get("listener.admin.downstream_cx_total"))).toBeGreaterThanOrEqual(1);
    // The router's stats (Envoy's ALL_ROUTER_STATS) are the proxy's, whose chain has a router;
    // the admin's connection manager has none, so none of them (Envoy's admin has no no_route).
    expect(s.get("http.ingress_http.rq_total")).toBe(String(REQUESTS));
    expect(s.get("http.ingress_http.no_route")).toBe("0");
    expect(s.get("http.ingress_http.rq_direct_response")).toBe("0");
    expect(s.get("http.admin.no_route")).toBeUndefined();
    expect(s.get("http.admin.rq_total")).toBeUndefined();
    // server.* gauges, current when read.
    expect(s.get("server.live")).toBe("1");
    expect(s.get("server.state")).toBe("0");
    expect(s.get("server.concurrency")).toBe("1");
    expect(Number(s.get("server.uptime"))).toBeGreaterThanOrEqual(0);
    expect(Number(s.get("server.memory_allocated"))).toBeGreaterThan(1024 * 1024);
    expect(Number(s.get("server.total_connections"))).toBeGreaterThanOrEqual(1); // the agent's keep-alive connection

    // Histograms: P0(interval,cumulative) … P100(…), after the counters and gauges.
    const quantile = String.raw`(nan|[0-9.e+-]+)`;
    const summary = new RegExp(
      `^${["0", "25", "50", "75", "90", "95", "99", "99.5", "99.9", "100"].map((p) => `P${p.replace(".", "\\.")}\\(${quantile},${quantile}\\)`).join(" ")}$`,
    );
    const rqTime = s.get("cluster.backend.upstream_rq_time")!;
    expect(rqTime).toMatch(summary);
    const cumulative = [...rqTime.matchAll(/\(([^,]+),([^)]+)\)/g)].map((m) => Number(m[2]));
    expect(cumulative.every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
    expect([...cumulative].sort((a, b) => a - b)).toEqual(cumulative);
    expect(s.get("http.ingress_http.downstream_rq_time")).toMatch(summary);

    const names = res.body.trim().split("\n").map((line) => line.slice(0, line.indexOf(": ")));
    const firstHistogram = names.findIndex((name) => summary.test(s.get(name)!) || s.get(name) === "No recorded values");
    const plain = names.slice(0, firstHistogram);
    expect(plain).toEqual([...plain].sort());
    expect(names.slice(firstHistogram).every((name) => /^P0\(|^No recorded values$/.test(s.get(name)!))).toBe(true);
  });

  test("/stats?filter=<regex> and ?usedonly", async () => {
    const filtered = await stats(`?filter=${encodeURIComponent(String.raw`^cluster\.backend\.upstream_rq_[0-9]`)}`);
    expect([...filtered.keys()].sort()).toEqual([
      "cluster.backend.upstream_rq_1xx",
      "cluster.backend.upstream_rq_200",
      "cluster.backend.upstream_rq_2xx",
      "cluster.backend.upstream_rq_3xx",
      "cluster.backend.upstream_rq_4xx",
      "cluster.backend.upstream_rq_5xx",
    ]);
    const used = await stats(`?usedonly&filter=${encodeURIComponent(String.raw`^cluster\.backend\.upstream_rq_[0-9]`)}`);
    expect([...used.keys()].sort()).toEqual(["cluster.backend.upstream_rq_200", "cluster.backend.upstream_rq_2xx"]);
    const all = await stats();
    const usedOnly = await stats("?usedonly");
    expect(all.has("cluster.backend.upstream_cx_connect_fail")).toBe(true);
    expect(usedOnly.has("cluster.backend.upstream_cx_connect_fail")).toBe(false);
    expect(usedOnly.has("cluster.backend.upstream_rq_time")).toBe(true);
    expect(usedOnly.size).toBeLessThan(all.size);

    const bad = await admin(`/stats?filter=${encodeURIComponent("(unclosed")}`);
    expect(bad.status).toBe(400);
    expect(bad.body).toBe("Invalid re2 regex");
    // RE2, as Envoy's: a lookahead JavaScript would take is refused
    expect((await admin(`/stats?filter=${encodeURIComponent("cluster(?=\\.)")}`)).status).toBe(400);
  });

  test("/stats?type=Counters|Gauges|Histograms|TextReadouts|All, and Envoy's 400s for a bad type, histogram_buckets or format", async () => {
    const histogram = /^P0\(|^No recorded values$/;
    const histograms = await stats("?type=Histograms");
    expect(histograms.size).toBeGreaterThan(0);
    expect([...histograms.values()].every((v) => histogram.test(v))).toBe(true);
    expect(histograms.has("cluster.backend.upstream_rq_time")).toBe(true);
    const counters = await stats("?type=Counters");
    expect(counters.has("cluster.backend.upstream_rq_200")).toBe(true);
    expect(counters.has("server.live")).toBe(false);
    expect(counters.has("cluster.backend.upstream_rq_time")).toBe(false);
    const gauges = await stats(`?type=Gauges&filter=${encodeURIComponent(String.raw`^server\.`)}`);
    expect(gauges.get("server.live")).toBe("1");
    expect([...gauges.keys()].every((n) => n.startsWith("server."))).toBe(true);
    expect((await stats("?type=TextReadouts")).size).toBe(0);
    expect((await stats("?type=All")).size).toBe((await stats()).size);
    const json = JSON.parse((await admin("/stats?format=json&type=Counters")).body) as { stats: { name?: string; histograms?: unknown }[] };
    expect(json.stats.some((e) => e.histograms !== undefined || e.name === "server.live")).toBe(false);
    expect(await admin("/stats?type=counters")).toMatchObject({ status: 400, body: "invalid &type= param" });
    expect(await admin("/stats?histogram_buckets=bogus")).toMatchObject({ status: 400, body: "usage: /stats?histogram_buckets=(cumulative|disjoint|none)\n" });
    expect((await admin("/stats?histogram_buckets=cumulative")).status).toBe(400);
    expect((await admin("/stats?histogram_buckets=none")).status).toBe(200);
    // Prometheus output always lists cumulative buckets: a scrape config copied from Envoy may ask for them.
    const prometheus = await admin("/stats/prometheus?histogram_buckets=cumulative");
    expect(prometheus.status).toBe(200);
    expect(prometheus.body).toMatch(/_bucket\{/);
    expect(await admin("/stats?format=xml")).toMatchObject({ status: 400, body: "usage: /stats?format=(html|active-html|json|prometheus|text)\n\n" });
  });

  test("/stats?format=json: {stats: [{name, value}…, {histograms: {supported_quantiles, computed_quantiles}}]}", async () => {
    const res = await admin("/stats?format=json");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json");
    const parsed = JSON.parse(res.body) as {
      stats: ({ name: string; value: number } | { histograms: { supported_quantiles: number[]; computed_quantiles: { name: string; values: { interval: number | null; cumulative: number | null }[] }[] } })[];
    };
    const values = new Map<string, number>();
    let histograms: { supported_quantiles: number[]; computed_quantiles: { name: string; values: { interval: number | null; cumulative: number | null }[] }[] } | undefined;
    for (const entry of parsed.stats) {
      if ("histograms" in entry) histograms = entry.histograms;
      else values.set(entry.name, entry.value);
    }
    expect(values.get("cluster.backend.upstream_rq_200")).toBe(REQUESTS);
    expect(values.get("http.ingress_http.downstream_rq_2xx")).toBe(REQUESTS);
    expect(values.get("server.live")).toBe(1);
    expect(histograms!.supported_quantiles).toEqual([0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]);
    const rqTime = histograms!.computed_quantiles.find((h) => h.name === "cluster.backend.upstream_rq_time")!;
    expect(rqTime.values).toHaveLength(10);
    const cumulative = rqTime.values.map((v) => v.cumulative);
    expect(cumulative.every((v) => typeof v === "number" && v >= 0)).toBe(true);
    expect(parsed.stats.at(-1)).toHaveProperty("histograms");
  });

  test("/stats/prometheus: valid exposition text with Envoy's tag extraction", async () => {
    const res = await admin("/stats/prometheus");
    expect(res.status).toBe(200);
    const families = parsePrometheusTextFormat(res.body);
    const byName = new Map(families.map((f) => [f.name, f]));
    // One family per metric name: every series of a metric sits under its one # TYPE line.
    expect(byName.size).toBe(families.length);
    expect(res.body.match(/^# TYPE /gm)!.length).toBe(families.length);
    for (const family of families) {
      expect(family.name).toMatch(/^envoy_[a-zA-Z0-9_]+$/);
      expect(["COUNTER", "GAUGE", "HISTOGRAM"]).toContain(family.type);
    }
    const series = (name: string, labels: Record<string, string>) =>
      byName.get(name)?.metrics.find((m) => JSON.stringify(m.labels ?? {}) === JSON.stringify(labels))?.value;

    expect(byName.get("envoy_cluster_upstream_rq")?.type).toBe("COUNTER");
    expect(series("envoy_cluster_upstream_rq", { envoy_response_code: "200", envoy_cluster_name: "backend" })).toBe(String(REQUESTS));
    expect(series("envoy_cluster_upstream_rq_xx", { envoy_response_code_class: "2", envoy_cluster_name: "backend" })).toBe(String(REQUESTS));
    expect(series("envoy_cluster_upstream_rq_xx", { envoy_response_code_class: "5", envoy_cluster_name: "backend" })).toBe("0");
    expect(series("envoy_cluster_upstream_rq_total", { envoy_cluster_name: "backend" })).toBe(String(REQUESTS));
    expect(series("envoy_http_downstream_rq_xx", { envoy_response_code_class: "2", envoy_http_conn_manager_prefix: "ingress_http" })).toBe(
      String(REQUESTS),
    );
    const text = await stats();
    expect(series("envoy_listener_downstream_cx_total", { envoy_listener_address: `127.0.0.1_${ports.http}` })).toBe(
      text.get(`listener.127.0.0.1_${ports.http}.downstream_cx_total`),
    );
    expect(series("envoy_listener_downstream_cx_active", { envoy_listener_address: `127.0.0.1_${ports.tcp}` })).toBe("0");
    expect(series("envoy_tcp_downstream_cx_total", { envoy_tcp_prefix: "tcp_in" })).toBe("1");
    expect(byName.get("envoy_cluster_membership_total")?.type).toBe("GAUGE");
    expect(series("envoy_cluster_membership_total", { envoy_cluster_name: "backend" })).toBe("1");
    expect(series("envoy_server_live", {})).toBe("1");
    expect(res.body).toContain("\nenvoy_server_live{} 1\n");

    // Histograms: _bucket{…,le=…} cumulative over Envoy's default bounds, then _sum and _count.
    expect(byName.get("envoy_cluster_upstream_rq_time")?.type).toBe("HISTOGRAM");
    const bucketLines = [...res.body.matchAll(/^envoy_cluster_upstream_rq_time_bucket\{envoy_cluster_name="backend",le="([^"]+)"\} (\d+)$/gm)];
    expect(bucketLines.map((m) => m[1])).toEqual([
      ...["0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "30000", "60000"],
      ...["300000", "600000", "1800000", "3600000", "+Inf"],
    ]);
    const counts = bucketLines.map((m) => Number(m[2]));
    expect([...counts].sort((a, b) => a - b)).toEqual(counts);
    expect(counts.at(-1)).toBe(REQUESTS);
    expect(res.body).toMatch(new RegExp(`^envoy_cluster_upstream_rq_time_count\\{envoy_cluster_name="backend"\\} ${REQUESTS}$`, "m"));
    expect(res.body).toMatch(/^envoy_cluster_upstream_rq_time_sum\{envoy_cluster_name="backend"\} [0-9.e+]+$/m);

    // ?filter applies here too; /stats?format=prometheus is the same output.
    const filtered = await admin(`/stats/prometheus?filter=${encodeURIComponent("upstream_rq_2")}`);
    expect(parsePrometheusTextFormat(filtered.body).map((f) => f.name)).toEqual([
      // The router's external. category (no x-envoy-internal) as well, as Envoy's CodeStatsImpl.
      "envoy_cluster_external_upstream_rq",
      "envoy_cluster_external_upstream_rq_xx",
      "envoy_cluster_upstream_rq",
      "envoy_cluster_upstream_rq_xx",
    ]);
    expect((await admin(`/stats?format=prometheus&filter=${encodeURIComponent("upstream_rq_2")}`)).body).toBe(filtered.body);
  });

  test("/clusters: Envoy's cluster::host::stat::value lines with per-host counters and health", async () => {
    const res = await admin("/clusters");
    expect(res.status).toBe(200);
    const lines = new Set(res.body.trim().split("\n"));
    const host = `backend::127.0.0.1:${ports.upstream}`;
    for (const line of [
      "backend::observability_name::backend",
      "backend::default_priority::max_connections::1024",
      "backend::default_priority::max_pending_requests::1024",
      "backend::default_priority::max_requests::1024",
      "backend::default_priority::max_retries::3",
      "backend::high_priority::max_connections::1024",
      "backend::added_via_api::false",
      "tcp_backend::default_priority::max_connections::1024",
      "tcp_backend::high_priority::max_connections::7",
      "tcp_backend::high_priority::max_pending_requests::1024",
      "tcp_backend::high_priority::max_retries::9",
      `${host}::rq_total::${REQUESTS}`,
      `${host}::rq_success::${REQUESTS}`,
      `${host}::rq_error::0`,
      `${host}::rq_active::0`,
      `${host}::health_flags::healthy`,
      `${host}::weight::1`,
      `${host}::cx_connect_fail::0`,
      `tcp_backend::127.0.0.1:${ports.upstream}::cx_total::1`,
    ]) {
      expect(lines, line).toContain(line);
    }
    const cxTotal = Number([...lines].find((l) => l.startsWith(`${host}::cx_total::`))!.split("::").at(-1));
    expect(cxTotal).toBeGreaterThanOrEqual(1);
    expect(cxTotal).toBeLessThanOrEqual(3);

    const asJson = JSON.parse((await admin("/clusters?format=json")).body) as {
      cluster_statuses: { name: string; host_statuses: { address: { socket_address: { port_value: number } }; stats: { name: string; value?: string }[] }[] }[];
    };
    const backend = asJson.cluster_statuses.find((c) => c.name === "backend")!;
    expect(backend.host_statuses[0]!.address.socket_address.port_value).toBe(ports.upstream);
    expect(backend.host_statuses[0]!.stats.find((s) => s.name === "rq_total")?.value).toBe(String(REQUESTS));
  });

  test("/config_dump: the running config in Envoy's ConfigDump shape", async () => {
    const res = await admin("/config_dump");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json");
    const dump = JSON.parse(res.body) as { configs: Record<string, unknown>[] };
    const types = dump.configs.map((c) => c["@type"]);
    expect(types).toEqual([
      "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
      "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
      "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
      "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
      // Always there, as Envoy's (empty: this config has no secrets).
      "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
    ]);
    expect(dump.configs[4]).toEqual({ "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump" });
    const bootstrap = dump.configs[0]!.bootstrap as { admin: { address: { socket_address: { port_value: number } } } };
    expect(bootstrap.admin.address.socket_address.port_value).toBe(ports.admin);
    const clusters = (dump.configs[1]!.static_clusters as { cluster: { name: string } }[]).map((c) => c.cluster.name);
    expect(clusters).toEqual(["backend", "tcp_backend"]);
    const listeners = dump.configs[2]!.static_listeners as { listener: { "@type": string; name: string; address: { socket_address: { port_value: number } } } }[];
    expect(listeners.map((l) => [l.listener.name, l.listener.address.socket_address.port_value])).toEqual([
      ["http", ports.http],
      ["tcp", ports.tcp],
    ]);
    expect(listeners[0]!.listener["@type"]).toBe("type.googleapis.com/envoy.config.listener.v3.Listener");
    const routes = dump.configs[3]!.static_route_configs as { route_config: { name: string } }[];
    expect(routes.map((r) => r.route_config.name)).toEqual(["local_route"]);

    const only = JSON.parse((await admin("/config_dump?resource=static_clusters")).body) as { configs: { "@type": string; cluster: { name: string } }[] };
    expect(only.configs.map((c) => [c["@type"], c.cluster.name])).toEqual([
      ["type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster", "backend"],
      ["type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster", "tcp_backend"],
    ]);
  });

  test("/config_dump?mask=: Envoy's FieldMask, on each resource with ?resource=, else on each config", async () => {
    const masked = JSON.parse((await admin("/config_dump?resource=static_clusters&mask=cluster.name")).body) as unknown;
    expect(masked).toEqual({
      configs: ["backend", "tcp_backend"].map((name) => ({
        "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster",
        cluster: { "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", name },
      })),
    });
    const top = JSON.parse((await admin("/config_dump?mask=static_route_configs")).body) as { configs: Record<string, unknown>[] };
    expect(top.configs.map((c) => Object.keys(c))).toEqual([["@type"], ["@type"], ["@type"], ["@type", "static_route_configs"], ["@type"]]);
  });

  test("/config_dump?name_regex=: the resources whose name fully matches (RE2), the bootstrap whole; 400 for a bad regex", async () => {
    const dump = JSON.parse((await admin("/config_dump?name_regex=.*back.*")).body) as { configs: Record<string, unknown>[] };
    expect((dump.configs[1]!.static_clusters as { cluster: { name: string } }[]).map((c) => c.cluster.name)).toEqual(["backend", "tcp_backend"]);
    expect(dump.configs[2]!.static_listeners).toEqual([]);
    expect(dump.configs[3]!.static_route_configs).toEqual([]);
    expect(dump.configs[0]!.bootstrap).toBeDefined();
    const one = JSON.parse((await admin("/config_dump?resource=static_clusters&name_regex=backend")).body) as { configs: { cluster: { name: string } }[] };
    expect(one.configs.map((c) => c.cluster.name)).toEqual(["backend"]);
    const bad = await admin(`/config_dump?name_regex=${encodeURIComponent("[")}`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/^Error while parsing name_regex from \[: /);
  });

  test("/ready answers 200 LIVE; /server_info names the runtime", async () => {
    const ready = await admin("/ready");
    expect([ready.status, ready.body]).toEqual([200, "LIVE\n"]);
    const res = await admin("/server_info");
    expect(res.headers["content-type"]).toBe("application/json");
    const info = JSON.parse(res.body) as {
      version: string;
      state: string;
      uptime_current_epoch: string;
      uptime_all_epochs: string;
      command_line_options: { config_path: string; log_level: string; mode: string; concurrency: number };
      runtime: { name: string; version: string };
    };
    expect(info.state).toBe("LIVE");
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.uptime_current_epoch).toMatch(/^\d+s$/);
    expect(info.uptime_all_epochs).toMatch(/^\d+s$/);
    expect(info.runtime.name).toBe(runtime);
    expect(info.runtime.version).toMatch(/^\d+\.\d+/);
    expect(info.command_line_options).toMatchObject({ log_level: "info", mode: "Serve", concurrency: 1 });
    expect(info.command_line_options.config_path).toMatch(/envoy\.json$/);
  });

  /** GET /logging's list as a map, component → level, in the order Envoy lists them. */
  async function loggers(): Promise<Map<string, string>> {
    const res = await admin("/logging");
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^active loggers:\n(  [a-z_0-9]+: [a-z]+\n)+\n$/);
    return new Map(res.body.split("\n").slice(1, -2).map((line) => line.trim().split(": ") as [string, string]));
  }

  test("/logging: GET lists every component's level; POST ?level=, ?<component>= and ?paths= change them as Envoy's", async () => {
    const before = await loggers();
    // Envoy's components (logger.h ALL_LOGGER_IDS), all at the --log-level.
    expect([...before.keys()]).toEqual(expect.arrayContaining(["admin", "config", "connection", "http", "http2", "main", "pool", "router", "upstream"]));
    expect(new Set(before.values())).toEqual(new Set(["info"]));

    // One component: router lines at debug appear, http's (local replies) do not.
    const one = await admin("/logging?router=debug", "POST");
    expect(one.status).toBe(200);
    expect(one.body).toContain("\n  router: debug\n");
    expect(one.body).toContain("\n  http: info\n");
    await proxy.waitForLog(/\[info\]\[admin\] change log level: name='router' level='debug'/);

    // Several at once.
    const paths = await admin("/logging?paths=http:trace,upstream:warning,pool:debug", "POST");
    expect(paths.status).toBe(200);
    const afterPaths = await loggers();
    expect([afterPaths.get("http"), afterPaths.get("upstream"), afterPaths.get("pool"), afterPaths.get("router"), afterPaths.get("main")]).toEqual([
      "trace",
      "warning",
      "debug",
      "debug",
      "info",
    ]);
    // The pool's debug lines are written now (Envoy's "[C12] creating stream").
    const fresh = await request(`http://127.0.0.1:${ports.http}/debug`, { reset: true });
    await fresh.body.text();
    await proxy.waitForLog(/\[debug\]\[pool\] \[C\d+\] creating stream/);

    // All or nothing: an unknown name in ?paths= changes none of them.
    const unknown = await admin("/logging?paths=router:info,nosuch:debug", "POST");
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatch(/^error: unknown logger name\n\nusage: \/logging\?<name>=<level> \(change single level\)\n/);
    expect(unknown.body).toContain("usage: /logging?paths=name1:level1,name2:level2,... (change multiple levels)\n");
    expect(unknown.body).toContain("\n  router: debug\n");
    for (const [path, error] of [
      ["/logging?level=loud", "unknown logger level"],
      ["/logging?router=loud", "unknown logger level"],
      ["/logging?paths=router", "empty logger name or empty logger level"],
      ["/logging?router=info&http=info", "invalid number of parameters"],
    ]) {
      const bad = await admin(path!, "POST");
      expect([path, bad.status, bad.body.split("\n")[0]]).toEqual([path, 400, `error: ${error}`]);
    }

    // ?level= sets every component again.
    const all = await admin("/logging?level=info", "POST");
    expect(all.status).toBe(200);
    await proxy.waitForLog(/change all log levels: level='info'/);
    expect(new Set((await loggers()).values())).toEqual(new Set(["info"]));
  });

  test("mutating endpoints refuse GET with 405 and change nothing", async () => {
    const served = (await stats()).get("cluster.backend.upstream_rq_200");
    expect(Number(served)).toBeGreaterThanOrEqual(REQUESTS);
    for (const path of ["/quitquitquit", "/reset_counters", "/healthcheck/fail", "/drain_listeners", "/logging?level=trace"]) {
      const res = await admin(path);
      expect([path, res.status, res.body]).toEqual([path, 405, "Method GET not allowed, POST required."]);
    }
    await proxy.waitForLog(/\[error\]\[admin\] admin path "\/quitquitquit" mutates state, method=GET rather than POST/);
    expect((await admin("/ready")).body).toBe("LIVE\n");
    expect((await admin("/logging")).body).toContain("\n  main: info\n");
    expect((await stats()).get("cluster.backend.upstream_rq_200")).toBe(served);
    expect(await refused(ports.http)).toBe(false);
  });

  test("an unknown path gets 404 and the list of endpoints; / and /help list them", async () => {
    const missing = await admin("/nope");
    expect(missing.status).toBe(404);
    expect(missing.body).toMatch(/^invalid path\. admin commands are:\n/);
    const help = await admin("/help");
    for (const path of [
      "/clusters",
      "/config_dump",
      "/drain_listeners (POST)",
      "/healthcheck/fail (POST)",
      "/healthcheck/ok (POST)",
      "/logging (POST)",
      "/quitquitquit (POST)",
      "/ready",
      "/reset_counters (POST)",
      "/server_info",
      "/stats",
      "/stats/prometheus",
    ]) {
      expect(help.body).toContain(`\n  ${path}: `);
    }
    // The stats filter is RE2 (stats-render.ts), as Envoy's help says; not JavaScript's syntax.
    expect(help.body).toContain("filter: Regular expression (Google re2) for filtering stats");
    const home = await admin("/");
    expect(home.headers["content-type"]).toBe("text/html; charset=UTF-8");
    expect(home.body).toContain("<a href='stats/prometheus'>stats/prometheus</a>");
    expect(home.body).toContain("<form action='quitquitquit' method='post'");
  });

  test("POST /reset_counters zeroes counters (gauges and histograms stay)", async () => {
    const reset = await admin("/reset_counters", "POST");
    expect([reset.status, reset.body]).toEqual([200, "OK\n"]);
    let s = await stats();
    expect(s.get("cluster.backend.upstream_rq_200")).toBe("0");
    expect(s.get("cluster.backend.upstream_rq_total")).toBe("0");
    expect(s.get("http.ingress_http.downstream_rq_2xx")).toBe("0");
    expect(s.get("cluster.backend.membership_total")).toBe("1");
    expect(s.get("cluster.backend.upstream_rq_time")).toMatch(/^P0\(/);
    const res = await request(`http://127.0.0.1:${ports.http}/after-reset`, { dispatcher: agent });
    await res.body.text();
    s = await stats();
    expect(s.get("cluster.backend.upstream_rq_200")).toBe("1");
  });

  test("POST /healthcheck/fail: /ready is 503 DRAINING and responses close their connections; /healthcheck/ok undoes it", async () => {
    expect((await admin("/healthcheck/fail", "POST")).body).toBe("OK\n");
    const ready = await admin("/ready");
    expect([ready.status, ready.body]).toEqual([503, "DRAINING\n"]);
    expect(JSON.parse((await admin("/server_info")).body).state).toBe("DRAINING");
    expect((await stats()).get("server.live")).toBe("0");
    const draining = await request(`http://127.0.0.1:${ports.http}/drain`, { dispatcher: agent });
    await draining.body.text();
    expect(draining.statusCode).toBe(200);
    expect(draining.headers.connection).toBe("close");

    expect((await admin("/healthcheck/ok", "POST")).body).toBe("OK\n");
    expect((await admin("/ready")).body).toBe("LIVE\n");
    const live = await request(`http://127.0.0.1:${ports.http}/live`, { dispatcher: agent });
    await live.body.text();
    expect(live.headers.connection).toBeUndefined();
  });

  test("POST /drain_listeners stops the listeners at once (open connections stay); the admin still answers", async () => {
    expect(await refused(ports.http)).toBe(false);
    expect((await admin("/drain_listeners", "POST")).body).toBe("OK\n");
    expect(await closedSoon(ports.http)).toBe(true);
    expect(await closedSoon(ports.tcp)).toBe(true);
    // The agent's keep-alive connection was accepted before: it is still served.
    const res = await request(`http://127.0.0.1:${ports.http}/still-open`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    const ready = await admin("/ready");
    expect([ready.status, ready.body]).toEqual([503, "DRAINING\n"]);
  });

  test("POST /quitquitquit shuts down cleanly: the process exits 0", async () => {
    const exited = new Promise<number | null>((resolve) => proxy.child.once("exit", (code) => resolve(code)));
    const res = await admin("/quitquitquit", "POST");
    expect([res.status, res.body]).toEqual([200, "OK\n"]);
    expect(await exited).toBe(0);
    expect(proxy.stderr).toContain("admin /quitquitquit, shutting down");
    expect(proxy.stderr).toContain("exiting");
  });
});

describe.each(RUNTIMES)("graceful drain on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  const ports = { http: 0, tcp: 0, admin: 0, upstream: 0 };

  beforeAll(async () => {
    upstream = await httpUpstream();
    ports.upstream = upstream.port;
    [ports.http, ports.tcp, ports.admin] = await Promise.all([freePort(), freePort(), freePort()]);
    proxy = await ProxyProcess.start(runtime, adminConfig(ports), 3, ["--drain-time-s", "1", "--drain-strategy", "immediate"]);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  test("/drain_listeners?graceful (immediate): connections close after their response; listeners stop after --drain-time-s", async () => {
    const agent = new Agent({ keepAliveTimeout: 10_000, pipelining: 1 });
    try {
      const before = await request(`http://127.0.0.1:${ports.http}/before`, { dispatcher: agent });
      await before.body.text();
      expect(before.headers.connection).toBeUndefined();
      const drain = await request(`http://127.0.0.1:${ports.admin}/drain_listeners?graceful`, { method: "POST" });
      expect(await drain.body.text()).toBe("OK\n");
      // During the drain time the listeners still accept, and every response says close.
      const during = await request(`http://127.0.0.1:${ports.http}/during`, { dispatcher: agent });
      await during.body.text();
      expect(during.statusCode).toBe(200);
      expect(during.headers.connection).toBe("close");
      expect(await refused(ports.http)).toBe(false);
      await proxy.waitForLog(/drain time over: listeners stopped/, 1, 5000);
      expect(await closedSoon(ports.http)).toBe(true);
      const ready = await request(`http://127.0.0.1:${ports.admin}/ready`);
      expect([ready.statusCode, await ready.body.text()]).toEqual([503, "DRAINING\n"]);
    } finally {
      await agent.close();
    }
  });
});
