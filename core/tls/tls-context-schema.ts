/**
 * envoy.transport_sockets.tls: DownstreamTlsContext (a filter chain's) and
 * UpstreamTlsContext (a cluster's), from
 * api/envoy/extensions/transport_sockets/tls/v3/{tls,common}.proto. Fields polyvoy
 * does not implement are refused by name (unsupported-field.ts).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "../config/schema-kit/index.ts";
import { lazySchema } from "../config/lazy-schema.ts";
import type { TlsParams, TlsVersion } from "../port.ts";
import { dataSource } from "../config/data-source-schema.ts";
import { stringMatcher } from "../config/matcher-schema.ts";
import { durationMs, oneOf } from "../config/proto-schema.ts";
import { configSourceSchema, watchedDirectory } from "../config/xds/config-source-schema.ts";
import { isEmptyList, isFalse, refuseField, unsupportedField } from "../config/unsupported-field.ts";
import type { CommonTlsContextConfig, DownstreamTlsConfig, DownstreamTlsSessionConfig, SanMatcherConfig, SdsConfigSource, SdsSecretConfig, SecretConfig, TlsCertificateConfig, TlsDataSourceConfig, UpstreamTlsConfig, ValidationContextConfig } from "../config/bootstrap.ts";
import { unsupportedNameMessage, unsupportedValueMessage } from "../config/refusal.ts";

export const TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls";
export const RAW_BUFFER_TRANSPORT_SOCKET = "envoy.transport_sockets.raw_buffer";
const TYPE_PREFIX = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.";
const RAW_BUFFER_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer";

/** DataSource: filename, inline_string or inline_bytes (no environment_variable: the port reads no environment). */
const tlsDataSource = lazySchema(() =>
  z
    .strictObject({
      filename: z.string().min(1).optional(),
      inline_string: z.string().optional(),
      inline_bytes: z.string().optional(),
      environment_variable: unsupportedField("use filename or inline_string"),
      watched_directory: unsupportedField(),
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
    }));

/** BoolValue in proto3 JSON: a bool, or `{ value }` as some configs write it. */
const boolValue = lazySchema(() =>
  z.union([z.boolean(), z.strictObject({ value: z.boolean() }).transform((v) => v.value)]));

const VERSIONS: Record<string, TlsVersion | undefined> = {
  TLS_AUTO: undefined,
  TLSv1_0: "TLSv1",
  TLSv1_1: "TLSv1.1",
  TLSv1_2: "TLSv1.2",
  TLSv1_3: "TLSv1.3",
};
const version = lazySchema(() =>
  z.enum(["TLS_AUTO", "TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3"]));

/** TlsParameters */
const tlsParams = lazySchema(() =>
  z
  .strictObject({
    tls_minimum_protocol_version: version.default("TLS_AUTO"),
    tls_maximum_protocol_version: version.default("TLS_AUTO"),
    cipher_suites: z.array(z.string().min(1)).default([]),
    ecdh_curves: z.array(z.string().min(1)).default([]),
    signature_algorithms: unsupportedField(undefined, isEmptyList),
    compliance_policies: unsupportedField(undefined, isEmptyList),
  })
  .superRefine((p, ctx) => {
    // BoringSSL's equal-preference groups ("[A|B]") have no OpenSSL or rustls equivalent.
    p.cipher_suites.forEach((suite, i) => {
      if (/[[\]|]/.test(suite)) ctx.addIssue({ code: "custom", path: ["cipher_suites", i], message: `equal-preference cipher groups ("${suite}") are BoringSSL syntax, not supported: list the ciphers one by one` });
    });
  }));

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

/** envoy.config.core.v3.WatchedDirectory */

/** Where watched_directory is refused: Envoy only honours it in a secret delivered by SDS. */
const watchedDirectoryOutsideSds = unsupportedField("watched_directory (it applies to a secret delivered by SDS only: use tls_certificate_sds_secret_configs / validation_context_sds_secret_config with an sds_config)");

/**
 * TlsCertificate: a chain, its key and its OCSP staple (DER, checked once read: Envoy's
 * OcspResponseWrapper); no SCTs, private key providers or PKCS#12. `inSecret`: inside a
 * Secret, where watched_directory applies.
 */
