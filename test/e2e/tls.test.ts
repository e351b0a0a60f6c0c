/**
 * TLS on every runtime, black-box: a listener terminating TLS (curl with --cacert and
 * --resolve, openssl s_client, undici), mTLS accepted and refused with Envoy's ssl.*
 * stats, ALPN, the TLS access-log operators, x-forwarded-proto; clusters originating TLS
 * to a node:https upstream (SNI, client certificate, ALPN) and to nginx with ssl; a
 * wrong CA refused. Certificates are minted by the test (test-certs.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import * as https from "node:https";
import * as tls from "node:tls";
import type { TLSSocket } from "node:tls";
import type { AddressInfo } from "node:net";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, runToExit, writeConfig, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { mintTestCerts, type TestCerts } from "../support/test-certs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const LOG_FORMAT = "%DOWNSTREAM_TLS_VERSION% %DOWNSTREAM_TLS_CIPHER% %REQUESTED_SERVER_NAME% %DOWNSTREAM_PEER_SUBJECT% %DOWNSTREAM_PEER_URI_SAN% %REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\n";
const NGINX = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((path) => existsSync(path));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 15_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

function tlsContext(certs: TestCerts, extra: Record<string, unknown> = {}, common: Record<string, unknown> = {}) {
  return {
    name: "envoy.transport_sockets.tls",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
      common_tls_context: {
        alpn_protocols: ["http/1.1"],
        tls_certificates: [{ certificate_chain: { filename: certs.server.cert }, private_key: { filename: certs.server.key } }],
        ...common,
      },
      ...extra,
    },
  };
}

function hcm(logPath: string, routes: object[]) {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      stat_prefix: "ingress",
      access_log: [
        {
          name: "envoy.access_loggers.file",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            path: logPath,
            log_format: { text_format_source: { inline_string: LOG_FORMAT } },
          },
        },
      ],
      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes }] },
      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
    },
  };
}

/** A listener "l" on `port` whose one chain terminates TLS (`common`: the CommonTlsContext's fields) and answers 200 itself. */
function directResponseTlsListener(port: number, common: Record<string, unknown>) {
  return {
    static_resources: {
      listeners: [
        {
          name: "l",
          address: { socket_address: { address: "127.0.0.1", port_value: port } },
          filter_chains: [{ transport_socket: tlsContext(certs, {}, common), filters: [hcm("/dev/null", [{ match: { prefix: "/" }, direct_response: { status: 200 } }])] }],
        },
      ],
    },
  };
}

function cluster(name: string, port: number, transportSocket?: object) {
  return {
    name,
    connect_timeout: "2s",
    ...(transportSocket ? { transport_socket: transportSocket } : {}),
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
  };
}

