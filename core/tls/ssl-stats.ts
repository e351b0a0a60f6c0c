import type { Counter } from "../stats/counter.ts";
import type { StatsScope } from "../stats/stats-store.ts";

/**
 * Envoy's TLS stats (tls/stats.h, ALL_SSL_STATS), under `listener.<address>.ssl.` for a
 * filter chain's TLS and `cluster.<name>.ssl.` for a cluster's; `versions.<v>` and
 * `ciphers.<c>` and `curves.<c>` counters are made as each value is first seen, as Envoy's are.
 */
export class SslStats {
  /** Handshake errors other than failed certificate checks. */
  readonly connectionError: Counter;
  readonly handshake: Counter;
  readonly sessionReused: Counter;
  /** Successful handshakes where the peer sent no certificate. */
  readonly noCertificate: Counter;
  readonly failVerifyNoCert: Counter;
  readonly failVerifyError: Counter;
  readonly failVerifySan: Counter;
  readonly failVerifyCertHash: Counter;
  /** OCSP stapling: handshakes whose client asked for a staple, and what was done. */
  readonly ocspStapleRequests: Counter;
  readonly ocspStapleResponses: Counter;
  readonly ocspStapleOmitted: Counter;
  readonly ocspStapleFailed: Counter;
  private readonly byName = new Map<string, Counter>();

  constructor(private readonly scope: StatsScope) {
    this.connectionError = scope.counter("connection_error");
    this.handshake = scope.counter("handshake");
    this.sessionReused = scope.counter("session_reused");
    this.noCertificate = scope.counter("no_certificate");
    this.failVerifyNoCert = scope.counter("fail_verify_no_cert");
    this.failVerifyError = scope.counter("fail_verify_error");
    this.failVerifySan = scope.counter("fail_verify_san");
    this.failVerifyCertHash = scope.counter("fail_verify_cert_hash");
    this.ocspStapleRequests = scope.counter("ocsp_staple_requests");
    this.ocspStapleResponses = scope.counter("ocsp_staple_responses");
    this.ocspStapleOmitted = scope.counter("ocsp_staple_omitted");
    this.ocspStapleFailed = scope.counter("ocsp_staple_failed");
  }

  /** `versions.TLSv1.3`, `ciphers.TLS_AES_128_GCM_SHA256`, `curves.X25519`, … */
  countValue(kind: "versions" | "ciphers" | "curves", value: string): void {
    if (value === "") return;
    const name = `${kind}.${value}`;
    let counter = this.byName.get(name);
    if (!counter) this.byName.set(name, (counter = this.scope.counter(name)));
    counter.inc();
  }
}
