/**
 * /config_dump's SecretsConfigDump on every runtime, black-box: static secrets from the
 * bootstrap, a certificate a real management server (test/support's control plane) sends
 * over ADS (dynamic_active_secrets, with its version_info), one it never sends
 * (dynamic_warming_secrets), each redacted as Envoy's MessageUtil::redact does it:
 * private keys and generic secrets read "[redacted]", certificates and CAs stay.
 * A secret naming files (here from an SDS file) shows what was read from them as
 * inline_bytes, as Envoy's resolved copy does (sds_api.h resolveSecret).
 * `?resource=`, `?name_regex=` and `?mask=` work on the secrets as on the other parts.
 * Certificates are minted by the test (test-certs.ts) and sent inline or named by path.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { mintTestCerts, type CertFiles, type TestCerts } from "../support/test-certs.ts";
import { tlsGet } from "../support/tls-probe.ts";
import { SECRET, XdsControlPlane } from "../support/xds-control-plane.ts";
import { eventually, xdsCluster } from "../support/xds-resources.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const SECRETS_DUMP = "type.googleapis.com/envoy.admin.v3.SecretsConfigDump";
const HMAC = "hmac-value-never-shown";

let certs: TestCerts;

beforeAll(() => {
  certs = mintTestCerts();
});

function tlsListener(name: string, port: number, secret: string, source: object, validation?: { name: string; sds_config: object }): object {
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        transport_socket: {
          name: "envoy.transport_sockets.tls",
          typed_config: {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            common_tls_context: { tls_certificate_sds_secret_configs: [{ name: secret, sds_config: source }], ...(validation ? { validation_context_sds_secret_config: validation } : {}) },
          },
        },
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HCM,
              stat_prefix: name,
              route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }] }] },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
            },
          },
        ],
      },
    ],
  };
}

function certificateSecret(name: string, files: CertFiles): Record<string, unknown> {
  return { name, tls_certificate: { certificate_chain: { inline_string: certs.read(files.cert) }, private_key: { inline_string: certs.read(files.key) } } };
}

type Dump = { configs: Record<string, unknown>[] };

/** A file's bytes as /config_dump prints bytes (base64). */
const base64Of = (path: string): string => Buffer.from(certs.read(path)).toString("base64");
/** Envoy's redacted bytes: the bytes of "[redacted]". */
const REDACTED_BYTES = Buffer.from("[redacted]").toString("base64");

/** An SDS file (a DiscoveryResponse) holding `secret`; its path. */
function sdsFile(name: string, secret: object): string {
  const path = join(certs.dir, `sds-dump-${name}.json`);
  writeFileSync(path, JSON.stringify({ version_info: "f1", resources: [{ "@type": SECRET, name, ...secret }] }));
  return path;
}