function upstreamTls(typed: Record<string, unknown>) {
  return { name: "envoy.transport_sockets.tls", typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", ...typed } };
}

/** What the TLS upstream saw of each connection. */
interface UpstreamSeen {
  servername: unknown;
  alpn: unknown;
  clientSubject: unknown;
  version: string | null;
}

async function tlsUpstream(certs: TestCerts): Promise<{ port: number; seen: UpstreamSeen[]; close(): Promise<void> }> {
  const seen: UpstreamSeen[] = [];
  const server = https.createServer(
    {
      key: certs.read(certs.rsa.key),
      cert: certs.read(certs.rsa.cert),
      ca: certs.read(certs.ca),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ["http/1.1"],
    },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      seen.push({ servername: socket.servername, alpn: socket.alpnProtocol, clientSubject: socket.getPeerCertificate().subject?.CN, version: socket.getProtocol() });
      res.end(`tls upstream saw ${req.headers["x-forwarded-proto"]}`);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function startNginx(certs: TestCerts, port: number): Promise<ChildProcess | undefined> {
  if (!NGINX) return undefined;
  const dir = mkdtempSync(join(tmpdir(), "polyvoy-nginx-"));
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `daemon off; master_process off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 64; }
http {
  access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${certs.server.cert}; ssl_certificate_key ${certs.server.key};
    location / { return 200 "nginx tls $ssl_server_name $ssl_protocol\\n"; }
  }
}
`,
  );
  const child = spawn(NGINX, ["-p", dir, "-c", conf], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    const probe = await run("curl", ["-sk", `https://127.0.0.1:${port}/`]);
    if (probe.code === 0) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  return undefined;
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

async function logLines(path: string, n: number): Promise<string[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const all = existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean) : [];
    if (all.length >= n || Date.now() > deadline) return all;
    await new Promise((r) => setTimeout(r, 50));
  }
}

let certs: TestCerts;
let plain: HttpUpstream;
let secureUpstream: Awaited<ReturnType<typeof tlsUpstream>>;
let nginx: ChildProcess | undefined;
let tlsEcho: tls.Server;
let tlsEchoPort = 0;
let nginxPort = 0;

beforeAll(async () => {
  certs = mintTestCerts();
  plain = await httpUpstream();
  secureUpstream = await tlsUpstream(certs);
  nginxPort = await freePort();
  nginx = await startNginx(certs, nginxPort);
  // A TLS echo server: tcp_proxy's TLS upstream.
  tlsEcho = tls.createServer({ key: certs.read(certs.server.key), cert: certs.read(certs.server.cert) }, (socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => tlsEcho.listen(0, "127.0.0.1", resolve));
  tlsEchoPort = (tlsEcho.address() as AddressInfo).port;
});

afterAll(async () => {
  await plain?.close();
  await secureUpstream?.close();
  nginx?.kill();
  tlsEcho?.close();
});

describe.each(RUNTIMES)("TLS on %s", (runtime) => {
  let proxy: ProxyProcess;
  let httpsPort: number;
  let mtlsPort: number;
  let tcpPort: number;
  let adminPort: number;
  let logDir: string;

  beforeAll(async () => {
    [httpsPort, mtlsPort, adminPort, tcpPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    logDir = mkdtempSync(join(tmpdir(), "polyvoy-tls-logs-"));
    const mtlsContext = tlsContext(
      certs,
      { require_client_certificate: true },
      {
        validation_context: {
          trusted_ca: { filename: certs.ca },
          match_typed_subject_alt_names: [{ san_type: "URI", matcher: { exact: "spiffe://test/client1" } }],
        },
      },
    );
    const clientCert = { certificate_chain: { inline_string: certs.read(certs.client.cert) }, private_key: { inline_bytes: Buffer.from(certs.read(certs.client.key)).toString("base64") } };
    const config = {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      static_resources: {
        listeners: [
          {
            name: "https",
            address: { socket_address: { address: "127.0.0.1", port_value: httpsPort } },
            filter_chains: [
              {
                transport_socket: tlsContext(certs),
                filters: [
                  hcm(join(logDir, "https.log"), [
                    { match: { prefix: "/tls-up" }, route: { cluster: "tls_up" } },
                    { match: { prefix: "/nginx" }, route: { cluster: "nginx_up" } },
                    { match: { prefix: "/bad-ca" }, route: { cluster: "bad_ca" } },
                    { match: { prefix: "/auto" }, route: { cluster: "auto_sni" } },
                    { match: { prefix: "/" }, route: { cluster: "plain" } },
                  ]),
                ],
              },
            ],
          },
          {
            name: "mtls",
            address: { socket_address: { address: "127.0.0.1", port_value: mtlsPort } },
            filter_chains: [{ transport_socket: mtlsContext, filters: [hcm(join(logDir, "mtls.log"), [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "mtls ok" } } }])] }],
          },
          {
            // tcp_proxy from TLS to TLS: terminated here, originated again to the echo server.
            name: "tcp",
            address: { socket_address: { address: "127.0.0.1", port_value: tcpPort } },
            filter_chains: [
              {
                transport_socket: tlsContext(certs),
                filters: [
                  {
                    name: "envoy.filters.network.tcp_proxy",
                    typed_config: {
                      "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                      stat_prefix: "tcp",
                      cluster: "tls_echo",
                      access_log: [
                        {
                          name: "envoy.access_loggers.file",
                          typed_config: {
                            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                            path: join(logDir, "tcp.log"),
                            log_format: { text_format_source: { inline_string: "%UPSTREAM_TLS_VERSION% %UPSTREAM_PEER_DNS_SAN% %UPSTREAM_PEER_SUBJECT% %DOWNSTREAM_TLS_VERSION%\n" } },
                          },
                        },
                      ],
                    },
                  },
                ],
              },
            ],
          },
        ],
        clusters: [
          cluster("plain", plain.port),
          // No validation_context: Envoy does not verify the upstream then.
          cluster("tls_echo", tlsEchoPort, upstreamTls({})),
          cluster(
            "tls_up",
            secureUpstream.port,
            upstreamTls({ sni: "rsa.test", common_tls_context: { alpn_protocols: ["http/1.1"], tls_certificates: [clientCert], validation_context: { trusted_ca: { filename: certs.ca } } } }),
          ),
          cluster("nginx_up", nginxPort, upstreamTls({ sni: "example.com", common_tls_context: { validation_context: { trusted_ca: { filename: certs.ca } } } })),
          {
            ...cluster(
              "auto_sni",
              secureUpstream.port,
              upstreamTls({ sni: "ignored.test", common_tls_context: { tls_certificates: [clientCert], validation_context: { trusted_ca: { filename: certs.ca } } } }),
            ),
            upstream_http_protocol_options: { auto_sni: true, auto_san_validation: true },
          },
          // A CA that signed nothing here: the upstream's chain does not verify.
          cluster("bad_ca", secureUpstream.port, upstreamTls({ common_tls_context: { tls_certificates: [clientCert], validation_context: { trusted_ca: { filename: certs.rogue.cert } } } })),
        ],
      },
    };
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  test("curl over TLS with SNI: the upstream is told https, the access log has the TLS fields", async () => {
    const r = await run("curl", ["-sS", "--cacert", certs.ca, "--resolve", `example.com:${httpsPort}:127.0.0.1`, `https://example.com:${httpsPort}/hello`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout) as { headers: Record<string, string> };
    expect(body.headers["x-forwarded-proto"]).toBe("https");
    const [line] = await logLines(join(logDir, "https.log"), 1);
    expect(line).toMatch(/^TLSv1\.3 TLS_[A-Z0-9_]+ example\.com - - \/hello 200 -$/);
  });

  test("openssl s_client: certificate verified, ALPN http/1.1 chosen from h2,http/1.1", async () => {
    const r = await run(
      "openssl",
      ["s_client", "-connect", `127.0.0.1:${httpsPort}`, "-servername", "example.com", "-CAfile", certs.ca, "-alpn", "h2,http/1.1", "-verify_return_error", "-ign_eof"],
      "GET /s-client HTTP/1.1\r\nhost: example.com\r\nconnection: close\r\n\r\n",
    );
    expect(r.stdout).toContain("ALPN protocol: http/1.1");
    expect(r.stdout).toContain("Verify return code: 0 (ok)");
    expect(r.stdout).toContain("HTTP/1.1 200 OK");
  });

  test("undici over TLS, keep-alive: several requests on one connection", async () => {
    const agent = new Agent({ connect: { ca: certs.read(certs.ca), servername: "example.com" } });
    try {
      for (let i = 0; i < 3; i++) {
        const response = await request(`https://127.0.0.1:${httpsPort}/undici/${i}`, { dispatcher: agent });
        expect(response.statusCode).toBe(200);
        expect(((await response.body.json()) as { url: string }).url).toBe(`/undici/${i}`);
      }
    } finally {
      await agent.close();
    }
    const s = await stats(adminPort);
    expect(s.get(`listener.127.0.0.1_${httpsPort}.ssl.handshake`)).toBeGreaterThanOrEqual(3);
    expect(s.get(`listener.127.0.0.1_${httpsPort}.ssl.versions.TLSv1.3`)).toBeGreaterThanOrEqual(3);
  });

  test("a large body both ways over TLS arrives whole", async () => {
    const body = Buffer.alloc(3 * 1024 * 1024, "x");
    const agent = new Agent({ connect: { ca: certs.read(certs.ca), servername: "example.com" } });
    try {
      const response = await request(`https://127.0.0.1:${httpsPort}/upload`, { method: "POST", body, dispatcher: agent });
      expect(response.statusCode).toBe(200);
      expect(((await response.body.json()) as { bodyLength: number }).bodyLength).toBe(body.length);
    } finally {
      await agent.close();
    }
  });

  test("tcp_proxy, TLS in and TLS out: 2 MiB echoed whole", async () => {
    const data = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 11)) & 0xff;
    const socket = tls.connect({ host: "127.0.0.1", port: tcpPort, ca: certs.read(certs.ca), servername: "example.com" });
    const received: Buffer[] = [];
    let got = 0;
    await new Promise<void>((resolve, reject) => {
      socket.on("secureConnect", () => socket.write(data));
      socket.on("data", (chunk: Buffer) => {
        received.push(chunk);
        got += chunk.length;
        if (got >= data.length) resolve();
      });
      socket.on("error", reject);
    });
    socket.destroy();
    expect(Buffer.concat(received).equals(data)).toBe(true);
    const s = await stats(adminPort);
    expect(s.get("cluster.tls_echo.ssl.handshake")).toBe(1);
    expect(s.get(`listener.127.0.0.1_${tcpPort}.ssl.handshake`)).toBe(1);
    // The upstream connection's TLS in tcp_proxy's access log.
    const [line] = await logLines(join(logDir, "tcp.log"), 1);
    expect(line).toMatch(/^TLSv1\.2 example\.com,localhost CN=example\.com TLSv1\.3$/);
  });

  test("a client's TLS 1.2 renegotiation is refused", async () => {
    // Envoy's BoringSSL never renegotiates as a server; node's OpenSSL would, up to 3 times
    // in 10 minutes per connection (tls.CLIENT_RENEG_LIMIT), each a full handshake. Refused
    // is a fatal alert (node, bun: the connection ends) or rustls's no_renegotiation
    // warning (deno: the client's renegotiation fails with an error).
    const outcome = await new Promise<string>((resolve) => {
      const socket = tls.connect({ port: httpsPort, host: "127.0.0.1", servername: "example.com", ca: certs.read(certs.ca), maxVersion: "TLSv1.2", ALPNProtocols: ["http/1.1"] }, () => {
        socket.renegotiate({}, (err) => resolve(err ? "refused" : "renegotiated"));
      });
      socket.on("error", () => resolve("refused"));
      socket.on("close", () => resolve("refused"));
      setTimeout(() => {
        socket.destroy();
        resolve("no answer");
      }, 5000);
    });
    expect(outcome).toBe("refused");
  });

  test("plaintext to a TLS listener: closed, counted as ssl.connection_error", async () => {
    const before = (await stats(adminPort)).get(`listener.127.0.0.1_${httpsPort}.ssl.connection_error`) ?? 0;
    const r = await run("curl", ["-sS", `http://127.0.0.1:${httpsPort}/`]);
    expect(r.code).not.toBe(0);
    await expect.poll(async () => (await stats(adminPort)).get(`listener.127.0.0.1_${httpsPort}.ssl.connection_error`)).toBe(before + 1);
  });

  test("mTLS: the right client certificate is accepted and logged", async () => {
    const r = await run("curl", ["-sS", "--cacert", certs.ca, "--cert", certs.client.cert, "--key", certs.client.key, `https://localhost:${mtlsPort}/m`]);
    expect(r.stdout).toBe("mtls ok");
    const [line] = await logLines(join(logDir, "mtls.log"), 1);
    expect(line).toMatch(/^TLSv1\.3 \S+ localhost CN=client1,O=polyvoy spiffe:\/\/test\/client1 \/m 200 -$/);
  });

  test("mTLS refused: no certificate, an untrusted one, a SAN that does not match; each counted", async () => {
    const prefix = `listener.127.0.0.1_${mtlsPort}.ssl.`;
    const none = await run("curl", ["-sS", "--cacert", certs.ca, `https://localhost:${mtlsPort}/`]);
    const rogue = await run("curl", ["-sS", "--cacert", certs.ca, "--cert", certs.rogue.cert, "--key", certs.rogue.key, `https://localhost:${mtlsPort}/`]);
    const wrongSan = await run("curl", ["-sS", "--cacert", certs.ca, "--cert", certs.client2.cert, "--key", certs.client2.key, `https://localhost:${mtlsPort}/`]);
    for (const r of [none, rogue, wrongSan]) {
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe("");
    }
    const s = await stats(adminPort);
    expect(s.get(`${prefix}fail_verify_no_cert`)).toBe(1);
    expect(s.get(`${prefix}fail_verify_error`)).toBe(1);
    expect(s.get(`${prefix}fail_verify_san`)).toBe(1);
  });

  test("upstream TLS: SNI, client certificate and ALPN reach a node:https upstream; cluster ssl stats", async () => {
    const before = secureUpstream.seen.length;
    const r = await run("curl", ["-sS", "--cacert", certs.ca, `https://localhost:${httpsPort}/tls-up`]);
    expect(r.stdout).toBe("tls upstream saw https");
    const seen = secureUpstream.seen.slice(before);
    // Envoy's client default is TLS 1.2 at most (ClientContextConfigImpl::DEFAULT_MAX_VERSION).
    expect(seen).toEqual([{ servername: "rsa.test", alpn: "http/1.1", clientSubject: "client1", version: "TLSv1.2" }]);
    const s = await stats(adminPort);
    expect(s.get("cluster.tls_up.ssl.handshake")).toBe(1);
    expect(s.get("cluster.tls_up.ssl.versions.TLSv1.2")).toBe(1);
    // Envoy counts the key-exchange group (SslHandshakerImpl: curves.<SSL_get_curve_name>);
    // X25519 is the first of Envoy's default client groups. Deno's node:tls does not tell it.
    expect(s.get("cluster.tls_up.ssl.curves.X25519")).toBe(runtime === "deno" ? undefined : 1);
  });

  test("upstream TLS with a CA that does not vouch for the upstream: 503, fail_verify_error", async () => {
    const r = await run("curl", ["-sS", "-w", " %{http_code}", "--cacert", certs.ca, `https://localhost:${httpsPort}/bad-ca`]);
    expect(r.stdout).toMatch(/ 503$/);
    const s = await stats(adminPort);
    expect(s.get("cluster.bad_ca.ssl.fail_verify_error")).toBeGreaterThanOrEqual(1);
    expect(s.get("cluster.bad_ca.ssl.handshake")).toBe(0);
  });

  test("auto_sni: the request's host, lower-cased, is the SNI, a pool per name; auto_san_validation refuses a certificate that does not name it", async () => {
    const before = secureUpstream.seen.length;
    const curl = (host: string) => run("curl", ["-sS", "-w", " %{http_code}", "--cacert", certs.ca, "-H", `host: ${host}`, `https://localhost:${httpsPort}/auto`]);
    expect((await curl("rsa.test:8443")).stdout).toBe("tls upstream saw https 200");
    expect((await curl("RSA.test")).stdout).toBe("tls upstream saw https 200");
    expect((await curl("other.test")).stdout).toMatch(/ 503$/);
    // Names are case-insensitive: RSA.test is sent as rsa.test, on rsa.test's pool.
    expect(secureUpstream.seen.slice(before).map((seen) => seen.servername)).toEqual(["rsa.test", "rsa.test"]);
    const s = await stats(adminPort);
    expect(s.get("cluster.auto_sni.ssl.fail_verify_san")).toBeGreaterThanOrEqual(1);
    // One connection per name: rsa.test and other.test (refused) each had a pool of their own.
    expect(s.get("cluster.auto_sni.upstream_cx_total")).toBeGreaterThanOrEqual(2);
  });

  test.skipIf(!NGINX)("upstream TLS to nginx with ssl", async () => {
    const r = await run("curl", ["-sS", "--cacert", certs.ca, `https://localhost:${httpsPort}/nginx`]);
    expect(r.stdout).toBe("nginx tls example.com TLSv1.2\n");
  });
});

describe.each(RUNTIMES)("TLS config refused at start on %s", (runtime) => {
  test("a certificate file that cannot be read names the listener and the field", async () => {
    const port = await freePort();
    const config = directResponseTlsListener(port, { tls_certificates: [{ certificate_chain: { filename: "/nonexistent/cert.pem" }, private_key: { filename: certs.server.key } }] });
    const exited = await runToExit(runtime, ["-c", writeConfig(config)]);
    expect(exited.code).toBe(1);
    expect(exited.stderr).toContain("static_resources.listeners[0] ('l'): filter_chains[0].transport_socket: certificate_chain: cannot read /nonexistent/cert.pem: ENOENT");
  });

  test("a key that does not match its certificate", async () => {
    const port = await freePort();
    const config = directResponseTlsListener(port, { tls_certificates: [{ certificate_chain: { filename: certs.server.cert }, private_key: { filename: certs.client.key } }] });
    const exited = await runToExit(runtime, ["-c", writeConfig(config)]);
    expect(exited.code).toBe(1);
    expect(exited.stderr).toContain("filter_chains[0].transport_socket: private_key does not match the certificate_chain's first certificate");
  });

  test("several certificates: chosen by SNI (the first is the default)", async () => {
    const port = await freePort();
    const config = directResponseTlsListener(port, {
      tls_certificates: [
        { certificate_chain: { filename: certs.server.cert }, private_key: { filename: certs.server.key } },
        { certificate_chain: { filename: certs.other.cert }, private_key: { filename: certs.other.key } },
      ],
    });
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      const subject = async (sni: string) => (await run("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", sni], "")).stdout.match(/subject=(.*)/)?.[1];
      expect(await subject("other.test")).toMatch(/CN\s*=\s*other\.test/);
      expect(await subject("example.com")).toMatch(/CN\s*=\s*example\.com/);
      expect(await subject("unknown.test")).toMatch(/CN\s*=\s*example\.com/);
    } finally {
      await proxy.stop();
    }
    // Key types that differ: served by SNI on deno (rustls) and bun (BoringSSL), refused on node (its OpenSSL keeps the first's).
    const mixed = JSON.parse(JSON.stringify(config).replaceAll(certs.other.cert, certs.rsa.cert).replaceAll(certs.other.key, certs.rsa.key)) as object;
    if (runtime === "node") {
      const exited = await runToExit(runtime, ["-c", writeConfig(mixed)]);
      expect(exited.code).toBe(1);
      expect(exited.stderr).toContain("tls_certificates[1] is RSA, the first is EC: on node a certificate chosen by SNI must have the first's key type");
      return;
    }
    const again = await ProxyProcess.start(runtime, mixed);
    try {
      const r = await run("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "rsa.test"], "");
      expect(r.stdout.match(/subject=(.*)/)?.[1]).toMatch(/CN\s*=\s*rsa\.test/);
    } finally {
      await again.stop();
    }
  });

  test("cipher_suites: honoured on node and bun, refused by name on deno", async () => {
    const port = await freePort();
    const config = directResponseTlsListener(port, { tls_params: { tls_maximum_protocol_version: "TLSv1_2", cipher_suites: ["ECDHE-ECDSA-CHACHA20-POLY1305"] } });
    if (runtime === "deno") {
      const exited = await runToExit(runtime, ["-c", writeConfig(config)]);
      expect(exited.code).toBe(1);
      expect(exited.stderr).toContain("tls_params.cipher_suites cannot be set on deno");
      return;
    }
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      const r = await run("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-CAfile", certs.ca], "");
      expect(r.stdout).toMatch(/Cipher is ECDHE-ECDSA-CHACHA20-POLY1305/);
      expect(r.stdout).toContain("Protocol  : TLSv1.2");
    } finally {
      await proxy.stop();
    }
  });
});
