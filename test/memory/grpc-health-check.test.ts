/**
 * gRPC health checks (core/upstream/grpc-health-checker.ts) through a whole proxy on the
 * memory runtime, against grpc.health.v1.Health servers made of the core's HTTP/2 server
 * connection: what a check sends, which answers pass, connection reuse, timeouts, stats.
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../core/config/load.ts";
import { Logger } from "../../core/log.ts";
import { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryGrpcHealthServer, type HealthAnswer } from "./support/grpc-health-server.ts";

const PROXY = 10000;
const UPSTREAMS = [8081, 8082, 8083];
const SERVING = { status: 1 };
const NOT_SERVING = { status: 2 };

let runtime: MemoryRuntime;
let server: Server;
let upstreams: MemoryGrpcHealthServer[] = [];

afterEach(() => {
  for (const upstream of upstreams) upstream.close();
  upstreams = [];
});

/** One host per answer; an undefined answer is a port where nothing listens. */
async function proxy(
  answers: (((message: Uint8Array) => HealthAnswer) | undefined)[],
  check: Record<string, unknown> = {},
  grpc: Record<string, unknown> = {},
  endpointHostnames: (string | undefined)[] = [],
): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  for (const [i, answer] of answers.entries()) if (answer) upstreams.push(await MemoryGrpcHealthServer.listen(runtime, UPSTREAMS[i]!, answer));
  const clusterExtra = {
    health_checks: [{ timeout: "1s", interval: "5s", no_traffic_interval: "5s", unhealthy_threshold: 2, healthy_threshold: 2, grpc_health_check: grpc, ...check }],
  };
  const config = httpProxyConfig({ listenPort: PROXY, clusters: { backend: UPSTREAMS.slice(0, answers.length) }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], clusterExtra }) as any;
  for (const [i, hostname] of endpointHostnames.entries()) {
    if (hostname !== undefined) config.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[i].endpoint.health_check_config = { hostname };
  }
  server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "error"));
  const started = server.start();
  await runtime.settle();
  await started;
}

function stat(name: string): number | undefined {
  return (server.stats.get(name) as { value: number } | undefined)?.value;
}

function flags(): string[] {
  return server.clusterManager.get("backend")!.hosts.map((h) => h.healthFlagsText());
}

