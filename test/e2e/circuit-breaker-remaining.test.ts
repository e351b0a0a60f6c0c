/**
 * Circuit breakers' `track_remaining` on every runtime (Envoy's ResourceManagerImpl): the
 * `circuit_breakers.<priority>.remaining_{cx,pending,rq,retries}` gauges start at the
 * limits, fall while real requests hold an upstream's connections, and come back when
 * they finish; HIGH's stay at its limits (no route is of priority HIGH).
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

/** The remaining_* gauges of `cluster.held.circuit_breakers.<priority>.`, by name. */
async function remaining(adminPort: number, priority: "default" | "high"): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/stats?filter=circuit_breakers\\.${priority}\\.remaining`)).text();
  const out: Record<string, number> = {};
  for (const [, name, value] of text.matchAll(/^cluster\.held\.circuit_breakers\.\w+\.(remaining_\w+): (\d+)$/gm)) out[name!] = Number(value);
  return out;
}

/** Polls until `want` or 15 s (the proxy's view catches up with the upstream's). */
async function remainingUntil(adminPort: number, want: Record<string, number>): Promise<Record<string, number>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const got = await remaining(adminPort, "default");
    if (Object.entries(want).every(([k, v]) => got[k] === v) || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(RUNTIMES)("circuit breakers' track_remaining on %s", (runtime) => {
  let upstream: HttpUpstream;
  /** Responses the upstream holds until released. */
  const held: http.ServerResponse[] = [];
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;

  beforeAll(async () => {
    upstream = await httpUpstream((_req, res: http.ServerResponse) => void held.push(res));
    port = await freePort();
    adminPort = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { held: [upstream.port] },
      clusterExtra: {
        circuit_breakers: {
          thresholds: [
            { max_connections: 4, max_pending_requests: 6, max_requests: 5, max_retries: 2, track_remaining: true },
            { priority: "HIGH", max_connections: 7, track_remaining: true },
          ],
        },
      },
      routes: [{ match: { prefix: "/" }, cluster: "held" }],
    });
    proxy = await ProxyProcess.start(runtime, { ...config, admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } } }, 2);
  });

  afterAll(async () => {
    for (const res of held.splice(0)) res.end();
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  test("remaining_* start at the limits, fall by the requests and connections in use, and come back", async () => {
    expect(await remaining(adminPort, "default")).toEqual({ remaining_cx: 4, remaining_pending: 6, remaining_rq: 5, remaining_retries: 2 });
    expect(await remaining(adminPort, "high")).toEqual({ remaining_cx: 7, remaining_pending: 1024, remaining_rq: 1024, remaining_retries: 3 });
    const agent = new Agent({ connections: 10 });
    try {
      const responses = [0, 1, 2].map(async (i) => (await request(`http://127.0.0.1:${port}/r${i}`, { dispatcher: agent })).body.text());
      // Three requests on three upstream connections, held by the upstream.
      expect(await remainingUntil(adminPort, { remaining_rq: 2, remaining_cx: 1 })).toMatchObject({ remaining_rq: 2, remaining_cx: 1, remaining_pending: 6, remaining_retries: 2 });
      while (held.length < 3) await new Promise((r) => setTimeout(r, 20));
      for (const res of held.splice(0)) res.end("done");
      expect(await Promise.all(responses)).toEqual(["done", "done", "done"]);
      // The requests are done; their connections stay open, idle, in the pool.
      expect(await remainingUntil(adminPort, { remaining_rq: 5 })).toEqual({ remaining_cx: 1, remaining_pending: 6, remaining_rq: 5, remaining_retries: 2 });
    } finally {
      await agent.close();
    }
  });
});
