/**
 * envoy.transport_sockets.tls: DownstreamTlsContext (a filter chain's) and
 * UpstreamTlsContext (a cluster's), from
 * api/envoy/extensions/transport_sockets/tls/v3/{tls,common}.proto. Fields polyvoy
 * does not implement are refused by name (unsupported-field.ts).
 */
// Namespace import: under one runtime, vitest's module loader drops zod's `z` named export.
import * as z from "zod";
import type { TlsParams, TlsVersion } from "../port.ts";
import { dataSource } from "../config/data-source-schema.ts";
import { stringMatcher } from "../config/matcher-schema.ts";
import { oneOf } from "../config/proto-schema.ts";
import { isEmptyList, isFalse, unsupportedField } from "../config/unsupported-field.ts";
import type { CommonTlsContextConfig, DownstreamTlsConfig, SanMatcherConfig, TlsCertificateConfig, TlsDataSourceConfig, UpstreamTlsConfig, ValidationContextConfig } from "../config/bootstrap.ts";

export const TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls";
export const RAW_BUFFER_TRANSPORT_SOCKET = "envoy.transport_sockets.raw_buffer";
const TYPE_PREFIX = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.";
const RAW_BUFFER_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer";

/** DataSource: filename, inline_string or inline_bytes (no environment_variable: the port reads no environment). */
const tlsDataSource = z
  .strictObject({
    filename: z.string().min(1).optional(),
    inline_string: z.string().optional(),
    inline_bytes: z.string().optional(),
    environment_variable: unsupportedField("environment_variable (use filename or inline_string)"),
    watched_directory: unsupportedField("watched_directory"),
  })
  .transform((d, ctx): TlsDataSourceConfig => {
    const key = oneOf(d, ["filename", "inline_string", "inline_bytes"] as const, ctx, true);
    if (key === undefined) return z.NEVER;
    if (key === "filename") return { filename: d.filename! };
    const inline = dataSource.safeParse({ [key]: d[key] });
    if (!inline.success) {
      for (const issue of inline.error.issues) ctx.addIssue({ ...issue, path: [key] });
      return z.NEVER;
    }
    return { inline: inline.data };
  });

/** BoolValue in proto3 JSON: a bool, or `{ value }` as some configs write it. */
const boolValue = z.union([z.boolean(), z.strictObject({ value: z.boolean() }).transform((v) => v.value)]);

const VERSIONS: Record<string, TlsVersion | undefined> = {
  TLS_AUTO: undefined,
  TLSv1_0: "TLSv1",
  TLSv1_1: "TLSv1.1",
  TLSv1_2: "TLSv1.2",
  TLSv1_3: "TLSv1.3",
};
const version = z.enum(["TLS_AUTO", "TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3"]);

/** TlsParameters */
const tlsParams = z
  .strictObject({
    tls_minimum_protocol_version: version.default("TLS_AUTO"),
    tls_maximum_protocol_version: version.default("TLS_AUTO"),
    cipher_suites: z.array(z.string().min(1)).default([]),
    ecdh_curves: z.array(z.string().min(1)).default([]),
    signature_algorithms: unsupportedField("signature_algorithms", isEmptyList),
    compliance_policies: unsupportedField("compliance_policies", isEmptyList),
  })
  .superRefine((p, ctx) => {
    // BoringSSL's equal-preference groups ("[A|B]") have no OpenSSL or rustls equivalent.
    p.cipher_suites.forEach((suite, i) => {
      if (/[[\]|]/.test(suite)) ctx.addIssue({ code: "custom", path: ["cipher_suites", i], message: `equal-preference cipher groups ("${suite}") are BoringSSL syntax, not supported: list the ciphers one by one` });
    });
  });

type TlsParamsInput = z.output<typeof tlsParams>;

