/**
 * HTTP/2 over TLS downstream on every runtime, black-box: a listener offering ALPN
 * `h2, http/1.1` with codec_type AUTO speaks HTTP/2 to a client that chose h2 (curl
 * --http2, nghttp, h2load, node's http2 over https) and HTTP/1.1 to one that did not, on
 * the same port; the upstream is told https. A tls_inspector's application_protocols
 * picks a filter chain by the h2 the client offers. Also HTTP/2's drain notice and PING
 * keepalive with real sockets. Certificates are minted by the test.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFile } from "node:child_process";
import * as http2 from "node:http2";
import { readFileSync } from "node:fs";
import * as tls from "node:tls";
import * as net from "node:net";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { mintTestCerts, type TestCerts } from "../support/test-certs.ts";
import { adminStats } from "../support/admin-stats.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

function run(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ stdout, stderr, code: error ? ((error as { code?: number }).code ?? 1) : 0 });
    });
  });
}

function tlsContext(certs: TestCerts, alpn: string[]) {
  return {
    name: "envoy.transport_sockets.tls",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
      common_tls_context: {
        alpn_protocols: alpn,
        tls_certificates: [{ certificate_chain: { filename: certs.server.cert }, private_key: { filename: certs.server.key } }],
      },
    },
  };
}

function hcm(statPrefix: string, routes: object[], extra: Record<string, unknown> = {}) {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      stat_prefix: statPrefix,
      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes }] },
      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
      ...extra,
    },
  };
}

const direct = (body: string) => [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: body } } }];

interface Echo {
  url: string;
  headers: Record<string, string>;
}

let certs: TestCerts;
let upstream: HttpUpstream;

beforeAll(async () => {
  certs = mintTestCerts();
  upstream = await httpUpstream();
});

afterAll(async () => {
  await upstream?.close();
});

describe.each(RUNTIMES)("HTTP/2 over TLS downstream on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  let h2OnlyPort: number;
  let inspectedPort: number;
  let keepalivePort: number;
  let adminPort: number;

  beforeAll(async () => {
    [port, h2OnlyPort, inspectedPort, keepalivePort, adminPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const listener = (name: string, listenPort: number, rest: Record<string, unknown>) => ({ name, address: { socket_address: { address: "127.0.0.1", port_value: listenPort } }, ...rest });
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      static_resources: {
        listeners: [
          listener("h2tls", port, {
            filter_chains: [{ transport_socket: tlsContext(certs, ["h2", "http/1.1"]), filters: [hcm("h2tls", [{ match: { prefix: "/" }, route: { cluster: "up" } }])] }],
          }),
          // codec_type HTTP2 with ALPN h2 only: what Envoy's h2-only listeners look like.
          listener("h2only", h2OnlyPort, {
            filter_chains: [{ transport_socket: tlsContext(certs, ["h2"]), filters: [hcm("h2only", direct("h2 only"), { codec_type: "HTTP2" })] }],
          }),
          // The tls_inspector reads the ALPN offered: clients offering h2 get the first chain.
          listener("inspected", inspectedPort, {
            listener_filters: [{ name: "envoy.filters.listener.tls_inspector", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" } }],
            filter_chains: [
              { filter_chain_match: { application_protocols: ["h2"] }, transport_socket: tlsContext(certs, ["h2", "http/1.1"]), filters: [hcm("inspected_h2", direct("h2 chain"))] },
              { transport_socket: tlsContext(certs, ["http/1.1"]), filters: [hcm("inspected_other", direct("other chain"))] },
            ],
          }),
          // Plaintext (h2c) with PING keepalive: a PING every second, the connection closed when one goes unanswered for a second.
          listener("keepalive", keepalivePort, {
            filter_chains: [{ filters: [hcm("keepalive", direct("kept alive"), { http2_protocol_options: { connection_keepalive: { interval: "1s", timeout: "1s" } } })] }],
          }),
        ],
        clusters: [
          {
            name: "up",
            connect_timeout: "2s",
            load_assignment: { cluster_name: "up", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: upstream.port } } } }] }] },
          },
        ],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  const curl = (listenPort: number, args: string[], path = "/hello") =>
    run("curl", ["-sS", "--cacert", certs.ca, "--resolve", `example.com:${listenPort}:127.0.0.1`, "-w", "\n%{http_version}", ...args, `https://example.com:${listenPort}${path}`]);

  test("curl --http2 negotiates h2 by ALPN; curl --http1.1 on the same listener is served HTTP/1.1; the upstream is told https", async () => {
    const h2 = await curl(port, ["--http2"], "/via-h2");
    expect(h2.stderr).toBe("");
    const [h2Body, h2Version] = h2.stdout.split("\n");
    expect(h2Version).toBe("2");
    const echoed = JSON.parse(h2Body!) as Echo;
    expect(echoed.url).toBe("/via-h2");
    expect(echoed.headers["x-forwarded-proto"]).toBe("https");
    expect(echoed.headers.host).toBe(`example.com:${port}`);

    const h1 = await curl(port, ["--http1.1"], "/via-h1");
    expect(h1.stderr).toBe("");
    const [h1Body, h1Version] = h1.stdout.split("\n");
    expect(h1Version).toBe("1.1");
    expect((JSON.parse(h1Body!) as Echo).headers["x-forwarded-proto"]).toBe("https");

    const s = await adminStats(adminPort);
    expect(s.get("http.h2tls.downstream_cx_http2_total")).toBeGreaterThanOrEqual(1);
    expect(s.get("http.h2tls.downstream_cx_http1_total")).toBeGreaterThanOrEqual(1);
    expect(s.get("http.h2tls.downstream_rq_http2_total")).toBeGreaterThanOrEqual(1);
  });

  test("ALPN http/1.1 wins over bytes that look like the HTTP/2 preface (Envoy's determineNextProtocol): the HTTP/1 codec answers", async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: "127.0.0.1", port, servername: "example.com", ca: readFileSync(certs.ca), ALPNProtocols: ["http/1.1"] }, () => {
        expect(socket.alpnProtocol).toBe("http/1.1");
        socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      });
      let text = "";
      socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
      socket.on("close", () => resolve(text));
      socket.on("error", reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 4\d\d /);
  });

  test("openssl s_client offered h2,http/1.1 is told h2", async () => {
    const r = await run("sh", ["-c", `openssl s_client -connect 127.0.0.1:${port} -servername example.com -CAfile ${certs.ca} -alpn h2,http/1.1 -verify_return_error </dev/null`]);
    expect(r.stdout).toContain("ALPN protocol: h2");
    expect(r.stdout).toContain("Verify return code: 0 (ok)");
  });

  test("node http2 connect(https://…): many streams on one TLS connection, :scheme https upstream as x-forwarded-proto", async () => {
    const session = http2.connect(`https://localhost:${port}`, { ca: readFileSync(certs.ca) });
    try {
      const one = (path: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = session.request({ ":path": path });
          let status = 0;
          const chunks: Buffer[] = [];
          req.on("response", (h) => (status = Number(h[":status"])));
          req.on("data", (d: Buffer) => chunks.push(d));
          req.on("end", () => resolve({ status, body: Buffer.concat(chunks).toString() }));
          req.on("error", reject);
        });
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => one(`/node/${i}`)));
      expect(session.alpnProtocol).toBe("h2");
      for (const [i, r] of results.entries()) {
        expect(r.status).toBe(200);
        const echoed = JSON.parse(r.body) as Echo;
        expect(echoed.url).toBe(`/node/${i}`);
        expect(echoed.headers["x-forwarded-proto"]).toBe("https");
      }
    } finally {
      session.close();
    }
  });

  test("nghttp and h2load over TLS", async () => {
    const n = await run("nghttp", ["-v", `https://127.0.0.1:${port}/nghttp`]);
    expect(n.code).toBe(0);
    expect(n.stdout).toContain("The negotiated protocol: h2");
    expect(n.stdout).toContain('"/nghttp"');
    const l = await run("h2load", ["-n", "200", "-c", "2", "-m", "10", `https://127.0.0.1:${port}/h2load`]);
    expect(l.stdout).toContain("Application protocol: h2");
    expect(l.stdout).toMatch(/200 succeeded, 0 failed, 0 errored/);
    expect(l.stdout).toMatch(/status codes: 200 2xx/);
  });

  test("codec_type HTTP2 with ALPN h2 only; an HTTP/1.1-only client gets no ALPN and no HTTP/1 service", async () => {
    const h2 = await curl(h2OnlyPort, ["--http2"]);
    expect(h2.stdout).toBe("h2 only\n2");
    // curl --http1.1 offers only http/1.1, which this listener does not: either the handshake
    // fails (no_application_protocol) or the HTTP/2 codec refuses the HTTP/1.1 bytes (GOAWAY).
    const h1 = await curl(h2OnlyPort, ["--http1.1"]);
    expect(h1.stdout).not.toContain("h2 only");
    expect(h1.code).not.toBe(0);
  });

  test("a draining server (/healthcheck/fail) sends Envoy's drain notice: GOAWAY with stream id 2^31-1, the response still whole", async () => {
    const admin = (path: string) => fetch(`http://127.0.0.1:${adminPort}${path}`, { method: "POST" });
    const session = http2.connect(`https://localhost:${port}`, { ca: readFileSync(certs.ca) });
    const goAway = new Promise<number>((resolve) => session.on("goaway", (_code: number, lastStreamId: number) => resolve(lastStreamId)));
    session.on("error", () => {});
    try {
      await (await admin("/healthcheck/fail")).text();
      const body = await new Promise<string>((resolve, reject) => {
        const req = session.request({ ":path": "/draining" });
        const chunks: Buffer[] = [];
        req.on("data", (d: Buffer) => chunks.push(d));
        req.on("end", () => resolve(Buffer.concat(chunks).toString()));
        req.on("error", reject);
      });
      expect((JSON.parse(body) as Echo).url).toBe("/draining");
      expect(await goAway).toBe(2 ** 31 - 1);
    } finally {
      await (await admin("/healthcheck/ok")).text();
      session.destroy();
    }
  });

  test("connection_keepalive: a client that answers PINGs (nghttp) is served; one that never does is closed, counted as keepalive_timeout", async () => {
    const n = await run("nghttp", [`http://127.0.0.1:${keepalivePort}/`]);
    expect(n.stdout).toBe("kept alive");
    const closed = await new Promise<{ frames: number[] }>((resolve) => {
      const socket = net.connect(keepalivePort, "127.0.0.1", () => {
        // The preface and an empty SETTINGS, then silence.
        socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
      });
      let bytes = Buffer.alloc(0);
      socket.on("data", (d: Buffer) => (bytes = Buffer.concat([bytes, d])));
      socket.on("error", () => {});
      socket.on("close", () => {
        const frames: number[] = [];
        for (let at = 0; at + 9 <= bytes.length; at += 9 + bytes.readUIntBE(at, 3)) frames.push(bytes[at + 3]!);
        resolve({ frames });
      });
    });
    // SETTINGS (4), its ACK, then a PING (6) left unanswered.
    expect(closed.frames).toContain(6);
    const s = await adminStats(adminPort);
    const timeouts = [...s].filter(([name]) => name.endsWith("http2.keepalive_timeout")).reduce((sum, [, v]) => sum + v, 0);
    expect(timeouts).toBe(1);
  });

  test("tls_inspector: application_protocols [h2] matches a client that offers h2", async () => {
    const h2 = await curl(inspectedPort, ["--http2"]);
    expect(h2.stdout).toBe("h2 chain\n2");
    const h1 = await curl(inspectedPort, ["--http1.1"]);
    expect(h1.stdout).toBe("other chain\n1.1");
  });
});
