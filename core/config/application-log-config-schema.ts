/**
 * envoy.config.bootstrap.v3.Bootstrap.ApplicationLogConfig: the application log's line
 * format from the bootstrap, as `--log-format` gives it on the command line (core/log.ts,
 * its flags). log_format is a oneof, required:
 * - text_format: the spdlog format itself;
 * - json_format: a google.protobuf.Struct whose JSON text is the format, flags in its
 *   string values (Envoy's Logger::Registry::setJsonLogFormat, source/common/common/logger.cc:
 *   MessageToJsonString, with its escapes: util/protobuf-json-escape.ts). Keys sorted: a
 *   Struct's map is printed in its hash map's order, which nothing specifies, so polyvoy
 *   sorts them for a line that does not change from run to run. %v and %_, which
 *   would break the JSON, are refused with its message). As Envoy's, every %j becomes %+
 *   (the message without its connection and stream tags, escaped for a JSON string) and
 *   the object's last `}` `%*}` (those tags as properties: `"ConnectionId":"12"`,
 *   `"StreamId":"3"`; core/log.ts).
 * Applied at start (core/main.ts); with `--log-format` too it is Envoy's error
 * (Server::Utility::assertExclusiveLogFormatMethod, source/server/utils.cc).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import { oneOf } from "./proto-schema.ts";
import { compileLogFormat } from "../log.ts";
import { sortedJson } from "../util/sorted-json.ts";
import { escapeAsProtobufJson } from "../util/protobuf-json-escape.ts";


/** ApplicationLogConfig.LogFormat → the format string (what `--log-format` would be). */
const logFormat = lazySchema(() =>
  strictObject({
    json_format: z.record(z.string(), z.unknown()).optional(),
    text_format: z.string().optional(),
  })
  .transform((f, ctx) => {
    const key = oneOf(f, ["json_format", "text_format"] as const, ctx, true);
    if (key === undefined) return z.NEVER;
    let format = f.text_format ?? "";
    if (key === "json_format") {
      format = escapeAsProtobufJson(sortedJson(f.json_format));
      for (const flag of ["%v", "%_"]) {
        if (format.includes(flag)) {
          ctx.addIssue({ code: "custom", path: ["json_format"], message: `setJsonLogFormat error: INVALID_ARGUMENT: Usage of ${flag} is unavailable for JSON log formats` });
          return z.NEVER;
        }
      }
      const end = format.lastIndexOf("}");
      format = (format.slice(0, end) + "%*}" + format.slice(end + 1)).replaceAll("%j", "%+");
    }
    try {
      compileLogFormat(format);
    } catch (err) {
      ctx.addIssue({ code: "custom", path: [key], message: (err as Error).message });
      return z.NEVER;
    }
    return format;
  }));

/** Bootstrap.application_log_config: the format string its log_format gives, or none. */
export const applicationLogConfig = lazySchema(() =>
  strictObject({ log_format: logFormat.optional() }).transform((c) => c.log_format));
