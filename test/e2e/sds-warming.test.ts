/**
 * SDS from a management server and listener warming / subscription lifetime, black-box on
 * every runtime (test/support's control plane serves LDS and SDS over ADS):
 * - static TLS listeners whose secrets never come start after one initial_fetch_timeout,
 *   not one per listener (their secrets are asked for together);
 * - an LDS update (from a file) with a listener waiting for its secret is taken at once,
 *   the plain listener beside it binds and serves, the waiting one counts in
 *   total_listeners_warming, then binds once its secret comes;
 * - a listener updated by LDS three times, then one rotation of its secret: one context
 *   rebuilt (ssl_context_update_by_sds +1), not one per listener ever built;
 * - a listener LDS removes releases its secret: the name leaves the SDS request.
 */
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ProxyProcess, RUNTIMES, writeConfig, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { mintTestCerts, type CertFiles, type TestCerts } from "../support/test-certs.ts";
import { adminStats, tlsGet } from "../support/tls-probe.ts";
import { LISTENER, SECRET, XdsControlPlane } from "../support/xds-control-plane.ts";
import { eventually, xdsCluster } from "../support/xds-resources.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ADS = { ads: {}, resource_api_version: "V3" };
/** A secret the server never sends: the listener waits this long, then starts without it. */
const NEVER = { ads: {}, resource_api_version: "V3", initial_fetch_timeout: "3s" };
/** A secret that may never come: the listener warms until it does. */
const FOREVER = { ads: {}, resource_api_version: "V3", initial_fetch_timeout: "0s" };

let certs: TestCerts;

beforeAll(() => {
  certs = mintTestCerts();
});

function httpChain(name: string, body: string): object {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": HCM,
      stat_prefix: name,
      route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: body } } }] }] },
      http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
    },
  };
}

/** A listener answering `body` over TLS, its certificate the secret `secret` from `source`. */
function tlsListener(name: string, port: number, secret: string, source: object, body: string): Record<string, unknown> {
  const tlsContext = {
    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
    common_tls_context: { tls_certificate_sds_secret_configs: [{ name: secret, sds_config: source }] },
  };
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        transport_socket: {
          name: "envoy.transport_sockets.tls",
          typed_config: tlsContext,
        },
        filters: [httpChain(name, body)],
      },
    ],
  };
}

/** Write the LDS file as config tooling does: a temp file renamed over it. */
function writeLds(path: string, version: string, listeners: Record<string, unknown>[]): void {
  writeFileSync(`${path}.tmp`, JSON.stringify({ version_info: version, resources: listeners.map((l) => ({ "@type": LISTENER, ...l })) }));
  renameSync(`${path}.tmp`, path);
}

function plainListener(name: string, port: number, body: string): Record<string, unknown> {
  return { name, address: { socket_address: { address: "127.0.0.1", port_value: port } }, filter_chains: [{ filters: [httpChain(name, body)] }] };
}

function certificateSecret(name: string, files: CertFiles): Record<string, unknown> {
  return { name, tls_certificate: { certificate_chain: { inline_string: certs.read(files.cert) }, private_key: { inline_string: certs.read(files.key) } } };
}

/** The names of the last SDS request on the ADS stream. */
function lastSecretNames(controlPlane: XdsControlPlane): string {
  const requests = controlPlane.requestsOf(SECRET).filter((r) => r.service === "ads");
  return [...(requests.at(-1)?.resourceNames ?? [])].sort().join();
}

