/**
 * gRPC health checks on every runtime, black-box: each host is a @grpc/grpc-js server
 * implementing grpc.health.v1.Health (a hand-built service definition) and a node:http
 * server for traffic, behind one port that hands an HTTP/2 preface to the first and
 * HTTP/1.1 to the second (polyvoy's cluster traffic is HTTP/1.1; its checks are HTTP/2).
 * Flipping a host between SERVING and NOT_SERVING shows in /clusters and in routing.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as grpc from "@grpc/grpc-js";
import * as http from "node:http";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import protobuf from "protobufjs";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

// grpc.health.v1 (grpc's health.proto), as protobufjs JSON.
const root = protobuf.Root.fromJSON({
  nested: {
    HealthCheckRequest: { fields: { service: { type: "string", id: 1 } } },
    HealthCheckResponse: { fields: { status: { type: "int32", id: 1 } } },
  },
});
const Request = root.lookupType("HealthCheckRequest");
const Response = root.lookupType("HealthCheckResponse");
const SERVING = 1;
const NOT_SERVING = 2;

const HealthService: grpc.ServiceDefinition = {
  Check: {
    path: "/grpc.health.v1.Health/Check",
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: object) => Buffer.from(Request.encode(v).finish()),
    requestDeserialize: (b: Buffer) => Request.toObject(Request.decode(b)),
    responseSerialize: (v: object) => Buffer.from(Response.encode(v).finish()),
    responseDeserialize: (b: Buffer) => Response.toObject(Response.decode(b)),
  },
};

interface Host {
  name: string;
  port: number;
  status: number;
  checks: { service: string; authority: string; peer: string; metadata: grpc.Metadata }[];
  close(): Promise<void>;
}

/** One upstream host: gRPC health on HTTP/2, `name` as the answer to any HTTP/1.1 request, on one port. */
async function startHost(name: string): Promise<Host> {
  const host = { name, status: SERVING, checks: [] } as unknown as Host;
  const server = new grpc.Server();
  server.addService(HealthService, {
    Check: (call: grpc.ServerUnaryCall<{ service?: string }, object>, callback: grpc.sendUnaryData<object>) => {
      host.checks.push({ service: call.request.service ?? "", authority: call.getHost(), peer: call.getPeer(), metadata: call.metadata });
      callback(null, { status: host.status });
    },
  });
  const grpcPort = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const web = http.createServer((_req, res) => res.end(name));
  await new Promise<void>((r) => web.listen(0, "127.0.0.1", r));
  const webPort = (web.address() as AddressInfo).port;
  // Sniff the first bytes: the HTTP/2 client preface goes to gRPC, anything else to node:http.
  const front = net.createServer((socket) => {
    socket.once("data", (first: Buffer) => {
      const target = net.connect(first.subarray(0, 3).toString() === "PRI" ? grpcPort : webPort, "127.0.0.1");
      target.write(first);
      socket.pipe(target).pipe(socket);
      const end = () => (socket.destroy(), target.destroy());
      socket.on("error", end).on("close", end);
      target.on("error", end).on("close", end);
    });
  });
  await new Promise<void>((r) => front.listen(0, "127.0.0.1", r));
  host.port = (front.address() as AddressInfo).port;
  host.close = async () => {
    front.close();
    web.closeAllConnections();
    web.close();
    server.forceShutdown();
  };
  return host;
}

async function until(what: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await what())) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each(RUNTIMES)("gRPC health checks on %s", (runtime) => {
  let hosts: Host[];
  let proxy: ProxyProcess;
  let port: number;
  let admin: number;

  beforeAll(async () => {
    hosts = await Promise.all([startHost("a"), startHost("b")]);
    port = await freePort();
    admin = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { backend: hosts.map((h) => h.port) },
      routes: [{ match: { prefix: "/" }, cluster: "backend" }],
      clusterExtra: {
        health_checks: [
          {
            timeout: "1s",
            interval: "0.3s",
            no_traffic_interval: "0.3s",
            unhealthy_threshold: 1,
            healthy_threshold: 1,
            grpc_health_check: { service_name: "pkg.Svc", authority: "svc.local", initial_metadata: [{ header: { key: "x-hc", value: "polyvoy" } }] },
          },
        ],
      },
    });
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: admin } } }, ...config }, 2);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await Promise.all((hosts ?? []).map((h) => h.close()));
  });

  async function clusters(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${admin}/clusters`)).text();
  }

  const flag = (host: Host, flags: string) => `backend::127.0.0.1:${host.port}::health_flags::${flags}\n`;

  async function bodies(n: number): Promise<Set<string>> {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) seen.add(await (await fetch(`http://127.0.0.1:${port}/r${i}`)).text());
    return seen;
  }

  test("SERVING hosts are healthy; the checks carry service_name, authority, initial_metadata and user-agent Envoy/HC", async () => {
    await until(async () => (await clusters()).includes(flag(hosts[0]!, "healthy")) && (await clusters()).includes(flag(hosts[1]!, "healthy")));
    const check = hosts[0]!.checks[0]!;
    expect(check.service).toBe("pkg.Svc");
    expect(check.authority).toBe("svc.local");
    expect(check.metadata.get("x-hc")).toEqual(["polyvoy"]);
    expect(String(check.metadata.get("user-agent")[0])).toMatch(/^Envoy\/HC/);
    expect(await bodies(6)).toEqual(new Set(["a", "b"]));
  });

  test("a host flipped to NOT_SERVING is /failed_active_hc and gets no traffic; back to SERVING it is healthy and served again", async () => {
    hosts[1]!.status = NOT_SERVING;
    await until(async () => (await clusters()).includes(flag(hosts[1]!, "/failed_active_hc")));
    expect(await clusters()).toContain(flag(hosts[0]!, "healthy"));
    expect(await bodies(6)).toEqual(new Set(["a"]));
    hosts[1]!.status = SERVING;
    await until(async () => (await clusters()).includes(flag(hosts[1]!, "healthy")));
    expect(await bodies(6)).toEqual(new Set(["a", "b"]));
  });

  test("one HTTP/2 connection per host carries every check", async () => {
    const stats = await (await fetch(`http://127.0.0.1:${admin}/stats?filter=^cluster.backend.health_check`)).text();
    expect(Number(/health_check\.attempt: (\d+)/.exec(stats)?.[1])).toBeGreaterThan(4);
    expect(Number(/health_check\.failure: (\d+)/.exec(stats)?.[1])).toBeGreaterThanOrEqual(1);
    // The checks' peer is the port sniffer's connection to grpc-js: one per connection from polyvoy.
    expect(new Set(hosts[0]!.checks.map((c) => c.peer)).size).toBe(1);
  });
});
