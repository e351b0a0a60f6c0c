/**
 * Envoy's own example configs (test/fixtures/envoy-examples), served on every runtime as
 * written but for where things are (test/support/envoy-examples.ts): listeners and admin on
 * free 127.0.0.1 ports, upstream host names mapped to 127.0.0.1 and real node:http
 * upstreams, a disk layer's symlink_root in a temp folder, TLS keys and certificates minted
 * at test time. What each request shows is what Envoy's sandbox's verify.sh checks for that
 * example (lua-cluster-specifier: its route's Lua cluster specifier). The HTTP filter examples (csrf, cors, ext_authz, rbac, brotli, route-mirror,
 * websocket, CONNECT) are served in envoy-examples-filters.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as net from "node:net";
import * as tls from "node:tls";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import { inject } from "vitest";
import { parse as yamlParse } from "yaml";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { freePort } from "../support/net-helpers.ts";
import { mintTestCa } from "../support/test-ca.ts";
import { adminStats } from "../support/tls-probe.ts";
import { mysqlServer, mysqlSession } from "../support/mysql-server.ts";
import { startRedisServer } from "../support/redis-server.ts";
import { postgresServer, postgresSession } from "../support/postgres-server.ts";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import type { TestCerts } from "../support/test-certs.ts";
import { curl, exampleCerts, FIXTURES, httpsGet, localize, slowMachine, type Json } from "../support/envoy-examples.ts";
import { CLUSTER, LISTENER, XdsControlPlane } from "../support/xds-control-plane.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

let certs: TestCerts;
beforeAll(() => {
  certs = exampleCerts();
});

const execFileAsync = promisify(execFile);

describe.each(RUNTIMES)("Envoy's examples on %s", (runtime) => {
  let service1: HttpUpstream;
  let service2: HttpUpstream;
  let json: HttpUpstream;

  beforeAll(async () => {
    service1 = await httpUpstream((_, res) => res.end("Hello from behind Envoy (service 1)!\n"));
    service2 = await httpUpstream((_, res) => res.end("Hello from behind Envoy (service 2)!\n"));
    // The gzip and brotli sandboxes' service: a JSON document well over min_content_length.
    json = await httpUpstream((_, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `item ${i}` })) }));
    });
  });

  afterAll(async () => {
    await Promise.all([service1?.close(), service2?.close(), json?.close()]);
  });

  test("front-proxy: /service/1 and /service/2 over HTTP on :8080 and HTTPS on :8443, STRICT_DNS clusters", async () => {
    const { config, port } = await localize("front-proxy/envoy.yaml", { service1: service1.port, service2: service2.port });
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      const one = await fetch(`http://127.0.0.1:${port(8080)}/service/1`);
      expect(one.status).toBe(200);
      expect(await one.text()).toBe("Hello from behind Envoy (service 1)!\n");
      expect(await (await fetch(`http://127.0.0.1:${port(8080)}/service/2`)).text()).toBe("Hello from behind Envoy (service 2)!\n");
      expect(await httpsGet(port(8443), "/service/2")).toEqual({ status: 200, body: "Hello from behind Envoy (service 2)!\n" });
      // No route for "/": Envoy's 404.
      expect((await fetch(`http://127.0.0.1:${port(8080)}/`)).status).toBe(404);
    } finally {
      await proxy.stop();
    }
  });

  test("dynamic-config-fs: LDS and CDS from files (the sandbox's lds.yaml and cds.yaml); a new cds.yaml moved into place sends traffic to service2", async () => {
    const config = yamlParse(readFileSync(join(FIXTURES, "dynamic-config-fs/envoy.yaml"), "utf8")) as Json;
    const dir = mkdtempSync(join(inject("tempRoot"), "dynamic-config-fs-"));
    const [listenPort, adminPort] = await Promise.all([freePort(), freePort()]);
    config.admin.address.socket_address = { address: "127.0.0.1", port_value: adminPort };
    config.dynamic_resources.lds_config.path_config_source.path = join(dir, "lds.yaml");
    config.dynamic_resources.cds_config.path_config_source.path = join(dir, "cds.yaml");
    const route = { name: "local_route", virtual_hosts: [{ name: "local_service", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "example_proxy_cluster" } }] }] };
    const lds = {
      resources: [
        {
          "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
          name: "listener_0",
          address: { socket_address: { address: "127.0.0.1", port_value: listenPort } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    stat_prefix: "ingress_http",
                    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                    route_config: route,
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    const cds = (port: number) => ({
      resources: [
        {
          "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
          name: "example_proxy_cluster",
          type: "STRICT_DNS",
          load_assignment: { cluster_name: "example_proxy_cluster", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
        },
      ],
    });
    writeFileSync(join(dir, "lds.yaml"), JSON.stringify(lds));
    writeFileSync(join(dir, "cds.yaml"), JSON.stringify(cds(service1.port)));
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      await proxy.waitForLog(/listener 'listener_0' listening/);
      expect(await (await fetch(`http://127.0.0.1:${listenPort}/`)).text()).toBe("Hello from behind Envoy (service 1)!\n");
      // As the sandbox's verify.sh: the new file is written beside and moved over the watched one.
      writeFileSync(join(dir, "cds.tmp"), JSON.stringify(cds(service2.port)));
      renameSync(join(dir, "cds.tmp"), join(dir, "cds.yaml"));
      let body = "";
      for (let i = 0; i < 100 && !body.includes("service 2"); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        body = await (await fetch(`http://127.0.0.1:${listenPort}/`)).text();
      }
      expect(body).toBe("Hello from behind Envoy (service 2)!\n");
      const dump = (await (await fetch(`http://127.0.0.1:${adminPort}/config_dump`)).json()) as Json;
      expect(JSON.stringify(dump)).toContain("example_proxy_cluster");
    } catch (err) {
      throw new Error(`${String(err)}\n${proxy.stderr.slice(-3000)}`);
    } finally {
      await proxy.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("fault-injection: the disk layer's fault.http.abort.* files abort every request with 503 (enable_abort_fault_injection.sh)", async () => {
    // The sandbox's /srv/runtime: a versioned tree and `current`, a symbolic link to it.
    const root = mkdtempSync(join(inject("tempRoot"), "runtime-"));
    mkdirSync(join(root, "v1/envoy/fault/http/abort"), { recursive: true });
    writeFileSync(join(root, "v1/envoy/fault/http/abort/abort_percent"), "100\n");
    writeFileSync(join(root, "v1/envoy/fault/http/abort/http_status"), "503\n");
    symlinkSync(join(root, "v1"), join(root, "current"));
    const { config, port } = await localize("fault-injection/envoy.yaml", { backend: service1.port }, (c) => {
      c.layered_runtime.layers[0].disk_layer.symlink_root = join(root, "current");
    });
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      const aborted = await fetch(`http://127.0.0.1:${port(9211)}/`);
      expect(aborted.status).toBe(503);
      expect(await aborted.text()).toBe("fault filter abort");
    } finally {
      await proxy.stop();
    }
    // Without the runtime files (a symlink_root that does not exist: no layer), requests pass.
    const plain = await localize("fault-injection/envoy.yaml", { backend: service1.port }, (c) => {
      c.layered_runtime.layers[0].disk_layer.symlink_root = join(root, "missing");
    });
    const proxy2 = await ProxyProcess.start(runtime, plain.config);
    try {
      expect(await (await fetch(`http://127.0.0.1:${plain.port(9211)}/`)).text()).toBe("Hello from behind Envoy (service 1)!\n");
    } finally {
      await proxy2.stop();
    }
  });

  test("lua-cluster-specifier: envoy_on_route sends header_key: fake to fake_cluster (no such cluster: 503), the rest to example_cluster (verify.sh)", async () => {
    const { config, port } = await localize("lua-cluster-specifier/envoy.yaml", { "httpbin.org": service1.port });
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      const normal = await fetch(`http://127.0.0.1:${port(10000)}/`);
      expect([normal.status, await normal.text()]).toEqual([200, "Hello from behind Envoy (service 1)!\n"]);
      const fake = await fetch(`http://127.0.0.1:${port(10000)}/`, { headers: { header_key: "fake" } });
      expect([fake.status, fake.statusText, await fake.text()]).toEqual([503, "Service Unavailable", ""]);
      expect(service1.requests.filter((r) => r.headers["header_key"] === "fake")).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  test("local_ratelimit: 2 requests per 5 s; :10000 only counts (filter_enforced 0 %), :9902 (the admin's stats) answers the third with 429", async () => {
    const { config, port } = await localize("local_ratelimit/envoy.yaml", { service: service1.port });
    const proxy = await ProxyProcess.start(runtime, config);
    const three = async (url: string) => {
      const seen = [];
      for (let i = 0; i < 3; i++) {
        const response = await fetch(url);
        seen.push([response.status, response.headers.get("x-local-rate-limit"), await response.text()] as const);
      }
      return seen;
    };
    try {
      expect((await three(`http://127.0.0.1:${port(10000)}/`)).map(([status]) => status)).toEqual([200, 200, 200]);
      const stats = await three(`http://127.0.0.1:${port(9902)}/stats/prometheus`);
      expect(stats.map(([status, header]) => [status, header])).toEqual([
        [200, null],
        [200, null],
        [429, "true"],
      ]);
      expect(stats[2]![2]).toBe("local_rate_limited");
      // The third request to :10000 was over the limit: counted, not enforced.
      expect(stats[1]![2]).toMatch(/^envoy_http_local_rate_limiter_http_local_rate_limit_rate_limited\{?.*\}? 1$/m);
    } finally {
      await proxy.stop();
    }
  });

  test("gzip: a JSON response over 100 bytes is gzipped for a client that accepts it", async () => {
    const { config, port } = await localize("gzip/gzip-envoy.yaml", { service: json.port });
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      const response = await fetch(`http://127.0.0.1:${port(10000)}/`, { headers: { "accept-encoding": "gzip" } });
      expect(response.headers.get("content-encoding")).toBe("gzip");
      // fetch decodes gzip itself; node:http gives the bytes on the wire.
      const body = JSON.parse(await response.text()) as { items: unknown[] };
      expect(body.items).toHaveLength(200);
      const plain = await new Promise<Buffer>((resolve, reject) => {
        http.get({ host: "127.0.0.1", port: port(10000), path: "/", headers: { "accept-encoding": "gzip" }, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve(Buffer.concat(chunks)));
        }).on("error", reject);
      });
      expect(JSON.parse(gunzipSync(plain).toString("utf8")).items).toHaveLength(200);
    } finally {
      await proxy.stop();
    }
  });

  test("locality-load-balancing: health-checked STRICT_DNS hosts in four localities; traffic goes to the healthy priority 0 host", async () => {
    const backends = [service1, service2, json];
    const { config, port } = await localize("locality-load-balancing/envoy-proxy.yaml", {
      "backend-local-1": service1.port,
      "backend-local-2": service2.port,
      "backend-remote-1": json.port,
      "backend-remote-2": json.port,
    });
    const before = backends.map((b) => b.requests.length);
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      // Every host is health checked (GET / with the cluster's name as host, Envoy/HC as
      // user-agent); until backend-local-1's first check passes, priority 1 carries traffic.
      const checks = (i: number) => backends[i]!.requests.slice(before[i]).filter((r) => r.headers["user-agent"] === "Envoy/HC");
      await expect.poll(() => [checks(0).length > 0, checks(1).length > 0, checks(2).length > 1], { timeout: 10_000 }).toEqual([true, true, true]);
      expect(new Set([0, 1, 2].flatMap(checks).map((r) => `${r.method} ${r.url} ${r.headers.host}`))).toEqual(new Set(["GET / backend"]));
      // Once its first check has passed (the answer may still be on its way back), priority 0 takes every request.
      const get = async () => (await fetch(`http://127.0.0.1:${port(3000)}/`)).text();
      await expect.poll(get, { timeout: 10_000 }).toBe("Hello from behind Envoy (service 1)!\n");
      for (let i = 0; i < 3; i++) expect(await get()).toBe("Hello from behind Envoy (service 1)!\n");
    } finally {
      await proxy.stop();
    }
  });

  test("websocket envoy-ws-route: the /ws route's upgrade_configs lets a websocket upgrade through; / is a direct response", async () => {
    // An upstream that accepts any upgrade and answers each chunk with "pong".
    const upstream = http.createServer((_, res) => res.end("not an upgrade\n"));
    const tunnels: net.Socket[] = [];
    upstream.on("upgrade", (_req, socket: net.Socket) => {
      tunnels.push(socket);
      // The client's socket destroyed below, the proxy may reset this side (ECONNRESET): no test failure of its own.
      socket.on("error", () => {});
      socket.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
      socket.on("data", () => socket.write("pong"));
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    const { config, port } = await localize("websocket/envoy-ws-route.yaml", { "service-ws": (upstream.address() as AddressInfo).port });
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      expect(await (await fetch(`http://127.0.0.1:${port(10000)}/`)).text()).toBe("NotWebSocket\n");
      const socket = net.connect(port(10000), "127.0.0.1");
      socket.on("error", () => {});
      let received = "";
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => {
        received += chunk;
        if (received.endsWith("\r\n\r\n") && received.startsWith("HTTP/1.1 101")) socket.write("ping");
      });
      socket.write("GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
      await expect.poll(() => received.endsWith("pong"), { timeout: 10_000 }).toBe(true);
      expect(received).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
      socket.destroy();
    } finally {
      await proxy.stop();
      // An upgraded socket is no longer the server's to close.
      for (const tunnel of tunnels) tunnel.destroy();
      upstream.closeAllConnections();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });

  test("grpc-bridge client: an HTTP/1.1 gRPC call through the bridge filter gets the message; the HTTP/1.1 cluster drops the upstream's trailers, as Envoy's (LOGICAL_DNS backend-proxy)", async () => {
    // The sandbox's kv-backend-proxy (its server-side Envoy) stands in as an HTTP/1.1 upstream answering gRPC with trailers.
    const backend = await httpUpstream((req, res) => {
      res.writeHead(200, { "content-type": "application/grpc", "x-seen-path": req.url ?? "" });
      res.addTrailers({ "grpc-status": "0", "grpc-message": "OK" });
      res.end(Buffer.from([0, 0, 0, 0, 5, ...Buffer.from("value")]));
    });
    const { config, port } = await localize("grpc-bridge/client/envoy-proxy.yaml", { "kv-backend-proxy": backend.port });
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      const response = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        const request = http.request({ host: "127.0.0.1", port: port(9911), method: "POST", path: "/kv.KV/Get", headers: { host: "grpc", "content-type": "application/grpc" }, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (d: Buffer) => chunks.push(d));
          res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        });
        request.on("error", reject);
        request.end(Buffer.from([0, 0, 0, 0, 3, ...Buffer.from("foo")]));
      });
      // The example's cluster is HTTP/1.1 (`http_protocol_options: {}`) without enable_trailers:
      // Envoy's HTTP/1 codec drops the upstream's trailers, so the bridge sees no grpc-status
      // and, as Envoy's Http1BridgeFilter::encodeData, passes the message on at the end of the
      // stream without setting a content-length (that and the trailer-to-header copy happen in
      // encodeTrailers; covered over HTTP/2 in grpc-http1-bridge.test.ts).
      expect([response.status, response.headers["grpc-status"], response.headers["grpc-message"], response.headers["content-length"]]).toEqual([200, undefined, undefined, undefined]);
      expect(response.headers["x-seen-path"]).toBe("/kv.KV/Get");
      expect(response.body.subarray(5).toString()).toBe("value");
    } finally {
      await proxy.stop();
      await backend.close();
    }
  });

  test("configs/terminate_http1_connect: a CONNECT is answered 200 and its payload reaches the LOGICAL_DNS cluster's host over TCP", async () => {
    // The example's upstream is www.google.com:443; here a TCP echo server stands in for it.
    const echo = net.createServer((socket) => {
      socket.on("error", () => {});
      socket.on("data", (data) => socket.write(data));
      socket.on("end", () => socket.end());
    });
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    const { config, port } = await localize("configs/terminate_http1_connect.yaml", { "www.google.com": (echo.address() as AddressInfo).port });
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      const socket = net.connect(port(10001), "127.0.0.1");
      let received = "";
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => {
        received += chunk;
        if (received.endsWith("\r\n\r\n") && received.startsWith("HTTP/1.1 200")) socket.write("through the tunnel");
      });
      socket.write("CONNECT www.google.com:443 HTTP/1.1\r\nHost: www.google.com:443\r\n\r\n");
      await expect.poll(() => received.endsWith("through the tunnel"), { timeout: 10_000 }).toBe(true);
      expect(received).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      socket.destroy();
    } finally {
      await proxy.stop();
      await new Promise((resolve) => echo.close(resolve));
    }
  });

  test("tls: HTTPS to HTTP, HTTP to HTTPS, and HTTPS passed through by tcp_proxy (the sandbox's three configs)", async () => {
    const tlsService = https.createServer({ key: certs.read(certs.server.key), cert: certs.read(certs.server.cert) }, (req, res) => res.end(`https service saw ${req.url}`));
    await new Promise<void>((resolve) => tlsService.listen(0, "127.0.0.1", resolve));
    const tlsPort = (tlsService.address() as AddressInfo).port;
    try {
      const httpsHttp = await localize("tls/envoy-https-http.yaml", { "service-http-https": service1.port }, slowMachine);
      const httpHttps = await localize("tls/envoy-http-https.yaml", { "service-https": tlsPort }, slowMachine);
      const passthrough = await localize("tls/envoy-https-passthrough.yaml", { "service-https": tlsPort }, slowMachine);
      const proxies: ProxyProcess[] = [];
      for (const l of [httpsHttp, httpHttps, passthrough]) proxies.push(await ProxyProcess.start(runtime, l.config));
      try {
        expect(await httpsGet(httpsHttp.port(10000), "/")).toEqual({ status: 200, body: "Hello from behind Envoy (service 1)!\n" });
        const upgraded = await fetch(`http://127.0.0.1:${httpHttps.port(10000)}/up`);
        expect(await upgraded.text()).toBe("https service saw /up");
        expect(await httpsGet(passthrough.port(10000), "/through")).toEqual({ status: 200, body: "https service saw /through" });
      } finally {
        await Promise.all(proxies.map((p) => p.stop()));
      }
    } finally {
      tlsService.closeAllConnections();
      await new Promise((resolve) => tlsService.close(resolve));
    }
  });

  test("tls-sni: the proxy picks a filter chain by SNI (tls_inspector); the client proxy sends each domain's SNI; domain3 passes TLS through", async () => {
    const dir = mkdtempSync(join(inject("tempRoot"), "tls-sni-"));
    mkdirSync(join(dir, "certs"));
    for (const n of [1, 2]) {
      writeFileSync(join(dir, `certs/domain${n}.crt.pem`), certs.read(certs.server.cert));
      writeFileSync(join(dir, `certs/domain${n}.key.pem`), certs.read(certs.server.key));
    }
    const upstream3 = https.createServer({ key: certs.read(certs.other.key), cert: certs.read(certs.other.cert) }, (req, res) => res.end(`upstream3 saw ${req.url}`));
    await new Promise<void>((resolve) => upstream3.listen(0, "127.0.0.1", resolve));
    const upstream3Port = (upstream3.address() as AddressInfo).port;
    // The sandbox's certs/ folder, next to the config.
    const inDir = (config: Json) => {
      slowMachine(config);
      for (const chain of config.static_resources.listeners[0].filter_chains) {
        for (const c of chain.transport_socket?.typed_config.common_tls_context.tls_certificates ?? []) {
          c.certificate_chain.filename = join(dir, c.certificate_chain.filename);
          c.private_key.filename = join(dir, c.private_key.filename);
        }
      }
    };
    try {
      const proxy = await localize("tls-sni/envoy.yaml", { "http-upstream1": service1.port, "http-upstream2": service2.port, "https-upstream3": upstream3Port }, inDir);
      const proxyProcess = await ProxyProcess.start(runtime, proxy.config);
      try {
        const client = await localize("tls-sni/envoy-client.yaml", { proxy: proxy.port(10000) }, slowMachine);
        const clientProcess = await ProxyProcess.start(runtime, client.config);
        try {
          const base = `http://127.0.0.1:${client.port(10000)}`;
          expect(await (await fetch(`${base}/domain1`)).text()).toBe("Hello from behind Envoy (service 1)!\n");
          expect(await (await fetch(`${base}/domain2`)).text()).toBe("Hello from behind Envoy (service 2)!\n");
          expect(await (await fetch(`${base}/domain3`)).text()).toBe("upstream3 saw /domain3");
        } finally {
          await clientProcess.stop();
        }
      } finally {
        await proxyProcess.stop();
      }
    } finally {
      upstream3.closeAllConnections();
      await new Promise((resolve) => upstream3.close(resolve));
    }
  });

  test("dynamic-config-cp: listener and cluster from the management server over ADS (test/support's control plane in go-control-plane's place)", async () => {
    const controlPlane = new XdsControlPlane();
    const cpPort = await controlPlane.start();
    const listenerPort = await freePort();
    try {
      const { config } = await localize("dynamic-config-cp/envoy.yaml", { "go-control-plane": cpPort });
      // The sandbox's control plane serves listener_0 routing to example_proxy_cluster (the service).
      controlPlane.setSnapshot(CLUSTER, "1", [
        { name: "example_proxy_cluster", type: "STATIC", connect_timeout: { seconds: 5 }, load_assignment: { cluster_name: "example_proxy_cluster", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: service1.port } } } }] }] } },
      ]);
      controlPlane.setSnapshot(LISTENER, "1", [
        {
          name: "listener_0",
          address: { socket_address: { address: "127.0.0.1", port_value: listenerPort } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    stat_prefix: "http",
                    route_config: { name: "local_route", virtual_hosts: [{ name: "local_service", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "example_proxy_cluster" } }] }] },
                    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                  },
                },
              ],
            },
          ],
        },
      ]);
      const proxy = await ProxyProcess.start(runtime, config, 2);
      try {
        expect(await (await fetch(`http://127.0.0.1:${listenerPort}/`)).text()).toBe("Hello from behind Envoy (service 1)!\n");
        expect(controlPlane.requests[0]).toMatchObject({ service: "ads", nodeId: "test-id" });
      } finally {
        await proxy.stop();
      }
    } finally {
      await controlPlane.stop();
    }
  });

  test("tls-inspector: TLS passed through by ALPN (h2, http/1.1) to two HTTPS services, plain HTTP to a third; tls_inspector stats as verify.sh checks them", async () => {
    const tlsOptions = { key: certs.read(certs.server.key), cert: certs.read(certs.server.cert) };
    const h2 = http2.createSecureServer(tlsOptions, (req, res) => res.end(`service-https-http2 saw HTTP/${req.httpVersion}`));
    const h1 = https.createServer(tlsOptions, (req, res) => res.end(`service-https-http1.1 saw HTTP/${req.httpVersion}`));
    const plain = http.createServer((req, res) => res.end(`service-http saw HTTP/${req.httpVersion}`));
    for (const server of [h2, h1, plain]) await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const portOf = (server: net.Server) => (server.address() as AddressInfo).port;
    try {
      const { config, port } = await localize("tls-inspector/envoy.yaml", { "service-https-http2": portOf(h2), "service-https-http1.1": portOf(h1), "service-http": portOf(plain) });
      const proxy = await ProxyProcess.start(runtime, config);
      try {
        const at = port(10000);
        expect(await curl(at, ["-k", "--http1.1"], `https://localhost:${at}`)).toBe("service-https-http1.1 saw HTTP/1.1");
        expect(await curl(at, ["-k", "--http2"], `https://localhost:${at}`)).toBe("service-https-http2 saw HTTP/2.0");
        expect(await curl(at, [], `http://localhost:${at}`)).toBe("service-http saw HTTP/1.1");
        const stats = await adminStats(port(12345));
        expect(["alpn_found", "sni_found", "tls_found", "tls_not_found"].map((name) => stats.get(`tls_inspector.${name}`))).toEqual([2, 2, 2, 1]);
      } finally {
        await proxy.stop();
      }
    } finally {
      for (const server of [h2, h1, plain]) {
        if ("closeAllConnections" in server) server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    }
  });

  test("double-proxy: a PostgreSQL session through both proxies' postgres_proxy, frontend to backend over mTLS (each checks the other's SAN), counted by both; a client without the frontend's certificate is refused", async () => {
    // verify.sh's certificates: one CA, one key, a certificate per proxy naming it in its SAN.
    const ca = mintTestCa();
    const dir = mkdtempSync(join(inject("tempRoot"), "double-proxy-"));
    const run = (args: string[]) => new Promise<void>((resolve, reject) => execFile("openssl", args, { cwd: dir }, (error) => (error ? reject(error) : resolve())));
    await run(["genrsa", "-out", "example.com.key", "2048"]);
    for (const side of ["frontend", "backend"]) {
      const name = `proxy-postgres-${side}.example.com`;
      writeFileSync(join(dir, `${side}.ext`), `subjectAltName=DNS:${name}\n`);
      await run(["req", "-new", "-sha256", "-key", "example.com.key", "-subj", `/C=US/ST=CA/O=MyExample, Inc./CN=${name}`, "-out", `${side}.csr`]);
      await run(["x509", "-req", "-in", `${side}.csr`, "-CA", ca.ca, "-CAkey", join(ca.dir, "ca.key"), "-CAcreateserial", "-extfile", `${side}.ext`, "-out", `${side}.crt`, "-days", "2", "-sha256"]);
    }
    // The compose file's mounts: each proxy's certs/ folder.
    const files: Record<string, string> = {
      "certs/cacert.pem": ca.ca,
      "certs/servercert.pem": join(dir, "backend.crt"),
      "certs/serverkey.pem": join(dir, "example.com.key"),
      "certs/clientcert.pem": join(dir, "frontend.crt"),
      "certs/clientkey.pem": join(dir, "example.com.key"),
    };
    const withFiles = (config: Json) => {
      const walk = (value: unknown): void => {
        if (typeof value !== "object" || value === null) return;
        for (const [key, child] of Object.entries(value)) {
          if (key === "filename" && typeof child === "string" && child in files) (value as Json)[key] = files[child];
          else walk(child);
        }
      };
      walk(config);
      slowMachine(config);
      // Not in the example (it has no admin): one to read the postgres_proxy counters.
      config.admin = { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } };
    };
    const withAdmin = async (localized: Awaited<ReturnType<typeof localize>>) => {
      const adminPort = await freePort();
      localized.config.admin.address.socket_address.port_value = adminPort;
      return adminPort;
    };
    // postgres: a server speaking the protocol's bytes stands in for it.
    const postgres = await postgresServer();
    try {
      const backend = await localize("double-proxy/envoy-backend.yaml", { postgres: postgres.port }, withFiles);
      const backendAdmin = await withAdmin(backend);
      const backendProcess = await ProxyProcess.start(runtime, backend.config);
      try {
        const frontend = await localize("double-proxy/envoy-frontend.yaml", { "proxy-postgres-backend.example.com": backend.port(5432) }, withFiles);
        const frontendAdmin = await withAdmin(frontend);
        const frontendProcess = await ProxyProcess.start(runtime, frontend.config);
        try {
          // verify.sh: psql -c 'SELECT 1' through the frontend; here a raw client does the same.
          const replies = await postgresSession(frontend.port(5432), { user: "postgres", queries: ["SELECT version()", "CREATE TABLE t (id INT)"] });
          expect(replies).toEqual(["RSSKZ", "TDCZ", "CZ"]);
          expect(postgres.queries).toEqual(["SELECT version()", "CREATE TABLE t (id INT)"]);
          // Both proxies decoded the session (stat_prefix egress_postgres in both files).
          for (const adminPort of [frontendAdmin, backendAdmin]) {
            const stats = await adminStats(adminPort);
            expect(["sessions_unencrypted", "statements_select", "statements_other", "statements_parsed", "messages_frontend"].map((name) => stats.get(`postgres.egress_postgres.${name}`))).toEqual([1, 1, 1, 2, 3]);
          }
          // The backend requires the frontend's certificate: a client without one gets nothing through.
          const refused = await new Promise<string>((resolve) => {
            const socket = tls.connect({ host: "127.0.0.1", port: backend.port(5432), ca: readFileSync(ca.ca), servername: "proxy-postgres-backend.example.com", checkServerIdentity: () => undefined });
            let received = "";
            socket.on("secureConnect", () => socket.write("SELECT 1;"));
            socket.on("data", (d: Buffer) => (received += d.toString()));
            socket.on("error", () => {});
            socket.on("close", () => resolve(received));
          });
          expect(refused).toBe("");
        } finally {
          await frontendProcess.stop();
        }
      } finally {
        await backendProcess.stop();
      }
    } finally {
      await postgres.close();
    }
  });

  test("mysql: a MySQL session through mysql_proxy and tcp_proxy; the admin's /stats?filter=egress_mysql and mysql_tcp show it, as verify.sh checks", async () => {
    // mysql: a server speaking the protocol's bytes stands in for it (test/support/mysql-server.ts).
    const mysql = await mysqlServer();
    try {
      const { config, port } = await localize("mysql/envoy.yaml", { mysql: mysql.port }, slowMachine);
      const proxy = await ProxyProcess.start(runtime, config);
      try {
        // verify.sh runs these with the mysql client (one connection each, the table created after `USE test`); a raw client sends them in one session.
        const queries = ["CREATE DATABASE test", "CREATE TABLE test.test (text VARCHAR(255))", "INSERT INTO test.test VALUES ('hello, world!')", "SELECT COUNT(*) FROM test.test"];
        expect(await mysqlSession(port(1999), { user: "root", queries })).toEqual(["greeting", "ok", "ok", "ok", "ok", "rows"]);
        expect(mysql.queries).toEqual(queries);
        const egress = await (await fetch(`http://127.0.0.1:${port(8001)}/stats?filter=egress_mysql`)).text();
        expect(egress).toContain("mysql.egress_mysql.login_attempts: 1");
        expect(egress).toContain("mysql.egress_mysql.sessions: 1");
        // `text` is a keyword to the shared SQL parser (core/network/sql/sql-metadata.ts): that CREATE TABLE does not parse.
        expect(egress).toContain("mysql.egress_mysql.queries_parsed: 3");
        expect(egress).toContain("mysql.egress_mysql.queries_parse_error: 1");
        expect(egress).toContain("mysql.egress_mysql.login_failures: 0");
        const tcp = await (await fetch(`http://127.0.0.1:${port(8001)}/stats?filter=mysql_tcp`)).text();
        expect(tcp).toContain("tcp.mysql_tcp.downstream_cx_total: 1");
      } finally {
        await proxy.stop();
      }
    } finally {
      await mysql.close();
    }
  });

  test("redis: redis-cli SET and GET through redis_proxy to a real redis-server; the admin's command stats count them, as verify.sh checks", async () => {
    const redis = await startRedisServer();
    try {
      const { config, port } = await localize("redis/envoy.yaml", { redis_server: redis.port }, slowMachine);
      const proxy = await ProxyProcess.start(runtime, config);
      try {
        const cli = async (...args: string[]) => (await execFileAsync("redis-cli", ["-h", "127.0.0.1", "-p", String(port(1999)), ...args])).stdout;
        expect(await cli("set", "foo", "FOO")).toBe("OK\n");
        expect(await cli("get", "foo")).toBe("FOO\n");
        expect(await cli("set", "bar", "BAR")).toBe("OK\n");
        expect(await cli("get", "bar")).toBe("BAR\n");
        const stats = await (await fetch(`http://127.0.0.1:${port(8001)}/stats?usedonly&filter=redis.egress_redis.command`)).text();
        expect(stats).toContain("redis.egress_redis.command.get.total: 2");
        expect(stats).toContain("redis.egress_redis.command.set.total: 2");
      } finally {
        await proxy.stop();
      }
    } finally {
      await redis.stop();
    }
  });

  test("zipkin and jaeger-tracing: the front proxies (egress) report CLIENT spans named by their decorators, five to a POST (min_flush_spans), to a node:http collector; the trace id comes back in x-b3-traceid; jaeger-tracing's four custom_tags (literal, :path, HOSTNAME, the Lua filter's dynamic metadata) are on its spans", async () => {
    const collector = await httpUpstream((_, res) => {
      res.statusCode = 202;
      res.end();
    });
    try {
      for (const [file, upstreams, listen, path, operation, cluster] of [
        ["zipkin/envoy-front-proxy.yaml", { "envoy-1": service1.port, zipkin: collector.port }, 10000, "/trace/1", "routeToEnvoy1", "envoy_cluster1"],
        ["jaeger-tracing/envoy.yaml", { service1: service1.port, jaeger: collector.port }, 10000, "/", "checkAvailability", "service1"],
      ] as const) {
        collector.requests.length = 0;
        const { config, port } = await localize(file, upstreams);
        // The sandbox's container has HOSTNAME set; a test runner's shell may not export it.
        const proxy = await ProxyProcess.start(runtime, config, undefined, [], { HOSTNAME: `polyvoy-${runtime}-host` });
        try {
          const traceIds: string[] = [];
          for (let i = 0; i < 5; i++) {
            const res = await fetch(`http://127.0.0.1:${port(listen)}${path}`);
            expect(await res.text()).toBe("Hello from behind Envoy (service 1)!\n");
            if (file.startsWith("zipkin")) traceIds.push(res.headers.get("x-b3-traceid")!);
          }
          for (let i = 0; i < 200 && collector.requests.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
          const spans = JSON.parse(collector.requests[0]!.body.toString()) as { traceId: string; kind: string; name: string; localEndpoint: { serviceName: string }; tags: Record<string, string> }[];
          expect(spans).toHaveLength(5);
          for (const span of spans) {
            expect(span).toMatchObject({ kind: "CLIENT", name: operation, localEndpoint: { serviceName: file.startsWith("zipkin") ? "envoy-proxy-front" : "front-proxy" } });
            expect(span.tags).toMatchObject({ upstream_cluster: cluster, "http.status_code": "200" });
            if (file.startsWith("jaeger")) {
              expect(span.tags).toMatchObject({ tag_literal: "literal value", tag_request_header: path, tag_env_hostname: `polyvoy-${runtime}-host`, tag_metadata: "hello from lua" });
            }
          }
          if (file.startsWith("zipkin")) expect(spans.map((s) => s.traceId).sort()).toEqual(traceIds.sort());
          expect(collector.requests[0]!.url).toBe("/api/v2/spans");
        } catch (err) {
          throw new Error(`${file}: ${String(err)}\n${proxy.stderr.slice(-3000)}`);
        } finally {
          await proxy.stop();
        }
      }
    } finally {
      await collector.close();
    }
  });
});
