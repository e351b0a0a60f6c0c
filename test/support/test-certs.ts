/**
 * Certificates minted at test time with the system's `openssl` (never committed keys):
 * a CA, server certificates signed by it, client certificates for mTLS, and a
 * self-signed one no CA vouches for. Written under the run's temp folder.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface CertFiles {
  cert: string;
  key: string;
}

export interface TestCerts {
  dir: string;
  /** The CA's certificate (PEM file). */
  ca: string;
  /** SANs: DNS:example.com, DNS:localhost, IP:127.0.0.1 (EC P-256). */
  server: CertFiles;
  /** SANs: DNS:other.test (EC P-256). */
  other: CertFiles;
  /** SANs: DNS:rsa.test (RSA 2048). */
  rsa: CertFiles;
  /** CN=client1, SAN URI:spiffe://test/client1. */
  client: CertFiles;
  /** CN=client2, SAN URI:spiffe://test/client2 (same CA, a SAN mTLS matchers refuse). */
  client2: CertFiles;
  /** Self-signed CN=rogue: no trusted CA vouches for it. */
  rogue: CertFiles;
  read(path: string): string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

function signed(dir: string, name: string, subject: string, san: string, keyArgs: string[]): CertFiles {
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `subjectAltName=${san}\n`);
  openssl(dir, ["req", "-newkey", ...keyArgs, "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject]);
  openssl(dir, ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", "-extfile", ext]);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

const EC = ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

export function mintTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "polyvoy-certs-"));
  openssl(dir, ["req", "-x509", "-newkey", ...EC, "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=polyvoy test CA"]);
  const server = signed(dir, "server", "/CN=example.com", "DNS:example.com,DNS:localhost,IP:127.0.0.1", EC);
  const other = signed(dir, "other", "/CN=other.test", "DNS:other.test", EC);
  const rsa = signed(dir, "rsa", "/CN=rsa.test", "DNS:rsa.test", ["rsa:2048"]);
  const client = signed(dir, "client", "/O=polyvoy/CN=client1", "URI:spiffe://test/client1", EC);
  const client2 = signed(dir, "client2", "/CN=client2", "URI:spiffe://test/client2", EC);
  openssl(dir, ["req", "-x509", "-newkey", ...EC, "-nodes", "-keyout", "rogue.key", "-out", "rogue.pem", "-days", "2", "-subj", "/CN=rogue", "-addext", "subjectAltName=URI:spiffe://test/client1"]);
  const rogue = { cert: join(dir, "rogue.pem"), key: join(dir, "rogue.key") };
  return { dir, ca: join(dir, "ca.pem"), server, other, rsa, client, client2, rogue, read: (path) => readFileSync(path, "utf8") };
}
