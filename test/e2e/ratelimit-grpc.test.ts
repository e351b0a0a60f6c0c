/**
 * The global rate limit filter on every runtime, against a real rate limit service: a
 * @grpc/grpc-js server implementing envoy.service.ratelimit.v3.RateLimitService (loaded
 * from Envoy's protos in @grpc/grpc-js-xds) that counts hits per descriptor and allows
 * two per descriptor. Route and virtual host rate_limits (a weighted_clusters route's too), 429 with x-envoy-ratelimited and
 * the x-ratelimit headers, RESOURCE_EXHAUSTED to gRPC clients, the service down with and
 * without failure_mode_deny, stats and the RL flag.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readFile } from "node:fs/promises";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { startEnvoyGrpcService } from "../support/envoy-grpc-service.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const execFileAsync = promisify(execFile);
const RATE_LIMIT = "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit";
const LIMIT = 2;

interface RateLimitRequest {
  domain: string;
  descriptors: { entries: { key: string; value: string }[] }[];
}

/** The rate limit service: LIMIT hits per descriptor (in domain "polyvoy"), then OVER_LIMIT. */
async function startRateLimitService(): Promise<{ port: number; requests: RateLimitRequest[]; close(): void }> {
  const requests: RateLimitRequest[] = [];
  const hits = new Map<string, number>();
  const service = await startEnvoyGrpcService("envoy/service/ratelimit/v3/rls.proto", "envoy.service.ratelimit.v3.RateLimitService", {
    ShouldRateLimit: (call: grpc.ServerUnaryCall<RateLimitRequest, object>, callback: grpc.sendUnaryData<object>) => {
      requests.push(call.request);
      const statuses = call.request.descriptors.map((d) => {
        const key = `${call.request.domain}|${d.entries.map((e) => `${e.key}=${e.value}`).join(",")}`;
        const count = (hits.get(key) ?? 0) + 1;
        hits.set(key, count);
        const over = count > LIMIT;
        return {
          code: over ? "OVER_LIMIT" : "OK",
          current_limit: { name: d.entries[0]!.value, requests_per_unit: LIMIT, unit: "MINUTE" },
          limit_remaining: Math.max(0, LIMIT - count),
          duration_until_reset: { seconds: 30 },
        };
      });
      const over = statuses.some((s) => s.code === "OVER_LIMIT");
      callback(null, {
        overall_code: over ? "OVER_LIMIT" : "OK",
        statuses,
        response_headers_to_add: [{ key: "x-rls", value: "seen" }],
        request_headers_to_add: [{ key: "x-rls-checked", value: "yes" }],
        raw_body: over ? Buffer.from("slow down") : Buffer.alloc(0),
      });
    },
  });
  return { ...service, requests };
}

function rateLimitFilter(cluster: string, extra: Record<string, unknown>): object {
  return {
    name: "envoy.filters.http.ratelimit",
    typed_config: {
      "@type": RATE_LIMIT,
      domain: "polyvoy",
      timeout: "2s",
      rate_limit_service: { grpc_service: { envoy_grpc: { cluster_name: cluster } }, transport_api_version: "V3" },
      ...extra,
    },
  };
}

