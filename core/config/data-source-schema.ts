/** envoy.config.core.v3.DataSource, inline forms only (no filename, no environment_variable). */
// Namespace import: under one runtime, vitest's module loader drops zod's `z` named export.
import * as z from "zod";
import { decodeBase64 } from "../util/base64.ts";
import { latin1Decode } from "../util/latin1.ts";
import { oneOf } from "./proto-schema.ts";

/** proto3 JSON `bytes`: standard or URL-safe base64, padding optional. */
const BASE64 = /^(?:[A-Za-z0-9+/]*|[A-Za-z0-9_-]*)={0,2}$/;

const base64Bytes = z.string().transform((text, ctx) => {
  const unpadded = text.replace(/=+$/, "");
  if (!BASE64.test(text) || unpadded.length % 4 === 1) {
    ctx.addIssue({ code: "custom", message: "invalid base64" });
    return z.NEVER;
  }
  return decodeBase64(unpadded.replace(/-/g, "+").replace(/_/g, "/"));
});

/**
 * The data as a byte string (one char ≤ 0xff per byte, as the HTTP/1 codec writes
 * strings): inline_string is sent as UTF-8, inline_bytes as decoded.
 */
export const dataSource = z
  .strictObject({ inline_string: z.string().optional(), inline_bytes: base64Bytes.optional() })
  .transform((d, ctx): string => {
    const key = oneOf(d, ["inline_string", "inline_bytes"] as const, ctx, true);
    if (key === undefined) return z.NEVER;
    const bytes = key === "inline_bytes" ? d.inline_bytes! : utf8Encode(d.inline_string!);
    return latin1Decode(bytes, 0, bytes.length);
  });

/** UTF-8 without TextEncoder, which the core's ES2022 library does not declare. */
function utf8Encode(text: string): Uint8Array {
  const out: number[] = [];
  for (const char of text) {
    let c = char.codePointAt(0)!;
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate, as TextEncoder does
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  return Uint8Array.from(out);
}
