import type * as tls from "node:tls";
import { nodeBuffer, nodeCrypto } from "../builtins.ts";
import type { TlsPeerCertificate, TlsSession, TlsSubjectAltName } from "../../../core/port.ts";

/** What a node:tls TLSSocket's finished handshake agreed, in the port's terms. */
export function tlsSession(secure: tls.TLSSocket, sentServerName: string | undefined, verifiesPeer: boolean): TlsSession {
  const cipher = secure.getCipher() as { name?: string } | undefined;
  const alpn = secure.alpnProtocol;
  const serverName = sentServerName ?? ((secure as unknown as { servername?: unknown }).servername || undefined);
  const peerCertificate = peerCertificateOf(secure);
  let localUriSan: string | undefined | null = null;
  return {
    // Read once, when x-forwarded-client-cert asks for it.
    get localUriSan(): string | undefined {
      if (localUriSan === null) localUriSan = firstUriSan(secure);
      return localUriSan;
    },
    version: secure.getProtocol() ?? "",
    cipher: cipher?.name ?? "",
    alpn: typeof alpn === "string" && alpn !== "" ? alpn : undefined,
    serverName: typeof serverName === "string" ? serverName : undefined,
    peerCertificate,
    peerVerifyError: verifiesPeer && peerCertificate ? verifyError(secure) : undefined,
    sessionReused: secure.isSessionReused(),
    curve: curveOf(secure),
  };
}

/** OpenSSL's short names of the groups whose BoringSSL name (SSL_get_curve_name, Envoy's stat) differs. */
const BORINGSSL_CURVE_NAMES: Record<string, string> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" };

/**
 * The key-exchange group, from getEphemeralKeyInfo: node and Bun answer on the client
 * side only (a server socket gets null), Deno with an empty object.
 */
function curveOf(secure: tls.TLSSocket): string | undefined {
  const info = secure.getEphemeralKeyInfo?.() as { type?: unknown; name?: unknown } | null | undefined;
  if (!info || info.type !== "ECDH" || typeof info.name !== "string" || info.name === "") return undefined;
  return BORINGSSL_CURVE_NAMES[info.name] ?? info.name;
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
  let pem: string | undefined;
  let chainPem: string | undefined;
  let spki: string | undefined;
  return {
    subject: formatSubject(cert.subject as unknown as Record<string, string | string[]> | undefined),
    subjectAltNames: parseSubjectAltNames(cert.subjectaltname),
    sha256: (cert.fingerprint256 ?? "").replace(/:/g, "").toLowerCase(),
    // PEM only when x-forwarded-client-cert asks for it: not every handshake pays for it.
    get spkiSha256(): string {
      return (spki ??= cert.raw ? spkiSha256(cert.raw) : "");
    },
    get pem(): string {
      return (pem ??= cert.raw ? toPem(cert.raw) : "");
    },
    get chainPem(): string {
      return (chainPem ??= chainOf(secure));
    },
  };
}

/** base64 SHA-256 of the certificate's SubjectPublicKeyInfo (DER), as Envoy's verify_certificate_spki. */
function spkiSha256(der: Uint8Array): string {
  const spki = new (nodeCrypto().X509Certificate)(der).publicKey.export({ type: "spki", format: "der" });
  return nodeCrypto().createHash("sha256").update(spki).digest("base64");
}

/** DER to PEM (RFC 7468 §2: base64 in lines of 64). */
function toPem(der: Uint8Array): string {
  const base64 = nodeBuffer().Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString("base64");
  return `-----BEGIN CERTIFICATE-----\n${base64.replace(/.{64}/g, "$&\n").replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`;
}

/** The peer's certificate and its issuers as the runtime reports them, up to a self-signed root (left out). */
function chainOf(secure: tls.TLSSocket): string {
  let cert = secure.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
  let pem = "";
  const seen = new Set<unknown>();
  while (cert?.raw && !seen.has(cert)) {
    seen.add(cert);
    const issuer = cert.issuerCertificate as tls.DetailedPeerCertificate | undefined;
    const selfSigned = issuer === cert || (issuer !== undefined && issuer.fingerprint256 === cert.fingerprint256);
    if (selfSigned && pem !== "") break;
    pem += toPem(cert.raw);
    if (selfSigned) break;
    cert = issuer;
  }
  return pem;
}

function firstUriSan(secure: tls.TLSSocket): string | undefined {
  const own = secure.getCertificate() as Partial<tls.PeerCertificate> | null | object;
  const sans = parseSubjectAltNames((own as Partial<tls.PeerCertificate> | null)?.subjectaltname);
  return sans.find((san) => san.type === "URI")?.value;
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
