/**
 * Client certificate validation extras on every runtime, black-box: verify_certificate_spki,
 * trust_chain_verification ACCEPT_UNTRUSTED and allow_expired_certificate, with Envoy's
 * ssl stats. Certificates minted by the test (an expired one with openssl -days -1).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFileSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ProxyProcess, RUNTIMES, runToExit, writeConfig, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { mintTestCerts, type CertFiles, type TestCerts } from "../support/test-certs.ts";
import { adminStats, tlsGet } from "../support/tls-probe.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

let certs: TestCerts;
/** Signed by the test CA, expired yesterday. */
let expired: CertFiles;

beforeAll(() => {
  certs = mintTestCerts();
  const ssl = (args: string[]) => execFileSync("openssl", args, { cwd: certs.dir, stdio: ["ignore", "ignore", "pipe"] });
  ssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "expired.key", "-out", "expired.csr", "-subj", "/CN=expired"]);
  ssl(["x509", "-req", "-in", "expired.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "expired.pem", "-days", "-1"]);
  expired = { cert: join(certs.dir, "expired.pem"), key: join(certs.dir, "expired.key") };
});

function spkiOf(files: CertFiles): string {
  const der = new X509Certificate(readFileSync(files.cert)).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("base64");
}

function mtlsListener(name: string, port: number, validation: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    name,
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
              validation_context: { trusted_ca: { filename: certs.ca }, ...validation },
            },
            ...extra,
          },
        },
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: name,
              route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: `${name} ok` } } }] }] },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
            },
          },
        ],
      },
    ],
  };
}

describe.each(RUNTIMES)("certificate validation extras on %s", (runtime) => {
  let proxy: ProxyProcess;
  const ports: Record<string, number> = {};
  const ssl = (name: string, stat: string) => `listener.127.0.0.1_${ports[name]}.ssl.${stat}`;

  beforeAll(async () => {
    for (const name of ["spki", "untrusted", "expired", "strict", "admin"]) ports[name] = await freePort();
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports.admin } } },
      static_resources: {
        listeners: [
          mtlsListener("spki", ports.spki!, { verify_certificate_spki: [spkiOf(certs.client)] }),
          mtlsListener("untrusted", ports.untrusted!, { trust_chain_verification: "ACCEPT_UNTRUSTED" }),
          // Refused on deno (below).
          ...(runtime === "deno" ? [] : [mtlsListener("expired", ports.expired!, { allow_expired_certificate: true })]),
          mtlsListener("strict", ports.strict!, {}),
        ],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  test("verify_certificate_spki: the listed key passes, another is refused (fail_verify_cert_hash)", async () => {
    expect((await tlsGet(ports.spki!, certs.client)).body).toContain("spki ok");
    expect((await tlsGet(ports.spki!, certs.client2)).body).toBe("");
    expect((await adminStats(ports.admin!)).get(ssl("spki", "fail_verify_cert_hash"))).toBe(1);
  });

  test("ACCEPT_UNTRUSTED: a certificate no CA vouches for is counted (fail_verify_error) and accepted", async () => {
    expect((await tlsGet(ports.untrusted!, certs.rogue)).body).toContain("untrusted ok");
    expect((await tlsGet(ports.strict!, certs.rogue)).body).toBe("");
    const s = await adminStats(ports.admin!);
    expect(s.get(ssl("untrusted", "fail_verify_error"))).toBe(1);
    expect(s.get(ssl("untrusted", "handshake"))).toBe(1);
    expect(s.get(ssl("strict", "fail_verify_error"))).toBe(1);
  });

  test("allow_expired_certificate: an expired certificate from the CA passes; without it, it is refused", async () => {
    if (runtime === "deno") {
      // Deno's rustls-backed node:tls does not name expiry among chain errors: refused at start.
      const path = writeConfig({ static_resources: { listeners: [mtlsListener("expired", await freePort(), { allow_expired_certificate: true })] } });
      const r = await runToExit(runtime, ["-c", path]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("allow_expired_certificate cannot be honoured on deno");
      return;
    }
    expect((await tlsGet(ports.expired!, expired)).body).toContain("expired ok");
    expect((await tlsGet(ports.strict!, expired)).body).toBe("");
    expect((await adminStats(ports.admin!)).get(ssl("expired", "fail_verify_error"))).toBe(0);
  });
});
