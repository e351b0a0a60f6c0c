/**
 * Envoy's urlEncodedPemEncodedPeerCertificate (source/common/tls/connection_info_impl_base.cc,
 * PercentEncoding::urlEncodeQueryParameter): everything but ALPHA, DIGIT and "-._~"
 * percent-encoded — in a PEM, the newlines, spaces, "+", "/" and "=". Used by
 * x-forwarded-client-cert's Cert and Chain and by ext_authz's Peer.certificate.
 */
export function urlEncodePem(pem: string): string {
  return pem.replace(/[^A-Za-z0-9\-._~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
}