function headerOf(fields: string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

describe("gRPC health checks", () => {
  test("SERVING passes; NOT_SERVING and UNKNOWN fail (/failed_active_hc); the stats count them", async () => {
    await proxy([() => SERVING, () => NOT_SERVING, () => ({ status: 0 })]);
    expect(flags()).toEqual(["healthy", "/failed_active_hc", "/failed_active_hc"]);
    expect(stat("cluster.backend.health_check.attempt")).toBe(3);
    expect(stat("cluster.backend.health_check.success")).toBe(1);
    expect(stat("cluster.backend.health_check.failure")).toBe(2);
    expect(stat("cluster.backend.health_check.network_failure")).toBe(0);
    expect(stat("cluster.backend.health_check.healthy")).toBe(1);
    expect(stat("cluster.backend.membership_healthy")).toBe(1);
  });

  test("the request: POST /grpc.health.v1.Health/Check, authority the cluster's name, gRPC headers, grpc-timeout, the empty service", async () => {
    await proxy([() => SERVING]);
    const check = upstreams[0]!.checks[0]!;
    const h = check.headers;
    expect([headerOf(h, ":method"), headerOf(h, ":path"), headerOf(h, ":authority"), headerOf(h, ":scheme")]).toEqual(["POST", "/grpc.health.v1.Health/Check", "backend", "http"]);
    expect([headerOf(h, "content-type"), headerOf(h, "te"), headerOf(h, "user-agent"), headerOf(h, "grpc-timeout")]).toEqual(["application/grpc", "trailers", "Envoy/HC", "1000m"]);
    expect(check.message).toEqual(new Uint8Array(0));
  });

  test("service_name, authority and initial_metadata reach the server", async () => {
    await proxy([(m) => (new TextDecoder().decode(m.subarray(2)) === "pkg.Svc" ? SERVING : NOT_SERVING)], {}, { service_name: "pkg.Svc", authority: "svc.local", initial_metadata: [{ header: { key: "x-hc", value: "yes" } }] });
    const h = upstreams[0]!.checks[0]!.headers;
    expect(headerOf(h, ":authority")).toBe("svc.local");
    expect(headerOf(h, "x-hc")).toBe("yes");
    expect(flags()).toEqual(["healthy"]);
  });

  test("an endpoint's health_check_config.hostname goes before the check's authority (Envoy's getHostname)", async () => {
    await proxy([() => SERVING, () => SERVING], {}, { authority: "svc.local" }, ["endpoint.example"]);
    expect(headerOf(upstreams[0]!.checks[0]!.headers, ":authority")).toBe("endpoint.example");
    expect(headerOf(upstreams[1]!.checks[0]!.headers, ":authority")).toBe("svc.local");
  });

  test("one connection per host, reused check after check; reuse_connection false connects for each", async () => {
    await proxy([() => SERVING]);
    await runtime.settle(5_000);
    await runtime.settle(5_000);
    expect(upstreams[0]!.checks).toHaveLength(3);
    expect(upstreams[0]!.accepted).toBe(1);
    upstreams[0]!.close();
    upstreams = [];
    await proxy([() => SERVING], { reuse_connection: false });
    await runtime.settle(5_000);
    expect(upstreams[0]!.checks).toHaveLength(2);
    expect(upstreams[0]!.accepted).toBe(2);
  });

  test("a grpc-status other than 0 (trailers-only UNIMPLEMENTED), a non-200 answer or an unparsable message fail actively", async () => {
    await proxy([() => ({ grpcStatus: 12 }), () => ({ httpStatus: 503 }), () => "garbage"]);
    expect(upstreams.map((u) => u.checks.length)).toEqual([1, 1, 1]);
    expect(flags()).toEqual(["/failed_active_hc", "/failed_active_hc", "/failed_active_hc"]);
    expect(stat("cluster.backend.health_check.failure")).toBe(3);
    expect(stat("cluster.backend.health_check.network_failure")).toBe(0);
  });

  test("flipping to NOT_SERVING fails a healthy host at once; back to SERVING it passes after healthy_threshold checks", async () => {
    let answer: HealthAnswer = SERVING;
    await proxy([() => answer]);
    expect(flags()).toEqual(["healthy"]);
    answer = NOT_SERVING;
    await runtime.settle(5_000);
    expect(flags()).toEqual(["/failed_active_hc"]);
    answer = SERVING;
    await runtime.settle(5_000);
    expect(flags()).toEqual(["/failed_active_hc"]);
    await runtime.settle(5_000);
    expect(flags()).toEqual(["healthy"]);
    expect(upstreams[0]!.accepted).toBe(1);
  });

  test("no answer within timeout: a network failure, /active_hc_timeout after unhealthy_threshold; the connection stays for the next check", async () => {
    let answer: HealthAnswer = SERVING;
    await proxy([() => answer]);
    answer = "hang";
    await runtime.settle(6_000);
    expect(flags()).toEqual(["healthy"]);
    expect(stat("cluster.backend.health_check.network_failure")).toBe(1);
    await runtime.settle(6_000);
    expect(flags()).toEqual(["/failed_active_hc/active_hc_timeout"]);
    answer = SERVING;
    await runtime.settle(5_000);
    await runtime.settle(5_000);
    expect(flags()).toEqual(["healthy"]);
    expect(upstreams[0]!.accepted).toBe(1);
  });

  test("a refused connection is a network failure", async () => {
    await proxy([() => SERVING, undefined]);
    expect(flags()).toEqual(["healthy", "/failed_active_hc"]);
    expect(stat("cluster.backend.health_check.network_failure")).toBe(1);
  });
});
