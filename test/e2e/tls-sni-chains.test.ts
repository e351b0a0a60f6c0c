/**
 * tls_inspector and TLS termination together, on every runtime: one listener whose filter
 * chains are chosen by the ClientHello's SNI (`server_names`) and by `transport_protocol`,
 * each terminating TLS with its own certificate — the inspector's peeked bytes must reach
 * the chosen chain's handshake whole — and a plaintext chain on the same port. Envoy's
 * tls-sni example has this shape. Certificates are minted by the test (test-certs.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFile } from "node:child_process";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { mintTestCerts, type CertFiles, type TestCerts } from "../support/test-certs.ts";
import { clientHelloRecords } from "../support/tls-client-hello.ts";
import net from "node:net";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

/** Write `bytes` on a new connection and wait (bounded) for the proxy to close it. */
function sendAndWaitClose(port: number, bytes: Uint8Array): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 10_000);
    socket.on("error", () => {});
    socket.on("data", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("curl", ["-sS", "--max-time", "10", ...args], { timeout: 15_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function terminate(cert: CertFiles) {
  return {
    name: "envoy.transport_sockets.tls",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
      common_tls_context: { tls_certificates: [{ certificate_chain: { filename: cert.cert }, private_key: { filename: cert.key } }] },
    },
  };
}

function answer(body: string) {
  return [
    {
      name: "envoy.filters.network.http_connection_manager",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix: body,
        route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: `${body}\n` } } }] }] },
        http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
      },
    },
  ];
}

let certs: TestCerts;

beforeAll(() => {
  certs = mintTestCerts();
});

describe.each(RUNTIMES)("TLS chains chosen by SNI on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  let adminPort: number;

  beforeAll(async () => {
    [port, adminPort] = [await freePort(), await freePort()];
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      static_resources: {
        listeners: [
          {
            name: "sni",
            address: { socket_address: { address: "127.0.0.1", port_value: port } },
            listener_filters: [{ name: "envoy.filters.listener.tls_inspector", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector" } }],
            filter_chains: [
              { name: "example", filter_chain_match: { server_names: ["example.com"] }, transport_socket: terminate(certs.server), filters: answer("example") },
              { name: "other", filter_chain_match: { server_names: ["other.test"] }, transport_socket: terminate(certs.other), filters: answer("other") },
              { name: "plain", filter_chain_match: { transport_protocol: "raw_buffer" }, filters: answer("plain") },
            ],
          },
        ],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  test("each name gets its own chain and certificate (verified against the CA), plaintext its chain", async () => {
    for (const name of ["example.com", "other.test"]) {
      const r = await curl(["--cacert", certs.ca, "--resolve", `${name}:${port}:127.0.0.1`, `https://${name}:${port}/`]);
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe(`${name === "example.com" ? "example" : "other"}\n`);
    }
    expect((await curl([`http://127.0.0.1:${port}/`])).stdout).toBe("plain\n");
    const stats = await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text();
    expect(stats).toMatch(/^tls_inspector\.sni_found: 2$/m);
    expect(stats).toMatch(/^tls_inspector\.tls_not_found: 1$/m);
    expect(stats).toMatch(/^listener\.127\.0\.0\.1_\d+\.ssl\.handshake: 2$/m);
  });

  test("ClientHellos the TLS library refuses, right behind the inspector's peek: each connection is closed, the proxy serves on", async () => {
    // The inspector's peeked bytes reach the handshake at once: on Deno, a handshake that
    // failed on them before its node:tls TLSSocket had started threw out of that
    // TLSSocket's start and ended the process.
    const refused = [
      clientHelloRecords({ serverName: "example.com" }), // TLS 1.3 suites only, no key_share
      new Uint8Array([...clientHelloRecords({ serverName: "example.com" }).subarray(0, 60), ...new Uint8Array(200).fill(0xff)]), // a garbled body
      clientHelloRecords({ serverName: "example.com", extensions: [[0xfafa, new Uint8Array(60_000)]], recordSize: 16_384 }), // a 60 KB hello
    ];
    for (const bytes of refused) expect(await sendAndWaitClose(port, bytes)).toBe(true);
    const r = await curl(["--cacert", certs.ca, "--resolve", `example.com:${port}:127.0.0.1`, `https://example.com:${port}/`]);
    expect(r.stdout).toBe("example\n");
  });

  test("a name no chain serves: no chain matches, the connection is closed and counted", async () => {
    const r = await curl(["--cacert", certs.ca, "--resolve", `nobody.test:${port}:127.0.0.1`, `https://nobody.test:${port}/`]);
    expect(r.code).not.toBe(0);
    const stats = await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text();
    expect(stats).toMatch(/^listener\.127\.0\.0\.1_\d+\.no_filter_chain_match: 1$/m);
  });
});
