import type { SecretConfig, TlsDataSourceConfig } from "../config/bootstrap.ts";
import { encodeBase64 } from "../util/base64.ts";
import { utf8Encode } from "../util/utf8.ts";
import type { ResolvedSecret } from "./read-secret.ts";

/**
 * The Secret /config_dump shows for an SDS secret in use: the one delivered, with the
 * files it names replaced by what was read from them, as Envoy's TlsCertificateSdsApi and
 * CertificateValidationContextSdsApi::resolveSecret do ("We replace path based secrets
 * with inlined secrets on update", sds_api.h): certificate_chain and private_key,
 * trusted_ca and crl become inline_bytes (base64, as JSON prints bytes). Other fields, and
 * a generic secret (GenericSecretSdsApi keeps it as sent), stay as delivered. The dump
 * redacts private_key afterwards (admin/redact.ts).
 */
export function resolvedSecretDocument(document: unknown, config: SecretConfig, resolved: ResolvedSecret): unknown {
  if (typeof document !== "object" || document === null) return document;
  const secret = document as Record<string, unknown>;
  if ("tlsCertificate" in config && resolved.kind === "tlsCertificate") {
    const c = config.tlsCertificate;
    return {
      ...secret,
      tls_certificate: inlined(secret.tls_certificate, [
        ["certificate_chain", c.certificateChain, resolved.certificate.certificateChain],
        ["private_key", c.privateKey, resolved.certificate.privateKey],
      ]),
    };
  }
  if ("validationContext" in config && resolved.kind === "validationContext") {
    const v = config.validationContext;
    return {
      ...secret,
      validation_context: inlined(secret.validation_context, [
        ["trusted_ca", v.trustedCa, resolved.validation.trustedCa],
        ["crl", v.crl, resolved.validation.crl],
      ]),
    };
  }
  return document;
}

/** `message` with each field whose source is a file replaced by `{ inline_bytes }` of what was read. */
function inlined(message: unknown, fields: [string, TlsDataSourceConfig | undefined, string | undefined][]): unknown {
  if (typeof message !== "object" || message === null) return message;
  const out: Record<string, unknown> = { ...(message as Record<string, unknown>) };
  for (const [field, source, content] of fields) {
    if (source !== undefined && "filename" in source && content !== undefined) out[field] = { inline_bytes: encodeBase64(utf8Encode(content)) };
  }
  return out;
}