function tlsCertificateSchema(inSecret: boolean) {
  return z
    .strictObject({
      certificate_chain: tlsDataSource,
      private_key: tlsDataSource,
      password: tlsDataSource.optional(),
      pkcs12: unsupportedField("use certificate_chain and private_key"),
      watched_directory: inSecret ? watchedDirectory.optional() : watchedDirectoryOutsideSds,
      private_key_provider: unsupportedField(),
      ocsp_staple: tlsDataSource.optional(),
      signed_certificate_timestamp: unsupportedField(undefined, isEmptyList),
    })
    .transform((c): TlsCertificateConfig => ({
      certificateChain: c.certificate_chain,
      privateKey: c.private_key,
      ...(c.password ? { password: c.password } : {}),
      ...(typeof c.watched_directory === "string" ? { watchedDirectory: c.watched_directory } : {}),
      ...(c.ocsp_staple ? { ocspStaple: c.ocsp_staple } : {}),
    }));
}
const tlsCertificate = lazySchema(() =>
  tlsCertificateSchema(false));

const SAN_TYPES = ["DNS", "URI", "EMAIL", "IP_ADDRESS"] as const;

/** SubjectAltNameMatcher (OTHER_NAME is not supported: the runtimes do not expose it). */
const sanMatcher = lazySchema(() =>
  z
    .strictObject({
      san_type: z.enum(["SAN_TYPE_UNSPECIFIED", ...SAN_TYPES, "OTHER_NAME"]),
      matcher: stringMatcher,
      oid: unsupportedField("OTHER_NAME"),
    })
    .transform((m, ctx): SanMatcherConfig => {
      if (m.san_type === "SAN_TYPE_UNSPECIFIED" || m.san_type === "OTHER_NAME") {
        ctx.addIssue({ code: "custom", path: ["san_type"], message: m.san_type === "OTHER_NAME" ? unsupportedValueMessage("OTHER_NAME", "supported: DNS, URI, EMAIL, IP_ADDRESS; the runtimes do not expose it") : "must be DNS, URI, EMAIL or IP_ADDRESS" });
        return z.NEVER;
      }
      if (m.matcher.type === "present") return z.NEVER;
      return { sanType: m.san_type, matcher: m.matcher };
    }));

/** CertificateValidationContext; `inSecret` as for tlsCertificateSchema. */
function validationContextSchema(inSecret: boolean) {
  return z
    .strictObject({
      trusted_ca: tlsDataSource.optional(),
      match_typed_subject_alt_names: z.array(sanMatcher).default([]),
      verify_certificate_hash: z.array(z.string()).default([]),
      // Deprecated, still read by Envoy: each matcher applies to DNS, URI, EMAIL and IP_ADDRESS
      // SANs alike (CertificateValidationContextConfigImpl's getSubjectAltNameMatchers).
      match_subject_alt_names: z.array(stringMatcher).default([]),
      verify_certificate_spki: z.array(z.string()).default([]),
      crl: tlsDataSource.optional(),
      allow_expired_certificate: z.boolean().default(false),
      trust_chain_verification: z.enum(["VERIFY_TRUST_CHAIN", "ACCEPT_UNTRUSTED"]).default("VERIFY_TRUST_CHAIN"),
      // node:tls sets OpenSSL's X509_V_FLAG_CRL_CHECK_ALL whenever it is given a CRL (node's
      // SecureContext::AddCRL), so only the whole-chain check (Envoy's default) can be had.
      only_verify_leaf_cert_crl: unsupportedField("the runtimes' node:tls checks every certificate of the chain against the CRLs whenever one is given", isFalse),
      max_verify_depth: unsupportedField(),
      custom_validator_config: unsupportedField(),
      watched_directory: inSecret ? watchedDirectory.optional() : watchedDirectoryOutsideSds,
      ca_certificate_provider_instance: unsupportedField(),
      system_root_certs: unsupportedField(),
      custom_signer_validation: unsupportedField(),
    })
    .transform((v, ctx): ValidationContextConfig => {
      // Envoy (CertificateValidationContextConfigImpl): a CRL without a CA to check against.
      if (v.crl && !v.trusted_ca) ctx.addIssue({ code: "custom", path: ["crl"], message: `Failed to load CRL from ${"filename" in v.crl ? v.crl.filename : "<inline>"} without trusted CA` });
      const hashes = v.verify_certificate_hash.map((hash, i) => {
        const hex = hash.replace(/:/g, "").toLowerCase();
        if (!/^[0-9a-f]{64}$/.test(hex)) ctx.addIssue({ code: "custom", path: ["verify_certificate_hash", i], message: `invalid hex-encoded SHA-256 ${hash}` });
        return hex;
      });
      // Envoy (DefaultCertValidator): each a base64 SHA-256, "Invalid base64-encoded SHA-256 …".
      v.verify_certificate_spki.forEach((spki, i) => {
        if (!/^[A-Za-z0-9+/]{43}=$/.test(spki)) ctx.addIssue({ code: "custom", path: ["verify_certificate_spki", i], message: `Invalid base64-encoded SHA-256 ${spki}` });
      });
      // (A StringMatcher is never "present"; the test narrows its type.)
      const untyped = v.match_subject_alt_names.flatMap((matcher) => (matcher.type === "present" ? [] : SAN_TYPES.map((sanType): SanMatcherConfig => ({ sanType, matcher }))));
      return {
        ...(v.trusted_ca ? { trustedCa: v.trusted_ca } : {}),
        ...(v.crl ? { crl: v.crl } : {}),
        matchTypedSubjectAltNames: [...v.match_typed_subject_alt_names, ...untyped],
        verifyCertificateHash: hashes,
        ...(v.verify_certificate_spki.length > 0 ? { verifyCertificateSpki: v.verify_certificate_spki } : {}),
        ...(v.allow_expired_certificate ? { allowExpiredCertificate: true as const } : {}),
        ...(v.trust_chain_verification === "ACCEPT_UNTRUSTED" ? { acceptUntrusted: true as const } : {}),
        ...(typeof v.watched_directory === "string" ? { watchedDirectory: v.watched_directory } : {}),
      };
    });
}
const validationContext = lazySchema(() =>
  validationContextSchema(false));

