/**
 * Request hedging (hedge_policy.hedge_on_per_try_timeout) seen from outside, on every
 * runtime, against a real node:http upstream that answers by attempt: a per-try timeout
 * leaves the first attempt running and sends a second beside it; the first response wins,
 * the other attempt's connection is closed, and the stats are Envoy's (no
 * upstream_rq_per_try_timeout for a hedged timeout, upstream_rq_retry for the hedge).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type * as http from "node:http";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const PER_TRY_MS = 300;

async function stats(adminPort: number): Promise<Map<string, number>> {
  const res = await request(`http://127.0.0.1:${adminPort}/stats`);
  const map = new Map<string, number>();
  for (const line of (await res.body.text()).split("\n")) {
    const m = /^([^:]+): (\d+)$/.exec(line);
    if (m) map.set(m[1]!, Number(m[2]));
  }
  return map;
}

/** How one attempt went at the upstream: answered, or its connection closed first. */
interface Attempt {
  attempt: string;
  path: string;
  outcome: Promise<"answered" | "closed">;
}

describe.each(RUNTIMES)("hedge_on_per_try_timeout on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;
  const attempts: Attempt[] = [];
  const agent = new Agent({ connections: 2 });

  beforeAll(async () => {
    // /fast-hedge: the first attempt answers after 3 s, the hedge at once.
    // /slow-hedge: the first attempt answers after 700 ms (past its per-try timeout), the hedge after 3 s.
    upstream = await httpUpstream((req, res: http.ServerResponse) => {
      // /connect-fail: never answered (the route timeout comes first).
      if (req.url.startsWith("/connect-fail")) return;
      const attempt = String(req.headers["x-envoy-attempt-count"]);
      const first = attempt === "1";
      const delay = req.url.startsWith("/fast-hedge") ? (first ? 3000 : 0) : first ? 700 : 3000;
      const outcome = new Promise<"answered" | "closed">((resolve) => {
        const timer = setTimeout(() => {
          res.end(`attempt ${attempt}`);
          resolve("answered");
        }, delay);
        res.on("close", () => {
          if (res.writableEnded) return;
          clearTimeout(timer);
          resolve("closed");
        });
      });
      attempts.push({ attempt, path: req.url, outcome });
    });
    port = await freePort();
    adminPort = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { fast: [upstream.port], slow: [upstream.port], twoprio: [upstream.port] },
      routes: [],
      virtualHosts: [
        {
          name: "all",
          domains: ["*"],
          include_request_attempt_count: true,
          include_attempt_count_in_response: true,
          hedge_policy: { hedge_on_per_try_timeout: true },
          routes: [
            ...["fast", "slow"].map((name) => ({
              match: { prefix: `/${name}-hedge` },
              route: { cluster: name, timeout: "10s", retry_policy: { retry_on: "5xx", num_retries: 1, per_try_timeout: `${PER_TRY_MS / 1000}s` } },
            })),
            // The hedge goes to the other priority (previous_priorities), where nothing listens.
            {
              match: { prefix: "/connect-fail" },
              route: {
                cluster: "twoprio",
                timeout: "1.5s",
                retry_policy: {
                  retry_on: "5xx",
                  num_retries: 1,
                  per_try_timeout: `${PER_TRY_MS / 1000}s`,
                  retry_priority: {
                    name: "envoy.retry_priorities.previous_priorities",
                    typed_config: { "@type": "type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig", update_frequency: 1 },
                  },
                },
              },
            },
          ],
        },
      ],
    });
    const deadPort = await freePort();
    const twoPriorities = (config as { static_resources: { clusters: { name: string; load_assignment: unknown }[] } }).static_resources.clusters.find((c) => c.name === "twoprio")!;
    twoPriorities.load_assignment = {
      cluster_name: "twoprio",
      endpoints: [upstream.port, deadPort].map((p, priority) => ({ priority, lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: p } } } }] })),
    };
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config }, 2);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await agent.close();
    await upstream?.close();
  });

  async function get(path: string, body: string): Promise<{ status: number; body: string; attempts: unknown; ms: number }> {
    const start = performance.now();
    const res = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: agent, method: "POST", body });
    const text = await res.body.text();
    return { status: res.statusCode, body: text, attempts: res.headers["x-envoy-attempt-count"], ms: performance.now() - start };
  }

  test("the hedge answers first: the client gets it long before the slow one would, whose connection is closed", async () => {
    const result = await get("/fast-hedge", "payload");
    expect([result.status, result.body, result.attempts]).toEqual([200, "attempt 2", "2"]);
    expect(result.ms).toBeLessThan(2000);
    const mine = attempts.filter((a) => a.path === "/fast-hedge");
    expect(mine.map((a) => a.attempt)).toEqual(["1", "2"]);
    // The timed-out attempt was not reset at its per-try timeout: it got the whole body, and is closed only now.
    expect(upstream.requests.filter((r) => r.url === "/fast-hedge").map((r) => r.body.toString())).toEqual(["payload", "payload"]);
    expect(await mine[0]!.outcome).toBe("closed");
    const s = await stats(adminPort);
    expect(s.get("cluster.fast.upstream_rq_per_try_timeout")).toBe(0);
    expect(s.get("cluster.fast.upstream_rq_retry")).toBe(1);
    expect(s.get("cluster.fast.upstream_rq_retry_success")).toBe(1);
    expect(s.get("cluster.fast.upstream_rq_200")).toBe(1);
    expect(s.get("cluster.fast.upstream_rq_timeout")).toBe(0);
  });

  test("the first attempt answers after its per-try timeout but before the hedge: it wins, the hedge's connection is closed", async () => {
    const result = await get("/slow-hedge", "payload");
    expect([result.status, result.body, result.attempts]).toEqual([200, "attempt 1", "2"]);
    expect(result.ms).toBeLessThan(2000);
    const mine = attempts.filter((a) => a.path === "/slow-hedge");
    expect(mine.map((a) => a.attempt)).toEqual(["1", "2"]);
    expect(await mine[1]!.outcome).toBe("closed");
    const s = await stats(adminPort);
    expect(s.get("cluster.slow.upstream_rq_per_try_timeout")).toBe(0);
    expect(s.get("cluster.slow.upstream_rq_retry")).toBe(1);
    expect(s.get("cluster.slow.upstream_rq_retry_success") ?? 0).toBe(0);
    expect(s.get("cluster.slow.upstream_rq_200")).toBe(1);
  });

  test("the route timeout after the hedge's connect failed: 504, the one attempt in flight charged once beside the hedge's 503", async () => {
    const result = await get("/connect-fail", "payload");
    expect([result.status, result.body]).toEqual([504, "upstream request timeout"]);
    expect(upstream.requests.filter((r) => r.url === "/connect-fail")).toHaveLength(1);
    const s = await stats(adminPort);
    expect(s.get("cluster.twoprio.upstream_cx_connect_fail")).toBe(1);
    expect([s.get("cluster.twoprio.upstream_rq_503"), s.get("cluster.twoprio.upstream_rq_504"), s.get("cluster.twoprio.upstream_rq_completed"), s.get("cluster.twoprio.upstream_rq_timeout")]).toEqual([1, 1, 2, 1]);
  });
});
