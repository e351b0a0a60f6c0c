/**
 * `access_log` (envoy.config.accesslog.v3.AccessLog) on the HTTP connection manager and
 * tcp_proxy: the file, stdout and stderr loggers with their formats. Every format is
 * compiled here once so that an unknown command operator is a config error at its path.
 * `filter` (filter-schema.ts) decides which streams are logged.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "../config/schema-kit/index.ts";
import { lazySchema } from "../config/lazy-schema.ts";
import type { AccessLogConfig, AccessLogFormatConfig, AccessLogJsonValue, GrpcAccessLogConfig, OpenTelemetryAccessLogConfig } from "../config/bootstrap.ts";
import { headerName } from "../config/proto-schema.ts";
import { dataSource } from "../config/data-source-schema.ts";
import { oneOf } from "../config/proto-schema.ts";
import { utf8ByteString } from "./byte-string.ts";
import { ALL_FORMAT_EXTENSIONS, compileFormat, DEFAULT_FORMAT, FormatError, parseFormat } from "./format.ts";
import { accessLogFilter } from "./filter-schema.ts";
import { resolveEnvironmentCommands } from "./environment-command.ts";
import { missingExtension } from "../config/missing-extension.ts";
import { commonGrpcAccessLogConfigSchema } from "./common-grpc-access-log-schema.ts";
import { openTelemetryAccessLog, OPEN_TELEMETRY_TYPE_URL } from "./open-telemetry-access-log-schema.ts";

const FILE_TYPE_URL = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
const STDOUT_TYPE_URL = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";
const STDERR_TYPE_URL = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog";

const DEFAULT: AccessLogFormatConfig = { type: "text", format: DEFAULT_FORMAT, omitEmptyValues: false };

/** A format string from the config, as UTF-8 bytes, checked by compiling it. */
const formatString = lazySchema(() =>
  z.string().transform((text, ctx) => {
  let bytes = utf8ByteString(text);
  try {
    bytes = resolveEnvironmentCommands(bytes);
    // Every extension's operators here; toFormat checks them against `formatters`.
    parseFormat(bytes, ALL_FORMAT_EXTENSIONS);
  } catch (err) {
    if (!(err instanceof FormatError)) throw err;
    ctx.addIssue({ code: "custom", message: err.message });
    return z.NEVER;
  }
  return bytes;
}));

/**
 * A google.protobuf.Struct format dictionary: keys to format strings, numbers, nested
 * objects or lists. Keys and strings become UTF-8 byte strings; each problem is reported
 * at its own key.
 */
const jsonFormat = lazySchema(() =>
  z.record(z.string(), z.unknown()).transform((struct, ctx) => {
  let ok = true;
  const walk = (value: unknown, path: (string | number)[]): AccessLogJsonValue => {
    if (typeof value === "string") {
      let bytes = utf8ByteString(value);
      try {
        bytes = resolveEnvironmentCommands(bytes);
        parseFormat(bytes, ALL_FORMAT_EXTENSIONS);
      } catch (err) {
        if (!(err instanceof FormatError)) throw err;
        ctx.addIssue({ code: "custom", message: err.message, path });
        ok = false;
      }
      return bytes;
    }
    if (typeof value === "number") return value;
    if (Array.isArray(value)) return value.map((item, i) => walk(item, [...path, i]));
    if (typeof value === "object" && value !== null) {
      const out: { [key: string]: AccessLogJsonValue } = {};
      for (const [key, child] of Object.entries(value)) out[utf8ByteString(key)] = walk(child, [...path, key]);
      return out;
    }
    ctx.addIssue({
      code: "custom",
      message: `only strings, numbers, nested objects and lists are supported in a format dictionary (got ${value === null ? "null" : typeof value})`,
      path,
    });
    ok = false;
    return "";
  };
  const json = walk(struct, []) as { [key: string]: AccessLogJsonValue };
  return ok ? json : z.NEVER;
}));

