/**
 * Config sections on every runtime, in one proxy:
 * - layered_runtime: GET /runtime shows the layers as Envoy does, and POST /runtime_modify
 *   (query or form parameters) changes what a runtime key decides on the next request —
 *   here the fault filter's fault.http.abort.* keys;
 * - stats_config: stats_matcher leaves stats out of /stats and /stats/prometheus, and
 *   stats_tags add tags to the Prometheus output;
 * - the HCM's internal_address_config: its cidr_ranges decide which peers (sending no
 *   x-forwarded-for) are internal (x-envoy-internal) instead of the RFC 1918 / loopback default;
 * - the HCM's tracing, without a tracer: the sampling decision marked in x-request-id, and
 *   the route decorator's x-envoy-decorator-operation.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { get } from "node:http";
import { Agent, request } from "undici";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const FAULT = {
  name: "envoy.filters.http.fault",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault", abort: { http_status: 503, percentage: { numerator: 0 } } },
};
const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

describe.each(RUNTIMES)("layered_runtime, stats_config and internal_address_config on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  const ports = { http: 0, admin: 0 };
  const agent = new Agent({ keepAliveTimeout: 10_000, pipelining: 1 });

  async function call(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
    const res = await request(`http://127.0.0.1:${port}${path}`, { method: (options.method ?? "GET") as "GET", headers: options.headers, body: options.body, dispatcher: agent });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  }

  beforeAll(async () => {
    upstream = await httpUpstream();
    [ports.http, ports.admin] = await Promise.all([freePort(), freePort()]);
    const config = httpProxyConfig({
      listenPort: ports.http,
      clusters: { backend: [upstream.port] },
      routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend" }, decorator: { operation: "front-door" } } }],
      hcm: {
        http_filters: [FAULT, ROUTER],
        use_remote_address: true,
        xff_num_trusted_hops: 1,
        internal_address_config: { cidr_ranges: [{ address_prefix: "203.0.113.0", prefix_len: 24 }, { address_prefix: "127.0.0.1", prefix_len: 32 }] },
        tracing: { random_sampling: { value: 100 } },
      },
    });
    proxy = await ProxyProcess.start(
      runtime,
      {
        admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports.admin } } },
        layered_runtime: {
          layers: [
            { name: "base", static_layer: { fault: { http: { abort: { http_status: 502 } } }, "upstream.note": "kept, unread" } },
            { name: "admin", admin_layer: {} },
          ],
        },
        stats_config: {
          stats_tags: [
            { tag_name: "team", fixed_value: "edge" },
            { tag_name: "fault_kind", regex: "\\.fault\\.((\\w+?)s_)injected$" },
          ],
          stats_matcher: { exclusion_list: { patterns: [{ contains: "upstream_cx_" }, { prefix: "runtime." }] } },
        },
        ...config,
      },
      2,
    );
  });

  afterAll(async () => {
    await agent.close();
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  test("GET /runtime: layer names and each key's value per layer, as Envoy's JSON", async () => {
    const res = await call(ports.admin, "/runtime");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(res.body)).toEqual({
      layers: ["base", "admin"],
      entries: {
        "fault.http.abort.http_status": { layer_values: ["502", ""], final_value: "502" },
        "upstream.note": { layer_values: ["kept, unread", ""], final_value: "kept, unread" },
      },
    });
  });

  test("POST /runtime_modify: an override applies to the next request; a form body works too; '' removes it; GET is refused", async () => {
    expect((await call(ports.http, "/")).status).toBe(200);
    const set = await call(ports.admin, "/runtime_modify?fault.http.abort.abort_percent=100", { method: "POST" });
    expect(set).toMatchObject({ status: 200, body: "OK\n" });
    const aborted = await call(ports.http, "/");
    // The static layer's status replaces the configured 503.
    expect(aborted.status).toBe(502);
    expect(aborted.body).toBe("fault filter abort");

    const form = await call(ports.admin, "/runtime_modify", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "fault.http.abort.http_status=418",
    });
    expect(form.status).toBe(200);
    expect((await call(ports.http, "/")).status).toBe(418);
    const entries = JSON.parse((await call(ports.admin, "/runtime")).body).entries;
    expect(entries["fault.http.abort.http_status"]).toEqual({ layer_values: ["502", "418"], final_value: "418" });

    expect((await call(ports.admin, "/runtime_modify?fault.http.abort.abort_percent=", { method: "POST" })).status).toBe(200);
    expect((await call(ports.http, "/")).status).toBe(200);
    expect((await call(ports.admin, "/runtime_modify?a=1")).status).toBe(405);
    expect(await call(ports.admin, "/runtime_modify", { method: "POST" })).toMatchObject({ status: 400, body: expect.stringMatching(/^usage: \/runtime_modify/) });
  });

  test("stats_config: excluded stats are in neither /stats nor /stats/prometheus; custom tags label the Prometheus series", async () => {
    expect((await call(ports.http, "/")).status).toBe(200);
    const text = (await call(ports.admin, "/stats")).body;
    expect(text).toMatch(/^cluster\.backend\.upstream_rq_total: \d+$/m);
    expect(text).not.toMatch(/upstream_cx_/);
    expect(text).not.toMatch(/^runtime\./m);
    const families = parsePrometheusTextFormat((await call(ports.admin, "/stats/prometheus")).body) as { name: string; metrics: { labels?: Record<string, string> }[] }[];
    expect(families.some((f) => f.name.includes("upstream_cx_"))).toBe(false);
    const requests = families.find((f) => f.name === "envoy_cluster_upstream_rq_total")!;
    expect(requests.metrics[0]!.labels).toEqual({ envoy_cluster_name: "backend", team: "edge" });
    // The regex's first group is cut from the name and its second is the value.
    const faults = families.find((f) => f.name === "envoy_http_fault_injected")!;
    expect(faults.metrics.map((m) => m.labels!.fault_kind).sort()).toEqual(["abort", "delay"]);
  });

  test("internal_address_config: only cidr_ranges are internal — 127.0.0.1 is, 127.0.0.2 (loopback) is not; a request with x-forwarded-for never is", async () => {
    const seen = async (xff?: string) => {
      const res = await request(`http://127.0.0.1:${ports.http}/`, { dispatcher: agent, headers: xff ? { "x-forwarded-for": xff } : {} });
      expect(res.statusCode).toBe(200);
      return (JSON.parse(await res.body.text()) as { headers: Record<string, string> }).headers;
    };
    // The peer, 127.0.0.1, with no XFF: in the ranges, internal.
    const direct = await seen();
    expect(direct["x-envoy-internal"]).toBe("true");
    expect(direct["x-envoy-external-address"]).toBeUndefined();
    // Another loopback peer (node:http: undici does not bind a local address) is not
    // internal once ranges are configured.
    const loopback = await new Promise<Record<string, string>>((resolve, reject) => {
      get({ host: "127.0.0.1", port: ports.http, path: "/", localAddress: "127.0.0.2" }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve((JSON.parse(body) as { headers: Record<string, string> }).headers));
      }).on("error", reject);
    });
    expect(loopback["x-envoy-internal"]).toBeUndefined();
    expect(loopback["x-envoy-external-address"]).toBe("127.0.0.2");
    // With x-forwarded-for the request is external even when the trusted hop names an
    // address in the ranges (Envoy's allow_trusted_address_checks: XFF absent on arrival).
    const forwarded = await seen("203.0.113.5");
    expect(forwarded["x-envoy-internal"]).toBeUndefined();
    expect(forwarded["x-envoy-external-address"]).toBe("203.0.113.5");
  });

  test("tracing: the sampling decision is marked in the x-request-id the upstream sees, and counted", async () => {
    const res = await call(ports.http, "/");
    const id = (JSON.parse(res.body) as { headers: Record<string, string> }).headers["x-request-id"]!;
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-a[0-9a-f]{3}-/);
    expect(res.headers["x-envoy-decorator-operation"]).toBe("front-door");
    // An internal caller's x-envoy-force-trace: marked '9', and the id is returned to it.
    const forced = await call(ports.http, "/", { headers: { "x-request-id": "00000065-0000-4000-8000-000000000000", "x-envoy-force-trace": "1" } });
    expect((JSON.parse(forced.body) as { headers: Record<string, string> }).headers["x-request-id"]).toBe("00000065-0000-9000-8000-000000000000");
    expect(forced.headers["x-request-id"]).toBe("00000065-0000-9000-8000-000000000000");
    // An internal caller naming its own operation: the header stops here, and no decorator comes back.
    const named = await call(ports.http, "/", { headers: { "x-envoy-decorator-operation": "mine" } });
    expect((JSON.parse(named.body) as { headers: Record<string, string> }).headers["x-envoy-decorator-operation"]).toBeUndefined();
    expect(named.headers["x-envoy-decorator-operation"]).toBeUndefined();
    const stats = (await call(ports.admin, "/stats?filter=^http\\.ingress_http\\.tracing\\.")).body;
    expect(stats).toMatch(/^http\.ingress_http\.tracing\.random_sampling: [1-9]\d*$/m);
    expect(stats).toMatch(/^http\.ingress_http\.tracing\.service_forced: 1$/m);
  });
});

/**
 * stats_flush_interval (polyvoy's flush closes the histograms' interval: the first of each
 * quantile pair in /stats), use_all_default_tags: false (no tags taken out of the names, so
 * the Prometheus series carry the whole name), and stats_matcher's inclusion_list and
 * reject_all: true.
 */