/** Envoy's version defaults (tls/context_config_impl.cc): servers TLS 1.2–1.3, clients TLS 1.2–1.2. */
function toParams(p: TlsParamsInput | undefined, side: "downstream" | "upstream"): TlsParams {
  const min = VERSIONS[p?.tls_minimum_protocol_version ?? "TLS_AUTO"] ?? "TLSv1.2";
  const max = VERSIONS[p?.tls_maximum_protocol_version ?? "TLS_AUTO"] ?? (side === "downstream" ? "TLSv1.3" : "TLSv1.2");
  const params: { -readonly [K in keyof TlsParams]: TlsParams[K] } = { minVersion: min, maxVersion: max };
  if (p?.cipher_suites.length) params.cipherSuites = p.cipher_suites;
  if (p?.ecdh_curves.length) params.ecdhCurves = p.ecdh_curves;
  return params;
}

/** TlsCertificate: a chain and its key (no OCSP staple, SCTs, private key providers or PKCS#12). */
const tlsCertificate = z
  .strictObject({
    certificate_chain: tlsDataSource,
    private_key: tlsDataSource,
    password: tlsDataSource.optional(),
    pkcs12: unsupportedField("pkcs12 (use certificate_chain and private_key)"),
    watched_directory: unsupportedField("watched_directory"),
    private_key_provider: unsupportedField("private_key_provider"),
    ocsp_staple: unsupportedField("ocsp_staple"),
    signed_certificate_timestamp: unsupportedField("signed_certificate_timestamp", isEmptyList),
  })
  .transform((c): TlsCertificateConfig => ({
    certificateChain: c.certificate_chain,
    privateKey: c.private_key,
    ...(c.password ? { password: c.password } : {}),
  }));

const SAN_TYPES = ["DNS", "URI", "EMAIL", "IP_ADDRESS"] as const;

/** SubjectAltNameMatcher (OTHER_NAME is not supported: the runtimes do not expose it). */
const sanMatcher = z
  .strictObject({
    san_type: z.enum(["SAN_TYPE_UNSPECIFIED", ...SAN_TYPES, "OTHER_NAME"]),
    matcher: stringMatcher,
    oid: unsupportedField("oid (OTHER_NAME)"),
  })
  .transform((m, ctx): SanMatcherConfig => {
    if (m.san_type === "SAN_TYPE_UNSPECIFIED" || m.san_type === "OTHER_NAME") {
      ctx.addIssue({ code: "custom", path: ["san_type"], message: m.san_type === "OTHER_NAME" ? "OTHER_NAME is not supported" : "must be DNS, URI, EMAIL or IP_ADDRESS" });
      return z.NEVER;
    }
    if (m.matcher.type === "present") return z.NEVER;
    return { sanType: m.san_type, matcher: m.matcher };
  });

/** CertificateValidationContext */
const validationContext = z
  .strictObject({
    trusted_ca: tlsDataSource.optional(),
    match_typed_subject_alt_names: z.array(sanMatcher).default([]),
    verify_certificate_hash: z.array(z.string()).default([]),
    // Deprecated, still read by Envoy: each matcher applies to DNS, URI, EMAIL and IP_ADDRESS
    // SANs alike (CertificateValidationContextConfigImpl's getSubjectAltNameMatchers).
    match_subject_alt_names: z.array(stringMatcher).default([]),
    verify_certificate_spki: unsupportedField("verify_certificate_spki", isEmptyList),
    crl: unsupportedField("crl"),
    allow_expired_certificate: unsupportedField("allow_expired_certificate", isFalse),
    trust_chain_verification: unsupportedField("trust_chain_verification", (v) => v === "VERIFY_TRUST_CHAIN"),
    only_verify_leaf_cert_crl: unsupportedField("only_verify_leaf_cert_crl", isFalse),
    max_verify_depth: unsupportedField("max_verify_depth"),
    custom_validator_config: unsupportedField("custom_validator_config"),
    watched_directory: unsupportedField("watched_directory"),
    ca_certificate_provider_instance: unsupportedField("ca_certificate_provider_instance"),
    system_root_certs: unsupportedField("system_root_certs"),
    custom_signer_validation: unsupportedField("custom_signer_validation"),
  })
  .transform((v, ctx): ValidationContextConfig => {
    const hashes = v.verify_certificate_hash.map((hash, i) => {
      const hex = hash.replace(/:/g, "").toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(hex)) ctx.addIssue({ code: "custom", path: ["verify_certificate_hash", i], message: `invalid hex-encoded SHA-256 ${hash}` });
      return hex;
    });
    // (A StringMatcher is never "present"; the test narrows its type.)
    const untyped = v.match_subject_alt_names.flatMap((matcher) => (matcher.type === "present" ? [] : SAN_TYPES.map((sanType): SanMatcherConfig => ({ sanType, matcher }))));
    return {
      ...(v.trusted_ca ? { trustedCa: v.trusted_ca } : {}),
      matchTypedSubjectAltNames: [...v.match_typed_subject_alt_names, ...untyped],
      verifyCertificateHash: hashes,
    };
  });

