/**
 * SDS from a real management server on every runtime, black-box: test/support's control
 * plane (@grpc/grpc-js with Envoy's own protos) serves TLS certificates as Secrets, over
 * ADS (state of the world) and over the SecretDiscoveryService's incremental stream
 * (api_config_source DELTA_GRPC), and by REST polling. Two listeners naming one secret
 * share its subscription; a cluster's upstream TLS takes its validation context (the CA)
 * over ADS before it serves.
 * A pushed certificate is used by new handshakes while an open connection goes on; a
 * secret that does not validate is NACKed with the reason and the old one kept. A
 * secret the server does not send: the listener starts once initial_fetch_timeout
 * passed and closes each connection before a handshake, until the secret comes.
 * Certificates are minted by the test (test-certs.ts) and sent inline.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as tls from "node:tls";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { mintTestCerts, type CertFiles, type TestCerts } from "../support/test-certs.ts";
import { adminStats, tlsGet } from "../support/tls-probe.ts";
import { SECRET, XdsControlPlane } from "../support/xds-control-plane.ts";
import { eventually, xdsCluster } from "../support/xds-resources.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ADS = { ads: {}, resource_api_version: "V3" };
const DELTA = {
  api_config_source: { api_type: "DELTA_GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds_cluster" } }] },
  resource_api_version: "V3",
  initial_fetch_timeout: "1s",
};

let certs: TestCerts;

beforeAll(() => {
  certs = mintTestCerts();
});

/** A listener answering `body` over TLS, its certificate the secret `secret` from `source`. */
function tlsListener(name: string, port: number, secret: string, source: object, body: string): object {
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        transport_socket: {
          name: "envoy.transport_sockets.tls",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            common_tls_context: { tls_certificate_sds_secret_configs: [{ name: secret, sds_config: source }] },
          },
        },
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HCM,
              stat_prefix: name,
              route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: body } } }] }] },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
            },
          },
        ],
      },
    ],
  };
}

/** A Secret with the certificate and key inline, as protobufjs writes it. */
function certificateSecret(name: string, files: CertFiles): Record<string, unknown> {
  return { name, tls_certificate: { certificate_chain: { inline_string: certs.read(files.cert) }, private_key: { inline_string: certs.read(files.key) } } };
}

/** The CA the cluster "secure" verifies its upstream with, as a validation_context secret. */
function upstreamCa(): Record<string, unknown> {
  return { name: "upstream_ca", validation_context: { trusted_ca: { inline_string: certs.read(certs.ca) } } };
}

/** A plain HTTP listener routing to cluster "secure", whose upstream TLS verifies with the secret "upstream_ca" (ADS). */
function plainListener(port: number): object {
  return {
    name: "plain",
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HCM,
              stat_prefix: "plain",
              route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "secure" } }] }] },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
            },
          },
        ],
      },
    ],
  };
}

function secureCluster(port: number): object {
  return {
    name: "secure",
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: { cluster_name: "secure", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
    transport_socket: {
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        sni: "example.com",
        common_tls_context: { validation_context_sds_secret_config: { name: "upstream_ca", sds_config: ADS } },
      },
    },
  };
}

