/**
 * x-forwarded-client-cert on every runtime, black-box: forward_client_cert_details
 * (SANITIZE, FORWARD_ONLY, APPEND_FORWARD, SANITIZE_SET, ALWAYS_FORWARD_ONLY) and
 * set_current_client_cert_details, over mTLS (curl with a client certificate) and plain
 * HTTP, checked against Envoy's exact element format
 * (conn_manager_utility.cc, mutateXfccRequestHeader). Certificates minted by the test.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { mintTestCerts, type CertFiles, type TestCerts } from "../support/test-certs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

let certs: TestCerts;
let upstream: HttpUpstream;
/** The proxy's certificate, with a URI SAN (XFCC's By). */
let server: CertFiles;

beforeAll(async () => {
  certs = mintTestCerts();
  const dir = certs.dir;
  writeFileSync(join(dir, "xfcc.ext"), "subjectAltName=DNS:example.com,URI:spiffe://test/proxy\n");
  const ssl = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  ssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "xfcc.key", "-out", "xfcc.csr", "-subj", "/CN=example.com"]);
  ssl(["x509", "-req", "-in", "xfcc.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "xfcc.pem", "-days", "2", "-extfile", "xfcc.ext"]);
  server = { cert: join(dir, "xfcc.pem"), key: join(dir, "xfcc.key") };
  upstream = await httpUpstream();
});

afterAll(async () => {
  await upstream?.close();
});

function listener(name: string, port: number, hcmExtra: Record<string, unknown>, mtls: boolean) {
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        ...(mtls
          ? {
              transport_socket: {
                name: "envoy.transport_sockets.tls",
                typed_config: {
                  "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                  require_client_certificate: true,
                  common_tls_context: {
                    tls_certificates: [{ certificate_chain: { filename: server.cert }, private_key: { filename: server.key } }],
                    validation_context: { trusted_ca: { filename: certs.ca } },
                  },
                },
              },
            }
          : {}),
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: name,
              route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "up" } }] }] },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
              ...hcmExtra,
            },
          },
        ],
      },
    ],
  };
}

/** The x-forwarded-client-cert the upstream saw, sending `sent` (curl, with the client certificate over TLS). */
function seenXfcc(port: number, tls: boolean, sent?: string): Promise<string | undefined> {
  const args = ["-sS", "--max-time", "10"];
  if (sent !== undefined) args.push("-H", `x-forwarded-client-cert: ${sent}`);
  if (tls) args.push("--cacert", certs.ca, "--cert", certs.client.cert, "--key", certs.client.key, "--resolve", `example.com:${port}:127.0.0.1`, `https://example.com:${port}/`);
  else args.push(`http://127.0.0.1:${port}/`);
  return new Promise((resolve, reject) =>
    execFile("curl", args, (error, stdout, stderr) => {
      if (error) return reject(new Error(`curl: ${stderr}`));
      resolve((JSON.parse(stdout) as { headers: Record<string, string | undefined> }).headers["x-forwarded-client-cert"]);
    }),
  );
}