/** envoy.config.core.v3.DataSource holding a format: inline_string, inline_bytes, filename or environment_variable. */
const textFormatSource = lazySchema(() =>
  z
  .strictObject({ inline_string: z.string().optional(), inline_bytes: z.string().optional(), filename: z.string().optional(), environment_variable: z.string().optional() })
  .transform((source, ctx) => {
    const decoded = dataSource.safeParse(source);
    if (!decoded.success) {
      for (const issue of decoded.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
      return z.NEVER;
    }
    // dataSource gives the bytes as a byte string already (inline_string as UTF-8).
    let format: string;
    try {
      format = resolveEnvironmentCommands(decoded.data);
      parseFormat(format, ALL_FORMAT_EXTENSIONS);
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      const given = (["inline_string", "inline_bytes", "filename", "environment_variable"] as const).find((key) => source[key] !== undefined);
      ctx.addIssue({ code: "custom", message: err.message, path: given === undefined ? [] : [given] });
      return z.NEVER;
    }
    return format;
  }));

const REQ_WITHOUT_QUERY_TYPE_URL = "type.googleapis.com/envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery";
const METADATA_TYPE_URL = "type.googleapis.com/envoy.extensions.formatter.metadata.v3.Metadata";

/** The formatters polyvoy has, by type URL (each message has no fields). */
const FORMATTERS: Record<string, string> = {
  [REQ_WITHOUT_QUERY_TYPE_URL]: "envoy.formatter.req_without_query",
  // Envoy's extensions/formatter/metadata: %METADATA(TYPE:NAMESPACE:KEY*):Z%, which Envoy's
  // own formatter also has built in now (stream_info_formatter.cc), as polyvoy's format.ts:
  // the extension adds no command here, and is taken so that configs naming it load.
  [METADATA_TYPE_URL]: "envoy.formatter.metadata",
};

/**
 * SubstitutionFormatString.formatters (TypedExtensionConfig[]): the extensions' command
 * operators. polyvoy has envoy.formatter.req_without_query and envoy.formatter.metadata (no
 * fields either); any other formatter (cel, …) is refused by its type.
 */
const formatters = lazySchema(() =>
  z
    .array(z.strictObject({ name: z.string().default(""), typed_config: z.looseObject({ "@type": z.string() }) }))
    .superRefine((list, ctx) => {
      list.forEach((formatter, i) => {
        const { "@type": typeUrl, ...fields } = formatter.typed_config;
        const name = FORMATTERS[typeUrl];
        if (name === undefined) {
          ctx.addIssue({ code: "custom", path: [i, "typed_config", "@type"], message: `formatter ${JSON.stringify(typeUrl)} is not one of polyvoy's (${Object.values(FORMATTERS).join(", ")})` });
        } else if (Object.keys(fields).length > 0) {
          ctx.addIssue({ code: "custom", path: [i, "typed_config"], message: `${typeUrl.slice(typeUrl.lastIndexOf(".") + 1)} has no fields (got ${Object.keys(fields).join(", ")})` });
        }
      });
    }));

/** envoy.config.core.v3.SubstitutionFormatString's fields. */
const substitutionFormatFields = lazySchema(() =>
  z
  .strictObject({
    text_format: formatString.optional(),
    json_format: jsonFormat.optional(),
    text_format_source: textFormatSource.optional(),
    omit_empty_values: z.boolean().default(false),
    // Used by local replies; an access log line has no content type. Accepted, as Envoy does.
    content_type: z.string().optional(),
    formatters: formatters.optional(),
    json_format_options: z.strictObject({ sort_properties: z.boolean().default(false) }).optional(),
  }));

function toFormat(f: z.output<typeof substitutionFormatFields>, ctx: z.RefinementCtx): AccessLogFormatConfig {
  const key = oneOf(f, ["text_format", "json_format", "text_format_source"] as const, ctx, true);
  if (key === undefined) return z.NEVER;
  const format: AccessLogFormatConfig =
    key === "json_format"
      ? { type: "json", json: f.json_format!, typed: true, omitEmptyValues: f.omit_empty_values, sortProperties: f.json_format_options?.sort_properties ?? false }
      : { type: "text", format: key === "text_format" ? f.text_format! : f.text_format_source!, omitEmptyValues: f.omit_empty_values };
  // The one formatter that adds a command (the schema refuses any but these two).
  if (f.formatters?.some((formatter) => formatter.typed_config["@type"] === REQ_WITHOUT_QUERY_TYPE_URL)) format.reqWithoutQuery = true;
  // Parsed above with every extension's operators: now with the ones `formatters` has
  // (Envoy refuses %REQ_WITHOUT_QUERY(…)% without its formatter: "Not supported field in StreamInfo").
  try {
    compileFormat(format);
  } catch (err) {
    if (!(err instanceof FormatError)) throw err;
    ctx.addIssue({ code: "custom", message: `${err.message} (its formatter envoy.formatter.req_without_query is not in \`formatters\`)`, path: [key] });
    return z.NEVER;
  }
  return format;
}

/** envoy.config.core.v3.SubstitutionFormatString */
const substitutionFormatString = lazySchema(() =>
  substitutionFormatFields.transform(toFormat));

/**
 * A SubstitutionFormatString as a local reply's body format (local_reply.cc, BodyFormatter):
 * the format, and the content type — content_type if set, else application/json for
 * json_format and text/plain otherwise.
 */
export const bodyFormat = lazySchema(() =>
  substitutionFormatFields.transform((f, ctx): { format: AccessLogFormatConfig; contentType: string } => {
  const format = toFormat(f, ctx);
  return { format, contentType: f.content_type || (format.type === "json" ? "application/json" : "text/plain") };
}));

/** envoy.extensions.access_loggers.file.v3.FileAccessLog */
const fileAccessLog = lazySchema(() =>
  z
  .strictObject({
    path: z.string().min(1),
    // Deprecated in Envoy in favour of log_format; still accepted.
    format: formatString.optional(),
    json_format: jsonFormat.optional(),
    typed_json_format: jsonFormat.optional(),
    log_format: substitutionFormatString.optional(),
  })
  .transform((c, ctx) => {
    const key = oneOf(c, ["format", "json_format", "typed_json_format", "log_format"] as const, ctx, false);
    let format: AccessLogFormatConfig = DEFAULT;
    if (key === "format" && c.format !== "") format = { type: "text", format: c.format!, omitEmptyValues: false };
    else if (key === "json_format" || key === "typed_json_format") {
      format = { type: "json", json: c[key]!, typed: key === "typed_json_format", omitEmptyValues: false, sortProperties: false };
    } else if (key === "log_format") format = c.log_format!;
    return { path: c.path, format };
  }));

/** envoy.extensions.access_loggers.stream.v3.StdoutAccessLog / StderrAccessLog */
function streamAccessLog(path: string) {
  return z
    .strictObject({ log_format: substitutionFormatString.optional() })
    .transform((c) => ({ path, format: c.log_format ?? DEFAULT }));
}

const HTTP_GRPC_TYPE_URL = "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig";
const TCP_GRPC_TYPE_URL = "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.TcpGrpcAccessLogConfig";

const commonGrpcAccessLogConfig = commonGrpcAccessLogConfigSchema({
  timeout: "the access log stream is long-lived: Envoy opens it with no deadline",
  streamRetryPolicy: "the access log stream is reopened on the next flush after a failure, without back-off",
});

const headersToLog = lazySchema(() => z.array(headerName).transform((names) => names.map((n) => n.toLowerCase()))).default([]);

function grpcAccessLog(kind: "http" | "tcp") {
  const common = { common_config: commonGrpcAccessLogConfig };
  const schema =
    kind === "http"
      ? z.strictObject({
          ...common,
          additional_request_headers_to_log: headersToLog,
          additional_response_headers_to_log: headersToLog,
          additional_response_trailers_to_log: headersToLog,
        })
      : z.strictObject(common);
  return schema.transform((c) => {
    const h = c as { additional_request_headers_to_log?: string[]; additional_response_headers_to_log?: string[]; additional_response_trailers_to_log?: string[] };
    const cc = c.common_config;
    const grpc: GrpcAccessLogConfig = {
      kind,
      logName: cc.log_name,
      target: cc.grpc_service.target,
      bufferFlushIntervalMs: cc.buffer_flush_interval,
      bufferSizeBytes: cc.buffer_size_bytes,
      commonConfigKey: JSON.stringify([cc.log_name, cc.grpc_service.target, cc.buffer_flush_interval, cc.buffer_size_bytes]),
      requestHeaders: h.additional_request_headers_to_log ?? [],
      responseHeaders: h.additional_response_headers_to_log ?? [],
      responseTrailers: h.additional_response_trailers_to_log ?? [],
    };
    return { path: "", format: DEFAULT, grpc };
  });
}

type AccessLoggerType = AccessLogConfig["type"];

export const ACCESS_LOGGERS: { [T in AccessLoggerType]: { typeUrl: string; typedConfig: z.ZodType<{ path: string; format: AccessLogFormatConfig; grpc?: GrpcAccessLogConfig; openTelemetry?: OpenTelemetryAccessLogConfig }> } } = {
  "envoy.access_loggers.file": { typeUrl: FILE_TYPE_URL, typedConfig: fileAccessLog },
  "envoy.access_loggers.stdout": { typeUrl: STDOUT_TYPE_URL, typedConfig: lazySchema(() =>
  streamAccessLog("/dev/stdout")) },
  "envoy.access_loggers.stderr": { typeUrl: STDERR_TYPE_URL, typedConfig: lazySchema(() =>
  streamAccessLog("/dev/stderr")) },
  "envoy.access_loggers.http_grpc": { typeUrl: HTTP_GRPC_TYPE_URL, typedConfig: lazySchema(() => grpcAccessLog("http")) },
  "envoy.access_loggers.tcp_grpc": { typeUrl: TCP_GRPC_TYPE_URL, typedConfig: lazySchema(() => grpcAccessLog("tcp")) },
  "envoy.access_loggers.open_telemetry": { typeUrl: OPEN_TELEMETRY_TYPE_URL, typedConfig: openTelemetryAccessLog },
};

/** Older names Envoy still registers (REGISTER_FACTORY's aliases): open_telemetry/config.cc's. */
const LEGACY_NAMES: { readonly [name: string]: AccessLoggerType } = { "envoy.open_telemetry_access_log": "envoy.access_loggers.open_telemetry" };

/** Like filters: the typed_config's "@type" decides when there is one, else the name. */
function accessLoggerType(name: string, typeUrl: string | undefined): AccessLoggerType | undefined {
  if (typeUrl === undefined && Object.hasOwn(LEGACY_NAMES, name)) return LEGACY_NAMES[name];
  for (const [type, kind] of Object.entries(ACCESS_LOGGERS) as [AccessLoggerType, { typeUrl: string }][]) {
    if (typeUrl !== undefined ? kind.typeUrl === typeUrl : type === name) return type;
  }
  return undefined;
}

/** envoy.config.accesslog.v3.AccessLog */
const accessLog = lazySchema(() =>
  z
  .strictObject({
    name: z.string().default(""),
    filter: accessLogFilter.optional(),
    typed_config: z.looseObject({ "@type": z.string().optional() }).optional(),
  })
  .transform((log, ctx): AccessLogConfig => {
    const { "@type": typeUrl, ...fields } = log.typed_config ?? {};
    const type = accessLoggerType(log.name, typeUrl);
    if (type === undefined) {
      ctx.addIssue({ code: "custom", message: missingExtension("access_logger", log.name, typeUrl, Object.keys(ACCESS_LOGGERS)) });
      return z.NEVER;
    }
    const config = ACCESS_LOGGERS[type].typedConfig.safeParse(fields, { reportInput: true });
    if (!config.success) {
      for (const issue of config.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] });
      return z.NEVER;
    }
    // Cannot fail: every format string was compiled above. Kept as a last check.
    try {
      compileFormat(config.data.format);
    } catch (err) {
      if (!(err instanceof FormatError)) throw err;
      ctx.addIssue({ code: "custom", message: err.message, path: ["typed_config"] });
      return z.NEVER;
    }
    const logger: AccessLogConfig = { name: log.name, type, path: config.data.path, format: config.data.format };
    if (config.data.grpc !== undefined) logger.grpc = config.data.grpc;
    if (config.data.openTelemetry !== undefined) logger.openTelemetry = config.data.openTelemetry;
    if (log.filter !== undefined) logger.filter = log.filter;
    return logger;
  }));

/**
 * A file logger in Envoy's default format: what the admin's deprecated `access_log_path`
 * configures (AdminImpl makes a FileAccessLog with the default formatter).
 */
export function defaultFileAccessLog(path: string): AccessLogConfig {
  return { name: "envoy.access_loggers.file", type: "envoy.access_loggers.file", path, format: DEFAULT };
}

/** The `access_log` field: loggers in order. */
export const accessLogs = lazySchema(() =>
  z.array(accessLog)).default([]);
