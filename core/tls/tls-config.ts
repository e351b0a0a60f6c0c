import type { TlsParams } from "../port.ts";
import type { ValueMatchConfig } from "../config/bootstrap.ts";

/**
 * The TLS transport socket as the config loader gives it (envoy.transport_sockets.tls):
 * data sources still unread (a filename is read when the listener or cluster starts,
 * through the port), everything else checked.
 */

/** envoy.config.core.v3.DataSource as TLS uses it: a file, or the text inline. */
export type TlsDataSourceConfig = { readonly filename: string } | { readonly inline: string };

export interface TlsCertificateConfig {
  readonly certificateChain: TlsDataSourceConfig;
  readonly privateKey: TlsDataSourceConfig;
  readonly password?: TlsDataSourceConfig;
}

/** One SubjectAltNameMatcher: a SAN of this type matching the string matcher. */
export interface SanMatcherConfig {
  readonly sanType: "DNS" | "URI" | "EMAIL" | "IP_ADDRESS";
  readonly matcher: Exclude<ValueMatchConfig, { type: "present" }>;
}

/** CertificateValidationContext: the CA bundle and the peer checks made after the chain. */
export interface ValidationContextConfig {
  readonly trustedCa?: TlsDataSourceConfig;
  readonly matchTypedSubjectAltNames: readonly SanMatcherConfig[];
  /** verify_certificate_hash: SHA-256 fingerprints, lowercase hex without colons. */
  readonly verifyCertificateHash: readonly string[];
}

/** CommonTlsContext */
export interface CommonTlsContextConfig {
  readonly tlsCertificates: readonly TlsCertificateConfig[];
  readonly alpnProtocols: readonly string[];
  readonly params: TlsParams;
  readonly validationContext?: ValidationContextConfig;
}

/** DownstreamTlsContext, on a filter chain. */
export interface DownstreamTlsConfig {
  readonly side: "downstream";
  readonly common: CommonTlsContextConfig;
  readonly requireClientCertificate: boolean;
}

/** UpstreamTlsContext, on a cluster. */
export interface UpstreamTlsConfig {
  readonly side: "upstream";
  readonly common: CommonTlsContextConfig;
  /** The SNI sent; auto_sni sends the request's host instead when there is one. */
  readonly sni?: string;
  readonly autoSni: boolean;
}

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