/** A keep-alive TLS connection: the certificate it got, and one GET at a time on it. */
async function openConnection(port: number): Promise<{ cn: string | undefined; get(): Promise<string>; close(): void }> {
  const socket = tls.connect({ host: "127.0.0.1", port, servername: "example.com", rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  const cn = socket.getPeerCertificate().subject?.CN as string | undefined;
  return {
    cn,
    get: () =>
      new Promise<string>((resolve, reject) => {
        let text = "";
        const onData = (d: Buffer) => {
          text += d.toString();
          const length = /content-length: (\d+)/i.exec(text)?.[1];
          const end = text.indexOf("\r\n\r\n");
          if (length !== undefined && end >= 0 && text.length >= end + 4 + Number(length)) {
            socket.off("data", onData);
            resolve(text.slice(end + 4));
          }
        };
        socket.on("data", onData);
        socket.once("close", () => reject(new Error(`closed; got ${JSON.stringify(text)}`)));
        socket.write("GET / HTTP/1.1\r\nhost: example.com\r\n\r\n");
      }),
    close: () => socket.destroy(),
  };
}

/** A handshake's certificate CN, or how the connection ended without one. */
const cnOf = (port: number) => tlsGet(port).then((r) => r.cn ?? `no handshake (${JSON.stringify(r.body)})`, (err: Error) => `no handshake (${err.message})`);

describe.each(RUNTIMES)("SDS from a management server on %s", (runtime) => {
  let proxy: ProxyProcess;
  let controlPlane: XdsControlPlane;
  let adsPort: number;
  let sharedPort: number;
  let latePort: number;
  let restPort: number;
  let plainPort: number;
  let adminPort: number;
  let upstream: https.Server;

  beforeAll(async () => {
    [adsPort, sharedPort, latePort, restPort, plainPort, adminPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    upstream = https.createServer({ cert: certs.read(certs.server.cert), key: certs.read(certs.server.key) }, (_req, res) => res.end("secure upstream"));
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    controlPlane = new XdsControlPlane();
    const cpPort = await controlPlane.start();
    const restServerPort = await controlPlane.startRest();
    controlPlane.setSnapshot(SECRET, "s1", [certificateSecret("server_cert", certs.server), upstreamCa()]);
    controlPlane.setRestSnapshot(SECRET, "r1", [certificateSecret("rest_cert", certs.server)]);
    const rest = { api_config_source: { api_type: "REST", transport_api_version: "V3", cluster_names: ["rest_cluster"], refresh_delay: "0.2s" } };
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      node: { id: "polyvoy-sds", cluster: "test" },
      dynamic_resources: { ads_config: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds_cluster" } }] } },
      static_resources: {
        clusters: [xdsCluster(cpPort), xdsCluster(restServerPort, "rest_cluster", true), secureCluster((upstream.address() as AddressInfo).port)],
        listeners: [
          tlsListener("ads", adsPort, "server_cert", ADS, "over ads"),
          tlsListener("shared", sharedPort, "server_cert", ADS, "shared"),
          tlsListener("late", latePort, "late_cert", DELTA, "late"),
          tlsListener("rest", restPort, "rest_cert", rest, "over rest"),
          plainListener(plainPort),
        ],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await controlPlane?.stop();
    upstream?.close();
  });

  test("a certificate over ADS, one subscription for two listeners; a pushed certificate is used by new handshakes, an open connection goes on", async () => {
    expect(await tlsGet(adsPort)).toEqual({ cn: "example.com", body: expect.stringContaining("over ads") });
    expect(await tlsGet(sharedPort)).toEqual({ cn: "example.com", body: expect.stringContaining("shared") });
    const acks = controlPlane.requestsOf(SECRET).filter((r) => r.service === "ads" && r.versionInfo === "s1" && r.responseNonce !== "" && r.errorDetail === undefined);
    // The cluster's secret is asked for first (clusters initialize before listeners), then both on one stream.
    expect(acks.map((r) => r.resourceNames.join())).toContain("server_cert,upstream_ca");
    expect(controlPlane.requestsOf(SECRET).filter((r) => r.service === "ads" && r.errorDetail !== undefined)).toEqual([]);
    // One SdsApi for both listeners: one update applied, not one per listener.
    expect((await adminStats(adminPort)).get("sds.server_cert.update_success")).toBe(1);

    const open = await openConnection(adsPort);
    expect(open.cn).toBe("example.com");
    expect(await open.get()).toBe("over ads");
    controlPlane.setSnapshot(SECRET, "s2", [certificateSecret("server_cert", certs.other), upstreamCa()]);
    expect(await eventually(() => cnOf(adsPort), (cn) => cn === "other.test")).toBe("other.test");
    expect(await cnOf(sharedPort)).toBe("other.test");
    // The connection made with the first certificate is not dropped.
    expect(await open.get()).toBe("over ads");
    open.close();
    const stats = await adminStats(adminPort);
    expect(stats.get("sds.server_cert.update_success")).toBe(2);
    // The first secret (sent after the listener was built) and the rotation: Envoy's onAddOrUpdateSecret counts each.
    expect(stats.get(`listener.127.0.0.1_${adsPort}.server_ssl_socket_factory.ssl_context_update_by_sds`)).toBe(2);
  });

  test("a secret that does not validate is NACKed with the reason; the one in use stays", async () => {
    controlPlane.setSnapshot(SECRET, "s3", [{ name: "server_cert", tls_certificate: { certificate_chain: { inline_string: certs.read(certs.rsa.cert) } } }, upstreamCa()]);
    const nack = await eventually(
      async () => controlPlane.requestsOf(SECRET).find((r) => r.service === "ads" && r.errorDetail !== undefined),
      (r) => r !== undefined,
    );
    expect(nack?.versionInfo).toBe("s2");
    expect(nack?.errorDetail?.message).toContain("private_key");
    const stats = await adminStats(adminPort);
    expect(stats.get("sds.server_cert.update_rejected")).toBe(1);
    expect(stats.get("sds.server_cert.update_success")).toBe(2);
    expect(await cnOf(adsPort)).toBe("other.test");
  });

  test("initial_fetch_timeout: the listener starts without its secret, closes connections before a handshake, then serves the secret once sent (DELTA_GRPC)", async () => {
    expect(await cnOf(latePort)).toMatch(/^no handshake/);
    let stats = await adminStats(adminPort);
    expect(stats.get("sds.late_cert.init_fetch_timeout")).toBe(1);
    expect(stats.get(`listener.127.0.0.1_${latePort}.server_ssl_socket_factory.downstream_context_secrets_not_ready`)).toBeGreaterThanOrEqual(1);
    expect(proxy.stderr).toContain("sds 'late_cert' from grpc cluster 'xds_cluster': initial fetch timeout (1000 ms)");

    controlPlane.setSnapshot(SECRET, "s4", [certificateSecret("server_cert", certs.other), certificateSecret("late_cert", certs.rsa), upstreamCa()]);
    expect(await eventually(() => cnOf(latePort), (cn) => cn === "rsa.test")).toBe("rsa.test");
    expect((await tlsGet(latePort)).body).toContain("late");
    stats = await adminStats(adminPort);
    expect(stats.get("sds.late_cert.update_success")).toBe(1);
    expect(controlPlane.requestsOf(SECRET).some((r) => r.service === "delta-sds" && r.subscribe?.includes("late_cert"))).toBe(true);
  });

  test("a certificate by REST polling, then a new one polled", async () => {
    expect(await tlsGet(restPort)).toEqual({ cn: "example.com", body: expect.stringContaining("over rest") });
    controlPlane.setRestSnapshot(SECRET, "r2", [certificateSecret("rest_cert", certs.rsa)]);
    expect(await eventually(() => cnOf(restPort), (cn) => cn === "rsa.test")).toBe("rsa.test");
    const polls = controlPlane.requestsOf(SECRET).filter((r) => r.service === "rest");
    expect(polls.some((r) => r.versionInfo === "r1" && r.resourceNames.join() === "rest_cert")).toBe(true);
  });

  test("a cluster's upstream TLS verifies with a validation context pushed over ADS", async () => {
    const response = await fetch(`http://127.0.0.1:${plainPort}/`);
    expect(`${response.status} ${await response.text()}`).toBe("200 secure upstream");
    const stats = await adminStats(adminPort);
    expect(stats.get("sds.upstream_ca.update_success")).toBeGreaterThanOrEqual(1);
    expect(stats.get("cluster.secure.ssl.handshake")).toBeGreaterThanOrEqual(1);
  });
});
