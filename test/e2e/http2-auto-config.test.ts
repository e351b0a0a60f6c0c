/**
 * A cluster's `auto_config` on every runtime, black-box: over TLS each upstream connection
 * offers ALPN `h2,http/1.1` and speaks what the upstream chose — HTTP/2 to a node:http2
 * secure server (`allowHTTP1`) and to nginx (`listen … ssl http2`), HTTP/1.1 to a node:https
 * server that knows no h2. Also `h2` written in an UpstreamTlsContext's `alpn_protocols`.
 * Certificates are minted by the test.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { mintTestCerts, type TestCerts } from "../support/test-certs.ts";
import { adminStats } from "../support/admin-stats.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => existsSync(path));
const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

function run(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ stdout, stderr, code: error ? ((error as { code?: number }).code ?? 1) : 0 });
    });
  });
}

async function startNginx(port: number, certs: TestCerts): Promise<ChildProcess | undefined> {
  if (!NGINX) return undefined;
  const dir = mkdtempSync(join(tmpdir(), "polyvoy-nginx-h2tls-"));
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `daemon off; master_process off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${certs.server.cert}; ssl_certificate_key ${certs.server.key};
    location / { return 200 "nginx $server_protocol\\n"; }
  }
}
`,
  );
  const child = spawn(NGINX, ["-p", dir, "-c", conf], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    const probe = await run("curl", ["-sk", "--http2", `https://127.0.0.1:${port}/`]);
    if (probe.code === 0 && probe.stdout.startsWith("nginx")) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  return undefined;
}

/** An UpstreamTlsContext (no validation_context: the upstream's certificate is not checked, as Envoy). */
function tlsSocket(alpn?: string[]): Record<string, unknown> {
  return {
    transport_socket: {
      name: "envoy.transport_sockets.tls",
      typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", ...(alpn ? { common_tls_context: { alpn_protocols: alpn } } : {}) },
    },
  };
}

function httpOptions(options: Record<string, unknown>): Record<string, unknown> {
  return { typed_extension_protocol_options: { [HTTP_OPTIONS]: { "@type": `type.googleapis.com/${HTTP_OPTIONS}`, ...options } } };
}

/** What a node upstream says about the request it got: its HTTP version and the ALPN agreed. */
function describeRequest(req: http2.Http2ServerRequest | import("node:http").IncomingMessage, res: http2.Http2ServerResponse | import("node:http").ServerResponse): void {
  const socket = req.httpVersion === "2.0" ? (req as http2.Http2ServerRequest).stream.session?.socket : req.socket;
  const alpn = (socket as import("node:tls").TLSSocket | undefined)?.alpnProtocol;
  res.end(`${req.httpVersion} ${alpn || "none"}`);
}

describe.each(RUNTIMES)("auto_config on %s", (runtime) => {
  let certs: TestCerts;
  let both: http2.Http2SecureServer;
  let h1Only: https.Server;
  let nginx: ChildProcess | undefined;
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;

  beforeAll(async () => {
    certs = mintTestCerts();
    const key = readFileSync(certs.server.key);
    const cert = readFileSync(certs.server.cert);
    both = http2.createSecureServer({ key, cert, allowHTTP1: true }, describeRequest);
    await new Promise<void>((r) => both.listen(0, "127.0.0.1", r));
    h1Only = https.createServer({ key, cert }, describeRequest);
    await new Promise<void>((r) => h1Only.listen(0, "127.0.0.1", r));
    const nginxPort = await freePort();
    nginx = await startNginx(nginxPort, certs);

    port = await freePort();
    adminPort = await freePort();
    const portOf = (server: { address(): unknown }) => (server.address() as AddressInfo).port;
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { both: [portOf(both)], h1only: [portOf(h1Only)], nginx: [nginxPort], explicit_h2: [portOf(both)] },
      routes: [
        { match: { prefix: "/both" }, cluster: "both" },
        { match: { prefix: "/h1only" }, cluster: "h1only" },
        { match: { prefix: "/nginx" }, cluster: "nginx" },
        { match: { prefix: "/explicit" }, cluster: "explicit_h2" },
      ],
    }) as { static_resources: { clusters: Record<string, unknown>[] } };
    for (const cluster of config.static_resources.clusters) {
      if (cluster.name === "explicit_h2") Object.assign(cluster, tlsSocket(["h2"]), httpOptions({ explicit_http_config: { http2_protocol_options: {} } }));
      else Object.assign(cluster, tlsSocket(), httpOptions({ auto_config: { http_protocol_options: {}, http2_protocol_options: { max_concurrent_streams: 50 } } }));
    }
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config }, 2);
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    nginx?.kill();
    await new Promise((r) => both?.close(r));
    await new Promise((r) => h1Only?.close(r));
  });

  test("an upstream that agrees on h2 is spoken to in HTTP/2, over one connection", async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/both`);
      expect(await res.text()).toBe("2.0 h2");
    }
    const s = await adminStats(adminPort);
    expect(s.get("cluster.both.upstream_cx_http2_total")).toBe(1);
    expect(s.get("cluster.both.upstream_cx_http1_total")).toBe(0);
    expect(s.get("cluster.both.upstream_rq_total")).toBe(3);
  });

  test("an upstream that knows only HTTP/1.1 is spoken to in HTTP/1.1, its connection reused", async () => {
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/h1only`);
      expect(await res.text()).toBe("1.1 http/1.1");
    }
    const s = await adminStats(adminPort);
    expect(s.get("cluster.h1only.upstream_cx_http1_total")).toBe(1);
    expect(s.get("cluster.h1only.upstream_cx_http2_total")).toBe(0);
    expect(s.get("cluster.h1only.upstream_cx_total")).toBe(1);
  });

  test("concurrent requests to an HTTP/1.1-only upstream each get a connection (the HTTP/2 capacity hoped for is given back)", async () => {
    const bodies = await Promise.all(Array.from({ length: 4 }, () => fetch(`http://127.0.0.1:${port}/h1only/c`).then((r) => r.text())));
    expect(bodies).toEqual(Array(4).fill("1.1 http/1.1"));
  });

  test.skipIf(!NGINX)("nginx (listen … ssl http2) is spoken to in HTTP/2", async () => {
    expect(nginx).toBeDefined();
    const res = await fetch(`http://127.0.0.1:${port}/nginx`);
    expect(await res.text()).toBe("nginx HTTP/2.0\n");
    expect((await adminStats(adminPort)).get("cluster.nginx.upstream_cx_http2_total")).toBe(1);
  });

  test("h2 written in an UpstreamTlsContext's alpn_protocols (explicit HTTP/2) is offered", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/explicit`);
    expect(await res.text()).toBe("2.0 h2");
  });
});
