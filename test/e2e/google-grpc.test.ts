/**
 * grpc_service.google_grpc on every runtime: ext_authz's Authorization service, a real
 * @grpc/grpc-js server, reached through a target_uri rather than a cluster — plaintext
 * (an IP literal: a STATIC internal cluster) and TLS (ssl_credentials with the test CA as
 * root_certs, a host name: STRICT_DNS, SNI and the certificate checked against it), plus a
 * TLS target whose certificate does not name it (UNAVAILABLE: the check fails). The
 * grpc.<stat_prefix>.* counters are Envoy's GoogleAsyncClientStats; /clusters shows no
 * cluster for the targets, as Envoy's Google gRPC client has none.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readFileSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { loadEnvoyService } from "../support/envoy-grpc-service.ts";
import { mintTestCerts, type TestCerts } from "../support/test-certs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";

interface CheckRequest {
  attributes: { request?: { http?: { headers?: Record<string, string> } } };
}

/** "Bearer good" allowed with x-user: the service's name; the rest denied (403). */
async function startAuthz(name: string, credentials: grpc.ServerCredentials, host = "127.0.0.1"): Promise<{ port: number; authorities: string[]; close(): void }> {
  const authorities: string[] = [];
  const server = new grpc.Server();
  server.addService(loadEnvoyService("envoy/service/auth/v3/external_auth.proto", "envoy.service.auth.v3.Authorization").service, {
    Check: (call: grpc.ServerUnaryCall<CheckRequest, object>, callback: grpc.sendUnaryData<object>) => {
      authorities.push(call.getHost());
      const auth = call.request.attributes.request?.http?.headers?.["authorization"];
      if (auth === "Bearer good") callback(null, { status: { code: 0 }, ok_response: { headers: [{ header: { key: "x-user", value: name } }] } });
      else callback(null, { status: { code: grpc.status.PERMISSION_DENIED }, denied_response: { status: { code: "Forbidden" } } });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(`${host}:0`, credentials, (e, p) => (e ? reject(e) : resolve(p))));
  return { port, authorities, close: () => server.forceShutdown() };
}

function extAuthz(googleGrpc: object): object {
  return {
    name: "envoy.filters.http.ext_authz",
    typed_config: { "@type": EXT_AUTHZ, grpc_service: { google_grpc: googleGrpc, timeout: "5s" }, transport_api_version: "V3" },
  };
}

function proxyConfig(port: number, echoPort: number, adminPort: number, filter: object, clusters: Record<string, number[]> = {}): object {
  const config = httpProxyConfig({
    listenPort: port,
    clusters: { echo: [echoPort], ...clusters },
    routes: [
      // A route whose cluster a request header names: no header reaches a target's internal cluster.
      { match: { prefix: "/by-header" }, action: { route: { cluster_header: "x-cluster" } } },
      { match: { prefix: "/" }, cluster: "echo" },
    ],
  }) as {
    static_resources: { listeners: { filter_chains: { filters: { typed_config: { http_filters: object[] } }[] }[] }[] };
  };
  const hcm = config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config;
  hcm.http_filters.unshift(filter);
  return { ...config, admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } } };
}

