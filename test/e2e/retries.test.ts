/**
 * Retries and request mirroring seen from outside, on every runtime, against
 * fault-injecting upstreams on real sockets: one that always answers 503, one that
 * hangs, one that resets mid-body (raw socket), a dead port, and healthy ones; then one
 * of three upstreams killed under constant load, with the failed GETs counted.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHash } from "node:crypto";
import type * as http from "node:http";
import * as net from "node:net";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const PREVIOUS_HOSTS = [{ name: "envoy.retry_host_predicates.previous_hosts" }];

/** A route to `cluster` for `prefix`, with a retry policy and any other RouteAction fields. */
function route(prefix: string, cluster: string, action: Record<string, unknown> = {}, fields: Record<string, unknown> = {}) {
  return { match: { prefix }, route: { cluster, ...action }, ...fields };
}

async function stats(adminPort: number): Promise<Map<string, number>> {
  const res = await request(`http://127.0.0.1:${adminPort}/stats`);
  const map = new Map<string, number>();
  for (const line of (await res.body.text()).split("\n")) {
    const m = /^([^:]+): (\d+)$/.exec(line);
    if (m) map.set(m[1]!, Number(m[2]));
  }
  return map;
}

describe.each(RUNTIMES)("retries and mirroring on %s", (runtime) => {
  let bad: HttpUpstream;
  let good: HttpUpstream;
  let hang: HttpUpstream;
  let mirror: HttpUpstream;
  let midBody: net.Server;
  let midBodyPort: number;
  let deadPort: number;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;
  const agent = new Agent({ connections: 4 });

  beforeAll(async () => {
    bad = await httpUpstream((_req, res: http.ServerResponse) => {
      res.statusCode = 503;
      res.end("bad");
    });
    good = await httpUpstream((req, res: http.ServerResponse) => {
      res.setHeader("x-body-sha256", createHash("sha256").update(req.body).digest("hex"));
      res.end("good");
    });
    hang = await httpUpstream(() => {});
    mirror = await httpUpstream((_req, res: http.ServerResponse) => {
      res.statusCode = 500;
      res.end("the mirror's answer is dropped");
    });
    // Headers and part of a body, then a reset.
    midBody = net.createServer((socket) => {
      socket.on("error", () => {});
      socket.once("data", () => {
        socket.write("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial");
        setTimeout(() => socket.resetAndDestroy(), 50);
      });
    });
    await new Promise<void>((r) => midBody.listen(0, "127.0.0.1", r));
    midBodyPort = (midBody.address() as net.AddressInfo).port;
    deadPort = await freePort();
    port = await freePort();
    adminPort = await freePort();
    const retry5xx = { retry_policy: { retry_on: "5xx", num_retries: 1, retry_host_predicate: PREVIOUS_HOSTS } };
    const config = httpProxyConfig({
      listenPort: port,
      clusters: {
        fivexx: [bad.port, good.port],
        connfail: [deadPort, good.port],
        pertry: [hang.port, good.port],
        midbody: [midBodyPort, good.port],
        good: [good.port],
        mirror: [mirror.port],
        dead: [deadPort],
      },
      routes: [],
      virtualHosts: [
        {
          name: "all",
          domains: ["*"],
          include_attempt_count_in_response: true,
          routes: [
            route("/5xx", "fivexx", retry5xx),
            route("/connect", "connfail", { retry_policy: { retry_on: "connect-failure", retry_host_predicate: PREVIOUS_HOSTS } }),
            route("/pertry", "pertry", { retry_policy: { retry_on: "5xx", per_try_timeout: "0.3s", retry_host_predicate: PREVIOUS_HOSTS } }),
            route("/midbody", "midbody", { retry_policy: { retry_on: "5xx,reset", num_retries: 3 } }),
            route("/big", "fivexx", retry5xx, { per_request_buffer_limit_bytes: 1024 }),
            route("/post", "fivexx", retry5xx),
            route("/mirror", "good", { request_mirror_policies: [{ cluster: "mirror" }] }),
            route("/dead", "dead"),
          ],
        },
      ],
    });
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config }, 2);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await agent.close();
    await Promise.all([bad, good, hang, mirror].map((u) => u?.close()));
    midBody?.close();
  });

  async function get(path: string, init: { method?: "GET" | "POST"; body?: Buffer } = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
    const res = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: agent, method: init.method ?? "GET", body: init.body });
    return { status: res.statusCode, body: await res.body.text(), headers: res.headers };
  }

  test("retry_on 5xx: the 503 host's answer is retried on the other host; every GET gets 200", async () => {
    const before = bad.requests.length;
    const results = await Promise.all([0, 1, 2, 3].map((i) => get(`/5xx/${i}`)));
    expect(results.map((r) => `${r.status} ${r.body}`)).toEqual(Array(4).fill("200 good"));
    // Round robin sent some first attempts to the 503 host; those came back with attempt count 2.
    const retried = bad.requests.length - before;
    expect(retried).toBeGreaterThanOrEqual(1);
    expect(results.filter((r) => r.headers["x-envoy-attempt-count"] === "2")).toHaveLength(retried);
    const s = await stats(adminPort);
    expect(s.get("cluster.fivexx.upstream_rq_retry")).toBe(retried);
    expect(s.get("cluster.fivexx.upstream_rq_retry_success")).toBe(retried);
    expect(s.get("cluster.fivexx.retry.upstream_rq_503")).toBe(retried);
    // Envoy's chargeBasicResponseStat under retry.: each retried response is completed there.
    expect(s.get("cluster.fivexx.retry.upstream_rq_completed")).toBe(retried);
  });

  test("connect-failure: a dead port, then the live host", async () => {
    const results = await Promise.all([0, 1].map((i) => get(`/connect/${i}`)));
    expect(results.map((r) => r.status)).toEqual([200, 200]);
    const s = await stats(adminPort);
    expect(s.get("cluster.connfail.upstream_cx_connect_fail")).toBe(1);
    expect(s.get("cluster.connfail.upstream_rq_pending_failure_eject")).toBe(1);
    expect(s.get("cluster.connfail.upstream_rq_retry")).toBe(1);
    // The retried connect failure is no response of the cluster's: only the two 200s count.
    expect(s.get("cluster.connfail.upstream_rq_503")).toBeUndefined();
    expect(s.get("cluster.connfail.upstream_rq_200")).toBe(2);
    expect(s.get("cluster.connfail.upstream_rq_completed")).toBe(2);
  });

  test("a connect failure not retried: the local 503 counts as the cluster's 503 (Envoy's chargeUpstreamAbort)", async () => {
    const res = await get("/dead/x");
    expect(res.status).toBe(503);
    expect(res.body).toMatch(/^upstream connect error or disconnect\/reset before headers\. reset reason: remote connection failure$/);
    const s = await stats(adminPort);
    expect(s.get("cluster.dead.upstream_cx_connect_fail")).toBe(1);
    // The request waited for that connection: Envoy's purgePendingStreams counts it.
    expect(s.get("cluster.dead.upstream_rq_pending_failure_eject")).toBe(1);
    expect(s.get("cluster.dead.upstream_rq_503")).toBe(1);
    expect(s.get("cluster.dead.upstream_rq_5xx")).toBe(1);
    expect(s.get("cluster.dead.upstream_rq_completed")).toBe(1);
    expect(s.get("http.ingress_http.downstream_rq_5xx")).toBeGreaterThanOrEqual(1);
    // And by where the request came from (Envoy's CodeStatsImpl::writeCategory): external here;
    // one whose single x-forwarded-for is an RFC 1918 address is internal (x-envoy-internal).
    expect(s.get("cluster.dead.external.upstream_rq_503")).toBe(1);
    expect(s.get("cluster.dead.external.upstream_rq_5xx")).toBe(1);
    expect(s.get("cluster.dead.external.upstream_rq_completed")).toBe(1);
    const internal = await request(`http://127.0.0.1:${port}/dead/y`, { dispatcher: agent, headers: { "x-forwarded-for": "10.0.0.1" } });
    await internal.body.text();
    expect(internal.statusCode).toBe(503);
    const after = await stats(adminPort);
    expect(after.get("cluster.dead.internal.upstream_rq_503")).toBe(1);
    expect(after.get("cluster.dead.internal.upstream_rq_completed")).toBe(1);
    expect(after.get("cluster.dead.external.upstream_rq_503")).toBe(1);
    expect(after.get("cluster.dead.upstream_rq_503")).toBe(2);
    // A proxied response: its code under external. too.
    expect(after.get("cluster.connfail.external.upstream_rq_200")).toBe(2);
  });

  test("per_try_timeout: a hanging host is given 0.3 s, then the other host answers", async () => {
    const started = Date.now();
    const results = await Promise.all([0, 1].map((i) => get(`/pertry/${i}`)));
    expect(results.map((r) => r.status)).toEqual([200, 200]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await stats(adminPort)).get("cluster.pertry.upstream_rq_per_try_timeout")).toBe(1);
  });

  test("no retry once response headers went downstream: a reset mid-body cuts the client's response", async () => {
    const goodBefore = good.requests.length;
    let outcome = "complete";
    try {
      const res = await request(`http://127.0.0.1:${port}/midbody/x`, { dispatcher: agent });
      if (res.statusCode !== 200) outcome = `status ${res.statusCode}`;
      else await res.body.text();
    } catch {
      outcome = "cut";
    }
    // Round robin may have sent it to the healthy host; only the mid-body reset matters here.
    if (good.requests.length === goodBefore) expect(outcome).toBe("cut");
    expect((await stats(adminPort)).get("cluster.midbody.upstream_rq_retry") ?? 0).toBe(0);
  });

  test("a POST body is replayed intact on the retry", async () => {
    const body = Buffer.alloc(200_000, "p");
    const sha = createHash("sha256").update(body).digest("hex");
    const results = await Promise.all([0, 1].map(() => get("/post", { method: "POST", body })));
    expect(results.map((r) => `${r.status} ${r.headers["x-body-sha256"]}`)).toEqual([`200 ${sha}`, `200 ${sha}`]);
  });

  test("a body over per_request_buffer_limit_bytes is not retried: the 503 goes to the client", async () => {
    const body = Buffer.alloc(4096, "b");
    const results = await Promise.all([0, 1].map(() => get("/big", { method: "POST", body })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 503]);
    expect((await stats(adminPort)).get("cluster.fivexx.retry_or_shadow_abandoned")).toBe(2);
  });

  test("the mirror gets a copy with -shadow on its host; the client gets the main answer", async () => {
    const res = await get("/mirror/m", { method: "POST", body: Buffer.from("mirrored body") });
    expect(`${res.status} ${res.body}`).toBe("200 good");
    const deadline = Date.now() + 5000;
    while (mirror.requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(mirror.requests).toHaveLength(1);
    expect(mirror.requests[0]!.headers.host).toBe(`127.0.0.1-shadow:${port}`);
    expect(mirror.requests[0]!.url).toBe("/mirror/m");
    expect(mirror.requests[0]!.body.toString()).toBe("mirrored body");
  });
});

