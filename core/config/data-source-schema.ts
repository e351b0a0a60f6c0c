/**
 * envoy.config.core.v3.DataSource: inline_string, inline_bytes, filename or
 * environment_variable (datasource.cc). A file is read through the port before the check
 * uses it (data-source-files.ts); watched_directory is refused by name (not a field here).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import { utf8Encode } from "../util/utf8.ts";
import * as z from "./schema-kit/index.ts";
import { optionalString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import { decodeBase64 } from "../util/base64.ts";
import { latin1Decode } from "../util/latin1.ts";
import { oneOf } from "./proto-schema.ts";
import { dataSourceEnvironmentVariable, dataSourceFile } from "./data-source-files.ts";

/** proto3 JSON `bytes`: standard or URL-safe base64, padding optional. */
const BASE64 = /^(?:[A-Za-z0-9+/]*|[A-Za-z0-9_-]*)={0,2}$/;

/** proto3 JSON `bytes` (standard or URL-safe base64, padding optional), decoded. */
export const base64Bytes = lazySchema(() =>
  z.string().transform((text, ctx) => {
  const unpadded = text.replace(/=+$/, "");
  if (!BASE64.test(text) || unpadded.length % 4 === 1) {
    ctx.addIssue({ code: "custom", message: "invalid base64" });
    return z.NEVER;
  }
  return decodeBase64(unpadded.replace(/-/g, "+").replace(/_/g, "/"));
}));

/**
 * The data as a byte string (one char ≤ 0xff per byte, as the HTTP/1 codec writes
 * strings): inline_string is sent as UTF-8, inline_bytes as decoded, a file's or an
 * environment variable's bytes as they are. Envoy reads every use here with allow_empty
 * (an empty file is empty data); a file or variable that cannot be read is a problem at
 * its field.
 */
export const dataSource = lazySchema(() =>
  strictObject({ inline_string: optionalString, inline_bytes: base64Bytes.optional(), filename: z.string().min(1).optional(), environment_variable: z.string().min(1).optional() })
  .transform((d, ctx): string => {
    const key = oneOf(d, ["inline_string", "inline_bytes", "filename", "environment_variable"] as const, ctx, true);
    if (key === undefined) return z.NEVER;
    if (key === "filename" || key === "environment_variable") {
      // Undefined: the file is not read yet; the check is run again once it is (data-source-files.ts).
      const read = key === "filename" ? dataSourceFile(d.filename!) : dataSourceEnvironmentVariable(d.environment_variable!);
      if (read === undefined) return "";
      if ("error" in read) {
        ctx.addIssue({ code: "custom", message: read.error, path: [key] });
        return z.NEVER;
      }
      return read.data;
    }
    const bytes = key === "inline_bytes" ? d.inline_bytes! : utf8Encode(d.inline_string!);
    return latin1Decode(bytes, 0, bytes.length);
  }));

