/**
 * The upstream side compared with Envoy, black box on every runtime: what the cluster's
 * stats count when the load balancer has no host, and other differences the upstream
 * audit found (each test failed before its fix).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { request } from "undici";
import { ProxyProcess, RUNTIMES } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { adminStats } from "../support/admin-stats.ts";

describe.each(RUNTIMES)("upstream behaviour as Envoy's on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;

  beforeAll(async () => {
    port = await freePort();
    adminPort = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { empty: [] },
      routes: [{ match: { prefix: "/empty" }, cluster: "empty" }],
    });
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config }, 2);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
  });

  test("no host to pick: 503 'no healthy upstream', counted as upstream_cx_none_healthy and charged as the cluster's 503", async () => {
    const res = await request(`http://127.0.0.1:${port}/empty`);
    expect(res.statusCode).toBe(503);
    expect(await res.body.text()).toBe("no healthy upstream");
    const s = await adminStats(adminPort);
    // Envoy's httpConnPoolImpl counts the miss; sendNoHealthyUpstreamResponse charges the 503 (chargeUpstreamCode).
    expect(s.get("cluster.empty.upstream_cx_none_healthy")).toBe(1);
    expect(s.get("cluster.empty.upstream_rq_503")).toBe(1);
    expect(s.get("cluster.empty.upstream_rq_5xx")).toBe(1);
    expect(s.get("cluster.empty.upstream_rq_completed")).toBe(1);
  });
});
