/**
 * Listener filters and filter chain matching end to end, on every runtime: TLS
 * passthrough by SNI to tcp_proxy (openssl s_client and node's tls as clients, TLS
 * upstreams with certificates minted by Debian's openssl for this run), and a PROXY
 * protocol header written by a raw socket whose source becomes x-forwarded-for and the
 * access log's %DOWNSTREAM_REMOTE_ADDRESS%.
 */
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import * as tls from "node:tls";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { rawExchange, parseResponses } from "../support/raw-http.ts";
import { httpProxyConfig } from "../support/configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

interface Minted {
  key: string;
  cert: string;
}

/** A self-signed certificate for `name`, made now (never a committed key). */
function mint(dir: string, name: string): Minted {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", `/CN=${name}`], { stdio: "ignore" });
  return { key: readFileSync(key, "utf8"), cert: readFileSync(cert, "utf8") };
}

/** A TLS server that answers every connection with "<name>\n" after the handshake. */
async function tlsUpstream(name: string, minted: Minted): Promise<{ port: number; server: tls.Server }> {
  const server = tls.createServer({ key: minted.key, cert: minted.cert }, (socket) => {
    socket.on("error", () => {});
    socket.end(`${name}\n`);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as { port: number }).port, server };
}

/** openssl s_client with SNI `serverName`: what the server sent, and the certificate subject it showed. */
function sClient(port: number, serverName: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", serverName, "-ign_eof"], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stdin.end();
    const timer = setTimeout(() => child.kill(), 5000);
    child.on("exit", () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** node's tls client with SNI (or none) and ALPN; the server's reply, or the error's code. */
function tlsClient(port: number, servername: string | undefined, cert: string | undefined): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ port, host: "127.0.0.1", ...(servername ? { servername } : {}), ...(cert ? { ca: cert } : { rejectUnauthorized: false }) });
    let out = "";
    socket.on("data", (d) => (out += d));
    socket.on("end", () => resolve(out));
    socket.on("error", (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
  });
}

const opensslPresent = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

describe.each(RUNTIMES)("TLS passthrough by SNI on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  const upstreams: { port: number; server: tls.Server }[] = [];
  let certs: Record<string, Minted>;

  beforeAll(async () => {
    if (!opensslPresent) throw new Error("these tests need Debian's openssl (apt-get install openssl)");
    const dir = mkdtempSync(join(inject("tempRoot"), "certs-"));
    certs = { a: mint(dir, "a.example.com"), wild: mint(dir, "wild.example.com"), other: mint(dir, "fallback.test") };
    upstreams.push(await tlsUpstream("upstream-a", certs.a!), await tlsUpstream("upstream-wild", certs.wild!), await tlsUpstream("upstream-default", certs.other!));
    port = await freePort();
    const tcpProxy = (cluster: string) => [
      { name: "envoy.filters.network.tcp_proxy", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: cluster, cluster } },
    ];
    const cluster = (name: string, upstreamPort: number) => ({
      name,
      connect_timeout: "1s",
      load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: upstreamPort } } } }] }] },
    });
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
      static_resources: {
        listeners: [
          {
            name: "sni",
            address: { socket_address: { address: "127.0.0.1", port_value: port } },
            listener_filters: [{ name: "envoy.filters.listener.tls_inspector", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" } }],
            filter_chains: [
              { filter_chain_match: { server_names: ["a.example.com"] }, filters: tcpProxy("a") },
              { filter_chain_match: { server_names: ["*.example.com"] }, filters: tcpProxy("wild") },
              { filter_chain_match: { transport_protocol: "raw_buffer" }, filters: tcpProxy("a") },
            ],
            default_filter_chain: { filters: tcpProxy("fallback") },
          },
        ],
        clusters: [cluster("a", upstreams[0]!.port), cluster("wild", upstreams[1]!.port), cluster("fallback", upstreams[2]!.port)],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    for (const u of upstreams) u.server.close();
  });

  test.skipIf(!opensslPresent)("openssl s_client -servername reaches the upstream of its SNI, which terminates the TLS", async () => {
    const a = await sClient(port, "a.example.com");
    expect(a).toContain("upstream-a");
    expect(a).toMatch(/subject=\s*CN\s*=\s*a\.example\.com/);
    const wild = await sClient(port, "api.EXAMPLE.com");
    expect(wild).toContain("upstream-wild");
    expect(wild).toMatch(/subject=\s*CN\s*=\s*wild\.example\.com/);
  });

  test.skipIf(!opensslPresent)("an SNI no chain names goes to the default chain; a verified handshake end to end", async () => {
    expect(await tlsClient(port, "fallback.test", certs.other!.cert)).toBe("upstream-default\n");
    expect(await tlsClient(port, "a.example.com", certs.a!.cert)).toBe("upstream-a\n");
  });
});

describe.each(RUNTIMES)("PROXY protocol on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  let upstream: HttpUpstream;
  let logPath: string;

  beforeAll(async () => {
    upstream = await httpUpstream();
    port = await freePort();
    logPath = join(mkdtempSync(join(inject("tempRoot"), "pp-log-")), "access.log");
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: { backend: [upstream.port] },
        routes: [{ match: { prefix: "/" }, cluster: "backend" }],
        hcm: {
          use_remote_address: true,
          access_log: [
            {
              name: "envoy.access_loggers.file",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                path: logPath,
                log_format: { text_format_source: { inline_string: "%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT% %REQ(:PATH)%\n" } },
              },
            },
          ],
        },
        listenerExtra: {
          listener_filters: [
            { name: "envoy.filters.listener.proxy_protocol", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol" } },
          ],
        },
      }),
    );
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  test("a v1 header's source is x-forwarded-for and the access log's client (the socket's peer stays the direct address)", async () => {
    const { text } = await rawExchange(port, "PROXY TCP4 203.0.113.9 198.51.100.1 41000 80\r\nGET /v1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(parseResponses(text)[0]?.status).toBe(200);
    expect(upstream.requests.at(-1)!.headers["x-forwarded-for"]).toBe("203.0.113.9");
    expect(upstream.requests.at(-1)!.url).toBe("/v1");
    await expect.poll(() => (existsSync(logPath) ? readFileSync(logPath, "utf8") : ""), { timeout: 5000 }).toContain("203.0.113.9:41000 127.0.0.1 /v1");
  });

  test("a v2 header (IPv6 source) written in pieces", async () => {
    const src = Buffer.from("20010db8000000000000000000000042", "hex");
    const dst = Buffer.from("00000000000000000000000000000001", "hex");
    const header = Buffer.concat([Buffer.from("0d0a0d0a000d0a515549540a", "hex"), Buffer.from([0x21, 0x21, 0, 36]), src, dst, Buffer.from([0x9c, 0x40, 0, 80])]);
    const { text } = await rawExchange(port, Buffer.concat([header, Buffer.from("GET /v2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")]));
    expect(parseResponses(text)[0]?.status).toBe(200);
    expect(upstream.requests.at(-1)!.headers["x-forwarded-for"]).toBe("2001:db8::42");
  });

  test("no header: the connection is closed without a response", async () => {
    const { text, closed } = await rawExchange(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    expect({ text, closed }).toEqual({ text: "", closed: true });
  });
});
