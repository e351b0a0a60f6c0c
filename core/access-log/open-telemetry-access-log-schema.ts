/**
 * envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig (the
 * envoy.access_loggers.open_telemetry logger, open-telemetry-access-log.ts), the fields of
 * Envoy's API as polyvoy's pinned protos have it: common_config (required there),
 * resource_attributes, body, attributes, disable_builtin_labels, stat_prefix. `formatters`
 * and the fields later Envoy versions added are refused by name.
 *
 * body and attributes are OpenTelemetry AnyValues whose strings are access log formats:
 * Envoy's FormatBuilder takes only strings, kvlists and arrays there (any other kind is its
 * "Only string values, nested key value lists and array values are supported …" error).
 * resource_attributes are sent as written: strings, booleans, integers, doubles, arrays and
 * kvlists (bytes_value is refused).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "../config/schema-kit/index.ts";
import { lazySchema } from "../config/lazy-schema.ts";
import type { AccessLogFormatConfig, OpenTelemetryAccessLogConfig, OtlpAnyValueConfig, OtlpKeyValueConfig } from "../config/bootstrap.ts";
import { unsupportedField } from "../config/unsupported-field.ts";
import { utf8ByteString } from "./byte-string.ts";
import { commonGrpcAccessLogConfigSchema } from "./common-grpc-access-log-schema.ts";
import { DEFAULT_FORMAT, FormatError, parseFormat } from "./format.ts";
import { resolveEnvironmentCommands } from "./environment-command.ts";
import { ONLY_STRINGS_LISTS_ARRAYS } from "./open-telemetry-formatter.ts";

export const OPEN_TELEMETRY_TYPE_URL = "type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig";

/** Export calls are unary: grpc_service.timeout is each one's deadline, retry_policy retries it. */
const commonConfig = commonGrpcAccessLogConfigSchema({
  timeout: "taken",
  retryPolicy: "taken",
  // Envoy's UnaryGrpcAccessLogClient retries each export with it (GrpcCommon::optionalRetryPolicy).
  streamRetryPolicy: "it retries each export in Envoy: set grpc_service.retry_policy, which polyvoy applies to the export calls",
});

const ANY_VALUE_KEYS = ["string_value", "bool_value", "int_value", "double_value", "array_value", "kvlist_value", "bytes_value"] as const;

type Mode = "format" | "literal";
type Report = (message: string, path: (string | number)[]) => void;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An AnyValue at `path`; undefined when it has a problem (reported) — or, with `unsetOk`, none set. */
function anyValue(value: unknown, path: (string | number)[], mode: Mode, report: Report, unsetOk = false): OtlpAnyValueConfig | undefined | "unset" {
  if (!isObject(value)) {
    report("must be an AnyValue (an object with one of string_value, kvlist_value, array_value…)", path);
    return undefined;
  }
  const keys = Object.keys(value);
  for (const key of keys) {
    if (!(ANY_VALUE_KEYS as readonly string[]).includes(key)) {
      report(`unknown field "${key}" of an AnyValue (opentelemetry.proto.common.v1.AnyValue has ${ANY_VALUE_KEYS.join(", ")})`, [...path, key]);
      return undefined;
    }
  }
  if (keys.length === 0) {
    if (unsetOk) return "unset";
    report(mode === "format" ? ONLY_STRINGS_LISTS_ARRAYS : "must set one of string_value, bool_value, int_value, double_value, array_value, kvlist_value", path);
    return undefined;
  }
  if (keys.length > 1) {
    report(`${keys.join(" and ")} are one of: set one`, path);
    return undefined;
  }
  const key = keys[0]!;
  const inner = value[key];
  const at = [...path, key];
  switch (key) {
    case "string_value":
      if (typeof inner !== "string") return report("must be a string", at), undefined;
      if (mode === "literal") return { kind: "string", value: inner };
      return formatString(inner, at, report);
    case "array_value":
    case "kvlist_value": {
      if (!isObject(inner)) return report(`must be an object with "values"`, at), undefined;
      for (const k of Object.keys(inner)) if (k !== "values") return report(`unknown field "${k}"`, [...at, k]), undefined;
      const values = inner.values ?? [];
      if (!Array.isArray(values)) return report("must be a list", [...at, "values"]), undefined;
      if (key === "kvlist_value") {
        const list = keyValues(values, [...at, "values"], mode, report);
        return list === undefined ? undefined : { kind: "kvlist", values: list };
      }
      const items: OtlpAnyValueConfig[] = [];
      let ok = true;
      values.forEach((item, i) => {
        const v = anyValue(item, [...at, "values", i], mode, report);
        if (v === undefined || v === "unset") ok = false;
        else items.push(v);
      });
      return ok ? { kind: "array", values: items } : undefined;
    }
  }
  if (mode === "format") return report(ONLY_STRINGS_LISTS_ARRAYS, at), undefined;
  switch (key) {
    case "bool_value":
      return typeof inner === "boolean" ? { kind: "bool", value: inner } : (report("must be a boolean", at), undefined);
    case "int_value": {
      // int64: a number or its decimal string (protobuf's JSON mapping).
      const n = typeof inner === "string" && /^-?\d+$/.test(inner) ? Number(inner) : inner;
      return typeof n === "number" && Number.isSafeInteger(n) ? { kind: "int", value: n } : (report("must be an integer (within ±2^53)", at), undefined);
    }
    case "double_value":
      return typeof inner === "number" ? { kind: "double", value: inner } : (report("must be a number", at), undefined);
    default:
      report("is an Envoy field that polyvoy does not support yet (bytes_value in resource_attributes: use string_value)", at);
      return undefined;
  }
}