/**
 * One of three upstreams killed under constant load, four ways: with and without
 * retry_on 5xx,reset,connect-failure (previous_hosts, two retries), each on a cluster
 * without and with health checks (0.2 s, unhealthy after one failure) and outlier
 * detection (consecutive_5xx 2, max_ejection_percent 50: the default 10 % of three hosts ejects none). Without either, every request round robin sends to the
 * dead host fails its first attempt (reset, then refused connects); retries hide that;
 * health checking and outlier detection stop sending requests there. The counts are
 * printed for the report.
 */
describe.each(RUNTIMES)("one of three upstreams killed under load on %s", (runtime) => {
  const upstreams: HttpUpstream[] = [];
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) upstreams.push(await httpUpstream((_req, res: http.ServerResponse) => setTimeout(() => res.end(`u${i}`), 2)));
    port = await freePort();
    adminPort = await freePort();
    const policy = { retry_on: "5xx,reset,connect-failure", num_retries: 2, retry_host_predicate: PREVIOUS_HOSTS };
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { three: upstreams.map((u) => u.port), three_hc: upstreams.map((u) => u.port) },
      routes: [],
      virtualHosts: [
        {
          name: "all",
          domains: ["*"],
          routes: [
            route("/retry", "three", { retry_policy: policy }),
            route("/plain", "three"),
            route("/hc-retry", "three_hc", { retry_policy: policy }),
            route("/hc-plain", "three_hc"),
          ],
        },
      ],
    }) as { static_resources: { clusters: Record<string, unknown>[] } };
    const hc = config.static_resources.clusters.find((c) => c.name === "three_hc")!;
    hc.health_checks = [{ timeout: "0.2s", interval: "0.2s", unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: "/health" } }];
    hc.outlier_detection = { consecutive_5xx: 2, interval: "1s", base_ejection_time: "30s", max_ejection_percent: 50 };
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config }, 2);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await Promise.all(upstreams.map((u) => u.close()));
  });

  test("retry_on 5xx,reset,connect-failure: no GET fails after a kill; without retries some do, only the first few with outlier detection", async () => {
    const paths = ["retry", "plain", "hc-retry", "hc-plain"] as const;
    type Path = (typeof paths)[number];
    const agent = new Agent({ connections: 16 });
    const tally = Object.fromEntries(paths.map((p) => [p, { ok: 0, failed: 0, lastFailureMs: -1 }])) as Record<Path, { ok: number; failed: number; lastFailureMs: number }>;
    let running = true;
    let killedAt = 0;
    const loop = async (path: Path) => {
      while (running) {
        let ok = false;
        try {
          const res = await request(`http://127.0.0.1:${port}/${path}`, { dispatcher: agent });
          await res.body.text();
          ok = res.statusCode === 200;
        } catch {
          ok = false;
        }
        if (killedAt === 0) continue;
        const t = tally[path];
        if (ok) t.ok++;
        else {
          t.failed++;
          t.lastFailureMs = Date.now() - killedAt;
        }
      }
    };
    const loops = paths.flatMap((p) => [loop(p), loop(p)]);
    await new Promise((r) => setTimeout(r, 700));
    // Kill upstream 1: in-flight requests are reset, new connects refused.
    killedAt = Date.now();
    await upstreams[1]!.close();
    await new Promise((r) => setTimeout(r, 2500));
    running = false;
    await Promise.all(loops);
    await agent.close();
    const s = await stats(adminPort);
    const cluster = (name: string) => ({
      upstream_rq_retry: s.get(`cluster.${name}.upstream_rq_retry`) ?? 0,
      upstream_rq_retry_overflow: s.get(`cluster.${name}.upstream_rq_retry_overflow`) ?? 0,
      upstream_cx_connect_fail: s.get(`cluster.${name}.upstream_cx_connect_fail`) ?? 0,
      ejections: s.get(`cluster.${name}.outlier_detection.ejections_enforced_total`) ?? 0,
    });
    console.log(`kill one of three on ${runtime}: ${JSON.stringify({ tally, three: cluster("three"), three_hc: cluster("three_hc") })}`);
    expect(tally.retry.ok).toBeGreaterThan(10);
    expect(tally.retry.failed).toBe(0);
    expect(tally["hc-retry"].failed).toBe(0);
    expect(tally.plain.failed).toBeGreaterThan(0);
    // Outlier detection ejects the dead host after two failures: a few GETs fail, then none.
    expect(tally["hc-plain"].failed).toBeLessThan(tally.plain.failed);
  });
});