describe.each(RUNTIMES)("ratelimit (global) on %s", (runtime) => {
  let echo: HttpUpstream;
  let echoB: HttpUpstream;
  let rls: Awaited<ReturnType<typeof startRateLimitService>>;
  let proxy: ProxyProcess;
  let base: string;
  let down: string;
  let denyDown: string;
  let viaGoogle: string;
  let googleDown: string;
  let adminPort: number;
  let logPath: string;

  beforeAll(async () => {
    echo = await httpUpstream((req, res) => res.end(`${req.method} ${req.url} checked=${req.headers["x-rls-checked"] ?? "-"}`));
    echoB = await httpUpstream((req, res) => res.end(`B ${req.url}`));
    rls = await startRateLimitService();
    const deadPort = await freePort();
    const [port, downPort, denyPort] = [await freePort(), await freePort(), await freePort()];
    adminPort = await freePort();
    base = `http://127.0.0.1:${port}`;
    down = `http://127.0.0.1:${downPort}`;
    denyDown = `http://127.0.0.1:${denyPort}`;
    const [googlePort, googleDownPort] = [await freePort(), await freePort()];
    viaGoogle = `http://127.0.0.1:${googlePort}`;
    googleDown = `http://127.0.0.1:${googleDownPort}`;
    logPath = join(mkdtempSync(join(tmpdir(), "polyvoy-ratelimit-")), "access.log");
    const router = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [echo.port], rls: [rls.port], dead: [deadPort], w_a: [echo.port], w_b: [echoB.port] },
      routes: [],
      virtualHosts: [
        {
          name: "backend",
          domains: ["*"],
          // For routes without their own: POST requests, per destination cluster.
          rate_limits: [{ actions: [{ destination_cluster: {} }, { header_value_match: { descriptor_value: "post", headers: [{ name: ":method", string_match: { exact: "POST" } }] } }] }],
          routes: [
            {
              match: { prefix: "/limited" },
              route: {
                cluster: "echo",
                rate_limits: [
                  { actions: [{ generic_key: { descriptor_value: "api" } }, { request_headers: { header_name: "x-user", descriptor_key: "user" } }] },
                  // Another stage's: never sent by this filter (stage 0).
                  { stage: 1, actions: [{ generic_key: { descriptor_value: "stage-one" } }] },
                ],
              },
            },
            {
              // RateLimitPerRoute: its own domain and rate_limits; the route's and the virtual host's are not read.
              match: { prefix: "/perroute" },
              route: { cluster: "echo", rate_limits: [{ actions: [{ generic_key: { descriptor_value: "never" } }] }] },
              typed_per_filter_config: {
                "envoy.filters.http.ratelimit": {
                  "@type": "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute",
                  domain: "per-route",
                  rate_limits: [
                    { actions: [{ query_parameters: { query_parameter_name: "key", descriptor_key: "key" } }, { masked_remote_address: { v4_prefix_mask_len: 24 } }] },
                    { actions: [{ query_parameter_value_match: { descriptor_value: "debug", query_parameters: [{ name: "debug", present_match: true }] } }] },
                  ],
                },
              },
            },
            {
              // The cluster is picked once per stream: the filter's destination_cluster is the one the router uses.
              match: { prefix: "/weighted" },
              route: {
                weighted_clusters: { clusters: [{ name: "w_a", weight: 50 }, { name: "w_b", weight: 50 }] },
                rate_limits: [{ actions: [{ generic_key: { descriptor_value: "weighted" } }, { destination_cluster: {} }] }],
              },
            },
            { match: { prefix: "/" }, route: { cluster: "echo" } },
          ],
        },
      ],
      hcm: {
        access_log: [
          {
            name: "envoy.access_loggers.file",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
              path: logPath,
              log_format: { text_format_source: { inline_string: "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\n" } },
            },
          },
        ],
        http_filters: [
          rateLimitFilter("rls", {
            enable_x_ratelimit_headers: "DRAFT_VERSION_03",
            rate_limited_as_resource_exhausted: true,
            response_headers_to_add: [{ header: { key: "x-limited-path", value: "%REQ(:PATH)%" } }],
          }),
          router,
        ],
      },
    }) as { static_resources: { listeners: { name: string; address: object; filter_chains: { filters: { typed_config: { http_filters: object[]; stat_prefix: string } }[] }[] }[]; clusters: Record<string, unknown>[] } };
    const resources = config.static_resources;
    for (const cluster of resources.clusters) if (cluster.name === "rls" || cluster.name === "dead") cluster.http2_protocol_options = {};
    const listener = resources.listeners[0]!;
    const variant = (name: string, listenPort: number, filter: object) => {
      const copy = structuredClone(listener);
      copy.name = name;
      copy.address = { socket_address: { address: "127.0.0.1", port_value: listenPort } };
      const hcm = copy.filter_chains[0]!.filters[0]!.typed_config;
      hcm.stat_prefix = name;
      hcm.http_filters = [filter, router];
      return copy;
    };
    resources.listeners.push(variant("down", downPort, rateLimitFilter("dead", {})));
    resources.listeners.push(variant("deny_down", denyPort, rateLimitFilter("dead", { failure_mode_deny: true })));
    // The service named by a google_grpc target_uri rather than a cluster; and a dead one.
    const google = (target: string, extra: Record<string, unknown>) => {
      const filter = rateLimitFilter("unused", extra) as { typed_config: { rate_limit_service: { grpc_service: object } } };
      filter.typed_config.rate_limit_service.grpc_service = { google_grpc: { target_uri: target, stat_prefix: "rls_google" } };
      return filter;
    };
    resources.listeners.push(variant("google", googlePort, google(`127.0.0.1:${rls.port}`, {})));
    resources.listeners.push(variant("google_down", googleDownPort, google(`127.0.0.1:${deadPort}`, { failure_mode_deny: true })));
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
    await echoB?.close();
    rls?.close();
  });

  test("a route's rate_limits: two requests pass with the x-ratelimit headers, the third is 429 with x-envoy-ratelimited and the service's body", async () => {
    const seen = rls.requests.length;
    for (let i = 0; i < LIMIT; i++) {
      const ok = await request(base + "/limited/a", { headers: { "x-user": "alice" } });
      expect(ok.statusCode).toBe(200);
      expect(await ok.body.text()).toBe("GET /limited/a checked=yes");
      expect(ok.headers["x-rls"]).toBe("seen");
      expect(ok.headers["x-ratelimit-limit"]).toBe(`${LIMIT}, ${LIMIT};w=60;name="api"`);
      expect(ok.headers["x-ratelimit-remaining"]).toBe(String(LIMIT - 1 - i));
      expect(ok.headers["x-ratelimit-reset"]).toBe("30");
      expect(ok.headers["x-limited-path"]).toBeUndefined();
    }
    const { stdout } = await execFileAsync("curl", ["-s", "-i", "-H", "x-user: alice", base + "/limited/a"], { encoding: "utf8" });
    expect(stdout).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n/);
    expect(stdout).toMatch(/\r\nx-envoy-ratelimited: true\r\n/);
    expect(stdout).toMatch(/\r\nx-ratelimit-remaining: 0\r\n/);
    // The filter's response_headers_to_add, formatted, on the rate-limited reply only.
    expect(stdout).toMatch(/\r\nx-limited-path: \/limited\/a\r\n/);
    expect(stdout.endsWith("\r\n\r\nslow down")).toBe(true);
    // What the service was asked: the domain and the one stage-0 descriptor, in action order.
    expect(rls.requests[seen]).toEqual({ domain: "polyvoy", descriptors: [{ entries: [{ key: "generic_key", value: "api" }, { key: "user", value: "alice" }] }] });
    // Another user is another descriptor; without x-user there is no descriptor, so no call.
    expect((await request(base + "/limited/a", { headers: { "x-user": "bob" } })).statusCode).toBe(200);
    const before = rls.requests.length;
    const anonymous = await request(base + "/limited/a");
    expect(anonymous.statusCode).toBe(200);
    expect(await anonymous.body.text()).toBe("GET /limited/a checked=-");
    expect(rls.requests.length).toBe(before);
  });

  test("the virtual host's rate_limits for a route without its own; a gRPC client gets RESOURCE_EXHAUSTED", async () => {
    const seen = rls.requests.length;
    expect((await request(base + "/other")).statusCode).toBe(200); // GET: the header match fails, no descriptor, no call
    expect(rls.requests.length).toBe(seen);
    for (let i = 0; i < LIMIT; i++) expect((await request(base + "/other", { method: "POST", body: "x" })).statusCode).toBe(200);
    expect(rls.requests[seen]!.descriptors).toEqual([{ entries: [{ key: "destination_cluster", value: "echo" }, { key: "header_match", value: "post" }] }]);
    const grpcCall = await request(base + "/pkg.Svc/Method", { method: "POST", headers: { "content-type": "application/grpc" }, body: "" });
    expect(grpcCall.statusCode).toBe(200);
    expect(grpcCall.headers["grpc-status"]).toBe("8");
    await grpcCall.body.text();
  });

  test("RateLimitPerRoute: its domain and rate_limits (query_parameters, masked_remote_address, query_parameter_value_match) replace the route's", async () => {
    const seen = rls.requests.length;
    for (let i = 0; i < LIMIT; i++) expect((await request(base + "/perroute?key=k%201")).statusCode).toBe(200);
    expect(rls.requests[seen]).toEqual({
      domain: "per-route",
      descriptors: [{ entries: [{ key: "key", value: "k 1" }, { key: "masked_remote_address", value: "127.0.0.0/24" }] }],
    });
    const limited = await request(base + "/perroute?key=k%201");
    expect(limited.statusCode).toBe(429);
    await limited.body.text();
    // With ?debug the second rate limit makes its descriptor too.
    const before = rls.requests.length;
    expect((await request(base + "/perroute?debug&key=k2")).statusCode).toBe(200);
    expect(rls.requests[before]!.descriptors).toEqual([
      { entries: [{ key: "key", value: "k2" }, { key: "masked_remote_address", value: "127.0.0.0/24" }] },
      { entries: [{ key: "query_match", value: "debug" }] },
    ]);
    // Neither makes a descriptor: no call.
    const none = rls.requests.length;
    expect((await request(base + "/perroute")).statusCode).toBe(200);
    expect(rls.requests.length).toBe(none);
  });

  test("a weighted_clusters route is limited too, per the cluster picked for the stream, which the router then uses", async () => {
    const served: Record<string, number> = { w_a: 0, w_b: 0 };
    let limited = 0;
    for (let i = 0; i < 12; i++) {
      const seen = rls.requests.length;
      const res = await request(base + "/weighted");
      const body = await res.body.text();
      expect(rls.requests.length).toBe(seen + 1);
      const entries = rls.requests[seen]!.descriptors[0]!.entries;
      expect(entries[0]).toEqual({ key: "generic_key", value: "weighted" });
      const picked = entries[1]!.value;
      if (res.statusCode === 429) {
        limited++;
        continue;
      }
      expect(res.statusCode).toBe(200);
      // The router forwarded to the cluster the filter asked about.
      expect(body.startsWith(picked === "w_b" ? "B " : "GET ")).toBe(true);
      served[picked]!++;
    }
    expect(served.w_a).toBeLessThanOrEqual(LIMIT);
    expect(served.w_b).toBeLessThanOrEqual(LIMIT);
    expect(limited).toBe(12 - served.w_a! - served.w_b!);
    const text = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=ratelimit`)).body.text();
    const over = (c: string) => Number(new RegExp(`^cluster\\.${c}\\.ratelimit\\.over_limit: (\\d+)$`, "m").exec(text)?.[1] ?? 0);
    expect(over("w_a") + over("w_b")).toBe(limited);
  });

  test("the service down: the request goes on (failure_mode_allowed), or with failure_mode_deny is 500", async () => {
    const open = await request(down + "/limited/x", { headers: { "x-user": "carol" } });
    expect(open.statusCode).toBe(200);
    expect(await open.body.text()).toBe("GET /limited/x checked=-");
    const closed = await request(denyDown + "/limited/x", { headers: { "x-user": "carol" } });
    expect(closed.statusCode).toBe(500);
    await closed.body.text();
  });

  test("stats on the route's cluster and the access log's RL and RLSE", async () => {
    const text = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=ratelimit`)).body.text();
    expect(text).toMatch(/^cluster\.echo\.ratelimit\.ok: [1-9]/m);
    // /limited/a and /perroute once each, and the gRPC call.
    expect(text).toMatch(/^cluster\.echo\.ratelimit\.over_limit: 3$/m);
    expect(text).toMatch(/^cluster\.echo\.ratelimit\.error: 2$/m);
    expect(text).toMatch(/^cluster\.echo\.ratelimit\.failure_mode_allowed: 1$/m);
    // ratelimit.cc Filter::complete: each over-limit answer is charged to the route cluster as
    // its response, with the rate-limited status (429, a gRPC client's too) and internal_request true.
    const codes = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=${encodeURIComponent("^cluster\\.echo\\.(internal\\.)?upstream_rq_4")}`)).body.text();
    expect(codes).toMatch(/^cluster\.echo\.upstream_rq_429: 3$/m);
    expect(codes).toMatch(/^cluster\.echo\.internal\.upstream_rq_429: 3$/m);
    expect(codes).toMatch(/^cluster\.echo\.internal\.upstream_rq_4xx: 3$/m);
    let log = "";
    for (let i = 0; i < 50 && !log.includes(" RLSE "); i++) {
      await new Promise((r) => setTimeout(r, 100));
      log = await readFile(logPath, "utf8").catch(() => "");
    }
    expect(log).toMatch(/^\/limited\/a 429 RL request_rate_limited$/m);
    expect(log).toMatch(/^\/limited\/x 500 RLSE rate_limiter_error$/m);
  });

  // After the stats test: its ok/error counts on the route's cluster would change.
  test("the service through google_grpc: asked, and a dead target with failure_mode_deny is 500 (streams_closed_14)", async () => {
    const seen = rls.requests.length;
    const ok = await request(viaGoogle + "/limited/g", { headers: { "x-user": "gina" } });
    expect(ok.statusCode).toBe(200);
    expect(await ok.body.text()).toBe("GET /limited/g checked=yes");
    expect(rls.requests.length).toBe(seen + 1);
    const closed = await request(googleDown + "/limited/g", { headers: { "x-user": "gina" } });
    expect(closed.statusCode).toBe(500);
    await closed.body.text();
    const stats = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=^grpc\\.rls_google\\.`)).body.text();
    expect(stats).toContain("grpc.rls_google.streams_total: 2");
    expect(stats).toContain("grpc.rls_google.streams_closed_0: 1");
    expect(stats).toContain("grpc.rls_google.streams_closed_14: 1");
  });
});