/** CommonTlsContext */
const commonTlsContext = z.strictObject({
  tls_params: tlsParams.optional(),
  tls_certificates: z.array(tlsCertificate).default([]),
  validation_context: validationContext.optional(),
  // h2 would be chosen by most clients, whose HTTP/2 the HTTP/1 codec cannot read (HTTP/2 is not wired yet).
  alpn_protocols: z
    .array(z.string().min(1))
    .default([])
    .superRefine((protocols, ctx) => {
      protocols.forEach((protocol, i) => {
        if (protocol === "h2") ctx.addIssue({ code: "custom", path: [i], message: "h2 is not supported yet: polyvoy speaks HTTP/1 only (offer http/1.1)" });
      });
    }),
  tls_certificate_sds_secret_configs: unsupportedField("tls_certificate_sds_secret_configs (SDS)", isEmptyList),
  tls_certificate_provider_instance: unsupportedField("tls_certificate_provider_instance"),
  tls_certificate_selector: unsupportedField("tls_certificate_selector"),
  custom_tls_certificate_selector: unsupportedField("custom_tls_certificate_selector"),
  validation_context_sds_secret_config: unsupportedField("validation_context_sds_secret_config (SDS)"),
  combined_validation_context: unsupportedField("combined_validation_context (use validation_context)"),
  validation_context_certificate_provider: unsupportedField("validation_context_certificate_provider"),
  validation_context_certificate_provider_instance: unsupportedField("validation_context_certificate_provider_instance"),
  custom_handshaker: unsupportedField("custom_handshaker"),
  key_log: unsupportedField("key_log"),
});

function toCommon(c: z.output<typeof commonTlsContext> | undefined, side: "downstream" | "upstream"): CommonTlsContextConfig {
  return {
    tlsCertificates: c?.tls_certificates ?? [],
    alpnProtocols: c?.alpn_protocols ?? [],
    params: toParams(c?.tls_params, side),
    ...(c?.validation_context ? { validationContext: c.validation_context } : {}),
  };
}

/** DownstreamTlsContext */
const downstreamTlsContext = z
  .strictObject({
    "@type": z.literal(`${TYPE_PREFIX}DownstreamTlsContext`).optional(),
    common_tls_context: commonTlsContext.optional(),
    require_client_certificate: boolValue.default(false),
    require_sni: unsupportedField("require_sni", isFalse),
    session_ticket_keys: unsupportedField("session_ticket_keys"),
    session_ticket_keys_sds_secret_config: unsupportedField("session_ticket_keys_sds_secret_config"),
    disable_stateless_session_resumption: unsupportedField("disable_stateless_session_resumption", isFalse),
    disable_stateful_session_resumption: unsupportedField("disable_stateful_session_resumption", isFalse),
    session_timeout: unsupportedField("session_timeout"),
    ocsp_staple_policy: unsupportedField("ocsp_staple_policy (no OCSP stapling)", (v) => v === "LENIENT_STAPLING"),
    full_scan_certs_on_sni_mismatch: unsupportedField("full_scan_certs_on_sni_mismatch"),
    prefer_client_ciphers: unsupportedField("prefer_client_ciphers", isFalse),
  })
  .superRefine((d, ctx) => {
    // Envoy (ServerContextConfigImpl): "No TLS certificates found for server context".
    if ((d.common_tls_context?.tls_certificates.length ?? 0) === 0) {
      ctx.addIssue({ code: "custom", path: ["common_tls_context", "tls_certificates"], message: "No TLS certificates found for server context" });
    }
  })
  .transform((d): DownstreamTlsConfig => ({ side: "downstream", common: toCommon(d.common_tls_context, "downstream"), requireClientCertificate: d.require_client_certificate }));

