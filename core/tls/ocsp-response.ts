/**
 * An OCSP response to staple (RFC 6960 §4.2.1), read as Envoy reads one
 * (source/common/tls/ocsp/ocsp.cc, OcspResponseWrapper): the status must be successful,
 * the body a BasicOCSPResponse for exactly one certificate; what is kept is that
 * certificate's serial number and the response's nextUpdate. The signature is not
 * checked (Envoy: "OCSP responses are expected to be delivered from a reliable source").
 * And the two facts about a certificate stapling needs: its serial number, and whether it
 * carries the TLS feature extension status_request ("must-staple", RFC 7633).
 */
import { decodeBase64 } from "../util/base64.ts";
import { utcEpochMs } from "../util/civil-time.ts";

export interface OcspResponse {
  /** The certificate's serial number, lowercase hex without leading zeros. */
  readonly serialNumber: string;
  /** nextUpdate, wall-clock ms; undefined when the response has none (Envoy counts it expired). */
  readonly nextUpdate: number | undefined;
  /** thisUpdate, wall-clock ms. */
  readonly thisUpdate: number;
}

/** Envoy's OcspResponseWrapper::isExpired: no nextUpdate, or nextUpdate before now. */
export function ocspExpired(response: OcspResponse, nowMs: number): boolean {
  return response.nextUpdate === undefined || response.nextUpdate < nowMs;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const ENUMERATED = 0x0a;
const OCTET_STRING = 0x04;
const OID = 0x06;
const GENERALIZED_TIME = 0x18;
const BOOLEAN = 0x01;
const context = (n: number, constructed: boolean) => 0x80 | (constructed ? 0x20 : 0) | n;

/** id-pkix-ocsp-basic, 1.3.6.1.5.5.7.48.1.1. */
const OCSP_BASIC = Uint8Array.of(0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01);
/** id-pe-tlsfeature, 1.3.6.1.5.5.7.1.24 (RFC 7633). */
const TLS_FEATURE = Uint8Array.of(0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x18);
/** The TLS feature status_request (extension 5). */
const STATUS_REQUEST = 5;

/** Reads DER elements (X.690) one after another from `bytes[start, end)`. */
class DerReader {
  constructor(
    private readonly bytes: Uint8Array,
    private at = 0,
    private readonly end = bytes.byteLength,
  ) {}

  get done(): boolean {
    return this.at >= this.end;
  }

  peekTag(): number | undefined {
    return this.done ? undefined : this.bytes[this.at];
  }

  /** The next element, which must have `tag`: a reader over its contents. */
  read(tag: number, what: string): DerReader {
    const element = this.next(what);
    if (element.tag !== tag) throw new Error(`${what} is not a well-formed ASN.1 element (tag 0x${element.tag.toString(16)})`);
    return new DerReader(this.bytes, element.start, element.end);
  }

  /** The next element if it has `tag`, else undefined (nothing read). */
  optional(tag: number, what: string): DerReader | undefined {
    return this.peekTag() === tag ? this.read(tag, what) : undefined;
  }

  skip(what: string): void {
    this.next(what);
  }

  contents(): Uint8Array {
    return this.bytes.subarray(this.at, this.end);
  }

  private next(what: string): { tag: number; start: number; end: number } {
    const bytes = this.bytes;
    if (this.at + 2 > this.end) throw new Error(`${what}: truncated`);
    const tag = bytes[this.at]!;
    if ((tag & 0x1f) === 0x1f) throw new Error(`${what}: high tag numbers are not used here`);
    let length = bytes[this.at + 1]!;
    let at = this.at + 2;
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count === 0 || count > 4 || at + count > this.end) throw new Error(`${what}: bad length`);
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + bytes[at + i]!;
      at += count;
    }
    if (at + length > this.end) throw new Error(`${what}: truncated`);
    this.at = at + length;
    return { tag, start: at, end: at + length };
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);
}

/** An INTEGER's contents as lowercase hex without leading zeros ("0" for zero). */
function integerHex(bytes: Uint8Array): string {
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex.replace(/^0+/, "") || "0";
}

/** GeneralizedTime (RFC 5280 §4.1.2.5.2: YYYYMMDDHHMMSSZ, RFC 6960 allows fractions) → ms since the epoch. */
function generalizedTime(bytes: Uint8Array, what: string): number {
  const text = String.fromCharCode(...bytes);
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d+))?Z$/.exec(text);
  if (!m) throw new Error(`${what} is not a GeneralizedTime: ${JSON.stringify(text)}`);
  const fraction = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  return utcEpochMs(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) + fraction;
}

