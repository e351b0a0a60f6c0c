/**
 * Secrets on every runtime, black-box: static_resources.secrets named by
 * tls_certificate_sds_secret_configs and validation_context_sds_secret_config (mTLS),
 * and an SDS file (path_config_source) watched by the proxy: a new file, or a
 * certificate rotated on disk, is served on new connections without a restart; a bad
 * file keeps the secret in use, counted in sds.<name>.update_failure / update_rejected.
 * Certificates are minted by the test (test-certs.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { copyFileSync, mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { X509Certificate } from "node:crypto";
import { ProxyProcess, RUNTIMES, runToExit, writeConfig, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { mintTestCerts, type CertFiles, type TestCerts } from "../support/test-certs.ts";
import { adminStats, tlsGet } from "../support/tls-probe.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

let certs: TestCerts;

beforeAll(() => {
  certs = mintTestCerts();
});

function downstreamTls(common: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    name: "envoy.transport_sockets.tls",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", common_tls_context: common, ...extra },
  };
}

function listener(name: string, port: number, transportSocket: object, body: string) {
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        transport_socket: transportSocket,
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: name,
              route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: body } } }] }] },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
            },
          },
        ],
      },
    ],
  };
}

/** Write `text` to `path` as certificate tooling does: a temp file renamed over it. */
function replaceFile(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** An SDS DiscoveryResponse holding one tls_certificate secret. */
function sdsCertificate(name: string, files: CertFiles): string {
  return [
    "resources:",
    `- "@type": ${SECRET_TYPE}`,
    `  name: ${name}`,
    "  tls_certificate:",
    `    certificate_chain: { filename: ${files.cert} }`,
    `    private_key: { filename: ${files.key} }`,
    "",
  ].join("\n");
}

/** Poll until `check` passes (the watch reacts within a moment, the poll fallback within a second). */
async function eventually<T>(probe: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (check(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.each(RUNTIMES)("secrets and SDS on %s", (runtime) => {
  let proxy: ProxyProcess;
  let staticPort: number;
  let sdsPort: number;
  let adminPort: number;
  let dir: string;
  let sdsPath: string;
  let certPath: CertFiles;

  beforeAll(async () => {
    [staticPort, sdsPort, adminPort] = [await freePort(), await freePort(), await freePort()];
    dir = mkdtempSync(join(tmpdir(), "polyvoy-sds-"));
    // The SDS secret names files of its own, which the test rotates.
    certPath = { cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
    copyFileSync(certs.server.cert, certPath.cert);
    copyFileSync(certs.server.key, certPath.key);
    sdsPath = join(dir, "sds.yaml");
    writeFileSync(sdsPath, sdsCertificate("server_cert", certPath));
    const config = {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      static_resources: {
        secrets: [
          { name: "static_cert", tls_certificate: { certificate_chain: { filename: certs.server.cert }, private_key: { filename: certs.server.key } } },
          {
            name: "client_ca",
            validation_context: { trusted_ca: { filename: certs.ca }, match_typed_subject_alt_names: [{ san_type: "URI", matcher: { exact: "spiffe://test/client1" } }] },
          },
        ],
        listeners: [
          listener(
            "static",
            staticPort,
            downstreamTls({ tls_certificate_sds_secret_configs: [{ name: "static_cert" }], validation_context_sds_secret_config: { name: "client_ca" } }, { require_client_certificate: true }),
            "static secret",
          ),
          listener("sds", sdsPort, downstreamTls({ tls_certificate_sds_secret_configs: [{ name: "server_cert", sds_config: { path_config_source: { path: sdsPath }, resource_api_version: "V3" } }] }), "sds secret"),
        ],
        clusters: [],
      },
    };
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  test("static secrets: the certificate and the mTLS validation context by name", async () => {
    const ok = await tlsGet(staticPort, certs.client);
    expect(ok.cn).toBe("example.com");
    expect(ok.body).toContain("static secret");
    // client2's SAN is not the one the secret's validation context matches.
    const refused = await tlsGet(staticPort, certs.client2);
    expect(refused.body).toBe("");
    const s = await adminStats(adminPort);
    expect(s.get(`listener.127.0.0.1_${staticPort}.ssl.fail_verify_san`)).toBeGreaterThanOrEqual(1);
  });

  test("an SDS file: served, then a new file and a rotated certificate are used by new connections; bad files keep the secret", async () => {
    const first = await tlsGet(sdsPort);
    expect(first).toEqual({ cn: "example.com", body: expect.stringContaining("sds secret") });
    expect((await adminStats(adminPort)).get("sds.server_cert.update_success")).toBe(1);

    // A new SDS file naming other files.
    replaceFile(sdsPath, sdsCertificate("server_cert", certs.other));
    expect((await eventually(() => tlsGet(sdsPort), (r) => r.cn === "other.test")).cn).toBe("other.test");
    expect((await adminStats(adminPort)).get("sds.server_cert.update_success")).toBe(2);

    // Not YAML: update_failure; the wrong secret name: update_rejected. The secret in use stays.
    replaceFile(sdsPath, "resources: [ {{{");
    await eventually(() => adminStats(adminPort), (s) => s.get("sds.server_cert.update_failure") === 1);
    replaceFile(sdsPath, sdsCertificate("another_name", certs.server));
    const s = await eventually(() => adminStats(adminPort), (s) => s.get("sds.server_cert.update_rejected") === 1);
    expect(s.get("sds.server_cert.update_failure")).toBe(1);
    expect(s.get("sds.server_cert.update_rejected")).toBe(1);
    expect(proxy.stderr).toContain("Unexpected SDS secret (expecting server_cert): another_name");
    expect((await tlsGet(sdsPort)).cn).toBe("other.test");

    // Back to the test's own files, then the certificate rotated on disk (key first, then chain).
    replaceFile(sdsPath, sdsCertificate("server_cert", certPath));
    expect((await eventually(() => tlsGet(sdsPort), (r) => r.cn === "example.com")).cn).toBe("example.com");
    replaceFile(certPath.key, certs.read(certs.rsa.key));
    replaceFile(certPath.cert, certs.read(certs.rsa.cert));
    const rotated = await eventually(() => tlsGet(sdsPort), (r) => r.cn === "rsa.test");
    expect(rotated).toEqual({ cn: "rsa.test", body: expect.stringContaining("sds secret") });
  });

  test("/certs: each TLS context's CA and certificates in Envoy's JSON, the rotated one as it is now", async () => {
    const response = await fetch(`http://127.0.0.1:${adminPort}/certs`);
    expect(response.headers.get("content-type")).toBe("application/json");
    const body = (await response.json()) as { certificates: { ca_cert: unknown[]; cert_chain: unknown[] }[] };
    const detailsOf = (path: string, pem: string, sans: object[]) => {
      const x509 = new X509Certificate(pem);
      const expiration = Date.parse(x509.validTo);
      return {
        path,
        serial_number: x509.serialNumber.toLowerCase(),
        subject_alt_names: sans,
        days_until_expiration: String(Math.floor((expiration - Date.now()) / 86_400_000)),
        valid_from: new Date(Date.parse(x509.validFrom)).toISOString().replace(".000Z", "Z"),
        expiration_time: new Date(expiration).toISOString().replace(".000Z", "Z"),
      };
    };
    const serverSans = [{ dns: "example.com" }, { dns: "localhost" }, { ip_address: "127.0.0.1" }];
    const onDisk = certs.read(certPath.cert);
    expect(body).toEqual({
      certificates: [
        {
          ca_cert: [detailsOf(certs.ca, certs.read(certs.ca), [])],
          cert_chain: [detailsOf(certs.server.cert, certs.read(certs.server.cert), serverSans)],
        },
        // The SDS secret's file as it is now: rotated to rsa.test by the test before (when it ran).
        { ca_cert: [], cert_chain: [detailsOf(certPath.cert, onDisk, onDisk === certs.read(certs.rsa.cert) ? [{ dns: "rsa.test" }] : serverSans)] },
      ],
    });
  });
});

describe.each(RUNTIMES)("secret config errors on %s", (runtime) => {
  test("an unknown static secret is refused naming the field", async () => {
    const path = writeConfig({ static_resources: { listeners: [listener("a", 1, downstreamTls({ tls_certificate_sds_secret_configs: [{ name: "nope" }] }), "x")] } });
    const r = await runToExit(runtime, ["--mode", "validate", "-c", path]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("tls_certificate_sds_secret_configs[0].name: Unknown static secret: nope");
  });

  test("tls_certificates beside SDS, and SDS over ADS without ads_config, are refused naming the field", async () => {
    const common = {
      tls_certificates: [{ certificate_chain: { filename: "a.pem" }, private_key: { filename: "a.key" } }],
      tls_certificate_sds_secret_configs: [{ name: "x", sds_config: { path: "x.yaml" } }],
    };
    const overAds = { tls_certificate_sds_secret_configs: [{ name: "x", sds_config: { ads: {} } }] };
    const path = writeConfig({ static_resources: { listeners: [listener("b", 2, downstreamTls(common), "x")] } });
    const r = await runToExit(runtime, ["--mode", "validate", "-c", path]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("set tls_certificates or tls_certificate_sds_secret_configs, not both");
    // Checked once the listeners parsed (a bootstrap-wide check): a config of its own.
    const adsPath = writeConfig({ static_resources: { listeners: [listener("c", 3, downstreamTls(overAds), "x")] } });
    const ads = await runToExit(runtime, ["--mode", "validate", "-c", adsPath]);
    expect(ads.code).not.toBe(0);
    expect(ads.stderr).toContain("sds_config.ads: ADS must be configured to support an ADS config source (dynamic_resources.ads_config)");
  });
});
