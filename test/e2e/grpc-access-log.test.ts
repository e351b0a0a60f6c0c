/**
 * envoy.access_loggers.http_grpc and tcp_grpc on every runtime: a real @grpc/grpc-js
 * AccessLogService (Envoy's own protos from @grpc/grpc-js-xds) receives the entries of real
 * requests and connections through polyvoy — the identifier (node, log_name) in a stream's
 * first message only; HTTP method, path, authority, response code, body bytes, upstream
 * cluster, the additional headers; TCP bytes — and a logger whose service is down leaves
 * the proxy serving.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type * as grpc from "@grpc/grpc-js";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { connect, freePort, readAll, tcpServer, type TcpServer } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import * as grpcJs from "@grpc/grpc-js";
import { loadEnvoyService } from "../support/envoy-grpc-service.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const HTTP_GRPC = "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig";
const TCP_GRPC = "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.TcpGrpcAccessLogConfig";

type Entry = Record<string, any>;
interface LogMessage {
  identifier?: { node?: { id?: string; cluster?: string }; log_name?: string };
  http_logs?: { log_entry: Entry[] };
  tcp_logs?: { log_entry: Entry[] };
}

/** The access log service (on `port`, else a free one): every stream's messages, in order. */
async function startAls(port = 0): Promise<{ port: number; streams: LogMessage[][]; close(): void }> {
  const streams: LogMessage[][] = [];
  const server = new grpcJs.Server();
  server.addService(loadEnvoyService("envoy/service/accesslog/v3/als.proto", "envoy.service.accesslog.v3.AccessLogService").service, {
    StreamAccessLogs: (call: grpc.ServerReadableStream<LogMessage, object>, callback: grpc.sendUnaryData<object>) => {
      const messages: LogMessage[] = [];
      streams.push(messages);
      call.on("data", (m: LogMessage) => messages.push(m));
      call.on("end", () => callback(null, {}));
      call.on("error", () => {});
    },
  });
  const bound = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpcJs.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { port: bound, streams, close: () => server.forceShutdown() };
}

async function waitFor<T>(what: string, get: () => T | undefined): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = get();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function common(logName: string, cluster: string, extra: Record<string, unknown> = {}): object {
  return { log_name: logName, transport_api_version: "V3", grpc_service: { envoy_grpc: { cluster_name: cluster } }, buffer_flush_interval: "0.1s", ...extra };
}

