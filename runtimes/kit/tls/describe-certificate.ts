import { nodeCrypto } from "../builtins.ts";
import type { CertificateInfo } from "../../../core/port.ts";
import { parseSubjectAltNames } from "./tls-session.ts";

/** The port's describeCertificate: node:crypto's X509Certificate (node, Bun and Deno all have it) on the first certificate of `pem`. */
export function describeCertificate(pem: string): CertificateInfo {
  const certificate = new (nodeCrypto().X509Certificate)(pem);
  // Whole bytes, as Envoy's BN_bn2hex prints them (Deno's X509Certificate drops a leading zero nibble).
  const serial = certificate.serialNumber.toLowerCase();
  return {
    serialNumber: serial.length % 2 === 1 ? `0${serial}` : serial,
    subjectAltNames: parseSubjectAltNames(certificate.subjectAltName),
    validFrom: Date.parse(certificate.validFrom),
    expiration: Date.parse(certificate.validTo),
  };
}
