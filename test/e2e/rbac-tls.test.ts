/**
 * RBAC's TLS matchers on every runtime, black-box: `authenticated.principal_name` against
 * the client certificate's URI SAN and `requested_server_name` against the SNI (Envoy's
 * source/extensions/filters/common/rbac/matchers.cc), over mTLS with curl and
 * certificates minted by the test.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFile } from "node:child_process";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { mintTestCerts, type CertFiles, type TestCerts } from "../support/test-certs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

let certs: TestCerts;
let upstream: HttpUpstream;

beforeAll(async () => {
  certs = mintTestCerts();
  upstream = await httpUpstream();
});

afterAll(async () => {
  await upstream?.close();
});

/** The status curl got, presenting `client` and asking for `sni`. */
function status(port: number, client: CertFiles, sni: string): Promise<string> {
  const args = ["-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", certs.ca, "--cert", client.cert, "--key", client.key];
  args.push("--resolve", `${sni}:${port}:127.0.0.1`, `https://${sni}:${port}/`);
  return new Promise((resolve, reject) =>
    execFile("curl", args, (error, stdout, stderr) => (error ? reject(new Error(`curl: ${stderr}`)) : resolve(stdout))),
  );
}

describe.each(RUNTIMES)("RBAC authenticated / requested_server_name on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    proxy = await ProxyProcess.start(runtime, {
      static_resources: {
        listeners: [
          {
            name: "mtls",
            address: { socket_address: { address: "127.0.0.1", port_value: port } },
            filter_chains: [
              {
                transport_socket: {
                  name: "envoy.transport_sockets.tls",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                    require_client_certificate: true,
                    common_tls_context: {
                      tls_certificates: [{ certificate_chain: { filename: certs.server.cert }, private_key: { filename: certs.server.key } }],
                      validation_context: { trusted_ca: { filename: certs.ca } },
                    },
                  },
                },
                filters: [
                  {
                    name: "envoy.filters.network.http_connection_manager",
                    typed_config: {
                      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                      stat_prefix: "mtls",
                      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "up" } }] }] },
                      http_filters: [
                        {
                          name: "envoy.filters.http.rbac",
                          typed_config: {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
                            rules: {
                              action: "ALLOW",
                              policies: {
                                client1: {
                                  permissions: [{ requested_server_name: { exact: "example.com" } }],
                                  principals: [{ authenticated: { principal_name: { exact: "spiffe://test/client1" } } }],
                                },
                              },
                            },
                          },
                        },
                        { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
                      ],
                    },
                  },
                ],
              },
            ],
          },
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

  test("the client certificate's URI SAN and the SNI both match: allowed", async () => {
    expect(await status(port, certs.client, "example.com")).toBe("200");
  });

  test("another client certificate (URI SAN spiffe://test/client2): 403", async () => {
    expect(await status(port, certs.client2, "example.com")).toBe("403");
  });

  test("the right client, another SNI (localhost, also on the server certificate): 403", async () => {
    expect(await status(port, certs.client, "localhost")).toBe("403");
  });
});
