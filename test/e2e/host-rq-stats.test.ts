/**
 * A host's rq_success / rq_error (admin /clusters) as Envoy's router charges them
 * (source/common/router/router.cc), on every runtime, black-box: an HTTP/1 upstream (raw
 * bytes) and an h2c upstream (node:http2) that answer 200 and then cut the response, and an
 * h2c one whose gRPC trailers say UNAVAILABLE. A gRPC call cut before its trailers is an
 * rq_error (chargeUpstreamAbort, grpcRqSuccessDeferred); any other response cut after its
 * headers stays the rq_success its headers made it (handleNon5xxResponseHeaders); a gRPC call
 * is judged by its trailers' grpc-status (onUpstreamTrailers).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as http2 from "node:http2";
import * as net from "node:net";
import { ProxyProcess, RUNTIMES } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { HCM_WITH_TRAILERS, httpProxyConfig } from "../support/configs.ts";

const H2 = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const GRPC_HEAD = "HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n";
const PLAIN_HEAD = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n";

/** One POST on a new HTTP/1 connection (gRPC by its content-type); resolves when the proxy ends or cuts it. */
function post(port: number, path: string, grpc: boolean): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString("latin1"));
    };
    const timer = setTimeout(finish, 5_000);
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("end", finish);
    socket.on("error", finish);
    const type = grpc ? "content-type: application/grpc\r\nte: trailers\r\n" : "";
    socket.write(`POST ${path} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n${type}content-length: 0\r\n\r\n`);
  });
}

describe.each(RUNTIMES)("a host's rq_success / rq_error as Envoy's router charges them, on %s", (runtime) => {
  let h1: net.Server;
  let h2: http2.Http2Server;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;

  /** The host's rq_success and rq_error, from /clusters. */
  async function hostCounters(cluster: "h1" | "h2"): Promise<{ rqSuccess: number; rqError: number }> {
    const body = await (await fetch(`http://127.0.0.1:${adminPort}/clusters`)).text();
    const upstreamPort = ((cluster === "h1" ? h1 : h2).address() as net.AddressInfo).port;
    const value = (stat: string) => Number(body.split("\n").find((l) => l.startsWith(`${cluster}::127.0.0.1:${upstreamPort}::${stat}::`))!.split("::").at(-1));
    return { rqSuccess: value("rq_success"), rqError: value("rq_error") };
  }

  /** What one call adds to the host's counters. */
  async function charged(cluster: "h1" | "h2", path: string, grpc: boolean): Promise<{ rqSuccess: number; rqError: number }> {
    const before = await hostCounters(cluster);
    const response = await post(port, path, grpc);
    expect(response).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const after = await hostCounters(cluster);
    return { rqSuccess: after.rqSuccess - before.rqSuccess, rqError: after.rqError - before.rqError };
  }

  beforeAll(async () => {
    // HTTP/1: the head and a chunk, then the connection is cut mid-body.
    h1 = net.createServer((socket) => {
      socket.on("error", () => {});
      socket.once("data", (d: Buffer) => {
        socket.write(d.toString("latin1").startsWith("POST /h1/grpc") ? GRPC_HEAD : PLAIN_HEAD);
        setTimeout(() => socket.destroy(), 100);
      });
    });
    await new Promise<void>((r) => h1.listen(0, "127.0.0.1", r));
    h2 = http2.createServer();
    h2.on("stream", (stream, headers) => {
      stream.on("error", () => {});
      const path = String(headers[":path"]);
      if (path === "/h2/unavailable") {
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "14" }));
        stream.end("abc");
        return;
      }
      stream.respond({ ":status": 200, "content-type": path === "/h2/grpc" ? "application/grpc" : "text/plain" });
      stream.write("abc");
      setTimeout(() => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR), 100);
    });
    await new Promise<void>((r) => h2.listen(0, "127.0.0.1", r));
    port = await freePort();
    adminPort = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { h1: [(h1.address() as net.AddressInfo).port], h2: [(h2.address() as net.AddressInfo).port] },
      routes: [
        { match: { prefix: "/h1/" }, cluster: "h1" },
        { match: { prefix: "/h2/" }, cluster: "h2" },
      ],
      hcm: HCM_WITH_TRAILERS,
    }) as { static_resources: { clusters: Record<string, unknown>[] } } & Record<string, unknown>;
    const h2Cluster = config.static_resources.clusters.find((c) => c["name"] === "h2")!;
    h2Cluster["typed_extension_protocol_options"] = { [H2]: { "@type": `type.googleapis.com/${H2}`, explicit_http_config: { http2_protocol_options: {} } } };
    config["admin"] = { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } };
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    h1?.close();
    h2?.close();
  });

  test.each(["h1", "h2"] as const)("%s: a gRPC call cut after its headers, before its trailers: an rq_error", async (cluster) => {
    expect(await charged(cluster, `/${cluster}/grpc`, true)).toEqual({ rqSuccess: 0, rqError: 1 });
  });

  test.each(["h1", "h2"] as const)("%s: a plain response cut after its headers: the rq_success its headers made it", async (cluster) => {
    expect(await charged(cluster, `/${cluster}/plain`, false)).toEqual({ rqSuccess: 1, rqError: 0 });
  });

  test("h2: a gRPC call whose trailers say UNAVAILABLE (a 503): an rq_error", async () => {
    expect(await charged("h2", "/h2/unavailable", true)).toEqual({ rqSuccess: 0, rqError: 1 });
  });
});