describe.each(RUNTIMES)("/config_dump's secrets on %s", (runtime) => {
  let proxy: ProxyProcess;
  let controlPlane: XdsControlPlane;
  let adminPort: number;
  let adsPort: number;

  const admin = async (path: string): Promise<{ status: number; body: string }> => {
    const res = await fetch(`http://127.0.0.1:${adminPort}${path}`);
    return { status: res.status, body: await res.text() };
  };
  const secretsOf = async (query = ""): Promise<Record<string, unknown>> => {
    const dump = JSON.parse((await admin(`/config_dump${query}`)).body) as Dump;
    return dump.configs.find((c) => c["@type"] === SECRETS_DUMP)!;
  };

  beforeAll(async () => {
    [adminPort, adsPort] = [await freePort(), await freePort()];
    const [neverPort, filePort] = [await freePort(), await freePort()];
    const certFile = sdsFile("file_cert", { tls_certificate: { certificate_chain: { filename: certs.server.cert }, private_key: { filename: certs.server.key } } });
    const caFile = sdsFile("file_ca", { validation_context: { trusted_ca: { filename: certs.ca } } });
    controlPlane = new XdsControlPlane();
    const cpPort = await controlPlane.start();
    controlPlane.setSnapshot(SECRET, "v1", [certificateSecret("server_cert", certs.server)]);
    const ads = { ads: {}, resource_api_version: "V3" };
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      node: { id: "polyvoy-sds-dump", cluster: "test" },
      dynamic_resources: { ads_config: { api_type: "GRPC", transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds_cluster" } }] } },
      static_resources: {
        clusters: [xdsCluster(cpPort)],
        listeners: [
          tlsListener("ads", adsPort, "server_cert", ads),
          tlsListener("never", neverPort, "never_cert", { ...ads, initial_fetch_timeout: "1s" }),
          tlsListener("file", filePort, "file_cert", { path_config_source: { path: certFile } }, { name: "file_ca", sds_config: { path_config_source: { path: caFile } } }),
        ],
        secrets: [
          { name: "hmac", generic_secret: { secret: { inline_string: HMAC } } },
          { name: "static_ca", validation_context: { trusted_ca: { inline_string: certs.read(certs.ca) } } },
          certificateSecret("static_cert", certs.other),
        ],
      },
    });
    expect((await tlsGet(adsPort)).cn).toBe("example.com");
  });

  afterAll(async () => {
    await proxy?.stop();
    await controlPlane?.stop();
  });

  test("SecretsConfigDump: static secrets, the pushed one active with its version_info, the one never sent warming; keys and generic secrets redacted", async () => {
    const body = (await admin("/config_dump")).body;
    // No key, no generic secret anywhere in the dump (the bootstrap's copy is redacted too).
    for (const files of [certs.server, certs.other]) {
      expect(body).not.toContain(certs.read(files.key).split("\n")[1]!);
      expect(body).not.toContain(base64Of(files.key).slice(0, 40));
    }
    expect(body).not.toContain(HMAC);
    const dump = JSON.parse(body) as Dump;
    // Envoy's order: the secrets are the last part.
    expect(dump.configs.at(-1)!["@type"]).toBe(SECRETS_DUMP);
    const secrets = dump.configs.at(-1)!;
    // Envoy's dumpSecretConfigs: TLS certificates, validation contexts, generic secrets; no last_updated on static ones.
    expect(secrets.static_secrets).toEqual([
      { name: "static_cert", secret: { "@type": SECRET, name: "static_cert", tls_certificate: { certificate_chain: { inline_string: certs.read(certs.other.cert) }, private_key: { inline_string: "[redacted]" } } } },
      { name: "static_ca", secret: { "@type": SECRET, name: "static_ca", validation_context: { trusted_ca: { inline_string: certs.read(certs.ca) } } } },
      { name: "hmac", secret: { "@type": SECRET, name: "hmac", generic_secret: { secret: { inline_string: "[redacted]" } } } },
    ]);
    expect(secrets.dynamic_active_secrets).toEqual([
      // Files named by the secret: shown as read (Envoy's resolved copy), the key redacted.
      {
        name: "file_cert",
        version_info: "f1",
        last_updated: expect.any(String),
        secret: { "@type": SECRET, name: "file_cert", tls_certificate: { certificate_chain: { inline_bytes: base64Of(certs.server.cert) }, private_key: { inline_bytes: REDACTED_BYTES } } },
      },
      {
        name: "server_cert",
        version_info: "v1",
        last_updated: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
        secret: { "@type": SECRET, name: "server_cert", tls_certificate: { certificate_chain: { inline_string: certs.read(certs.server.cert) }, private_key: { inline_string: "[redacted]" } } },
      },
      { name: "file_ca", version_info: "f1", last_updated: expect.any(String), secret: { "@type": SECRET, name: "file_ca", validation_context: { trusted_ca: { inline_bytes: base64Of(certs.ca) } } } },
    ]);
    // Not sent: its name only, and Envoy's unset time (the epoch).
    expect(secrets.dynamic_warming_secrets).toEqual([{ name: "never_cert", last_updated: "1970-01-01T00:00:00.000Z", secret: { "@type": SECRET, name: "never_cert" } }]);
  });

  test("a pushed secret shows its new version_info; ?resource=, ?name_regex= and ?mask= on the secrets", async () => {
    controlPlane.setSnapshot(SECRET, "v2", [certificateSecret("server_cert", certs.other)]);
    const active = await eventually(
      async () => ((await secretsOf()).dynamic_active_secrets as { name: string; version_info: string }[]).find((s) => s.name === "server_cert")!,
      (s) => s.version_info === "v2",
    );
    expect(active.version_info).toBe("v2");

    const only = JSON.parse((await admin("/config_dump?resource=dynamic_active_secrets")).body) as Dump;
    expect(only.configs.map((c) => [c["@type"], c.name])).toEqual(["file_cert", "server_cert", "file_ca"].map((name) => ["type.googleapis.com/envoy.admin.v3.SecretsConfigDump.DynamicSecret", name]));
    const statics = JSON.parse((await admin("/config_dump?resource=static_secrets&name_regex=static_.*")).body) as Dump;
    expect(statics.configs.map((c) => [c["@type"], c.name])).toEqual([
      ["type.googleapis.com/envoy.admin.v3.SecretsConfigDump.StaticSecret", "static_cert"],
      ["type.googleapis.com/envoy.admin.v3.SecretsConfigDump.StaticSecret", "static_ca"],
    ]);
    const named = await secretsOf("?name_regex=never.*");
    expect([named.static_secrets, named.dynamic_active_secrets, (named.dynamic_warming_secrets as { name: string }[]).map((s) => s.name)]).toEqual([[], [], ["never_cert"]]);
    const masked = JSON.parse((await admin("/config_dump?resource=dynamic_active_secrets&name_regex=server_.*&mask=name,version_info")).body) as Dump;
    expect(masked.configs).toEqual([{ "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump.DynamicSecret", name: "server_cert", version_info: "v2" }]);
  });
});
