/**
 * Configs this build of polyvoy checked before, kept between starts: a start whose config
 * text was checked by the same build takes the result as it was, without loading or running
 * the checker (zod, the schemas, Envoy's field lists: most of a start's CPU on some runtimes,
 * docs/performance.md). The result is a pure function of the text, its format and the code
 * (the schemas read nothing else), so the same text and the same build give the same config;
 * the adapter keeps entries per build (CheckedConfigStore), and an entry holds the whole text
 * it was made from, compared in full: a name shared by two texts is a miss, never a mix-up.
 * Only valid configs are kept; not one that is not plain data (plain-data-codec.ts), holds a
 * secret inline, or is longer than MAX_CHECKED_TEXT.
 */
import type { ConfigFormat, ValidConfig } from "./config-source.ts";
import type { CheckedConfigStore } from "../port.ts";
import { decodePlainData, encodePlainData } from "./plain-data-codec.ts";

/** The layout of an entry; another one is a miss. */
const ENTRY_VERSION = 2;

/**
 * Larger config texts are not kept: their entry (the text, the document and the bootstrap,
 * ~5× the text) takes longer to write than a start gains by it, which for a config of
 * thousands of routes is mostly building the route tables, not the check (docs/performance.md).
 */
export const MAX_CHECKED_TEXT = 128 * 1024;

/**
 * Fields whose inline value is a secret (envoy.extensions.transport_sockets.tls.v3's
 * private_key, session_ticket_keys; a password): a config holding one inline is not kept,
 * so that no copy of a key outlives the config in $TMPDIR.
 */
const SECRET_FIELDS = new Set(["private_key", "session_ticket_keys", "password"]);

/**
 * A header or metadata entry ({key, value}: request_headers_to_add, header_mutation, ext_authz's
 * headers_to_add and initial_metadata, health checks' headers) whose name says it carries a
 * credential: `authorization: Basic …`, an API key, a token, a cookie.
 */
const CREDENTIAL_HEADER = /auth|token|secret|passw|api[-_]?key|cookie|credential/i;
/** Or whose value is one, whatever its name (`x-upstream: Bearer …`). */
const CREDENTIAL_VALUE = /^\s*(basic|bearer|digest|token|negotiate|aws4-hmac-sha256)\s/i;

/** Whether the document (snake_case keys) holds a secret inline: SECRET_FIELDS with an inline_string or inline_bytes, or a credential header's value. */
export function holdsInlineSecret(document: unknown): boolean {
  const inline = (value: unknown): boolean => {
    if (typeof value !== "object" || value === null) return false;
    if (Array.isArray(value)) return value.some(inline);
    return Object.entries(value).some(([key, item]) => key === "inline_string" || key === "inline_bytes" || inline(item));
  };
  const walk = (value: unknown): boolean => {
    if (typeof value !== "object" || value === null) return false;
    if (Array.isArray(value)) return value.some(walk);
    const entry = value as Record<string, unknown>;
    if (typeof entry["key"] === "string" && "value" in entry && (CREDENTIAL_HEADER.test(entry["key"]) || (typeof entry["value"] === "string" && CREDENTIAL_VALUE.test(entry["value"])))) return true;
    return Object.entries(entry).some(([key, item]) => (SECRET_FIELDS.has(key) ? inline(item) : walk(item)));
  };
  return walk(document);
}

/** An entry's name: a 53-bit hash of the format and the text (cyrb53), as hex. */
export function checkedConfigName(format: ConfigFormat, text: string): string {
  let h1 = 0xdeadbeef ^ text.length;
  let h2 = 0x41c6ce57 ^ (format === "json" ? 1 : 2);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, "0") + (format === "json" ? ".json" : ".yaml") + ".checked";
}

/** Why a valid config is not kept, or undefined when it may be. */
export function notKeptBecause(text: string, config: ValidConfig): string | undefined {
  if (text.length > MAX_CHECKED_TEXT) return `its text is longer than ${MAX_CHECKED_TEXT} characters`;
  if (holdsInlineSecret(config.document)) return "it holds a secret inline";
  // Its entry would serve the file's content as it was (data-source-files.ts): read again at each start instead.
  if (config.readsData !== undefined && config.readsData.length > 0) return `it reads ${config.readsData.join(", ")}`;
  return undefined;
}

/** A config read from an entry, and whether its check needed the RE2 engine (a start loads it then). */
export interface CheckedConfig {
  config: ValidConfig;
  regexEngine: boolean;
}

/**
 * An entry for `config`, checked from `text`: a header line (JSON: the layout, the format,
 * whether the check needed the RE2 engine, the text) and the config (plain-data-codec.ts).
 * Undefined when the config is not plain data. Made right after the check, before anything
 * else holds the config. `regexEngine`: the route table compiles the config's regexes with
 * the engine the check loaded; a regex whose field name the text spells with escapes
 * (`safe_\u0072egex`) is found only by the check, not by mayHoldRegex.
 */
export function checkedConfigEntry(format: ConfigFormat, text: string, config: ValidConfig, regexEngine: boolean): string | undefined {
  const body = encodePlainData({ bootstrap: config.bootstrap, document: config.document });
  if (body === undefined) return undefined;
  // JSON.stringify writes no line break outside a string's escapes: the first "\n" ends the header.
  return `${JSON.stringify({ entry: ENTRY_VERSION, format, regexEngine, text })}\n${body}`;
}

/** The config an entry of `store` holds for exactly this text and format; undefined when there is none or it cannot be read. */
export function readCheckedConfig(store: CheckedConfigStore, format: ConfigFormat, text: string): CheckedConfig | undefined {
  let data: string | undefined;
  try {
    data = store.read(checkedConfigName(format, text));
  } catch {
    return undefined;
  }
  if (data === undefined) return undefined;
  try {
    const newline = data.indexOf("\n");
    if (newline < 0) return undefined;
    const header = JSON.parse(data.slice(0, newline)) as { entry?: unknown; format?: unknown; regexEngine?: unknown; text?: unknown };
    if (header.entry !== ENTRY_VERSION || header.format !== format || header.text !== text || typeof header.regexEngine !== "boolean") return undefined;
    const value = decodePlainData(data.slice(newline + 1)) as Partial<ValidConfig> | null;
    if (value === null || typeof value !== "object" || typeof value.bootstrap !== "object" || value.bootstrap === null) return undefined;
    return { config: { bootstrap: value.bootstrap, document: value.document }, regexEngine: header.regexEngine };
  } catch {
    // A damaged entry (a disk full while it was written by a build without rename): checked again.
    return undefined;
  }
}
