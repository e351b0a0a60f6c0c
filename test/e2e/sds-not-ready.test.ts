/**
 * What a proxy does while a secret from a management server has not come, black-box on
 * every runtime: the control plane (test/support) answers ADS but never sends the secrets
 * "never_cert" and "never_hmac".
 * - A cluster with upstream TLS whose certificate is one of them never speaks plaintext:
 *   an EDS cluster's stream through it (started while the TLS cluster still waits for its
 *   secret, and after initial_fetch_timeout) reaches a raw TCP server as connections that
 *   carry no byte (Envoy's NotReadySslSocket), counted in
 *   cluster.<name>.client_ssl_socket_factory.upstream_context_secrets_not_ready.
 * - An oauth2 filter whose hmac_secret has not come refuses a cookie signed with an empty
 *   key (anyone could compute it): 401 "OAuth flow failed.", the upstream never asked.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHmac } from "node:crypto";
import { createServer, type Server, type AddressInfo } from "node:net";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { adminStats } from "../support/tls-probe.ts";
import { XdsControlPlane } from "../support/xds-control-plane.ts";
import { eventually, grpcSource, xdsCluster } from "../support/xds-resources.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const OAUTH2 = "type.googleapis.com/envoy.extensions.filters.http.oauth2.v3.OAuth2";
const ADS = { ads: {}, resource_api_version: "V3", initial_fetch_timeout: "2s" };

/** A cluster whose upstream TLS presents the certificate "never_cert" (over ADS, never sent), reaching `port`. */
function tlsXdsCluster(port: number): object {
  return {
    ...xdsCluster(port, "tls_xds"),
    transport_socket: {
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        common_tls_context: { tls_certificate_sds_secret_configs: [{ name: "never_cert", sds_config: ADS }] },
      },
    },
  };
}

/** A listener whose oauth2 filter signs with "never_hmac" (over ADS, never sent), routing to `upstream`. */
function oauthListener(port: number): object {
  return {
    name: "web",
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HCM,
              stat_prefix: "web",
              route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "upstream" } }] }] },
              http_filters: [
                {
                  name: "envoy.filters.http.oauth2",
                  typed_config: {
                    "@type": OAUTH2,
                    config: {
                      token_endpoint: { cluster: "upstream", uri: "http://auth.test/token", timeout: "3s" },
                      authorization_endpoint: "https://auth.test/authorize",
                      redirect_uri: "http://%REQ(:authority)%/callback",
                      redirect_path_matcher: { path: { exact: "/callback" } },
                      signout_path: { path: { exact: "/signout" } },
                      credentials: { client_id: "c", token_secret: { name: "token" }, hmac_secret: { name: "never_hmac", sds_config: ADS } },
                    },
                  },
                },
                { name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } },
              ],
            },
          },
        ],
      },
    ],
  };
}

/** The cookies an attacker makes for `host` when the HMAC key is empty. */
function forgedCookies(host: string): string {
  const expires = "9999999999";
  const mac = createHmac("sha256", Buffer.alloc(0)).update([host, expires, "anything", "", ""].join("\n"), "latin1").digest("base64");
  return `OauthHMAC=${mac}; OauthExpires=${expires}; BearerToken=anything`;
}

describe.each(RUNTIMES)("secrets a management server has not sent, on %s", (runtime) => {
  let proxy: ProxyProcess;
  let controlPlane: XdsControlPlane;
  let raw: Server;
  let upstream: HttpUpstream;
  const received: Buffer[] = [];
  let connections = 0;
  let webPort: number;
  let adminPort: number;

  beforeAll(async () => {
    [webPort, adminPort] = [await freePort(), await freePort()];
    // Where the TLS cluster's hosts are: a ClientHello is all it should ever see.
    raw = createServer((socket) => {
      connections++;
      socket.on("data", (d) => received.push(d));
      socket.on("error", () => undefined);
    });
    await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
    upstream = await httpUpstream();
    controlPlane = new XdsControlPlane();
    const cpPort = await controlPlane.start();
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      node: { id: "polyvoy-sds-not-ready", cluster: "test" },
      dynamic_resources: { ads_config: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds_cluster" } }] } },
      static_resources: {
        secrets: [{ name: "token", generic_secret: { secret: { inline_string: "tok" } } }],
        clusters: [
          xdsCluster(cpPort),
          tlsXdsCluster((raw.address() as AddressInfo).port),
          { name: "svc", type: "EDS", connect_timeout: "1s", eds_cluster_config: { eds_config: grpcSource("tls_xds", { initial_fetch_timeout: "2s" }) } },
          { name: "upstream", type: "STATIC", connect_timeout: "1s", load_assignment: { cluster_name: "upstream", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: upstream.port } } } }] }] } },
        ],
        listeners: [oauthListener(webPort)],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await controlPlane?.stop();
    raw?.close();
    await upstream?.close();
  });

  test("a cluster with upstream TLS whose secret has not come sends no plaintext: its connections carry no byte", async () => {
    const stat = "cluster.tls_xds.client_ssl_socket_factory.upstream_context_secrets_not_ready";
    const stats = await eventually(() => adminStats(adminPort), (s) => (s.get(stat) ?? 0) >= 2);
    expect(stats.get(stat)).toBeGreaterThanOrEqual(2);
    expect(connections).toBeGreaterThanOrEqual(1);
    expect(Buffer.concat(received).toString("latin1")).toBe("");
  });

  test("oauth2 without its hmac_secret refuses a cookie signed with an empty key", async () => {
    const host = `127.0.0.1:${webPort}`;
    const response = await fetch(`http://${host}/private`, { headers: { cookie: forgedCookies(host) }, redirect: "manual" });
    expect(`${response.status} ${await response.text()}`).toBe("401 OAuth flow failed.");
    expect(upstream.requests.length).toBe(0);
    expect((await adminStats(adminPort)).get("http.web.oauth_success") ?? 0).toBe(0);
  });
});
