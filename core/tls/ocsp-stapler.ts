import type { TlsCertificate } from "../port.ts";
import type { OcspStaplePolicy } from "../config/bootstrap.ts";
import { ocspExpired, readOcspResponse, readStapledCertificate, type OcspResponse } from "./ocsp-response.ts";

/** One certificate's staple, checked against it. */
interface Staple {
  readonly der: Uint8Array | undefined;
  readonly response: OcspResponse | undefined;
  /** The certificate asks for a staple (RFC 7633): its policy is MUST_STAPLE whatever the context's. */
  readonly mustStaple: boolean;
}

/**
 * A server context's OCSP stapling (Envoy's ServerContextImpl checks at load, and
 * DefaultTlsCertificateSelector::ocspStapleAction per handshake): each certificate's
 * staple read and matched to it when the context is built, then, for a client that asks,
 * staple a response that has not expired, staple nothing, or fail the handshake, by
 * ocsp_staple_policy.
 */
export class OcspStapler {
  private readonly staples: readonly Staple[];

  /** Throws with Envoy's messages: a staple that does not parse or match, a missing one MUST_STAPLE needs. */
  constructor(
    certificates: readonly TlsCertificate[],
    private readonly policy: OcspStaplePolicy,
  ) {
    this.staples = certificates.map((certificate, i) => {
      const at = certificates.length > 1 ? `tls_certificates[${i}]: ` : "";
      const der = certificate.ocspStaple;
      let read: { serialNumber: string; mustStaple: boolean };
      try {
        read = readStapledCertificate(certificate.certificateChain);
      } catch (err) {
        // A chain this reader cannot follow is the runtime's to judge, unless a staple must match it.
        if (!der) return { der: undefined, response: undefined, mustStaple: false };
        throw new Error(`${at}${err instanceof Error ? err.message : String(err)}`);
      }
      const { serialNumber, mustStaple } = read;
      if (!der || der.byteLength === 0) {
        if (mustStaple) throw new Error(`${at}OCSP response is required for must-staple certificate`);
        if (policy === "MUST_STAPLE") throw new Error(`${at}Required OCSP response is missing from TLS context`);
        return { der: undefined, response: undefined, mustStaple };
      }
      let response: OcspResponse;
      try {
        response = readOcspResponse(der);
      } catch (err) {
        throw new Error(`${at}ocsp_staple: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (response.serialNumber !== serialNumber) throw new Error(`${at}OCSP response does not match its TLS certificate`);
      return { der, response, mustStaple };
    });
  }

  /** Some certificate has a staple (the runtime must be able to staple). */
  get hasStaples(): boolean {
    return this.staples.some((s) => s.der !== undefined);
  }

  /** Envoy's ocspStapleAction for a client that asked, at `nowMs` (wall clock). */
  action(certificate: number, nowMs: number): Uint8Array | "none" | "fail" {
    const staple = this.staples[certificate];
    if (!staple) return "none";
    const policy = staple.mustStaple ? "MUST_STAPLE" : this.policy;
    const valid = staple.response !== undefined && !ocspExpired(staple.response, nowMs);
    if (valid) return staple.der!;
    if (policy === "MUST_STAPLE") return "fail";
    // STRICT_STAPLING: an expired response fails; no response at all is stapled as nothing.
    if (policy === "STRICT_STAPLING" && staple.response !== undefined) return "fail";
    return "none";
  }
}
