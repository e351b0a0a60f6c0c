/**
 * envoy.filters.http.grpc_http1_bridge on every runtime, black-box: gRPC calls from plain
 * HTTP/1.1 clients (fetch) through polyvoy to a @grpc/grpc-js server over an HTTP/2
 * cluster; the client reads grpc-status from the headers.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { type EchoGrpcServer, grpcFrame as frame, grpcFrames as frames, startEchoGrpcServer, startGrpcFilterProxy } from "../support/grpc-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

describe.each(RUNTIMES)("grpc_http1_bridge on %s", (runtime) => {
  let upstream: EchoGrpcServer;
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    upstream = await startEchoGrpcServer();
    ({ proxy, port } = await startGrpcFilterProxy(
      runtime,
      {
        name: "envoy.filters.http.grpc_http1_bridge",
        typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_http1_bridge.v3.Config", upgrade_protobuf_to_grpc: true },
      },
      upstream.port,
    ));
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    upstream?.server.forceShutdown();
  });

  test("a gRPC call over HTTP/1.1: the body whole with a content-length, the status in the headers", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/pkg.Echo/Say`, { method: "POST", headers: { "content-type": "application/grpc" }, body: frame(0, "hello") });
    expect([res.status, res.headers.get("grpc-status"), res.headers.get("grpc-message"), res.headers.get("content-length")]).toEqual([200, "0", "OK", "10"]);
    expect(frames(Buffer.from(await res.arrayBuffer()))).toEqual([{ flags: 0, data: "HELLO" }]);
  });

  test("a failed call answered trailers-only passes as it is (HTTP 200, grpc-status in the headers), as Envoy's bridge", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/pkg.Echo/Fail`, { method: "POST", headers: { "content-type": "application/grpc" }, body: frame(0, "x") });
    expect([res.status, res.headers.get("grpc-status"), res.headers.get("grpc-message")]).toEqual([200, "5", "not%20found"]);
    await res.arrayBuffer();
  });

  test("upgrade_protobuf_to_grpc: an application/x-protobuf body is framed for the upstream; the answer comes back unframed", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/pkg.Echo/Say`, { method: "POST", headers: { "content-type": "application/x-protobuf" }, body: "plain" });
    expect(upstream.received[upstream.received.length - 1]).toBe("plain");
    expect([res.status, res.headers.get("content-type")]).toEqual([200, "application/x-protobuf"]);
    expect(await res.text()).toBe("PLAIN");
  });

  test("upgrade_protobuf_to_grpc: a local reply to an application/x-protobuf request is plain HTTP (the request was no gRPC request when it came, as Envoy decides it)", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/down.Echo/Say`, { method: "POST", headers: { "content-type": "application/x-protobuf" }, body: "plain" });
    expect([res.status, res.headers.get("grpc-status"), await res.text()]).toEqual([503, null, "no healthy upstream"]);
  });
});
