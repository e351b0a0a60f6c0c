/**
 * The upstream side compared with Envoy, black box on every runtime: what the cluster's
 * stats count when the load balancer has no host, and other differences the upstream
 * audit found (each test failed before its fix).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { adminStats } from "../support/admin-stats.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import * as net from "node:net";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

describe.each(RUNTIMES)("upstream behaviour as Envoy's on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;
  let slowBody: HttpUpstream;
  let silent: net.Server;
  let grpcUnavailable: HttpUpstream;

  beforeAll(async () => {
    // Headers and a first part of the body at once, the rest never.
    slowBody = await httpUpstream((_req, res) => {
      res.writeHead(200, { "content-length": "100" });
      res.write("partial");
    });
    // A gRPC answer in the headers alone: 200, grpc-status 14 (UNAVAILABLE).
    grpcUnavailable = await httpUpstream((_req, res) => {
      res.writeHead(200, { "content-type": "application/grpc", "grpc-status": "14", "grpc-message": "down" });
      res.end();
    });
    // Accepts and says nothing: a connect-only TCP check's host.
    silent = net.createServer((socket) => socket.on("error", () => {}));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const silentPort = (silent.address() as net.AddressInfo).port;
    port = await freePort();
    adminPort = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { empty: [], slowbody: [slowBody.port], tcpcheck: [silentPort], grpc: [grpcUnavailable.port] },
      routes: [
        { match: { prefix: "/empty" }, cluster: "empty" },
        { match: { prefix: "/slowbody" }, action: { route: { cluster: "slowbody", timeout: "0.3s" } } },
        { match: { prefix: "/pkg.Svc/" }, cluster: "grpc" },
      ],
    }) as { static_resources: { clusters: Record<string, unknown>[] } };
    // One 5xx in a row ejects: a timeout reported as a 504 would show at once.
    const slowCluster = config.static_resources.clusters.find((c) => c.name === "slowbody")!;
    slowCluster.outlier_detection = { consecutive_5xx: 1, max_ejection_percent: 100, interval: "60s" };
    config.static_resources.clusters.find((c) => c.name === "grpc")!.outlier_detection = { consecutive_5xx: 1, max_ejection_percent: 100, interval: "60s" };
    const tcpCluster = config.static_resources.clusters.find((c) => c.name === "tcpcheck")!;
    tcpCluster.health_checks = [{ timeout: "0.5s", interval: "0.1s", no_traffic_interval: "0.1s", unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {} }];
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config }, 2);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await slowBody?.close();
    silent?.close();
    await grpcUnavailable?.close();
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

  test("the route timeout after the response began: the stream is reset (UT), and outlier detection is not told of a timeout", async () => {
    const res = await request(`http://127.0.0.1:${port}/slowbody`);
    expect(res.statusCode).toBe(200);
    await expect(res.body.text()).rejects.toThrow();
    const s = await adminStats(adminPort);
    expect(s.get("cluster.slowbody.upstream_rq_timeout")).toBe(1);
    // Envoy's onResponseTimeout reports LocalOriginTimeout only for an attempt still awaiting its
    // headers: the host answered 200, which outlier detection already has.
    expect(s.get("cluster.slowbody.outlier_detection.ejections_enforced_total")).toBe(0);
    expect(s.get("cluster.slowbody.outlier_detection.ejections_active")).toBe(0);
  });

  test("a connect-only TCP health check passes every time: each check's connection is closed once made, as Envoy's", async () => {
    let s = await adminStats(adminPort);
    for (let i = 0; i < 200 && (s.get("cluster.tcpcheck.health_check.attempt") ?? 0) < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      s = await adminStats(adminPort);
    }
    expect(s.get("cluster.tcpcheck.health_check.attempt")).toBeGreaterThanOrEqual(4);
    // Kept open, the next check waited on the idle connection and timed out.
    expect(s.get("cluster.tcpcheck.health_check.failure")).toBe(0);
    expect(s.get("cluster.tcpcheck.health_check.healthy")).toBe(1);
  });

  test("a gRPC answer of grpc-status UNAVAILABLE in a 200 counts as a 503 to outlier detection (Envoy's grpcToHttpStatus)", async () => {
    const res = await request(`http://127.0.0.1:${port}/pkg.Svc/Method`, { method: "POST", headers: { "content-type": "application/grpc" }, body: new Uint8Array(5) });
    expect(res.statusCode).toBe(200);
    expect(res.headers["grpc-status"]).toBe("14");
    await res.body.text();
    const s = await adminStats(adminPort);
    // consecutive_5xx 1: the one UNAVAILABLE ejects the host.
    expect(s.get("cluster.grpc.outlier_detection.ejections_enforced_consecutive_5xx")).toBe(1);
    expect(s.get("cluster.grpc.outlier_detection.ejections_active")).toBe(1);
  });
});
