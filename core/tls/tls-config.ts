/**
 * Envoy's default cipher suites for TLS 1.2 and below (tls/context_config_impl.cc),
 * its equal-preference groups flattened in order, and its default curves. A runtime
 * whose TLS takes cipher and curve lists uses these when the config names none.
 */
export const ENVOY_DEFAULT_CIPHER_SUITES: readonly string[] = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
];
export const ENVOY_DEFAULT_ECDH_CURVES: readonly string[] = ["X25519", "P-256"];
