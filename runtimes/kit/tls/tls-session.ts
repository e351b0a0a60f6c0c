import type * as tls from "node:tls";
import type { TlsPeerCertificate, TlsSession, TlsSubjectAltName } from "../../../core/port.ts";

/** What a node:tls TLSSocket's finished handshake agreed, in the port's terms. */
export function tlsSession(secure: tls.TLSSocket, sentServerName: string | undefined, verifiesPeer: boolean): TlsSession {
  const cipher = secure.getCipher() as { name?: string } | undefined;
  const alpn = secure.alpnProtocol;
  const serverName = sentServerName ?? ((secure as unknown as { servername?: unknown }).servername || undefined);
  const peerCertificate = peerCertificateOf(secure);
  return {
    version: secure.getProtocol() ?? "",
    cipher: cipher?.name ?? "",
    alpn: typeof alpn === "string" && alpn !== "" ? alpn : undefined,
    serverName: typeof serverName === "string" ? serverName : undefined,
    peerCertificate,
    peerVerifyError: verifiesPeer && peerCertificate ? verifyError(secure) : undefined,
    sessionReused: secure.isSessionReused(),
  };
}

/**
 * The chain check's outcome, as node's own tls.Server reads it (lib/_tls_wrap.js,
 * onServerSocketSecure): `ssl.verifyError()`. The runtimes' TLS libraries accept any
 * certificate during the handshake and record the error; node, Bun and Deno all offer
 * it on a TLSSocket (Deno reports "no error" as an empty string).
 */
function verifyError(secure: tls.TLSSocket): string | undefined {
  const handle = (secure as unknown as { ssl?: { verifyError?: () => unknown } }).ssl;
  const error = handle?.verifyError?.();
  if (error === null || error === undefined || error === "") return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : String(error);
}

function peerCertificateOf(secure: tls.TLSSocket): TlsPeerCertificate | undefined {
  const cert = secure.getPeerCertificate() as Partial<tls.PeerCertificate> | undefined;
  if (!cert || cert.raw === undefined && cert.subject === undefined) return undefined;
  return {
    subject: formatSubject(cert.subject as unknown as Record<string, string | string[]> | undefined),
    subjectAltNames: parseSubjectAltNames(cert.subjectaltname),
    sha256: (cert.fingerprint256 ?? "").replace(/:/g, "").toLowerCase(),
  };
}

/**
 * The subject as Envoy prints it (X509_NAME_print_ex with XN_FLAG_RFC2253): the
 * attributes most specific first, comma-separated. node lists them in certificate order.
 */
function formatSubject(subject: Record<string, string | string[]> | undefined): string {
  if (!subject) return "";
  const parts: string[] = [];
  for (const [key, value] of Object.entries(subject)) {
    for (const each of Array.isArray(value) ? value : [value]) parts.push(`${key}=${escapeRfc2253(each)}`);
  }
  return parts.reverse().join(",");
}

function escapeRfc2253(value: string): string {
  return value.replace(/([,+"\\<>;])/g, "\\$1").replace(/^([ #])/, "\\$1").replace(/ $/, "\\ ");
}

/** node's `subjectaltname` string: `DNS:a, URI:spiffe://x, IP Address:127.0.0.1, email:a@b`. */
export function parseSubjectAltNames(text: string | undefined): TlsSubjectAltName[] {
  if (!text) return [];
  const names: TlsSubjectAltName[] = [];
  for (const entry of text.split(/, (?=[A-Za-z ]+:)/)) {
    const colon = entry.indexOf(":");
    if (colon < 0) continue;
    const kind = entry.slice(0, colon);
    let value = entry.slice(colon + 1);
    if (value.startsWith('"') && value.endsWith('"')) value = JSON.parse(value) as string;
    if (kind === "DNS") names.push({ type: "DNS", value });
    else if (kind === "URI") names.push({ type: "URI", value });
    else if (kind === "email") names.push({ type: "EMAIL", value });
    else if (kind === "IP Address") names.push({ type: "IP_ADDRESS", value });
  }
  return names;
}
