/**
 * Configs this build of polyvoy checked before, kept between starts: a start whose config
 * text was checked by the same build takes the result as it was, without loading or running
 * the checker (zod, the schemas, Envoy's field lists: most of a start's CPU on some runtimes,
 * docs/performance.md). The result is a pure function of the text, its format and the code
 * (the schemas read nothing else), so the same text and the same build give the same config;
 * the adapter keeps entries per build (CheckedConfigStore), and an entry holds the whole text
 * it was made from, compared in full: a name shared by two texts is a miss, never a mix-up.
 * Only valid configs are kept; one that is not plain data (plain-data-codec.ts) is not kept.
 */
import type { ConfigFormat, ValidConfig } from "./config-source.ts";
import type { CheckedConfigStore } from "../port.ts";
import { decodePlainData, encodePlainData } from "./plain-data-codec.ts";

/** The layout of an entry; another one is a miss. */
const ENTRY_VERSION = 1;

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

/**
 * An entry for `config`, checked from `text`: a header line (JSON: the layout, the format,
 * the text) and the config (plain-data-codec.ts). Undefined when the config is not plain data.
 * Made right after the check, before anything else holds the config.
 */
export function checkedConfigEntry(format: ConfigFormat, text: string, config: ValidConfig): string | undefined {
  const body = encodePlainData({ bootstrap: config.bootstrap, document: config.document });
  if (body === undefined) return undefined;
  // JSON.stringify writes no line break outside a string's escapes: the first "\n" ends the header.
  return `${JSON.stringify({ entry: ENTRY_VERSION, format, text })}\n${body}`;
}

/** The config an entry of `store` holds for exactly this text and format; undefined when there is none or it cannot be read. */
export function readCheckedConfig(store: CheckedConfigStore, format: ConfigFormat, text: string): ValidConfig | undefined {
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
    const header = JSON.parse(data.slice(0, newline)) as { entry?: unknown; format?: unknown; text?: unknown };
    if (header.entry !== ENTRY_VERSION || header.format !== format || header.text !== text) return undefined;
    const value = decodePlainData(data.slice(newline + 1)) as Partial<ValidConfig> | null;
    if (value === null || typeof value !== "object" || typeof value.bootstrap !== "object" || value.bootstrap === null) return undefined;
    return { bootstrap: value.bootstrap, document: value.document };
  } catch {
    // A damaged entry (a disk full while it was written by a build without rename): checked again.
    return undefined;
  }
}
