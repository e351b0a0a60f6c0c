/**
 * A CA run with `openssl ca` at test time (never committed keys): certificates signed
 * from its database, revoked ones, the CRL it publishes (`openssl ca -gencrl`) and OCSP
 * responses it signs (`openssl ocsp`). Written under a fresh temp folder.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CertFiles } from "./test-certs.ts";

export interface TestCa {
  dir: string;
  /** The CA's certificate (PEM file). */
  ca: string;
  /** A new EC P-256 certificate with SANs DNS:localhost, DNS:example.com, IP:127.0.0.1. */
  issue(name: string): CertFiles;
  revoke(files: CertFiles): void;
  /** The CRL as of now (PEM file). */
  crl(): string;
  /**
   * A DER OCSP response for `files` as of now, valid for `days` or `minutes` (default one
   * day); `withoutNextUpdate`: no nextUpdate at all, which Envoy counts as expired.
   */
  ocspResponse(files: CertFiles, options?: { days?: number; minutes?: number; withoutNextUpdate?: boolean }): string;
  read(path: string): string;
}

const CA_CONFIG = `[ca]
default_ca = test_ca
[test_ca]
database = db/index.txt
new_certs_dir = db
serial = db/serial
crlnumber = db/crlnumber
certificate = ca.pem
private_key = ca.key
default_md = sha256
default_days = 2
default_crl_days = 2
policy = any_cn
copy_extensions = copy
unique_subject = no
[any_cn]
commonName = supplied
`;

export function mintTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "polyvoy-ca-"));
  const openssl = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  mkdirSync(join(dir, "db"));
  writeFileSync(join(dir, "db/index.txt"), "");
  writeFileSync(join(dir, "db/serial"), "1000\n");
  writeFileSync(join(dir, "db/crlnumber"), "1000\n");
  writeFileSync(join(dir, "ca.cnf"), CA_CONFIG);
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=polyvoy test CA", "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  let crls = 0;
  let responses = 0;
  return {
    dir,
    ca: join(dir, "ca.pem"),
    issue(name) {
      openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`, "-addext", "subjectAltName=DNS:localhost,DNS:example.com,IP:127.0.0.1"]);
      openssl(["ca", "-batch", "-config", "ca.cnf", "-in", `${name}.csr`, "-out", `${name}.pem`, "-notext"]);
      return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
    },
    revoke(files) {
      openssl(["ca", "-config", "ca.cnf", "-revoke", files.cert]);
    },
    crl() {
      const path = join(dir, `crl-${++crls}.pem`);
      openssl(["ca", "-config", "ca.cnf", "-gencrl", "-out", path]);
      return path;
    },
    ocspResponse(files, { days, minutes, withoutNextUpdate } = {}) {
      const path = join(dir, `ocsp-${++responses}.der`);
      // `openssl ocsp` leaves nextUpdate out when given neither -ndays nor -nmin.
      const validity = withoutNextUpdate ? [] : minutes !== undefined ? ["-nmin", String(minutes)] : ["-ndays", String(days ?? 1)];
      openssl(["ocsp", "-index", "db/index.txt", "-rsigner", "ca.pem", "-rkey", "ca.key", "-CA", "ca.pem", "-issuer", "ca.pem", "-cert", files.cert, "-respout", path, ...validity]);
      return path;
    },
    read: (path) => readFileSync(path, "utf8"),
  };
}
