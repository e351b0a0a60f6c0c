/**
 * OCSP responses and certificates read for stapling (core/tls/ocsp-response.ts) and the
 * stapling policy (core/tls/ocsp-stapler.ts), with responses and certificates made by
 * `openssl ca` / `openssl ocsp` at test time; the reader fuzzed with random and mutated bytes.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, test } from "vitest";
import { ocspExpired, readOcspResponse, readStapledCertificate } from "../../../core/tls/ocsp-response.ts";
import { OcspStapler } from "../../../core/tls/ocsp-stapler.ts";
import { mintTestCa, type TestCa } from "../../support/test-ca.ts";
import type { CertFiles } from "../../support/test-certs.ts";
import { fuzzParameters, fuzzTimeout } from "../../support/fuzz.ts";

let ca: TestCa;
let server: CertFiles;
let staple: Uint8Array;
let stale: Uint8Array;
let mustStaple: CertFiles;

beforeAll(() => {
  ca = mintTestCa();
  server = ca.issue("server");
  staple = readFileSync(ca.ocspResponse(server));
  stale = readFileSync(ca.ocspResponse(server, { withoutNextUpdate: true }));
  // A certificate with the TLS feature status_request (RFC 7633).
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: ca.dir, stdio: ["ignore", "pipe", "pipe"] });
  run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "must.key", "-out", "must.csr", "-subj", "/CN=must", "-addext", "tlsfeature=status_request"]);
  run(["ca", "-batch", "-config", "ca.cnf", "-in", "must.csr", "-out", "must.pem", "-notext"]);
  mustStaple = { cert: join(ca.dir, "must.pem"), key: join(ca.dir, "must.key") };
});

const certificate = (files: CertFiles, ocspStaple?: Uint8Array) => ({ certificateChain: ca.read(files.cert), privateKey: ca.read(files.key), ...(ocspStaple ? { ocspStaple } : {}) });
const DAY = 86_400_000;

describe("OCSP responses and certificates", () => {
  test("a response names its certificate's serial number and carries thisUpdate and nextUpdate; one without nextUpdate counts as expired", () => {
    const serial = execFileSync("openssl", ["x509", "-in", server.cert, "-noout", "-serial"]).toString().trim().split("=")[1]!.toLowerCase().replace(/^0+/, "");
    const response = readOcspResponse(staple);
    expect(response.serialNumber).toBe(serial);
    expect(readStapledCertificate(ca.read(server.cert))).toEqual({ serialNumber: serial, mustStaple: false });
    expect(response.nextUpdate! - response.thisUpdate).toBe(DAY);
    expect(ocspExpired(response, response.thisUpdate + 1000)).toBe(false);
    expect(ocspExpired(response, response.nextUpdate! + 1)).toBe(true);
    const noNext = readOcspResponse(stale);
    expect(noNext.nextUpdate).toBeUndefined();
    expect(ocspExpired(noNext, noNext.thisUpdate)).toBe(true);
    expect(readStapledCertificate(ca.read(mustStaple.cert)).mustStaple).toBe(true);
  });

  test("Envoy's refusals: trailing data, not an OCSP response", () => {
    expect(() => readOcspResponse(Uint8Array.of(...staple, 0x30, 0x00))).toThrow("Data contained more than a single OCSP response");
    expect(() => readOcspResponse(Uint8Array.of(0x30, 0x03, 0x0a, 0x01, 0x01))).toThrow("OCSP response was unsuccessful");
    expect(() => readOcspResponse(Uint8Array.of(0x30, 0x03, 0x0a, 0x01, 0x00))).toThrow("OCSP response has no body");
  });

  test("random bytes and mutated responses: read or refused with an Error, never a crash", () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.tuple(fc.nat(staple.byteLength - 1), fc.nat(255)).map(([at, value]) => Uint8Array.from(staple, (b, i) => (i === at ? value : b))), fc.nat(staple.byteLength).map((n) => staple.subarray(0, n))), (bytes) => {
        try {
          readOcspResponse(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
        }
      }),
      fuzzParameters(500),
    );
  }, fuzzTimeout(500, 20_000));
});

describe("ocsp_staple_policy (Envoy's ocspStapleAction)", () => {
  test("checked when the context is built", () => {
    expect(() => new OcspStapler([certificate(server)], "MUST_STAPLE")).toThrow("Required OCSP response is missing from TLS context");
    expect(() => new OcspStapler([certificate(mustStaple)], "LENIENT_STAPLING")).toThrow("OCSP response is required for must-staple certificate");
    expect(() => new OcspStapler([certificate(server), certificate(mustStaple, staple)], "LENIENT_STAPLING")).toThrow("tls_certificates[1]: OCSP response does not match its TLS certificate");
  });

  test("a valid staple is stapled; an expired one is omitted (LENIENT), fails the handshake (STRICT, MUST, a must-staple certificate); none at all is omitted", () => {
    const now = readOcspResponse(staple).thisUpdate + 1000;
    for (const policy of ["LENIENT_STAPLING", "STRICT_STAPLING", "MUST_STAPLE"] as const) expect(new OcspStapler([certificate(server, staple)], policy).action(0, now)).toBe(staple);
    expect(new OcspStapler([certificate(server, stale)], "LENIENT_STAPLING").action(0, now)).toBe("none");
    expect(new OcspStapler([certificate(server, stale)], "STRICT_STAPLING").action(0, now)).toBe("fail");
    expect(new OcspStapler([certificate(server, stale)], "MUST_STAPLE").action(0, now)).toBe("fail");
    expect(new OcspStapler([certificate(server)], "STRICT_STAPLING").action(0, now)).toBe("none");
    const mustStapleResponse = readFileSync(ca.ocspResponse(mustStaple, { withoutNextUpdate: true }));
    expect(new OcspStapler([certificate(mustStaple, mustStapleResponse)], "LENIENT_STAPLING").action(0, now)).toBe("fail");
  });
});