/** ConfigSource for SDS: a file whose DiscoveryResponse holds the Secret, or a management server (core/tls/sds-api.ts). */
const sdsConfigSource = lazySchema(() =>
  configSourceSchema("SDS", "server"));

/** SdsSecretConfig: without sds_config, a secret of static_resources.secrets. */
export const sdsSecretConfig = lazySchema(() =>
  z
    .strictObject({
      name: z.string().min(1),
      sds_config: sdsConfigSource.optional(),
    })
    .transform((c): SdsSecretConfig => ({ name: c.name, ...(c.sds_config ? { sdsConfig: c.sds_config } : {}) })));

/** envoy.extensions.transport_sockets.tls.v3.Secret (static_resources.secrets, or an SDS file's resource). */
export const secretSchema = lazySchema(() =>
  z
    .strictObject({
      "@type": z.literal(`${TYPE_PREFIX}Secret`).optional(),
      name: z.string().min(1),
      tls_certificate: tlsCertificateSchema(true).optional(),
      validation_context: validationContextSchema(true).optional(),
      session_ticket_keys: unsupportedField("secrets"),
      // GenericSecret: `secret`, a DataSource (read as bytes: the oauth2 filter's secrets).
      generic_secret: z.strictObject({ secret: tlsDataSource }).optional(),
    })
    .transform((s, ctx): SecretConfig => {
      const key = oneOf(s, ["tls_certificate", "validation_context", "generic_secret"] as const, ctx, true);
      if (key === undefined) return z.NEVER;
      if (key === "generic_secret") return { name: s.name, genericSecret: { secret: s.generic_secret!.secret } };
      return key === "tls_certificate" ? { name: s.name, tlsCertificate: s.tls_certificate! } : { name: s.name, validationContext: s.validation_context! };
    }));

/** CommonTlsContext */
const commonTlsContextFields = lazySchema(() =>
  z.strictObject({
  tls_params: tlsParams.optional(),
  tls_certificates: z.array(tlsCertificate).default([]),
  validation_context: validationContext.optional(),
  // Downstream, h2 makes the HCM (codec_type AUTO) speak HTTP/2 on the connection (connection-manager.ts).
  alpn_protocols: z.array(z.string().min(1)).default([]),
  tls_certificate_sds_secret_configs: z.array(sdsSecretConfig).default([]),
  tls_certificate_provider_instance: unsupportedField(),
  tls_certificate_selector: unsupportedField(),
  custom_tls_certificate_selector: unsupportedField(),
  validation_context_sds_secret_config: sdsSecretConfig.optional(),
  combined_validation_context: unsupportedField("use validation_context"),
  validation_context_certificate_provider: unsupportedField(),
  validation_context_certificate_provider_instance: unsupportedField(),
  custom_handshaker: unsupportedField(),
  key_log: unsupportedField(),
}));

