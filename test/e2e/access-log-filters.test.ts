/**
 * Access log filters against the real proxy on every runtime: only the streams a log's
 * `filter` admits are written — on the HTTP connection manager (status_code_filter,
 * or_filter of header_filter and response_flag_filter, and_filter with duration_filter
 * and not_health_check_filter, runtime_filter at 100%) and on tcp_proxy
 * (response_flag_filter UF); then grpc_status_filter, metadata_filter and log_type_filter
 * with a real @grpc/grpc-js client and server (h2c) and the header_to_metadata filter.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { mkdtempSync, readFileSync, existsSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { parseResponses, rawExchange } from "../support/raw-http.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const FILE_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";

function fileLog(path: string, filter: unknown, format = "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n"): object {
  return { name: "envoy.access_loggers.file", filter, typed_config: { "@type": FILE_TYPE, path, log_format: { text_format: format } } };
}

const comparison = (op: string, value: number) => ({ op, value: { default_value: value, runtime_key: "unused.key" } });

/**
 * A file's lines, after the proxy has flushed (it does so at least every second): read once
 * `atLeast` lines are there and 1.5 s have passed (a line a filter should have refused would
 * be in by then), or after 5 s.
 */
async function linesAfterFlush(path: string, atLeast: number): Promise<string[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const lines = existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean) : [];
    if ((lines.length >= atLeast && Date.now() > deadline - 3500) || Date.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Several files' lines, each as linesAfterFlush reads it, waited for together: each wait is
 * mostly the 1.5 s that lets a wrongly admitted line arrive, which the files share. Every
 * file is read once more at the end: a file expected to stay empty is then read after the
 * others' lines (from the same events) arrived, so its own flush had as long.
 */
async function allLinesAfterFlush(dir: string, expected: Record<string, number>): Promise<Record<string, string[]>> {
  await Promise.all(Object.entries(expected).map(([name, atLeast]) => linesAfterFlush(join(dir, name), atLeast)));
  return Object.fromEntries(Object.keys(expected).map((name) => [name, readLines(join(dir, name))]));
}

function readLines(path: string): string[] {
  return existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean) : [];
}

