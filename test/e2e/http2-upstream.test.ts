/**
 * HTTP/2 upstreams on every runtime, black-box: curl (HTTP/1.1 and h2c prior knowledge) →
 * polyvoy → a node:http2 h2c server and nginx (`listen … http2`, h2c) where nginx is
 * installed; and @grpc/grpc-js client → polyvoy (downstream h2c, codec AUTO) →
 * @grpc/grpc-js server: unary, server streaming, client streaming, bidi, a deadline that
 * expires, a cancellation that reaches the upstream, grpc-status in the trailers.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => existsSync(path));
const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

function run(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ stdout, stderr, code: error ? ((error as { code?: number }).code ?? 1) : 0 });
    });
  });
}

async function stats(adminPort: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text();
  const map = new Map<string, number>();
  for (const line of text.split("\n")) {
    const at = line.lastIndexOf(": ");
    if (at > 0) map.set(line.slice(0, at), Number(line.slice(at + 2)));
  }
  return map;
}

const PROTO = `syntax = "proto3";
package test;
service Echo {
  rpc Unary (Msg) returns (Msg);
  rpc ServerStream (Msg) returns (stream Msg);
  rpc ClientStream (stream Msg) returns (Msg);
  rpc Bidi (stream Msg) returns (stream Msg);
  rpc Hang (Msg) returns (Msg);
  rpc Fail (Msg) returns (Msg);
}
message Msg { string text = 1; int32 n = 2; }
`;

interface Msg {
  text: string;
  n: number;
}

type Rpc = (...args: unknown[]) => unknown;
type EchoClient = grpc.Client & { Unary: Rpc; ServerStream: Rpc; ClientStream: Rpc; Bidi: Rpc; Hang: Rpc; Fail: Rpc };

/** A gRPC server recording which calls the client cancelled (a cancellation that reached it). */
function grpcServer(definition: grpc.GrpcObject): { server: grpc.Server; cancelled: string[]; hanging: Set<string> } {
  const cancelled: string[] = [];
  const hanging = new Set<string>();
  const server = new grpc.Server();
  const service = (definition.test as grpc.GrpcObject).Echo as grpc.ServiceClientConstructor;
  server.addService(service.service, {
    Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      const trailer = new grpc.Metadata();
      trailer.set("x-echo-trailer", "t");
      cb(null, { text: `echo ${call.request.text} ${call.metadata.get("x-md")[0] ?? ""}`, n: call.request.n + 1 }, trailer);
    },
    ServerStream: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      const n = call.request.n;
      call.on("cancelled", () => cancelled.push(`ServerStream ${call.request.text}`));
      if (n < 0) return; // streams until cancelled
      for (let i = 0; i < n; i++) call.write({ text: `${call.request.text}-${i}`, n: i });
      call.end();
    },
    ClientStream: (call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      const texts: string[] = [];
      call.on("data", (m: Msg) => texts.push(m.text));
      call.on("end", () => cb(null, { text: texts.join(","), n: texts.length }));
    },
    Bidi: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      call.on("data", (m: Msg) => call.write({ text: m.text.toUpperCase(), n: m.n }));
      call.on("end", () => call.end());
    },
    Hang: (call: grpc.ServerUnaryCall<Msg, Msg>) => {
      hanging.add(call.request.text);
      call.on("cancelled", () => cancelled.push(`Hang ${call.request.text}`));
    },
    Fail: (_call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      cb({ code: grpc.status.NOT_FOUND, details: "no such thing" });
    },
  });
  return { server, cancelled, hanging };
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function startNginx(port: number): Promise<ChildProcess | undefined> {
  if (!NGINX) return undefined;
  const dir = mkdtempSync(join(tmpdir(), "polyvoy-nginx-h2-"));
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `daemon off; master_process off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server {
    listen 127.0.0.1:${port} http2;
    location / { return 200 "nginx $server_protocol $http_host\\n"; }
  }
}
`,
  );
  const child = spawn(NGINX, ["-p", dir, "-c", conf], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    const probe = await run("curl", ["-s", "--http2-prior-knowledge", `http://127.0.0.1:${port}/`]);
    if (probe.code === 0 && probe.stdout.startsWith("nginx")) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  return undefined;
}

