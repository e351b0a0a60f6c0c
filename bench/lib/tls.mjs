// The TLS scenarios' certificate: an ECDSA P-256 self-signed one for 127.0.0.1, minted with
// the system's openssl into the run's work folder (never committed), used by polyvoy and
// nginx alike; the load generators do not verify it.
import { execFileSync } from "node:child_process";
import { join } from "node:path";

/** Returns {cert, key}: the PEM files' paths. */
export function mintBenchCertificate(dir) {
  const cert = join(dir, "bench-cert.pem");
  const key = join(dir, "bench-key.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  return { cert, key };
}