/** Read a DER OCSPResponse; throws with Envoy's message where Envoy has one. */
export function readOcspResponse(der: Uint8Array): OcspResponse {
  const top = new DerReader(der);
  const response = top.read(SEQUENCE, "OCSP Response");
  if (!top.done) throw new Error("Data contained more than a single OCSP response");
  const status = response.read(ENUMERATED, "OCSP ResponseStatus").contents();
  if (status.byteLength !== 1 || status[0] !== 0) throw new Error("OCSP response was unsuccessful");
  const bytes = response.optional(context(0, true), "OCSP ResponseBytes");
  if (!bytes) throw new Error("OCSP response has no body");
  const responseBytes = bytes.read(SEQUENCE, "OCSP ResponseBytes");
  const type = responseBytes.read(OID, "OCSP response type").contents();
  if (!sameBytes(type, OCSP_BASIC)) throw new Error("Unknown OCSP Response type");
  const basic = new DerReader(responseBytes.read(OCTET_STRING, "OCSP response").contents()).read(SEQUENCE, "OCSP BasicOCSPResponse");
  const data = basic.read(SEQUENCE, "OCSP ResponseData");
  const version = data.optional(context(0, true), "OCSP ResponseData version");
  if (version && integerHex(version.read(INTEGER, "version").contents()) !== "0") throw new Error("OCSP ResponseData version is not supported");
  const responder = data.peekTag();
  if (responder !== context(1, true) && responder !== context(2, true)) throw new Error(`Unknown choice for Responder ID: ${responder}`);
  data.skip("Responder ID");
  data.read(GENERALIZED_TIME, "producedAt");
  const responses = data.read(SEQUENCE, "OCSP responses");
  const single = responses.read(SEQUENCE, "OCSP SingleResponse");
  if (!responses.done) throw new Error("OCSP Response must be for one certificate only");
  const certId = single.read(SEQUENCE, "OCSP CertID");
  certId.read(SEQUENCE, "hashAlgorithm");
  certId.read(OCTET_STRING, "issuerNameHash");
  certId.read(OCTET_STRING, "issuerKeyHash");
  const serialNumber = integerHex(certId.read(INTEGER, "serialNumber").contents());
  const certStatus = single.peekTag();
  if (certStatus !== context(0, false) && certStatus !== context(1, true) && certStatus !== context(2, false)) throw new Error(`Unknown OcspCertStatus tag: ${certStatus}`);
  single.skip("certStatus");
  const thisUpdate = generalizedTime(single.read(GENERALIZED_TIME, "thisUpdate").contents(), "thisUpdate");
  const next = single.optional(context(0, true), "nextUpdate");
  const nextUpdate = next ? generalizedTime(next.read(GENERALIZED_TIME, "nextUpdate").contents(), "nextUpdate") : undefined;
  return { serialNumber, thisUpdate, nextUpdate };
}

/** The facts stapling needs about a certificate (the first of a PEM chain). */
export interface StapledCertificate {
  /** Lowercase hex without leading zeros, as OcspResponse.serialNumber. */
  readonly serialNumber: string;
  /** The TLS feature extension asks for status_request (RFC 7633 "must-staple"). */
  readonly mustStaple: boolean;
}

/** Read the first certificate of a PEM chain (RFC 5280 §4.1: TBSCertificate's serialNumber and extensions). */
export function readStapledCertificate(pem: string): StapledCertificate {
  const m = /-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new Error("certificate_chain is not a PEM certificate");
  const der = decodeBase64(m[1]!.replace(/\s+/g, ""));
  const tbs = new DerReader(der).read(SEQUENCE, "Certificate").read(SEQUENCE, "TBSCertificate");
  tbs.optional(context(0, true), "version");
  const serialNumber = integerHex(tbs.read(INTEGER, "serialNumber").contents());
  for (const what of ["signature", "issuer", "validity", "subject", "subjectPublicKeyInfo"]) tbs.skip(what);
  tbs.optional(context(1, false), "issuerUniqueID");
  tbs.optional(context(2, false), "subjectUniqueID");
  let mustStaple = false;
  const wrapped = tbs.optional(context(3, true), "extensions");
  const extensions = wrapped?.read(SEQUENCE, "extensions");
  while (extensions && !extensions.done) {
    const extension = extensions.read(SEQUENCE, "extension");
    const id = extension.read(OID, "extnID").contents();
    extension.optional(BOOLEAN, "critical");
    if (!sameBytes(id, TLS_FEATURE)) continue;
    // TLSFeature ::= SEQUENCE OF INTEGER
    const features = new DerReader(extension.read(OCTET_STRING, "extnValue").contents()).read(SEQUENCE, "TLSFeature");
    while (!features.done) {
      if (integerHex(features.read(INTEGER, "TLS feature").contents()) === STATUS_REQUEST.toString(16)) mustStaple = true;
    }
  }
  return { serialNumber, mustStaple };
}