function http2Cluster(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    typed_extension_protocol_options: {
      [HTTP_OPTIONS]: { "@type": `type.googleapis.com/${HTTP_OPTIONS}`, explicit_http_config: { http2_protocol_options: extra } },
    },
  };
}

describe.each(RUNTIMES)("HTTP/2 upstreams on %s", (runtime) => {
  let h2: http2.Http2Server;
  let h2Port: number;
  let grpcUp: ReturnType<typeof grpcServer>;
  let grpcPort: number;
  let nginx: ChildProcess | undefined;
  let nginxPort: number;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;
  let definition: grpc.GrpcObject;
  const big = "y".repeat(1_000_000);

  beforeAll(async () => {
    h2 = http2.createServer();
    h2.on("stream", (stream, headers) => {
      // A stream we reset ourselves reports it as an error.
      stream.on("error", () => {});
      const chunks: Buffer[] = [];
      stream.on("data", (d: Buffer) => chunks.push(d));
      stream.on("end", () => {
        if (headers[":path"] === "/big") {
          stream.respond({ ":status": 200 });
          stream.end(big);
          return;
        }
        if (headers[":path"] === "/reset") {
          stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
          return;
        }
        stream.respond({ ":status": 200, "content-type": "application/json" }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "x-up-trailer": "done" }));
        const seen: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(headers)) seen[k] = v;
        stream.end(JSON.stringify({ headers: seen, body: Buffer.concat(chunks).toString(), httpVersion: stream.session?.alpnProtocol ?? "h2c" }));
      });
    });
    await new Promise<void>((r) => h2.listen(0, "127.0.0.1", r));
    h2Port = (h2.address() as AddressInfo).port;

    const protoDir = mkdtempSync(join(tmpdir(), "polyvoy-proto-"));
    writeFileSync(join(protoDir, "echo.proto"), PROTO);
    definition = grpc.loadPackageDefinition(protoLoader.loadSync(join(protoDir, "echo.proto"), { defaults: true }));
    grpcUp = grpcServer(definition);
    grpcPort = await new Promise<number>((resolve, reject) =>
      grpcUp.server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );

    nginxPort = await freePort();
    nginx = await startNginx(nginxPort);

    port = await freePort();
    adminPort = await freePort();
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { h2up: [h2Port] },
      routes: [
        { match: { prefix: "/test.Echo/" }, action: { route: { cluster: "grpc", timeout: "0s" } } },
        { match: { prefix: "/nginx" }, cluster: "nginx" },
        { match: { prefix: "/" }, cluster: "h2up" },
      ],
      clusterExtra: http2Cluster({ initial_stream_window_size: 65535, initial_connection_window_size: 65535 }),
    }) as { static_resources: { clusters: Record<string, unknown>[] } };
    const clusterOf = (name: string, upstreamPort: number, extra: Record<string, unknown>) => ({
      name,
      type: "STATIC",
      connect_timeout: "1s",
      ...extra,
      load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: upstreamPort } } } }] }] },
    });
    // The deprecated cluster field for gRPC, as Envoy's older examples write it.
    config.static_resources.clusters.push(clusterOf("grpc", grpcPort, { http2_protocol_options: {} }));
    config.static_resources.clusters.push(clusterOf("nginx", nginxPort, http2Cluster()));
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config }, 2);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    nginx?.kill();
    grpcUp?.server.forceShutdown();
    await new Promise((r) => h2?.close(r));
  });

  test("curl HTTP/1.1 and h2c → polyvoy → node:http2: headers translated, body and trailers through, one upstream connection", async () => {
    const h1 = await run("curl", ["-s", "-H", "x-custom: 1", "-H", "te: trailers", "--data-binary", "posted", `http://127.0.0.1:${port}/echo?q=1`]);
    const seen = JSON.parse(h1.stdout) as { headers: Record<string, string>; body: string };
    expect(seen.headers[":method"]).toBe("POST");
    expect(seen.headers[":path"]).toBe("/echo?q=1");
    expect(seen.headers[":authority"]).toBe(`127.0.0.1:${port}`);
    expect(seen.headers[":scheme"]).toBe("http");
    expect(seen.headers["x-custom"]).toBe("1");
    expect(seen.headers.te).toBe("trailers");
    expect(seen.headers.host).toBeUndefined();
    expect(seen.body).toBe("posted");
    const h2c = await run("curl", ["-s", "--http2-prior-knowledge", "-w", "\n%{http_version} %{http_code}", `http://127.0.0.1:${port}/again`]);
    const [body, status] = h2c.stdout.split("\n");
    expect(status).toBe("2 200");
    expect((JSON.parse(body!) as { headers: Record<string, string> }).headers[":path"]).toBe("/again");
    // Trailers from the HTTP/2 upstream reach an HTTP/2 client.
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const req = session.request({ ":path": "/t" });
      req.on("trailers", resolve);
      req.on("error", reject);
      req.resume();
    });
    session.close();
    expect(trailers["x-up-trailer"]).toBe("done");
    const s = await stats(adminPort);
    expect(s.get("cluster.h2up.upstream_cx_http2_total")).toBe(1);
    expect(s.get("cluster.h2up.upstream_rq_total")).toBe(3);
    expect(s.get("cluster.h2up.upstream_cx_http1_total")).toBe(0);
  });

  test("a 1 MB response over a 64 KiB upstream window arrives whole, to HTTP/1.1 and h2c clients", async () => {
    const h1 = await run("curl", ["-s", "-o", "/dev/null", "-w", "%{size_download}", `http://127.0.0.1:${port}/big`]);
    expect(h1.stdout).toBe(String(big.length));
    const h2c = await run("curl", ["-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{size_download}", `http://127.0.0.1:${port}/big`]);
    expect(h2c.stdout).toBe(String(big.length));
  });

  test("an upstream RST_STREAM is a 503 (remote reset, UR); the connection goes on", async () => {
    const reset = await run("curl", ["-s", "-w", "\n%{http_code}", `http://127.0.0.1:${port}/reset`]);
    expect(reset.stdout).toBe("upstream connect error or disconnect/reset before headers. reset reason: remote reset\n503");
    const after = await run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", `http://127.0.0.1:${port}/after`]);
    expect(after.stdout).toBe("200");
    const s = await stats(adminPort);
    expect(s.get("cluster.h2up.upstream_cx_http2_total")).toBe(1);
    // Envoy's MultiplexedActiveClientBase::onStreamReset: the RST_STREAM is an rx_reset; the
    // streams that completed before it reset nothing.
    expect(s.get("cluster.h2up.upstream_rq_rx_reset")).toBe(1);
    expect(s.get("cluster.h2up.upstream_rq_tx_reset")).toBe(0);
  });

  test.skipIf(!NGINX)("curl → polyvoy → nginx (listen … http2, h2c)", async () => {
    expect(nginx).toBeDefined();
    const h1 = await run("curl", ["-s", `http://127.0.0.1:${port}/nginx`]);
    expect(h1.stdout).toBe(`nginx HTTP/2.0 127.0.0.1:${port}\n`);
    const h2c = await run("curl", ["-s", "--http2-prior-knowledge", `http://127.0.0.1:${port}/nginx`]);
    expect(h2c.stdout).toBe(`nginx HTTP/2.0 127.0.0.1:${port}\n`);
    expect((await stats(adminPort)).get("cluster.nginx.upstream_cx_http2_total")).toBe(1);
  });

  describe("gRPC: @grpc/grpc-js → polyvoy → @grpc/grpc-js", () => {
    let client: EchoClient;
    beforeAll(() => {
      const Echo = (definition.test as grpc.GrpcObject).Echo as grpc.ServiceClientConstructor;
      client = new Echo(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
    });
    afterAll(() => client?.close());

    test("unary, with metadata both ways and grpc-status in the trailers", async () => {
      const md = new grpc.Metadata();
      md.set("x-md", "meta");
      let trailers: grpc.Metadata | undefined;
      const reply = await new Promise<Msg>((resolve, reject) => {
        const call = client.Unary({ text: "hi", n: 41 }, md, (err: grpc.ServiceError | null, res: Msg) => (err ? reject(err) : resolve(res))) as grpc.ClientUnaryCall;
        call.on("status", (status: grpc.StatusObject) => (trailers = status.metadata));
      });
      expect(reply).toEqual({ text: "echo hi meta", n: 42 });
      await until(() => trailers !== undefined);
      expect(trailers!.get("x-echo-trailer")).toEqual(["t"]);
    });

    test("an error status from the server arrives as such (grpc-status 5, its message)", async () => {
      const err = await new Promise<grpc.ServiceError>((resolve) => client.Fail({ text: "x" }, (e: grpc.ServiceError) => resolve(e)));
      expect(err.code).toBe(grpc.status.NOT_FOUND);
      expect(err.details).toBe("no such thing");
    });

    test("server streaming, client streaming and bidi", async () => {
      const streamed = await new Promise<Msg[]>((resolve, reject) => {
        const out: Msg[] = [];
        const call = client.ServerStream({ text: "s", n: 50 }) as grpc.ClientReadableStream<Msg>;
        call.on("data", (m: Msg) => out.push(m));
        call.on("end", () => resolve(out));
        call.on("error", reject);
      });
      expect(streamed.map((m) => m.text)).toEqual(Array.from({ length: 50 }, (_, i) => `s-${i}`));

      const summed = await new Promise<Msg>((resolve, reject) => {
        const call = client.ClientStream((err: grpc.ServiceError | null, res: Msg) => (err ? reject(err) : resolve(res))) as grpc.ClientWritableStream<Msg>;
        for (const text of ["a", "b", "c"]) call.write({ text, n: 0 });
        call.end();
      });
      expect(summed).toEqual({ text: "a,b,c", n: 3 });

      const echoed = await new Promise<string[]>((resolve, reject) => {
        const out: string[] = [];
        const call = client.Bidi() as grpc.ClientDuplexStream<Msg, Msg>;
        call.on("data", (m: Msg) => {
          out.push(m.text);
          // Ping-pong: the next message only after the answer to the last one came back.
          if (out.length < 3) call.write({ text: `m${out.length}`, n: out.length });
          else call.end();
        });
        call.on("end", () => resolve(out));
        call.on("error", reject);
        call.write({ text: "m0", n: 0 });
      });
      expect(echoed).toEqual(["M0", "M1", "M2"]);
    });

    test("a deadline that expires: DEADLINE_EXCEEDED at the client, and the cancellation reaches the server", async () => {
      const err = await new Promise<grpc.ServiceError>((resolve) =>
        client.Hang({ text: "deadline" }, new grpc.Metadata(), { deadline: Date.now() + 500 }, (e: grpc.ServiceError) => resolve(e)),
      );
      expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      await until(() => grpcUp.cancelled.includes("Hang deadline"));
    });

    test("a client cancellation reaches the upstream server", async () => {
      const call = client.ServerStream({ text: "endless", n: -1 }) as grpc.ClientReadableStream<Msg>;
      call.on("error", () => {});
      await new Promise((r) => setTimeout(r, 200));
      call.cancel();
      await until(() => grpcUp.cancelled.includes("ServerStream endless"));
      const s = await stats(adminPort);
      expect(s.get("cluster.grpc.upstream_cx_http2_total")).toBe(1);
      expect(s.get("cluster.grpc.upstream_rq_active")).toBe(0);
      // The cancelled streams (this one, the expired deadline's) were reset by the proxy: tx_reset.
      expect(s.get("cluster.grpc.upstream_rq_tx_reset")).toBeGreaterThanOrEqual(2);
      expect(s.get("cluster.grpc.upstream_rq_rx_reset")).toBe(0);
    });
  });
});
