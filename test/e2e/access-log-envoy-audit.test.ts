/**
 * Access log lines checked against Envoy's formatter (source/common/formatter/
 * stream_info_formatter.cc): the request/response timings, the upstream's local address,
 * response code details.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { connect, freePort, readAll, tcpServer } from "../support/net-helpers.ts";
import { httpProxyConfig, tcpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { lines } from "../support/log-lines.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");


const FORMAT = {
  path: "%REQ(:PATH)%",
  path_without_query: "%REQ_WITHOUT_QUERY(:PATH)%",
  code: "%RESPONSE_CODE%",
  duration: "%DURATION%",
  request_duration: "%REQUEST_DURATION%",
  request_tx_duration: "%REQUEST_TX_DURATION%",
  response_duration: "%RESPONSE_DURATION%",
  response_tx_duration: "%RESPONSE_TX_DURATION%",
  upstream_local: "%UPSTREAM_LOCAL_ADDRESS%",
  upstream_local_ip: "%UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%",
  upstream_local_port: "%UPSTREAM_LOCAL_PORT%",
  upstream_host: "%UPSTREAM_HOST%",
  details: "%RESPONSE_CODE_DETAILS%",
  flags: "%RESPONSE_FLAGS%",
  flags_long: "%RESPONSE_FLAGS_LONG%",
  attempts: "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
  failure: "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
  bytes_received: "%BYTES_RECEIVED%",
  bytes_sent: "%BYTES_SENT%",
  log_type: "%ACCESS_LOG_TYPE%",
  cluster_raw: "%UPSTREAM_CLUSTER_RAW%",
  grpc: "%GRPC_STATUS%",
  grpc_number: "%GRPC_STATUS(NUMBER)%",
};

describe.each(RUNTIMES)("access logs as Envoy's on %s", (runtime) => {
  let upstream: HttpUpstream;
  let proxy: ProxyProcess;
  let port: number;
  let dir: string;
  const agent = new Agent();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "polyvoy-logs-"));
    upstream = await httpUpstream((_req, res) => res.end("hello"));
    port = await freePort();
    const deadPort = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { up: [upstream.port], dead: [deadPort] },
        routes: [
          { match: { prefix: "/ok" }, cluster: "up" },
          { match: { prefix: "/dead" }, cluster: "dead" },
        ],
        hcm: {
          access_log: [
            {
              name: "envoy.access_loggers.file",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                path: join(dir, "json.log"),
                log_format: {
                  json_format: FORMAT,
                  formatters: [
                    {
                      name: "envoy.formatter.req_without_query",
                      typed_config: { "@type": "type.googleapis.com/envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery" },
                    },
                  ],
                },
              },
            },
          ],
        },
      }),
    );
    for (const path of ["/ok?token=secret", "/nowhere", "/dead"]) {
      const res = await request(`http://127.0.0.1:${port}${path}`, { method: "POST", body: "12345", dispatcher: agent });
      await res.body.text();
    }
    // A gRPC request no route takes: the local reply is trailers-only, grpc-status 12.
    const res = await request(`http://127.0.0.1:${port}/pkg.Svc/Method`, { method: "POST", body: "", headers: { "content-type": "application/grpc" }, dispatcher: agent });
    await res.body.text();
  });

  afterAll(async () => {
    await agent.close();
    await proxy?.stop("SIGKILL");
    await upstream?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("request and response timings are numbers once their point was reached, as Envoy's TimingUtility", async () => {
    const [ok, nowhere, dead] = (await lines(join(dir, "json.log"), 3)).map((line) => JSON.parse(line) as Record<string, unknown>);
    // Proxied: every point reached, each in whole ms within the stream's duration.
    for (const key of ["request_duration", "request_tx_duration", "response_duration", "response_tx_duration"]) {
      expect(typeof ok![key], key).toBe("number");
      expect(ok![key] as number, key).toBeLessThanOrEqual(ok!.duration as number);
    }
    expect(ok!.request_duration as number).toBeLessThanOrEqual(ok!.request_tx_duration as number);
    // A local 404: nothing went upstream or came back.
    expect(nowhere).toMatchObject({ code: 404, request_tx_duration: null, response_duration: null, response_tx_duration: null });
    // A refused connect: no request went upstream, no response came.
    expect(typeof dead!.request_duration).toBe("number");
    expect(dead).toMatchObject({ code: 503, flags: "UF", request_tx_duration: null, response_duration: null, response_tx_duration: null });
  });

  test("%GRPC_STATUS%: the gRPC status of a gRPC request (here a local reply's), '-' for others", async () => {
    const all = (await lines(join(dir, "json.log"), 4)).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(all.map((line) => [line.code, line.grpc, line.grpc_number])).toEqual([
      [200, null, null],
      [404, null, null],
      [503, null, null],
      [200, "Unimplemented", 12],
    ]);
  });

  test("%REQ_WITHOUT_QUERY(:PATH)% with the envoy.formatter.req_without_query formatter", async () => {
    const [ok, nowhere] = (await lines(join(dir, "json.log"), 2)).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(ok).toMatchObject({ path: "/ok?token=secret", path_without_query: "/ok" });
    expect(nowhere).toMatchObject({ path: "/nowhere", path_without_query: "/nowhere" });
  });

  test("%ACCESS_LOG_TYPE% is DownstreamEnd at a stream's end; %UPSTREAM_CLUSTER_RAW% the cluster", async () => {
    const all = (await lines(join(dir, "json.log"), 4)).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(all.map((line) => [line.log_type, line.cluster_raw])).toEqual([
      ["DownstreamEnd", "up"],
      ["DownstreamEnd", null],
      ["DownstreamEnd", "dead"],
      ["DownstreamEnd", null],
    ]);
  });

  test("%UPSTREAM_LOCAL_ADDRESS% is the upstream connection's local address", async () => {
    const [ok, nowhere] = (await lines(join(dir, "json.log"), 3)).map((line) => JSON.parse(line) as Record<string, unknown>);
    const port = ok!.upstream_local_port;
    expect(typeof port).toBe("number");
    expect(ok).toMatchObject({ upstream_local: `127.0.0.1:${port}`, upstream_local_ip: "127.0.0.1" });
    expect(upstream.requests[0]).toBeDefined();
    expect(nowhere).toMatchObject({ upstream_local: null, upstream_local_ip: null, upstream_local_port: null });
  });
});

describe.each(RUNTIMES)("the default format on %s", (runtime) => {
  test("no :authority (HTTP/1.0 without Host, refused) or no :path (CONNECT) logs \"-\", as Envoy", async () => {
    const dir = mkdtempSync(join(tmpdir(), "polyvoy-logs-"));
    const upstream = await httpUpstream((_req, res) => res.end("hello"));
    const port = await freePort();
    const proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { up: [upstream.port] },
        routes: [{ match: { prefix: "/" }, cluster: "up" }],
        hcm: {
          access_log: [
            {
              name: "envoy.access_loggers.file",
              typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: join(dir, "default.log") },
            },
          ],
        },
      }),
    );
    try {
      const client = await connect(port);
      const reply = readAll(client);
      client.write("GET /old HTTP/1.0\r\nuser-agent: probe/1\r\nx-request-id: rid-1\r\n\r\n");
      expect((await reply).toString()).toMatch(/^HTTP\/1\.1 426 /);
      const [line] = await lines(join(dir, "default.log"), 1);
      expect(line).toMatch(new RegExp(`^\\[[^\\]]+\\] "GET /old HTTP/1\\.0" 426 - 0 \\d+ \\d+ - "-" "probe/1" "rid-1" "-" "-"$`));
      // A CONNECT without upgrade_configs (403, as Envoy): Envoy's line has no path ("-") and the target as its authority.
      const tunnel = await connect(port);
      const refused = readAll(tunnel);
      tunnel.write("CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\nuser-agent: probe/2\r\nx-request-id: rid-2\r\n\r\n");
      await new Promise((r) => setTimeout(r, 200));
      tunnel.end();
      expect((await refused).toString()).toMatch(/^HTTP\/1\.1 403 /);
      const second = (await lines(join(dir, "default.log"), 2))[1];
      expect(second).toMatch(new RegExp(`^\\[[^\\]]+\\] "CONNECT - HTTP/1\\.1" 403 - 0 \\d+ \\d+ - "-" "probe/2" "rid-2" "example\\.com:443" "-"$`));
    } finally {
      await proxy.stop("SIGKILL");
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each(RUNTIMES)("tcp_proxy access log as Envoy's on %s", (runtime) => {
  test("%UPSTREAM_LOCAL_ADDRESS% is the upstream connection's local address; %ACCESS_LOG_TYPE% TcpConnectionEnd", async () => {
    const dir = mkdtempSync(join(tmpdir(), "polyvoy-logs-"));
    let upstreamPeerPort = 0;
    const upstream = await tcpServer((s) => {
      upstreamPeerPort = s.remotePort!;
      s.end("pong");
    });
    const port = await freePort();
    const config = tcpProxyConfig({ listenPort: port, upstreamPorts: [upstream.port], accessLog: { path: join(dir, "tcp.log"), format: "%UPSTREAM_LOCAL_ADDRESS% %UPSTREAM_LOCAL_PORT% %PROTOCOL% %ACCESS_LOG_TYPE%\n" } });
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      const client = await connect(port);
      const reply = readAll(client);
      client.end("ping!");
      expect((await reply).toString()).toBe("pong");
      expect(await lines(join(dir, "tcp.log"), 1)).toEqual([`127.0.0.1:${upstreamPeerPort} ${upstreamPeerPort} - TcpConnectionEnd`]);
    } finally {
      await proxy.stop("SIGKILL");
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