describe.each(RUNTIMES)("SDS warming and subscription lifetime on %s", (runtime) => {
  let proxy: ProxyProcess;
  let controlPlane: XdsControlPlane;
  let lds: string;
  let adminPort: number;
  let ports: number[];
  let startMs: number;

  beforeAll(async () => {
    adminPort = await freePort();
    ports = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    controlPlane = new XdsControlPlane();
    const cpPort = await controlPlane.start();
    controlPlane.setSnapshot(SECRET, "s1", [certificateSecret("l_cert", certs.server)]);
    lds = join(mkdtempSync(join(tmpdir(), "sds-warming-")), "lds.json");
    writeLds(lds, "l1", [tlsListener("L", ports[3]!, "l_cert", ADS, "L v1")]);
    proxy = ProxyProcess.launch(runtime, ["-c", writeConfig({
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      node: { id: "polyvoy-sds-warming", cluster: "test" },
      dynamic_resources: { ads_config: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds_cluster" } }] }, lds_config: { path_config_source: { path: lds }, resource_api_version: "V3" } },
      static_resources: {
        clusters: [xdsCluster(cpPort)],
        listeners: [0, 1, 2].map((i) => tlsListener(`static${i}`, ports[i]!, `never${i}`, NEVER, `static ${i}`)),
      },
    })]);
    // Timed from the admin's line, which comes before the listeners ask for their secrets:
    // the process's own start-up (slow on a loaded machine) is not what is measured.
    await proxy.waitForLog(/listening on/g, 1);
    const started = Date.now();
    await proxy.waitForLog(/listening on/g, 5);
    startMs = Date.now() - started;
    await eventually(() => tlsGet(ports[3]!).then((r) => r.body, (e: Error) => e.message), (body) => body.includes("L v1"));
  });

  afterAll(async () => {
    await proxy?.stop();
    await controlPlane?.stop();
  });

  test("static listeners waiting for their secrets start after one initial_fetch_timeout, not one each", async () => {
    const stats = await adminStats(adminPort);
    for (const i of [0, 1, 2]) expect(stats.get(`sds.never${i}.init_fetch_timeout`)).toBe(1);
    // Three secrets asked for together: ~3 s (one timeout), where one after another takes 9 s.
    expect(startMs).toBeLessThan(6_000);
  });

  test("a listener updated three times, then one rotation: one context rebuilt", async () => {
    for (const v of [2, 3, 4]) {
      writeLds(lds, `l${v}`, [tlsListener("L", ports[3]!, "l_cert", ADS, `L v${v}`)]);
      await eventually(() => tlsGet(ports[3]!).then((r) => r.body, (e: Error) => e.message), (body) => body.includes(`L v${v}`));
    }
    const counter = `listener.127.0.0.1_${ports[3]}.server_ssl_socket_factory.ssl_context_update_by_sds`;
    const before = (await adminStats(adminPort)).get(counter) ?? 0;
    controlPlane.setSnapshot(SECRET, "s2", [certificateSecret("l_cert", certs.other)]);
    expect(await eventually(() => tlsGet(ports[3]!).then((r) => r.cn), (cn) => cn === "other.test")).toBe("other.test");
    expect(((await adminStats(adminPort)).get(counter) ?? 0) - before).toBe(1);
  });

  test("a listener removed by LDS releases its secret: the name leaves the SDS request", async () => {
    expect(lastSecretNames(controlPlane)).toContain("l_cert");
    writeLds(lds, "l5", []);
    expect(await eventually(async () => lastSecretNames(controlPlane), (names) => !names.includes("l_cert"))).not.toContain("l_cert");
    // The static listeners' secrets stay asked for.
    expect(lastSecretNames(controlPlane)).toBe("never0,never1,never2");
  });

  test("an LDS update with a listener waiting for its secret is taken; the plain one beside it serves; warming 1", async () => {
    writeLds(lds, "l6", [tlsListener("waiting", ports[4]!, "forever_cert", FOREVER, "waiting"), plainListener("plain", ports[5]!, "plain")]);
    const response = await eventually(() => fetch(`http://127.0.0.1:${ports[5]}/`).then((r) => r.text(), (e: Error) => e.message), (body) => body === "plain");
    expect(response).toBe("plain");
    const stats = await adminStats(adminPort);
    expect(stats.get("listener_manager.total_listeners_warming")).toBe(1);
    // Once its secret comes, it binds and serves.
    controlPlane.setSnapshot(SECRET, "s3", [certificateSecret("l_cert", certs.other), certificateSecret("forever_cert", certs.rsa)]);
    expect(await eventually(() => tlsGet(ports[4]!).then((r) => r.cn, (e: Error) => e.message), (cn) => cn === "rsa.test")).toBe("rsa.test");
    expect((await adminStats(adminPort)).get("listener_manager.total_listeners_warming")).toBe(0);
  });
});
