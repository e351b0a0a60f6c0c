/**
 * Certificate revocation lists (validation_context.crl) on every runtime, black-box: a CA
 * run with `openssl ca` issues certificates, revokes one and publishes its CRL; the proxy
 * refuses the revoked client certificate (mTLS) and the revoked upstream certificate,
 * counting `ssl.fail_verify_error` as Envoy. Deno's node:tls ignores CRLs: refused at start.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ProxyProcess, RUNTIMES, runToExit, writeConfig, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { mintTestCa, type TestCa } from "../support/test-ca.ts";
import type { CertFiles } from "../support/test-certs.ts";
import { adminStats, tlsGet } from "../support/tls-probe.ts";
import { httpsUpstream, plainListener, tlsCluster, tlsListener, type HttpsUpstream } from "../support/tls-configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

let ca: TestCa;
let server: CertFiles;
let good: CertFiles;
let revoked: CertFiles;
let crl: string;

beforeAll(() => {
  ca = mintTestCa();
  server = ca.issue("server");
  good = ca.issue("client1");
  revoked = ca.issue("revoked");
  ca.revoke(revoked);
  crl = ca.crl();
});

/** A listener requiring a client certificate checked against the CA and `validation`. */
function mtlsListener(name: string, port: number, validation: Record<string, unknown>) {
  return tlsListener(name, port, { certificate: server, context: { require_client_certificate: true }, common: { validation_context: { trusted_ca: { filename: ca.ca }, ...validation } } });
}

/** A cluster checking its host's certificate against the CA and `validation`. */
function verifyingCluster(name: string, port: number, validation: Record<string, unknown>) {
  return tlsCluster(name, port, { sni: "localhost", common_tls_context: { validation_context: { trusted_ca: { filename: ca.ca }, ...validation } } });
}

describe.each(RUNTIMES)("validation_context.crl on %s", (runtime) => {
  let proxy: ProxyProcess | undefined;
  const ports: Record<string, number> = {};
  let goodUpstream: HttpsUpstream;
  let revokedUpstream: HttpsUpstream;
  const stat = (name: string) => `listener.127.0.0.1_${ports[name]}.ssl.fail_verify_error`;

  beforeAll(async () => {
    goodUpstream = await httpsUpstream(server);
    revokedUpstream = await httpsUpstream(revoked);
    for (const name of ["file", "inline", "toGood", "toRevoked", "admin"]) ports[name] = await freePort();
    if (runtime === "deno") return;
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports.admin } } },
      static_resources: {
        listeners: [
          mtlsListener("file", ports.file!, { crl: { filename: crl } }),
          mtlsListener("inline", ports.inline!, { crl: { inline_string: ca.read(crl) } }),
          plainListener("toGood", ports.toGood!, "good"),
          plainListener("toRevoked", ports.toRevoked!, "revoked"),
        ],
        clusters: [verifyingCluster("good", goodUpstream.port, { crl: { filename: crl } }), verifyingCluster("revoked", revokedUpstream.port, { crl: { filename: crl } })],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await goodUpstream?.close();
    await revokedUpstream?.close();
  });

  test("a revoked client certificate is refused (fail_verify_error); one the CRL does not list passes", async () => {
    if (runtime === "deno") {
      const path = writeConfig({ static_resources: { listeners: [mtlsListener("file", ports.file!, { crl: { filename: crl } })] } });
      const r = await runToExit(runtime, ["-c", path]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("validation_context.crl cannot be honoured on deno");
      return;
    }
    for (const name of ["file", "inline"]) {
      expect((await tlsGet(ports[name]!, good)).body).toContain(`${name} ok`);
      expect((await tlsGet(ports[name]!, revoked)).body).toBe("");
    }
    const stats = await adminStats(ports.admin!);
    expect(stats.get(stat("file"))).toBe(1);
    expect(stats.get(stat("inline"))).toBe(1);
  });

  test("upstream: a revoked server certificate fails the connection (cluster ssl.fail_verify_error)", async () => {
    if (runtime === "deno") return;
    expect(await (await fetch(`http://127.0.0.1:${ports.toGood}/`)).text()).toBe("upstream ok");
    expect((await fetch(`http://127.0.0.1:${ports.toRevoked}/`)).status).toBe(503);
    const stats = await adminStats(ports.admin!);
    expect(stats.get("cluster.revoked.ssl.fail_verify_error")).toBeGreaterThanOrEqual(1);
    expect(stats.get("cluster.good.ssl.fail_verify_error")).toBe(0);
  });
});

describe.each(RUNTIMES)("crl settings refused on %s", (runtime) => {
  test("only_verify_leaf_cert_crl, and a crl without trusted_ca", async () => {
    const withoutCa = tlsListener("b", 2, { certificate: server, context: { require_client_certificate: true }, common: { validation_context: { crl: { filename: "x.crl" } } } });
    const path = writeConfig({ static_resources: { listeners: [mtlsListener("a", 1, { crl: { filename: "x.crl" }, only_verify_leaf_cert_crl: true }), withoutCa] } });
    const r = await runToExit(runtime, ["--mode", "validate", "-c", path]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/validation_context: `only_verify_leaf_cert_crl` is an Envoy field that polyvoy does not support yet \(the runtimes. node:tls checks every certificate/);
    expect(r.stderr).toContain("Failed to load CRL from x.crl without trusted CA");
  });
});
