/**
 * OCSP stapling (tls_certificates[].ocsp_staple, ocsp_staple_policy), black-box with
 * `openssl s_client -status`: a CA run with `openssl ca` signs the certificates and their
 * OCSP responses. Node staples through its TLSSocket's OCSPRequest path; Bun's and Deno's
 * node:tls never ask for a staple, so ocsp_staple is refused there with the reason, while
 * a policy with nothing to staple serves as on node. The staple checks Envoy makes at load
 * run on every runtime.
 */
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ProxyProcess, RUNTIMES, runToExit, writeConfig, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { mintTestCa, type TestCa } from "../support/test-ca.ts";
import type { CertFiles } from "../support/test-certs.ts";
import { adminStats, sClient } from "../support/tls-probe.ts";
import { tlsCluster, tlsListener } from "../support/tls-configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

let ca: TestCa;
let server: CertFiles;
let other: CertFiles;
let staple: string;
let expired: string;
let otherStaple: string;

beforeAll(() => {
  ca = mintTestCa();
  server = ca.issue("server");
  other = ca.issue("other");
  staple = ca.ocspResponse(server);
  expired = ca.ocspResponse(server, { withoutNextUpdate: true });
  otherStaple = ca.ocspResponse(other);
});

/** A staple's thisUpdate and nextUpdate as openssl reads them, RFC 3339 (admin's google.protobuf.Timestamp). */
function ocspTimes(file: string): { valid_from: string; expiration?: string } {
  const text = execFileSync("openssl", ["ocsp", "-respin", file, "-resp_text", "-noverify"], { encoding: "utf8" });
  const at = (label: string) => {
    const match = new RegExp(`${label}: (.+ GMT)`).exec(text);
    return match ? new Date(match[1]!.replace(/\s+/g, " ")).toISOString().replace(".000Z", "Z") : undefined;
  };
  const next = at("Next Update");
  return { valid_from: at("This Update")!, ...(next !== undefined ? { expiration: next } : {}) };
}

function stapled(name: string, port: number, policy: string | undefined, file: string | undefined) {
  return tlsListener(name, port, {
    certificate: server,
    ...(file ? { certificateExtra: { ocsp_staple: { filename: file } } } : {}),
    ...(policy ? { context: { ocsp_staple_policy: policy } } : {}),
  });
}

/** s_client asking for the status (-status) of listener `name`: what it saw. */
async function status(name: string, port: number): Promise<{ stapled: boolean; good: boolean; served: boolean }> {
  const out = await sClient(port, ["-servername", "example.com", "-status"]);
  return { stapled: out.includes("OCSP Response Status: successful"), good: out.includes("Cert Status: good"), served: out.includes(`${name} ok`) };
}

