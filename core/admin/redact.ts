/**
 * Envoy's MessageUtil::redact (source/common/protobuf/utility.cc), as the admin's
 * /config_dump applies it: under a field annotated `(udpa.annotations.sensitive)` every
 * string becomes "[redacted]", every bytes field the bytes of "[redacted]" (base64 in
 * JSON), other scalars are cleared; an Any keeps its type. The dump here is the config's
 * JSON, so the sensitive fields are known by name (and, where the name is common, by the
 * message holding them) from the v3 protos that carry the annotation.
 */
import { encodeBase64 } from "../util/base64.ts";
import { latin1Encode } from "../util/latin1.ts";

const REDACTED = "[redacted]";
const REDACTED_BYTES = encodeBase64(latin1Encode(REDACTED));

/** DataSource's and other messages' bytes fields: in JSON, base64. */
const BYTES_FIELDS = new Set(["inline_bytes"]);

/** Sensitive wherever they appear: names no non-sensitive v3 field shares. */
const SENSITIVE_ANYWHERE = new Set([
  // tls/v3/common.proto TlsCertificate; core/v3/grpc_service.proto SslCredentials.private_key.
  "private_key",
  "pkcs12",
  "password",
  // redis_proxy/v3/redis_proxy.proto.
  "auth_password",
  "auth_username",
  "downstream_auth_password",
  "downstream_auth_passwords",
  "downstream_auth_username",
  // trace/v3/skywalking.proto ClientConfig; grpc_credential/v3/file_based_metadata.proto.
  "backend_token",
  "secret_data",
  // ext_authz/v3/ext_authz.proto CheckSettings.
  "context_extensions",
]);

/** Sensitive only inside the named parent field (a common name elsewhere). */
const SENSITIVE_IN: Record<string, string> = {
  // tls/v3/secret.proto GenericSecret.secret.
  secret: "generic_secret",
  // tls/v3/common.proto TlsSessionTicketKeys.keys.
  keys: "session_ticket_keys",
  // tls/v3/common.proto PrivateKeyProvider.typed_config.
  typed_config: "private_key_provider",
};

/** basic_auth/v3/basic_auth.proto: BasicAuth.users and BasicAuthPerRoute.users. */
const BASIC_AUTH_TYPE = /\.basic_auth\.v3\.BasicAuth(PerRoute)?$/;

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function isSensitive(key: string, parentKey: string | undefined, holder: Record<string, unknown>): boolean {
  const name = snake(key);
  if (SENSITIVE_ANYWHERE.has(name)) return true;
  if (parentKey !== undefined && SENSITIVE_IN[name] === snake(parentKey)) return true;
  return name === "users" && typeof holder["@type"] === "string" && BASIC_AUTH_TYPE.test(holder["@type"]);
}

/** A copy of `value` with its sensitive fields redacted (`value` is left as it was). */
export function redactSensitive(value: unknown, sensitive = false, key?: string, parentKey?: string): unknown {
  if (Array.isArray(value)) return value.map((entry) => redactSensitive(entry, sensitive, key, parentKey));
  if (value instanceof Uint8Array) return sensitive ? latin1Encode(REDACTED) : value;
  if (typeof value === "object" && value !== null) {
    const holder = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [field, inner] of Object.entries(holder)) {
      if (field === "@type") {
        out[field] = inner;
        continue;
      }
      const redacted = redactSensitive(inner, sensitive || isSensitive(field, key, holder), field, key);
      if (redacted !== undefined) out[field] = redacted;
    }
    return out;
  }
  if (!sensitive) return value;
  if (typeof value === "string") return key !== undefined && BYTES_FIELDS.has(snake(key)) ? REDACTED_BYTES : REDACTED;
  // Numbers and booleans under a sensitive field are cleared.
  return undefined;
}