/** Envoy's URL encoding of a PEM in XFCC. */
function encoded(pem: string): string {
  return encodeURIComponent(pem).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

describe.each(RUNTIMES)("x-forwarded-client-cert on %s", (runtime) => {
  let proxy: ProxyProcess;
  let logPath: string;
  const ports: Record<string, number> = {};

  beforeAll(async () => {
    for (const name of ["set", "append", "sanitize", "forward", "always", "hop"]) ports[name] = await freePort();
    logPath = join(certs.dir, `upstream-tls-${runtime}.log`);
    const hop = listener("hop", ports.hop!, {
      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "self_tls" } }] }] },
      access_log: [
        {
          name: "envoy.access_loggers.file",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            path: logPath,
            log_format: { text_format_source: { inline_string: "%UPSTREAM_TLS_VERSION% %UPSTREAM_PEER_SUBJECT% %UPSTREAM_PEER_DNS_SAN% %UPSTREAM_PEER_URI_SAN% %DOWNSTREAM_TLS_VERSION%\n" } },
          },
        },
      ],
    }, false);
    const all = { subject: true, cert: true, chain: true, uri: true, dns: true };
    proxy = await ProxyProcess.start(runtime, {
      static_resources: {
        listeners: [
          listener("set", ports.set!, { forward_client_cert_details: "SANITIZE_SET", set_current_client_cert_details: all }, true),
          listener("append", ports.append!, { forward_client_cert_details: "APPEND_FORWARD", set_current_client_cert_details: { uri: true } }, true),
          listener("sanitize", ports.sanitize!, {}, true),
          listener("forward", ports.forward!, { forward_client_cert_details: "FORWARD_ONLY" }, false),
          listener("always", ports.always!, { forward_client_cert_details: "ALWAYS_FORWARD_ONLY" }, false),
          hop,
        ],
        clusters: [
          {
            // The proxy's own mTLS listener, over TLS with the client certificate: the upstream TLS operators.
            name: "self_tls",
            connect_timeout: "2s",
            transport_socket: {
              name: "envoy.transport_sockets.tls",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                sni: "example.com",
                common_tls_context: { tls_certificates: [{ certificate_chain: { filename: certs.client.cert }, private_key: { filename: certs.client.key } }], validation_context: { trusted_ca: { filename: certs.ca } } },
              },
            },
            load_assignment: { cluster_name: "self_tls", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: ports.set } } } }] }] },
          },
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

  test("SANITIZE_SET with every detail: Envoy's element, the client's header replaced", async () => {
    const pem = readFileSync(certs.client.cert, "utf8");
    const hash = new X509Certificate(pem).fingerprint256.replace(/:/g, "").toLowerCase();
    const xfcc = await seenXfcc(ports.set!, true, "By=forged;Hash=forged");
    // The client sent only its own certificate: the chain is that certificate.
    expect(xfcc).toBe(`By=spiffe://test/proxy;Hash=${hash};Subject="CN=client1,O=polyvoy";Cert="${encoded(pem)}";Chain="${encoded(pem)}";URI=spiffe://test/client1`);
  });

  test("APPEND_FORWARD appends this hop's element after a comma", async () => {
    const hash = new X509Certificate(readFileSync(certs.client.cert)).fingerprint256.replace(/:/g, "").toLowerCase();
    expect(await seenXfcc(ports.append!, true, "By=spiffe://a;Hash=00")).toBe(`By=spiffe://a;Hash=00,By=spiffe://test/proxy;Hash=${hash};URI=spiffe://test/client1`);
    expect(await seenXfcc(ports.append!, true)).toBe(`By=spiffe://test/proxy;Hash=${hash};URI=spiffe://test/client1`);
  });

  test("SANITIZE (the default) removes it even over mTLS; FORWARD_ONLY without mTLS removes it; ALWAYS_FORWARD_ONLY keeps it", async () => {
    expect(await seenXfcc(ports.sanitize!, true, "By=x;Hash=y")).toBeUndefined();
    expect(await seenXfcc(ports.forward!, false, "By=x;Hash=y")).toBeUndefined();
    expect(await seenXfcc(ports.always!, false, "By=x;Hash=y")).toBe("By=x;Hash=y");
  });

  test("upstream TLS access-log operators: version, peer subject and SANs of the upstream connection", async () => {
    // Through the hop listener (plain) to the proxy's own mTLS listener: its element reaches the upstream.
    expect(await seenXfcc(ports.hop!, false)).toMatch(/^By=spiffe:\/\/test\/proxy;Hash=[0-9a-f]{64};Subject="CN=client1,O=polyvoy";/);
    let line = "";
    for (let i = 0; i < 100 && line === ""; i++) {
      line = existsSync(logPath) ? readFileSync(logPath, "utf8").trim() : "";
      if (line === "") await new Promise((r) => setTimeout(r, 50));
    }
    expect(line).toBe("TLSv1.2 CN=example.com example.com spiffe://test/proxy -");
  });
});