async function get(port: number, target: string, headers = ""): Promise<number> {
  const { text } = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`, 2000);
  return parseResponses(text)[0]?.status ?? 0;
}

describe.each(RUNTIMES)("access log filters on %s", (runtime) => {
  let echo: HttpUpstream;
  let proxy: ProxyProcess;
  let dir: string;
  const ports = { http: 0, tcp: 0, closed: 0 };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "polyvoy-log-filters-"));
    echo = await httpUpstream((req, res) => {
      res.statusCode = req.url.startsWith("/fail") ? 500 : 200;
      res.end("ok");
    });
    ports.http = await freePort();
    ports.tcp = await freePort();
    // Nothing listens here: the tcp_proxy's connect fails (UF).
    ports.closed = await freePort();
    const config = httpProxyConfig({
      listenPort: ports.http,
      clusters: { echo: [echo.port], closed: [ports.closed] },
      routes: [{ match: { prefix: "/" }, cluster: "echo" }],
      domains: ["x"],
      hcm: {
        access_log: [
          fileLog(join(dir, "errors.log"), { status_code_filter: { comparison: comparison("GE", 400) } }),
          fileLog(join(dir, "debug-or-noroute.log"), {
            or_filter: { filters: [{ header_filter: { header: { name: "x-debug", present_match: true } } }, { response_flag_filter: { flags: ["NR"] } }] },
          }),
          fileLog(join(dir, "all.log"), {
            and_filter: {
              filters: [
                { duration_filter: { comparison: comparison("GE", 0) } },
                { not_health_check_filter: {} },
                { runtime_filter: { runtime_key: "unused.key", percent_sampled: { numerator: 100 } } },
              ],
            },
          }),
        ],
      },
    }) as { static_resources: { listeners: object[] } };
    config.static_resources.listeners.push({
      name: "tcp",
      address: { socket_address: { address: "127.0.0.1", port_value: ports.tcp } },
      filter_chains: [
        {
          filters: [
            {
              name: "envoy.filters.network.tcp_proxy",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                stat_prefix: "tcp",
                cluster: "closed",
                access_log: [fileLog(join(dir, "tcp.log"), { response_flag_filter: { flags: ["UF"] } }, "%UPSTREAM_CLUSTER% %RESPONSE_FLAGS%\n")],
              },
            },
          ],
        },
      ],
    });
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("HTTP: each log gets only the streams its filter admits", async () => {
    expect(await get(ports.http, "/ok")).toBe(200);
    expect(await get(ports.http, "/fail")).toBe(500);
    expect(await get(ports.http, "/debug", "X-Debug: 1\r\n")).toBe(200);
    expect(await get(ports.http, "/ok", "Host: other\r\n")).toBe(400); // two Host fields: refused before routing
    const logs = await allLinesAfterFlush(dir, { "all.log": 4, "errors.log": 2, "debug-or-noroute.log": 1 });
    expect(logs["all.log"]!.length).toBe(4);
    // The refused request never became one: no path to log (Envoy prints "-").
    expect(logs["errors.log"]).toEqual(["/fail 500 -", "- 400 DPE"]);
    expect(logs["debug-or-noroute.log"]).toEqual(["/debug 200 -"]);
  });

  test("HTTP: a request without a route (NR) passes the or_filter", async () => {
    const { text } = await rawExchange(ports.http, "GET /nowhere HTTP/1.1\r\nHost: unknown.host\r\nConnection: close\r\n\r\n", 2000);
    expect(parseResponses(text)[0]?.status).toBe(404);
    const lines = await linesAfterFlush(join(dir, "debug-or-noroute.log"), 2);
    expect(lines.at(-1)).toBe("/nowhere 404 NR");
  });

  test("tcp_proxy: response_flag_filter logs the failed connection", async () => {
    await new Promise<void>((resolve) => {
      const socket = net.connect({ port: ports.tcp, host: "127.0.0.1" });
      socket.on("close", () => resolve());
      socket.on("error", () => undefined);
    });
    expect(await linesAfterFlush(join(dir, "tcp.log"), 1)).toEqual(["closed UF,URX"]);
  });
});

const raw = (b: Buffer): Buffer => b;
const grpcMethod = (path: string, responseStream: boolean) => ({ path, requestStream: false, responseStream, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw });

/**
 * pkg.Echo: Say (OK), Fail (NOT_FOUND as a trailers-only reply: grpc-status in the headers)
 * and Watch (one message, then NOT_FOUND in the trailers).
 */
async function startGrpcServer(): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(
    { Say: grpcMethod("/pkg.Echo/Say", false), Fail: grpcMethod("/pkg.Echo/Fail", false), Watch: grpcMethod("/pkg.Echo/Watch", true) },
    {
      Say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, call.request),
      Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback({ code: grpc.status.NOT_FOUND, details: "not found" }),
      Watch: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        call.write(Buffer.from("first"));
        call.emit("error", { code: grpc.status.NOT_FOUND, details: "gone" });
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { server, port };
}

/** A unary call or a server-streaming one, as the status code the client saw. */
function call(client: grpc.Client, path: string, tenant?: string): Promise<number> {
  const metadata = new grpc.Metadata();
  if (tenant !== undefined) metadata.set("x-tenant", tenant);
  return new Promise((resolve) => {
    if (path.endsWith("/Watch")) {
      const stream = client.makeServerStreamRequest(path, raw, raw, Buffer.from("x"), metadata);
      stream.on("data", () => undefined);
      stream.on("error", () => undefined);
      stream.on("status", (status: grpc.StatusObject) => resolve(status.code));
      return;
    }
    client.makeUnaryRequest(path, raw, raw, Buffer.from("x"), metadata, (error) => resolve(error?.code ?? grpc.status.OK));
  });
}

describe.each(RUNTIMES)("access log grpc_status, metadata and log_type filters on %s", (runtime) => {
  const NS = "envoy.filters.http.header_to_metadata";
  const tenantA = { filter: NS, path: [{ key: "tenant" }], value: { string_match: { exact: "a" } } };
  const FORMAT = "%REQ(:PATH)% %REQ(X-TENANT)% %GRPC_STATUS%\n";
  let upstream: { server: grpc.Server; port: number };
  let proxy: ProxyProcess;
  let client: grpc.Client;
  let dir: string;
  const ports = { http: 0, tcp: 0 };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "polyvoy-log-filters-grpc-"));
    upstream = await startGrpcServer();
    ports.http = await freePort();
    ports.tcp = await freePort();
    const config = httpProxyConfig({
      listenPort: ports.http,
      clusters: { grpc: [upstream.port], empty: [] },
      routes: [
        { match: { prefix: "/down." }, cluster: "empty" },
        { match: { prefix: "/" }, cluster: "grpc" },
      ],
      clusterExtra: { http2_protocol_options: {} },
      hcm: {
        http_filters: [
          {
            name: "envoy.filters.http.header_to_metadata",
            typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config", request_rules: [{ header: "x-tenant", on_header_present: { key: "tenant" } }] },
          },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
        access_log: [
          fileLog(join(dir, "not-found.log"), { grpc_status_filter: { statuses: ["NOT_FOUND"] } }, FORMAT),
          fileLog(join(dir, "unavailable.log"), { grpc_status_filter: { statuses: ["UNAVAILABLE"] } }, FORMAT),
          fileLog(join(dir, "failed-for-a.log"), { and_filter: { filters: [{ grpc_status_filter: { statuses: ["OK"], exclude: true } }, { metadata_filter: { matcher: tenantA, match_if_key_not_found: false } }] } }, FORMAT),
          // match_if_key_not_found defaults to true: tenant a and no tenant, not tenant b.
          fileLog(join(dir, "a-or-none.log"), { metadata_filter: { matcher: tenantA } }, FORMAT),
          fileLog(join(dir, "http-types.log"), { log_type_filter: { types: ["TcpConnectionEnd"], exclude: true } }, "%ACCESS_LOG_TYPE% %REQ(:PATH)%\n"),
        ],
      },
    }) as { static_resources: { listeners: object[] } };
    config.static_resources.listeners.push({
      name: "tcp",
      address: { socket_address: { address: "127.0.0.1", port_value: ports.tcp } },
      filter_chains: [
        {
          filters: [
            {
              name: "envoy.filters.network.tcp_proxy",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                stat_prefix: "tcp",
                cluster: "grpc",
                access_log: [
                  fileLog(join(dir, "tcp-types.log"), { log_type_filter: { types: ["TcpConnectionEnd"] } }, "%ACCESS_LOG_TYPE% %UPSTREAM_CLUSTER%\n"),
                  fileLog(join(dir, "tcp-never.log"), { log_type_filter: { types: ["DownstreamEnd", "UdpSessionEnd"] } }, "%ACCESS_LOG_TYPE%\n"),
                  // A connection has no gRPC status: UNKNOWN, as Envoy's GrpcStatusFilter finds no response.
                  fileLog(join(dir, "tcp-unknown.log"), { grpc_status_filter: { statuses: ["UNKNOWN"] } }, "%ACCESS_LOG_TYPE%\n"),
                ],
              },
            },
          ],
        },
      ],
    });
    proxy = await ProxyProcess.start(runtime, config);
    client = new grpc.Client(`127.0.0.1:${ports.http}`, grpc.credentials.createInsecure());
  });

  afterAll(async () => {
    client?.close();
    await proxy?.stop("SIGKILL");
    upstream?.server.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  test("gRPC calls: each log keeps only the statuses and tenants its filter admits", async () => {
    expect(await call(client, "/pkg.Echo/Say", "a")).toBe(grpc.status.OK);
    expect(await call(client, "/pkg.Echo/Fail", "a")).toBe(grpc.status.NOT_FOUND);
    expect(await call(client, "/pkg.Echo/Watch", "b")).toBe(grpc.status.NOT_FOUND);
    expect(await call(client, "/pkg.Echo/Fail")).toBe(grpc.status.NOT_FOUND);
    // No host in the cluster: polyvoy's local 503, a trailers-only UNAVAILABLE.
    expect(await call(client, "/down.Svc/Get", "a")).toBe(grpc.status.UNAVAILABLE);
    const logs = await allLinesAfterFlush(dir, { "http-types.log": 5, "not-found.log": 3, "unavailable.log": 1, "failed-for-a.log": 2, "a-or-none.log": 4 });
    expect(logs["http-types.log"]).toEqual([
      "DownstreamEnd /pkg.Echo/Say",
      "DownstreamEnd /pkg.Echo/Fail",
      "DownstreamEnd /pkg.Echo/Watch",
      "DownstreamEnd /pkg.Echo/Fail",
      "DownstreamEnd /down.Svc/Get",
    ]);
    // NOT_FOUND from the headers (Fail: trailers-only) and from the trailers (Watch).
    expect(logs["not-found.log"]).toEqual(["/pkg.Echo/Fail a NotFound", "/pkg.Echo/Watch b NotFound", "/pkg.Echo/Fail - NotFound"]);
    expect(logs["unavailable.log"]).toEqual(["/down.Svc/Get a Unavailable"]);
    expect(logs["failed-for-a.log"]).toEqual(["/pkg.Echo/Fail a NotFound", "/down.Svc/Get a Unavailable"]);
    expect(logs["a-or-none.log"]).toEqual([
      "/pkg.Echo/Say a OK",
      "/pkg.Echo/Fail a NotFound",
      "/pkg.Echo/Fail - NotFound",
      "/down.Svc/Get a Unavailable",
    ]);
  });

  test("tcp_proxy: log_type_filter sees TcpConnectionEnd; grpc_status_filter sees UNKNOWN", async () => {
    await new Promise<void>((resolve) => {
      const socket = net.connect({ port: ports.tcp, host: "127.0.0.1" }, () => socket.end());
      socket.on("close", () => resolve());
      socket.on("error", () => undefined);
      socket.resume();
    });
    const logs = await allLinesAfterFlush(dir, { "tcp-types.log": 1, "tcp-unknown.log": 1, "tcp-never.log": 0 });
    expect(logs["tcp-types.log"]).toEqual(["TcpConnectionEnd grpc"]);
    expect(logs["tcp-unknown.log"]).toEqual(["TcpConnectionEnd"]);
    expect(logs["tcp-never.log"]).toEqual([]);
  });
});
