/** The admin's `/certs`: the certificates of every TLS context, as Envoy's JSON (admin/v3/certs.proto). */
import type { CertificateInfo, Runtime } from "../port.ts";
import type { SslSocketFactory } from "../tls/ssl-socket-factory.ts";
import { isoTimestamp } from "../util/civil-time.ts";
import { readOcspResponse } from "../tls/ocsp-response.ts";

const DAY_MS = 86_400_000;
const SAN_KEYS: Partial<Record<string, string>> = { DNS: "dns", URI: "uri", IP_ADDRESS: "ip_address" };

/**
 * Envoy's CertsResponse: per TLS context (clusters', then listeners', as Envoy creates
 * them), `ca_cert` (the first certificate of the trusted CA, if any) and `cert_chain`
 * (each certificate in use: the leaf of each chain), each with its path ("<inline>"
 * when not from a file), serial number, SANs, days until expiration (0 once expired,
 * a uint64 printed as a string by proto3 JSON) and validity times, plus, for a
 * certificate with an OCSP staple, `ocsp_details` (the response's thisUpdate and
 * nextUpdate, as Envoy's ContextImpl::certificateDetails). Certificates rotated by SDS
 * show as they are now.
 */
export function certsAsJson(runtime: Runtime, factories: readonly SslSocketFactory[]): string {
  const describe = (path: string, pem: string) => details(runtime, path, pem);
  const certificates = factories.map((factory) => {
    const ca = factory.validation?.trustedCa;
    return {
      ca_cert: ca !== undefined ? [describe(factory.validation!.path, ca)] : [],
      cert_chain: factory.certificates.map((c) => withOcspDetails(describe(c.path, c.certificateChain), c.ocspStaple)),
    };
  });
  return `${JSON.stringify({ certificates }, null, 1)}\n`;
}

function details(runtime: Runtime, path: string, pem: string): Record<string, unknown> {
  let info: CertificateInfo | undefined;
  try {
    info = runtime.tls?.describeCertificate?.(pem);
  } catch {
    info = undefined;
  }
  if (!info) return { path };
  const now = runtime.wallClock();
  return {
    path,
    serial_number: info.serialNumber,
    subject_alt_names: info.subjectAltNames.flatMap((san): Record<string, string>[] => {
      // SubjectAlternateName has dns, uri and ip_address (no email).
      const key = SAN_KEYS[san.type];
      return key ? [{ [key]: san.value }] : [];
    }),
    days_until_expiration: String(info.expiration > now ? Math.floor((info.expiration - now) / DAY_MS) : 0),
    valid_from: timestamp(info.validFrom),
    expiration_time: timestamp(info.expiration),
  };
}

/**
 * OcspDetails: valid_from (thisUpdate) and expiration (nextUpdate; left out when the
 * response has none — such a staple counts as expired and is never sent). A staple that
 * does not read was refused when the context was built.
 */
function withOcspDetails(details: Record<string, unknown>, staple: Uint8Array | undefined): Record<string, unknown> {
  if (staple === undefined || staple.byteLength === 0) return details;
  let response;
  try {
    response = readOcspResponse(staple);
  } catch {
    return details;
  }
  const ocsp: Record<string, string> = { valid_from: timestamp(response.thisUpdate) };
  if (response.nextUpdate !== undefined) ocsp.expiration = timestamp(response.nextUpdate);
  return { ...details, ocsp_details: ocsp };
}

/** google.protobuf.Timestamp in proto3 JSON: RFC 3339, "Z", no fraction when whole seconds. */
function timestamp(ms: number): string {
  return isoTimestamp(ms).replace(".000Z", "Z");
}