describe.each(RUNTIMES)("OCSP stapling on %s", (runtime) => {
  const staples = runtime === "node";
  let proxy: ProxyProcess;
  const ports: Record<string, number> = {};
  const stat = (name: string, counter: string) => `listener.127.0.0.1_${ports[name]}.ssl.ocsp_staple_${counter}`;

  beforeAll(async () => {
    for (const name of ["lenient", "lenientExpired", "strictExpired", "strictNone", "must", "admin"]) ports[name] = await freePort();
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: ports.admin } } },
      static_resources: {
        listeners: staples
          ? [
              stapled("lenient", ports.lenient!, undefined, staple),
              stapled("lenientExpired", ports.lenientExpired!, "LENIENT_STAPLING", expired),
              stapled("strictExpired", ports.strictExpired!, "STRICT_STAPLING", expired),
              stapled("strictNone", ports.strictNone!, "STRICT_STAPLING", undefined),
              stapled("must", ports.must!, "MUST_STAPLE", staple),
            ]
          : [stapled("strictNone", ports.strictNone!, "STRICT_STAPLING", undefined)],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  test("a valid staple is sent to a client that asks (LENIENT_STAPLING, MUST_STAPLE), not to one that does not; counted", async () => {
    if (!staples) {
      const r = await runToExit(runtime, ["-c", writeConfig({ static_resources: { listeners: [stapled("s", await freePort(), undefined, staple)] } })]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`ocsp_staple cannot be honoured on ${runtime}: its node:tls never asks for a staple`);
      return;
    }
    expect(await status("lenient", ports.lenient!)).toEqual({ stapled: true, good: true, served: true });
    expect(await status("must", ports.must!)).toEqual({ stapled: true, good: true, served: true });
    const plain = await sClient(ports.lenient!, ["-servername", "example.com"]);
    expect(plain).toContain("lenient ok");
    const stats = await adminStats(ports.admin!);
    expect([stat("lenient", "requests"), stat("lenient", "responses"), stat("lenient", "omitted")].map((s) => stats.get(s))).toEqual([1, 1, 0]);
    expect(stats.get(stat("must", "responses"))).toBe(1);
  });

  test("/certs shows each stapled certificate's ocsp_details (thisUpdate, nextUpdate) as Envoy's", async () => {
    if (!staples) return;
    const { certificates } = (await (await fetch(`http://127.0.0.1:${ports.admin}/certs`)).json()) as { certificates: { cert_chain: { ocsp_details?: unknown }[] }[] };
    // One context per listener, in listener order: lenient, lenientExpired, strictExpired, strictNone, must.
    expect(certificates.map((c) => c.cert_chain[0]!.ocsp_details)).toEqual([ocspTimes(staple), ocspTimes(expired), ocspTimes(expired), undefined, ocspTimes(staple)]);
    expect(ocspTimes(staple).expiration).toBeDefined();
    expect(ocspTimes(expired).expiration).toBeUndefined();
  });

  test("an expired staple (no nextUpdate): LENIENT_STAPLING omits it, STRICT_STAPLING fails the handshake; STRICT_STAPLING without a staple staples nothing", async () => {
    expect(await status("strictNone", ports.strictNone!)).toEqual({ stapled: false, good: false, served: true });
    if (!staples) return;
    expect(await status("lenientExpired", ports.lenientExpired!)).toEqual({ stapled: false, good: false, served: true });
    expect(await status("strictExpired", ports.strictExpired!)).toEqual({ stapled: false, good: false, served: false });
    const stats = await adminStats(ports.admin!);
    expect(stats.get(stat("lenientExpired", "omitted"))).toBe(1);
    expect(stats.get(stat("strictExpired", "failed"))).toBe(1);
    expect(stats.get(stat("strictNone", "omitted"))).toBe(1);
  });
});

describe.each(RUNTIMES)("OCSP staples checked at start on %s", (runtime) => {
  test("MUST_STAPLE without a staple, a staple for another certificate, one that is not an OCSP response, a staple on a client certificate", async () => {
    const start = async (config: object) => (await runToExit(runtime, ["-c", writeConfig(config)])).stderr;
    expect(await start({ static_resources: { listeners: [stapled("a", await freePort(), "MUST_STAPLE", undefined)] } })).toContain("Required OCSP response is missing from TLS context");
    expect(await start({ static_resources: { listeners: [stapled("a", await freePort(), undefined, otherStaple)] } })).toContain("OCSP response does not match its TLS certificate");
    expect(await start({ static_resources: { listeners: [stapled("a", await freePort(), undefined, server.cert)] } })).toMatch(/ocsp_staple: OCSP Response is not a well-formed ASN\.1 element/);
    const client = tlsCluster("c", 1, { common_tls_context: { tls_certificates: [{ certificate_chain: { filename: server.cert }, private_key: { filename: server.key }, ocsp_staple: { filename: staple } }] } });
    const r = await runToExit(runtime, ["--mode", "validate", "-c", writeConfig({ static_resources: { clusters: [client] } })]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("`ocsp_staple` is an Envoy field that polyvoy does not support yet (in an upstream context: a client certificate is never stapled");
  });
});