/** A format string, as UTF-8 bytes, checked by parsing it (no formatter extensions: `formatters` is refused). */
function formatString(text: string, path: (string | number)[], report: Report): OtlpAnyValueConfig | undefined {
  let bytes = utf8ByteString(text);
  try {
    bytes = resolveEnvironmentCommands(bytes);
    parseFormat(bytes);
  } catch (err) {
    if (!(err instanceof FormatError)) throw err;
    report(err.message, path);
    return undefined;
  }
  return { kind: "string", value: bytes };
}

/** KeyValue { key, value } entries of a KeyValueList. */
function keyValues(values: readonly unknown[], path: (string | number)[], mode: Mode, report: Report): OtlpKeyValueConfig[] | undefined {
  const out: OtlpKeyValueConfig[] = [];
  let ok = true;
  values.forEach((entry, i) => {
    const at = [...path, i];
    if (!isObject(entry)) return (ok = false), report("must be a KeyValue (key, value)", at);
    for (const k of Object.keys(entry)) if (k !== "key" && k !== "value") return (ok = false), report(`unknown field "${k}" of a KeyValue`, [...at, k]);
    const key = entry.key ?? "";
    if (typeof key !== "string") return (ok = false), report("must be a string", [...at, "key"]);
    const value = anyValue(entry.value ?? {}, [...at, "value"], mode, report);
    if (value === undefined || value === "unset") return (ok = false);
    out.push({ key, value });
  });
  return ok ? out : undefined;
}

/** A KeyValueList ({ values: [...] }). */
function keyValueList(mode: Mode) {
  return lazySchema(() =>
    z.unknown().transform((list, ctx): OtlpKeyValueConfig[] => {
      const report: Report = (message, path) => ctx.addIssue({ code: "custom", message, path });
      if (!isObject(list)) return report("must be a KeyValueList (an object with \"values\")", []), z.NEVER;
      for (const k of Object.keys(list)) if (k !== "values") return report(`unknown field "${k}" of a KeyValueList`, [k]), z.NEVER;
      const values = list.values ?? [];
      if (!Array.isArray(values)) return report("must be a list", ["values"]), z.NEVER;
      return keyValues(values, ["values"], mode, report) ?? z.NEVER;
    }));
}

const body = lazySchema(() =>
  z.unknown().transform((value, ctx): OtlpAnyValueConfig | undefined => {
    // Envoy formats the body only when its value is set (access_log_impl.cc).
    const parsed = anyValue(value, [], "format", (message, path) => ctx.addIssue({ code: "custom", message, path }), true);
    if (parsed === "unset") return undefined;
    return parsed ?? z.NEVER;
  }));

const NEWER = "a field of later Envoy versions than polyvoy's pinned API: use common_config";

export const openTelemetryAccessLog = lazySchema(() =>
  z
    .strictObject({
      common_config: commonConfig,
      disable_builtin_labels: z.boolean().default(false),
      resource_attributes: keyValueList("literal").optional(),
      body: body.optional(),
      attributes: keyValueList("format").optional(),
      stat_prefix: z.string().default(""),
      formatters: unsupportedField("formatter extensions are not offered to the OpenTelemetry access logger's formats", (v) => Array.isArray(v) && v.length === 0),
      http_service: unsupportedField("OTLP/HTTP export: use common_config.grpc_service (OTLP/gRPC)"),
      grpc_service: unsupportedField(NEWER),
      log_name: unsupportedField(NEWER),
      buffer_flush_interval: unsupportedField(NEWER),
      buffer_size_bytes: unsupportedField(NEWER),
      filter_state_objects_to_log: unsupportedField("polyvoy's stream info keeps no serializable filter state objects", (v) => Array.isArray(v) && v.length === 0),
      custom_tags: unsupportedField("custom tags are not computed for access log entries", (v) => Array.isArray(v) && v.length === 0),
      resource_detectors: unsupportedField("resource detectors", (v) => Array.isArray(v) && v.length === 0),
    })
    .transform((c): { path: string; format: AccessLogFormatConfig; openTelemetry: OpenTelemetryAccessLogConfig } => {
      const cc = c.common_config;
      const fields = {
        logName: cc.log_name,
        target: cc.grpc_service.target,
        timeoutMs: cc.grpc_service.timeoutMs,
        bufferFlushIntervalMs: cc.buffer_flush_interval,
        bufferSizeBytes: cc.buffer_size_bytes,
        disableBuiltinLabels: c.disable_builtin_labels,
        resourceAttributes: c.resource_attributes ?? [],
        body: c.body,
        attributes: c.attributes ?? [],
        statPrefix: c.stat_prefix,
      };
      return { path: "", format: { type: "text", format: DEFAULT_FORMAT, omitEmptyValues: false }, openTelemetry: { ...fields, key: JSON.stringify(fields) } };
    }));