/** CommonTlsContext, its oneofs checked. */
// lazySchema, not a refinement of the lazy fields schema: that would be a z.lazy clone held
// here, outside what releaseSchemas() resets.
const commonTlsContext = lazySchema(() =>
  commonTlsContextFields
  .superRefine((c, ctx) => {
    // Envoy's CommonTlsContext oneofs: certificates inline or by SDS, a validation context inline or by SDS.
    if (c.tls_certificates.length > 0 && c.tls_certificate_sds_secret_configs.length > 0) {
      ctx.addIssue({ code: "custom", path: ["tls_certificate_sds_secret_configs"], message: "set tls_certificates or tls_certificate_sds_secret_configs, not both" });
    }
    if (c.validation_context && c.validation_context_sds_secret_config) {
      ctx.addIssue({ code: "custom", path: ["validation_context_sds_secret_config"], message: "set validation_context or validation_context_sds_secret_config, not both" });
    }
  }));

function toCommon(c: z.output<typeof commonTlsContext> | undefined, side: "downstream" | "upstream"): CommonTlsContextConfig {
  return {
    tlsCertificates: c?.tls_certificates ?? [],
    alpnProtocols: c?.alpn_protocols ?? [],
    params: toParams(c?.tls_params, side),
    ...(c?.validation_context ? { validationContext: c.validation_context } : {}),
    tlsCertificateSds: c?.tls_certificate_sds_secret_configs ?? [],
    ...(c?.validation_context_sds_secret_config ? { validationContextSds: c.validation_context_sds_secret_config } : {}),
  };
}

/**
 * TlsSessionTicketKeys: one or more keys, each 80 bytes (checked once read: a file's
 * length is only known then). The first encrypts new tickets.
 */
const sessionTicketKeys = lazySchema(() =>
  z.strictObject({ keys: z.array(tlsDataSource).min(1) }).transform((k) => k.keys));

/** DownstreamTlsContext */
export const downstreamTlsContext = lazySchema(() =>
  z
    .strictObject({
      "@type": z.literal(`${TYPE_PREFIX}DownstreamTlsContext`).optional(),
      common_tls_context: commonTlsContext.optional(),
      require_client_certificate: boolValue.default(false),
      require_sni: unsupportedField(undefined, isFalse),
      session_ticket_keys: sessionTicketKeys.optional(),
      session_ticket_keys_sds_secret_config: unsupportedField("use session_ticket_keys"),
      disable_stateless_session_resumption: boolValue.default(false),
      disable_stateful_session_resumption: boolValue.default(false),
      // Envoy: lt 2^32 s (ServerContextConfigImpl hands whole seconds to SSL_CTX_set_timeout).
      session_timeout: durationMs.refine((ms) => ms < 2 ** 32 * 1000, { message: "must be less than 4294967296s" }).optional(),
      ocsp_staple_policy: z.enum(["LENIENT_STAPLING", "STRICT_STAPLING", "MUST_STAPLE"]).default("LENIENT_STAPLING"),
      full_scan_certs_on_sni_mismatch: unsupportedField(),
      prefer_client_ciphers: unsupportedField(undefined, isFalse),
    })
    .superRefine((d, ctx) => {
      // Envoy's oneof session_ticket_keys_type.
      if (d.session_ticket_keys && d.disable_stateless_session_resumption) {
        ctx.addIssue({ code: "custom", path: ["disable_stateless_session_resumption"], message: "set session_ticket_keys or disable_stateless_session_resumption, not both" });
      }
      // Envoy (ServerContextConfigImpl): "No TLS certificates found for server context".
      const c = d.common_tls_context;
      if ((c?.tls_certificates.length ?? 0) + (c?.tls_certificate_sds_secret_configs.length ?? 0) === 0) {
        ctx.addIssue({ code: "custom", path: ["common_tls_context", "tls_certificates"], message: "No TLS certificates found for server context" });
      }
    })
    .transform((d): DownstreamTlsConfig => {
      const session: { -readonly [K in keyof DownstreamTlsSessionConfig]: DownstreamTlsSessionConfig[K] } = {};
      if (d.session_ticket_keys) session.ticketKeys = d.session_ticket_keys;
      if (d.disable_stateless_session_resumption) session.disableStateless = true;
      if (d.disable_stateful_session_resumption) session.disableStateful = true;
      if (d.session_timeout !== undefined) session.timeoutSeconds = Math.floor(d.session_timeout / 1000);
      return {
        side: "downstream",
        common: toCommon(d.common_tls_context, "downstream"),
        requireClientCertificate: d.require_client_certificate,
        ocspStaplePolicy: d.ocsp_staple_policy,
        ...(Object.keys(session).length > 0 ? { session } : {}),
      };
    }));