/** UpstreamTlsContext */
const upstreamTlsContext = z
  .strictObject({
    "@type": z.literal(`${TYPE_PREFIX}UpstreamTlsContext`).optional(),
    common_tls_context: commonTlsContext.optional(),
    // Envoy: max_bytes 255, no NUL (ClientContextConfigImpl).
    sni: z.string().max(255).refine((s) => !s.includes("\0"), { message: "SNI names containing NULL-byte are not allowed" }).optional(),
    auto_host_sni: unsupportedField("auto_host_sni", isFalse),
    auto_sni_san_validation: unsupportedField("auto_sni_san_validation", isFalse),
    allow_renegotiation: unsupportedField("allow_renegotiation (the runtimes' TLS libraries do not renegotiate as clients)", isFalse),
    max_session_keys: unsupportedField("max_session_keys"),
    enforce_rsa_key_usage: unsupportedField("enforce_rsa_key_usage"),
  })
  .superRefine((u, ctx) => {
    // Envoy (ClientContextConfigImpl): "Multiple TLS certificates are not supported for client contexts".
    if ((u.common_tls_context?.tls_certificates.length ?? 0) > 1) {
      ctx.addIssue({ code: "custom", path: ["common_tls_context", "tls_certificates"], message: "Multiple TLS certificates are not supported for client contexts" });
    }
  })
  .transform((u): UpstreamTlsConfig => ({ side: "upstream", common: toCommon(u.common_tls_context, "upstream"), ...(u.sni ? { sni: u.sni } : {}), autoSni: false }));

/**
 * envoy.config.core.v3.TransportSocket: `envoy.transport_sockets.tls` (by name or by
 * its typed_config's @type), or raw_buffer, which is plaintext (undefined).
 */
function transportSocket<T>(context: z.ZodType<T>, contextName: string) {
  return z
    .strictObject({
      name: z.string().min(1),
      typed_config: z.looseObject({ "@type": z.string().optional() }).optional(),
    })
    .transform((t, ctx): T | undefined => {
      const typeUrl = t.typed_config?.["@type"];
      if (typeUrl === RAW_BUFFER_TYPE || (typeUrl === undefined && t.name === RAW_BUFFER_TRANSPORT_SOCKET)) return undefined;
      const isTls = typeUrl !== undefined ? typeUrl === `${TYPE_PREFIX}${contextName}` : t.name === TLS_TRANSPORT_SOCKET;
      if (!isTls) {
        ctx.addIssue({ code: "custom", message: `unsupported transport socket "${typeUrl ?? t.name}" (supported: ${TLS_TRANSPORT_SOCKET} with a ${contextName}, ${RAW_BUFFER_TRANSPORT_SOCKET})` });
        return z.NEVER;
      }
      const parsed = context.safeParse(t.typed_config ?? {}, { reportInput: true });
      if (!parsed.success) {
        for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] });
        return z.NEVER;
      }
      return parsed.data;
    });
}

/** A filter chain's transport_socket. */
export const downstreamTransportSocket = transportSocket(downstreamTlsContext, "DownstreamTlsContext");
/** A cluster's transport_socket. */
export const upstreamTransportSocket = transportSocket(upstreamTlsContext, "UpstreamTlsContext");