describe.each(RUNTIMES)("gRPC access log service on %s", (runtime) => {
  let echo: HttpUpstream;
  let tcpEcho: TcpServer;
  let als: Awaited<ReturnType<typeof startAls>>;
  let proxy: ProxyProcess;
  let base: string;
  let down: string;
  let google: string;
  let tcpPort: number;
  let adminPort: number;

  const entries = (logName: string, kind: "http_logs" | "tcp_logs") =>
    als.streams.filter((s) => s[0]?.identifier?.log_name === logName).flatMap((s) => s.flatMap((m) => m[kind]?.log_entry ?? []));

  beforeAll(async () => {
    echo = await httpUpstream((_req, res) => {
      res.setHeader("x-resp", "r1");
      res.end("hello");
    });
    tcpEcho = await tcpServer((socket) => socket.pipe(socket));
    als = await startAls();
    const [port, downPort, deadPort, googlePort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    tcpPort = await freePort();
    adminPort = await freePort();
    base = `http://127.0.0.1:${port}`;
    down = `http://127.0.0.1:${downPort}`;
    google = `http://127.0.0.1:${googlePort}`;
    const httpLog = (logName: string, cluster: string) => ({
      name: "envoy.access_loggers.http_grpc",
      typed_config: {
        "@type": HTTP_GRPC,
        common_config: common(logName, cluster),
        additional_request_headers_to_log: ["X-Custom", "x-absent"],
        additional_response_headers_to_log: ["x-resp"],
      },
    });
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [echo.port], als: [als.port], dead: [deadPort], tcp_echo: [tcpEcho.port] },
      routes: [{ name: "all", match: { prefix: "/" }, cluster: "echo" }],
      hcm: { access_log: [httpLog("http-log", "als")] },
    }) as { static_resources: { listeners: Record<string, any>[]; clusters: Record<string, unknown>[] } };
    const resources = config.static_resources;
    for (const cluster of resources.clusters) if (cluster.name === "als" || cluster.name === "dead") cluster.http2_protocol_options = {};
    const downListener = structuredClone(resources.listeners[0]!);
    downListener.name = "down";
    downListener.address = { socket_address: { address: "127.0.0.1", port_value: downPort } };
    downListener.filter_chains[0].filters[0].typed_config.stat_prefix = "down";
    downListener.filter_chains[0].filters[0].typed_config.access_log = [httpLog("down-log", "dead")];
    resources.listeners.push(downListener);
    // The service named by a google_grpc target_uri rather than a cluster.
    const googleListener = structuredClone(resources.listeners[0]!);
    googleListener.name = "google";
    googleListener.address = { socket_address: { address: "127.0.0.1", port_value: googlePort } };
    googleListener.filter_chains[0].filters[0].typed_config.stat_prefix = "google";
    const googleLog = httpLog("google-log", "unused");
    (googleLog.typed_config.common_config as Record<string, unknown>).grpc_service = { google_grpc: { target_uri: `127.0.0.1:${als.port}`, stat_prefix: "als_google" } };
    googleListener.filter_chains[0].filters[0].typed_config.access_log = [googleLog];
    resources.listeners.push(googleListener);
    resources.listeners.push({
      name: "tcp",
      address: { socket_address: { address: "127.0.0.1", port_value: tcpPort } },
      filter_chains: [
        {
          filters: [
            {
              name: "envoy.filters.network.tcp_proxy",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                stat_prefix: "tcp",
                cluster: "tcp_echo",
                access_log: [{ name: "envoy.access_loggers.tcp_grpc", typed_config: { "@type": TCP_GRPC, common_config: common("tcp-log", "als") } }],
              },
            },
          ],
        },
      ],
    });
    proxy = await ProxyProcess.start(runtime, {
      node: { id: "als-node", cluster: "als-test" },
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      ...config,
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    als?.close();
    await echo?.close();
    await tcpEcho?.close();
  });

  test("HTTP entries reach the service: method, path, authority, status, bytes, cluster, headers; the identifier once per stream", async () => {
    const res = await request(`${base}/first?q=1`, { method: "POST", body: "abc", headers: ["x-custom", "c1", "x-custom", "c2", "user-agent", "als-test"] });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe("hello");
    const [entry] = await waitFor("the first HTTP entry", () => (entries("http-log", "http_logs").length >= 1 ? entries("http-log", "http_logs") : undefined));
    expect(entry!.protocol_version).toBe("HTTP11");
    expect(entry!.request).toMatchObject({
      request_method: "POST",
      scheme: "http",
      authority: base.slice("http://".length),
      path: "/first?q=1",
      user_agent: "als-test",
      request_body_bytes: 3,
      // A repeated header: every value, joined with "," (Envoy's getAllOfHeaderAsString).
      request_headers: { "x-custom": "c1,c2" },
    });
    expect(entry!.request.request_headers["x-absent"]).toBeUndefined();
    expect(entry!.response).toMatchObject({ response_code: { value: 200 }, response_body_bytes: 5, response_headers: { "x-resp": "r1" }, response_code_details: "via_upstream" });
    expect(entry!.common_properties).toMatchObject({
      upstream_cluster: "echo",
      route_name: "all",
      upstream_remote_address: { socket_address: { address: "127.0.0.1", port_value: echo.port } },
      downstream_remote_address: { socket_address: { address: "127.0.0.1" } },
      access_log_type: "DownstreamEnd",
      upstream_request_attempt_count: 1,
    });
    expect(entry!.common_properties.start_time.seconds).toBeGreaterThan(1_600_000_000);

    // A second request after the first was flushed: the same stream, no identifier.
    const second = await request(`${base}/second`);
    await second.body.text();
    await waitFor("the second HTTP entry", () => (entries("http-log", "http_logs").length >= 2 ? true : undefined));
    const stream = als.streams.find((s) => s[0]?.identifier?.log_name === "http-log")!;
    expect(stream[0]!.identifier).toMatchObject({ node: { id: "als-node", cluster: "als-test" }, log_name: "http-log" });
    expect(stream.length).toBeGreaterThanOrEqual(2);
    for (const later of stream.slice(1)) expect(later.identifier).toBeFalsy();
    expect(entries("http-log", "http_logs").map((e) => e.request.path)).toEqual(["/first?q=1", "/second"]);
  });

  test("a service named by google_grpc gets the entries; grpc.<stat_prefix>.streams_total counts the stream", async () => {
    const res = await request(`${google}/via-google`);
    expect(res.statusCode).toBe(200);
    await res.body.text();
    const [entry] = await waitFor("the google_grpc entry", () => (entries("google-log", "http_logs").length >= 1 ? entries("google-log", "http_logs") : undefined));
    expect(entry!.request.path).toBe("/via-google");
    const stats = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=^grpc\\.als_google\\.`)).body.text();
    expect(stats).toContain("grpc.als_google.streams_total: 1");
  });

  test("TCP entries carry the connection's bytes", async () => {
    const socket = await connect(tcpPort);
    const echoed = readAll(socket);
    socket.end("ping!");
    expect((await echoed).toString()).toBe("ping!");
    const [entry] = await waitFor("the TCP entry", () => (entries("tcp-log", "tcp_logs").length >= 1 ? entries("tcp-log", "tcp_logs") : undefined));
    expect(entry!.connection_properties).toMatchObject({ received_bytes: 5, sent_bytes: 5 });
    expect(entry!.common_properties).toMatchObject({ upstream_cluster: "tcp_echo", access_log_type: "TcpConnectionEnd" });
    expect(als.streams.find((s) => s[0]?.identifier?.log_name === "tcp-log")![0]!.identifier!.node!.id).toBe("als-node");
  });

  test("a service that is down: requests are served, entries counted as written", async () => {
    for (let i = 0; i < 3; i++) {
      const res = await request(`${down}/x${i}`);
      expect(res.statusCode).toBe(200);
      await res.body.text();
    }
    // The flush to the dead cluster fails; the proxy keeps serving on every listener.
    await new Promise((r) => setTimeout(r, 300));
    const res = await request(`${down}/after`);
    expect(await res.body.text()).toBe("hello");
    const stats = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=grpc_access_log`)).body.text();
    const written = Number(/access_logs\.grpc_access_log\.logs_written: (\d+)/.exec(stats)?.[1]);
    expect(written).toBeGreaterThanOrEqual(6);
    expect(stats).toContain("access_logs.grpc_access_log.logs_dropped: 0");
    expect(entries("down-log", "http_logs")).toEqual([]);
  });

  test("the service goes away and comes back: the proxy serves meanwhile, the next flush opens a new stream with the identifier", async () => {
    const port = als.port;
    als.close();
    const during = await request(`${base}/while-down`);
    expect(await during.body.text()).toBe("hello");
    als = await startAls(port);
    // Entries flushed while nothing listened are lost (as in Envoy); keep logging until one arrives.
    const entry = await waitFor("an entry on a new stream", () => {
      void request(`${base}/after-restart`).then((r) => r.body.text()).catch(() => {});
      return entries("http-log", "http_logs").find((e) => e.request.path === "/after-restart");
    });
    expect(entry.response.response_code.value).toBe(200);
    expect(als.streams[0]![0]!.identifier).toMatchObject({ node: { id: "als-node" }, log_name: "http-log" });
  });
});