describe.each(RUNTIMES)("google_grpc gRPC services on %s", (runtime) => {
  let echo: HttpUpstream;
  let plain: Awaited<ReturnType<typeof startAuthz>>;
  let secure: Awaited<ReturnType<typeof startAuthz>>;
  let secureElsewhere: Awaited<ReturnType<typeof startAuthz>>;
  let certs: TestCerts;
  const proxies: ProxyProcess[] = [];
  const ports = { plain: 0, tls: 0, badName: 0, twin: 0 };
  const admin = { plain: 0, tls: 0, badName: 0, twin: 0 };

  beforeAll(async () => {
    certs = mintTestCerts();
    echo = await httpUpstream((req, res) => res.end(`user=${req.headers["x-user"] ?? "-"}`));
    plain = await startAuthz("plain", grpc.ServerCredentials.createInsecure());
    const serverCredentials = () => grpc.ServerCredentials.createSsl(null, [{ private_key: readFileSync(certs.server.key), cert_chain: readFileSync(certs.server.cert) }], false);
    secure = await startAuthz("tls", serverCredentials());
    // The same certificate served on 127.0.0.2, an address it does not name: the connection and
    // the handshake succeed, only the name check can refuse it.
    secureElsewhere = await startAuthz("tls", serverCredentials(), "127.0.0.2");
    for (const k of ["plain", "tls", "badName", "twin"] as const) {
      ports[k] = await freePort();
      admin[k] = await freePort();
    }
    const ssl = { ssl_credentials: { root_certs: { filename: certs.ca } } };
    const configs = {
      plain: extAuthz({ target_uri: `127.0.0.1:${plain.port}`, stat_prefix: "authz_plain" }),
      tls: extAuthz({ target_uri: `dns:///localhost:${secure.port}`, stat_prefix: "authz_tls", channel_credentials: ssl }),
      // The server's certificate names example.com, localhost and 127.0.0.1, not 127.0.0.2's name: gRPC refuses it.
      badName: extAuthz({ target_uri: `ipv4:127.0.0.2:${secureElsewhere.port}`, stat_prefix: "authz_bad", channel_credentials: ssl }),
    };
    for (const k of ["plain", "tls", "badName"] as const) {
      proxies.push(await ProxyProcess.start(runtime, proxyConfig(ports[k], echo.port, admin[k], configs[k])));
    }
    // A cluster of the config named as polyvoy names the plain target's internal cluster: it takes nothing over.
    proxies.push(await ProxyProcess.start(runtime, proxyConfig(ports.twin, echo.port, admin.twin, configs.plain, { [`google_grpc 127.0.0.1:${plain.port}`]: [echo.port] })));
  });

  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    plain?.close();
    secure?.close();
    secureElsewhere?.close();
    await echo?.close();
  });

  async function get(port: number, token: string): Promise<{ status: number; body: string }> {
    const r = await request(`http://127.0.0.1:${port}/x`, { headers: { authorization: `Bearer ${token}` } });
    return { status: r.statusCode, body: await r.body.text() };
  }

  async function adminText(port: number, path: string): Promise<string> {
    return (await request(`http://127.0.0.1:${port}${path}`)).body.text();
  }

  test("plaintext target: allowed and denied, stats under grpc.<stat_prefix>, no cluster in /clusters", async () => {
    expect(await get(ports.plain, "good")).toEqual({ status: 200, body: "user=plain" });
    expect((await get(ports.plain, "bad")).status).toBe(403);
    expect(plain.authorities.at(-1)).toBe(`127.0.0.1:${plain.port}`);
    const stats = await adminText(admin.plain, "/stats");
    expect(stats).toContain("grpc.authz_plain.streams_total: 2");
    expect(stats).toContain("grpc.authz_plain.streams_closed_0: 2");
    expect(stats).not.toContain("google_grpc");
    expect(await adminText(admin.plain, "/clusters")).not.toContain("google_grpc");
  });

  test("the internal cluster is out of reach: a request header cannot route to it, a config cluster of the same name does not replace it", async () => {
    const byHeader = await request(`http://127.0.0.1:${ports.plain}/by-header`, { headers: { authorization: "Bearer good", "x-cluster": `google_grpc 127.0.0.1:${plain.port}` } });
    expect(byHeader.statusCode).toBe(503);
    await byHeader.body.text();
    const calls = plain.authorities.length;
    expect(await get(ports.twin, "good")).toEqual({ status: 200, body: "user=plain" });
    expect(plain.authorities.length).toBe(calls + 1);
  });

  test("TLS target (ssl_credentials root_certs, dns:/// host name): allowed through the TLS service", async () => {
    expect(await get(ports.tls, "good")).toEqual({ status: 200, body: "user=tls" });
    expect((await get(ports.tls, "bad")).status).toBe(403);
    expect(await adminText(admin.tls, "/stats")).toContain("grpc.authz_tls.streams_closed_0: 2");
  });

  test("TLS target whose certificate does not name it: the call fails UNAVAILABLE and ext_authz denies (403)", async () => {
    expect((await get(ports.badName, "good")).status).toBe(403);
    expect(secureElsewhere.authorities).toEqual([]);
    const stats = await adminText(admin.badName, "/stats");
    expect(stats).toContain("grpc.authz_bad.streams_total: 1");
    expect(stats).toContain("grpc.authz_bad.streams_closed_14: 1");
  });
});

/** A TCP relay to `port` on 127.0.0.1 that counts the connections open through it. */
async function relay(port: number): Promise<{ port: number; open(): number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    const upstream = net.connect(port, "127.0.0.1");
    client.pipe(upstream).pipe(client);
    const end = () => {
      sockets.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    open: () => sockets.size,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

describe.each(RUNTIMES)("google_grpc internal clusters after a config change on %s", (runtime) => {
  test("a reload that changes the target: once the old listener has drained, the old target's cluster goes and its connection closes", { timeout: 60_000 }, async () => {
    const echo = await httpUpstream((req, res) => res.end(`user=${req.headers["x-user"] ?? "-"}`));
    const authz = await startAuthz("one", grpc.ServerCredentials.createInsecure());
    const front = await relay(authz.port);
    const [port, adminPort] = [await freePort(), await freePort()];
    const config = (target: string) => proxyConfig(port, echo.port, adminPort, extAuthz({ target_uri: target, stat_prefix: "authz" }));
    const proxy = await ProxyProcess.start(runtime, config(`127.0.0.1:${front.port}`), undefined, ["--drain-time-s", "1"]);
    try {
      const get = async () => {
        const r = await request(`http://127.0.0.1:${port}/x`, { headers: { authorization: "Bearer good", connection: "close" }, reset: true });
        return { status: r.statusCode, body: await r.body.text() };
      };
      expect(await get()).toEqual({ status: 200, body: "user=one" });
      expect(front.open()).toBe(1);
      // The same service, reached without the relay: another target, another internal cluster.
      writeFileSync(proxy.configPath, JSON.stringify(config(`127.0.0.1:${authz.port}`)));
      proxy.child.kill("SIGHUP");
      await proxy.waitForLog(/config reload: done/);
      expect(await get()).toEqual({ status: 200, body: "user=one" });
      await expect.poll(() => front.open(), { timeout: 10_000 }).toBe(0);
    } finally {
      await proxy.stop();
      front.close();
      authz.close();
      await echo.close();
    }
  });
});