/** UpstreamTlsContext */
export const upstreamTlsContext = lazySchema(() =>
  z
    .strictObject({
      "@type": z.literal(`${TYPE_PREFIX}UpstreamTlsContext`).optional(),
      common_tls_context: commonTlsContext.optional(),
      // Envoy: max_bytes 255, no NUL (ClientContextConfigImpl).
      sni: z.string().max(255).refine((s) => !s.includes("\0"), { message: "SNI names containing NULL-byte are not allowed" }).optional(),
      auto_host_sni: unsupportedField(undefined, isFalse),
      auto_sni_san_validation: unsupportedField(undefined, isFalse),
      allow_renegotiation: unsupportedField("the runtimes' TLS libraries do not renegotiate as clients", isFalse),
      // Envoy's default 1; 0 turns resumption off.
      max_session_keys: z.number().int().min(0).max(0xffff_ffff).default(1),
      enforce_rsa_key_usage: unsupportedField(),
    })
    .superRefine((u, ctx) => {
      // Envoy (ClientContextConfigImpl): "Multiple TLS certificates are not supported for client contexts".
      const c = u.common_tls_context;
      if ((c?.tls_certificates.length ?? 0) + (c?.tls_certificate_sds_secret_configs.length ?? 0) > 1) {
        ctx.addIssue({ code: "custom", path: ["common_tls_context", "tls_certificates"], message: "Multiple TLS certificates are not supported for client contexts" });
      }
      // A staple goes with a server's certificate (RFC 6066 §8): a client certificate's would never be sent.
      c?.tls_certificates.forEach((certificate, i) => {
        if (certificate.ocspStaple) refuseField(ctx, "in an upstream context: a client certificate is never stapled (OCSP stapling is the server's, RFC 6066 §8)", ["common_tls_context", "tls_certificates", i, "ocsp_staple"]);
      });
    })
    .transform((u): UpstreamTlsConfig => ({ side: "upstream", common: toCommon(u.common_tls_context, "upstream"), ...(u.sni ? { sni: u.sni } : {}), autoSni: false, maxSessionKeys: u.max_session_keys })));

/**
 * envoy.config.core.v3.TransportSocket: `envoy.transport_sockets.tls` (by name or by
 * its typed_config's @type), or raw_buffer, which is plaintext (undefined).
 */
function transportSocket<T>(context: z.ZodType<T>, contextTypeUrl: string) {
  const contextName = contextTypeUrl.slice(TYPE_PREFIX.length);
  return z
    .strictObject({
      name: z.string().min(1),
      typed_config: z.looseObject({ "@type": z.string().optional() }).optional(),
    })
    .transform((t, ctx): T | undefined => {
      const typeUrl = t.typed_config?.["@type"];
      if (typeUrl === RAW_BUFFER_TYPE || (typeUrl === undefined && t.name === RAW_BUFFER_TRANSPORT_SOCKET)) return undefined;
      const isTls = typeUrl !== undefined ? typeUrl === contextTypeUrl : t.name === TLS_TRANSPORT_SOCKET;
      if (!isTls) {
        ctx.addIssue({ code: "custom", message: unsupportedNameMessage("transport socket", typeUrl ?? t.name, [TLS_TRANSPORT_SOCKET, RAW_BUFFER_TRANSPORT_SOCKET], undefined, `${TLS_TRANSPORT_SOCKET} with a ${contextName}, ${RAW_BUFFER_TRANSPORT_SOCKET}`) });
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

// Written out whole: scripts/gen-envoy-wire.mjs finds the messages an xDS server may send
// inside an Any by the type URLs core/ names (without this one, a TLS listener sent by LDS
// over gRPC could not be decoded).
/** A filter chain's transport_socket. */
export const downstreamTransportSocket = lazySchema(() =>
  transportSocket(downstreamTlsContext, "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"));
/** A cluster's transport_socket. */
export const upstreamTransportSocket = lazySchema(() =>
  transportSocket(upstreamTlsContext, "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"));