describe.each(RUNTIMES)("stats_flush_interval, use_all_default_tags and stats_matcher on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  let rejecting: ProxyProcess;
  const ports = { http: 0, admin: 0, rejectHttp: 0, rejectAdmin: 0 };

  async function get(port: number, path: string): Promise<string> {
    const res = await request(`http://127.0.0.1:${port}${path}`);
    expect(res.statusCode).toBe(200);
    return res.body.text();
  }

  beforeAll(async () => {
    upstream = await httpUpstream();
    [ports.http, ports.admin, ports.rejectHttp, ports.rejectAdmin] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const admin = (port: number) => ({ address: { socket_address: { address: "127.0.0.1", port_value: port } } });
    const config = (port: number) => httpProxyConfig({ listenPort: port, clusters: { backend: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] });
    [proxy, rejecting] = await Promise.all([
      ProxyProcess.start(runtime, {
        admin: admin(ports.admin),
        stats_flush_interval: "0.3s",
        stats_config: {
          use_all_default_tags: false,
          stats_matcher: { inclusion_list: { patterns: [{ prefix: "cluster.backend.upstream_rq" }, { exact: "http.ingress_http.downstream_rq_time" }] } },
        },
        ...config(ports.http),
      }),
      ProxyProcess.start(runtime, { admin: admin(ports.rejectAdmin), stats_config: { stats_matcher: { reject_all: true } }, ...config(ports.rejectHttp) }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([proxy?.stop("SIGKILL"), rejecting?.stop("SIGKILL")]);
    await upstream?.close();
  });

  test("stats_flush_interval 0.3s: a request's time shows in the interval quantiles after a flush, and leaves them at the next", async () => {
    const histogram = async () => (await get(ports.admin, "/stats?filter=^http\\.ingress_http\\.downstream_rq_time$")).trim();
    await get(ports.http, "/");
    // Envoy's default (5 s) would leave the interval empty ("nan") for seconds.
    await expect.poll(histogram, { timeout: 2000, interval: 50 }).toMatch(/^http\.ingress_http\.downstream_rq_time: P0\(\d[\d.]*,\d[\d.]*\)/);
    await expect.poll(histogram, { timeout: 2000, interval: 50 }).toMatch(/^http\.ingress_http\.downstream_rq_time: P0\(nan,\d[\d.]*\)/);
  });

  test("inclusion_list: only the listed stats, in /stats and /stats/prometheus; use_all_default_tags false: no envoy_cluster_name label", async () => {
    await get(ports.http, "/");
    const names = (await get(ports.admin, "/stats")).trim().split("\n").map((line) => line.slice(0, line.indexOf(":")));
    expect(names.length).toBeGreaterThan(2);
    for (const name of names) expect(name === "http.ingress_http.downstream_rq_time" || name.startsWith("cluster.backend.upstream_rq")).toBe(true);
    expect(names).toContain("cluster.backend.upstream_rq_total");
    const families = parsePrometheusTextFormat(await get(ports.admin, "/stats/prometheus")) as { name: string; metrics: { labels?: Record<string, string> }[] }[];
    const total = families.find((f) => f.name === "envoy_cluster_backend_upstream_rq_total");
    expect(total?.metrics[0]?.labels ?? {}).toEqual({});
    expect(families.find((f) => f.name === "envoy_cluster_upstream_rq_total")).toBeUndefined();
    for (const family of families) expect(family.name).toMatch(/^envoy_(cluster_backend_upstream_rq|http_ingress_http_downstream_rq_time)/);
  });

  test("reject_all: true: no stat in /stats or /stats/prometheus, while the proxy serves", async () => {
    await get(ports.rejectHttp, "/");
    expect((await get(ports.rejectAdmin, "/stats")).trim()).toBe("");
    expect((await get(ports.rejectAdmin, "/stats/prometheus")).trim()).toBe("");
  });
});
