/**
 * envoy.filters.http.grpc_web on every runtime, black-box: gRPC-Web requests (binary and
 * base64 text) from a plain HTTP/1.1 client (fetch, as a browser's gRPC-Web library sends
 * them) through polyvoy to a @grpc/grpc-js server over an HTTP/2 cluster.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { lines } from "../support/log-lines.ts";
import { type ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { type EchoGrpcServer, grpcFrame as frame, grpcFrames as frames, startEchoGrpcServer, startGrpcFilterProxy } from "../support/grpc-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

describe.each(RUNTIMES)("grpc_web on %s", (runtime) => {
  let upstream: EchoGrpcServer;
  let proxy: ProxyProcess;
  let port: number;
  const accessLog = join(inject("tempRoot"), `grpc-web-${runtime}.log`);

  beforeAll(async () => {
    upstream = await startEchoGrpcServer();
    ({ proxy, port } = await startGrpcFilterProxy(
      runtime,
      { name: "envoy.filters.http.grpc_web", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb" } },
      upstream.port,
      { path: accessLog, format: "%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_CODE_DETAILS%\n" },
    ));
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    upstream?.server.forceShutdown();
  });

  test("binary: gRPC upstream, the message back and the trailers as the last frame", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/pkg.Echo/Say`, { method: "POST", headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" }, body: frame(0, "hello") });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/grpc-web+proto");
    expect(frames(Buffer.from(await res.arrayBuffer()))).toEqual([
      { flags: 0, data: "HELLO" },
      { flags: 0x80, data: "grpc-status:0\r\ngrpc-message:OK\r\n" },
    ]);
    // The gRPC server took it: it came as gRPC over HTTP/2.
    expect(upstream.received[upstream.received.length - 1]).toBe("hello");
  });

  test("text: base64 request and response", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/pkg.Echo/Say`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web-text", accept: "application/grpc-web-text" },
      body: frame(0, "text mode").toString("base64"),
    });
    expect(res.headers.get("content-type")).toBe("application/grpc-web-text+proto");
    const text = await res.text();
    const decoded = Buffer.concat(text.split(/(?<==)(?=[A-Za-z0-9+/])/).map((run) => Buffer.from(run, "base64")));
    expect(frames(decoded)).toEqual([
      { flags: 0, data: "TEXT MODE" },
      { flags: 0x80, data: "grpc-status:0\r\ngrpc-message:OK\r\n" },
    ]);
    expect(upstream.received[upstream.received.length - 1]).toBe("text mode");
  });

  test("a failed call (trailers-only): its status in the headers", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/pkg.Echo/Fail`, { method: "POST", headers: { "content-type": "application/grpc-web+proto" }, body: frame(0, "x") });
    await res.arrayBuffer();
    // Trailers-only from the server: the status comes in the headers.
    expect([res.status, res.headers.get("grpc-status"), res.headers.get("grpc-message")]).toEqual([200, "5", "not%20found"]);
  });

  test("no healthy upstream: a gRPC-Web request is no gRPC request, so the local reply is plain HTTP, which the filter turns into grpc-status 14 in the headers (the HTTP status kept, the body moved to grpc-message)", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/down.Svc/M`, { method: "POST", headers: { "content-type": "application/grpc-web" }, body: frame(0, "") });
    expect(await res.text()).toBe("");
    expect([res.status, res.headers.get("content-type"), res.headers.get("content-length")]).toEqual([503, "application/grpc-web+proto", "0"]);
    expect([res.headers.get("grpc-status"), res.headers.get("grpc-message")]).toEqual(["14", "no healthy upstream"]);
  });

  test("no healthy upstream for a HEAD: the local reply ends at its headers (Envoy's sendLocalReply), so the filter sees no body to move into grpc-message", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/down.Svc/M`, { method: "HEAD", headers: { "content-type": "application/grpc-web" } });
    expect([res.status, res.headers.get("content-type"), res.headers.get("grpc-status"), res.headers.get("grpc-message")]).toEqual([503, "application/grpc-web+proto", null, null]);
  });

  test("a response that is not gRPC: the HTTP status stays, grpc-status from it, the body as grpc-message; one without a body is left as it is", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/plain.Svc/M`, { method: "POST", headers: { "content-type": "application/grpc-web+proto" }, body: frame(0, "") });
    expect(await res.text()).toBe("");
    // 404 maps to UNIMPLEMENTED (Grpc::Utility::httpToGrpcStatus).
    expect([res.status, res.headers.get("grpc-status"), res.headers.get("grpc-message"), res.headers.get("content-length")]).toEqual([404, "12", "no such thing", "0"]);
    // Headers only: Envoy's filter transforms nothing but the content type.
    const empty = await fetch(`http://127.0.0.1:${port}/empty.Svc/M`, { method: "POST", headers: { "content-type": "application/grpc-web+proto" }, body: frame(0, "") });
    expect(await empty.text()).toBe("");
    expect([empty.status, empty.headers.get("content-type"), empty.headers.get("grpc-status")]).toEqual([404, "application/grpc-web+proto", null]);
  });

  test("invalid base64: Envoy's 400, sent as grpc-status 13 with the HTTP status kept, details grpc_base_64_decode_failed[_bad_size]", async () => {
    const headers = { "content-type": "application/grpc-web-text" };
    const badData = await fetch(`http://127.0.0.1:${port}/bad.Data/M`, { method: "POST", headers, body: "!!!!" });
    await badData.text();
    expect([badData.status, badData.headers.get("grpc-status"), badData.headers.get("grpc-message")]).toEqual([400, "13", "Bad gRPC-web request, invalid base64 data."]);
    const badSize = await fetch(`http://127.0.0.1:${port}/bad.Size/M`, { method: "POST", headers, body: "AAAAA" });
    await badSize.text();
    expect(badSize.status).toBe(400);
    // The logger flushes within a second: wait for both lines.
    let logged: string[] = [];
    for (let i = 0; i < 50 && logged.length < 2; i++) {
      logged = (await lines(accessLog, 1)).filter((line) => line.startsWith("/bad."));
      if (logged.length < 2) await new Promise((r) => setTimeout(r, 100));
    }
    expect(logged).toEqual(["/bad.Data/M 400 grpc_base_64_decode_failed", "/bad.Size/M 400 grpc_base_64_decode_failed_bad_size"]);
  });

  test("only Envoy's four gRPC-Web content types are gRPC-Web: application/grpc-web+json passes untouched", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/plain.Svc/M`, { method: "POST", headers: { "content-type": "application/grpc-web+json" }, body: "{}" });
    expect([res.status, res.headers.get("content-type"), res.headers.get("grpc-status"), await res.text()]).toEqual([404, "text/plain", null, "no such thing"]);
  });
});
