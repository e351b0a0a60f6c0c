/**
 * The HCM's tracing custom_tags on a span being finished (Envoy: source/common/tracing/
 * custom_tag_impl.cc, applied by TracerUtility::finalizeSpan in tracer_impl.cc after every
 * tag of its own, so a custom tag named as one of those replaces it).
 *
 * - literal: its value.
 * - environment: the variable read once, when the HCM's tracing is first used (Envoy reads
 *   it with getenv when the config is built), else default_value.
 * - request_header: the request's first value of the header, else default_value.
 * - metadata: a value of the request's dynamic metadata, the route's, the cluster's (polyvoy
 *   takes no cluster metadata: never found) or the upstream host's, as
 *   Config::Metadata::metadataValue finds it (the namespace, then each path key); a string as
 *   it is, a bool as true/false, a number as absl::StrCat writes a double (%g, six digits),
 *   a list or struct as its JSON; else (missing, null) default_value.
 * - value: an access-log format string (FormatterCustomTag: omit_empty_values, so an unset
 *   operator prints "" where a log line has "-") on the stream as its access log sees it.
 *
 * A tag whose value is empty and has no default is not set (CustomTagBase::applySpan).
 * Values are handed to the span as text: header values and a format's output are bytes
 * here, decoded as UTF-8, so the tracer's own encoding does not encode them twice.
 */
import type { CustomTagConfig, FilterMetadata, TracingConfig } from "../config/bootstrap.ts";
import type { RequestHeaders } from "../http/message.ts";
import type { StreamInfo } from "../http/stream-info.ts";
import { formatDouble, formatG } from "../grpc-json/number-format.ts";
import type { TracingSpan } from "./span.ts";
import type { Runtime } from "../port.ts";
import type { AccessLogContext } from "../access-log/context.ts";
import { compileTextFormat, type AccessLogFormatter } from "../access-log/format.ts";
import { byteStringText } from "../access-log/byte-string.ts";
import { quoteText } from "../grpc-json/json-escape.ts";

/** What the HCM's stream gives its custom tags beside the request and stream info. */
export interface CustomTagStream {
  /** The route's metadata.filter_metadata; undefined without a route or metadata. */
  readonly routeMetadata: FilterMetadata | undefined;
  /** The stream as its access log sees it (a formatter tag's input); made only when asked. */
  formatterContext(): AccessLogContext;
}

/** What a custom tag reads its value from (Envoy's CustomTagContext). */
export interface CustomTagContext {
  /** Undefined when no request head was parsed. */
  readonly request: RequestHeaders | undefined;
  readonly info: StreamInfo;
  readonly stream: CustomTagStream;
}

/** A custom tag ready to apply: an environment tag's variable already read, a format compiled. */
export type CustomTag =
  | Exclude<CustomTagConfig, { kind: "environment" | "value" }>
  | { tag: string; kind: "resolved"; value: string }
  | { tag: string; kind: "formatter"; formatter: AccessLogFormatter };

/** The environment variables as the port gives them (Runtime.environmentVariable, optional). */
export type EnvironmentReader = Pick<Runtime, "environmentVariable">;

const compiled = new WeakMap<object, WeakMap<TracingConfig, readonly CustomTag[]>>();

/**
 * The HCM's custom tags for `server` (its runtime reads the environment), each environment
 * variable read on first use and kept as long as the config (EnvironmentCustomTag's
 * constructor: a variable changed later changes no tag).
 */
export function customTagsFor(server: object, tracing: TracingConfig, environment: EnvironmentReader): readonly CustomTag[] {
  const tags = tracing.customTags;
  if (tags === undefined) return [];
  let byConfig = compiled.get(server);
  if (byConfig === undefined) compiled.set(server, (byConfig = new WeakMap()));
  let made = byConfig.get(tracing);
  if (made === undefined) byConfig.set(tracing, (made = compileCustomTags(tags, environment)));
  return made;
}

export function compileCustomTags(tags: readonly CustomTagConfig[], environment: EnvironmentReader): CustomTag[] {
  return tags.map((t): CustomTag => {
    if (t.kind === "environment") return { tag: t.tag, kind: "resolved", value: environment.environmentVariable?.(t.name) ?? t.defaultValue };
    // FormatterCustomTag: FormatterImpl::create(value, omit_empty_values = true).
    if (t.kind === "value") return { tag: t.tag, kind: "formatter", formatter: compileTextFormat(t.format, true) };
    return t;
  });
}

/** Every tag, in order, on `span`. */
export function applyCustomTags(span: TracingSpan, tags: readonly CustomTag[], ctx: CustomTagContext): void {
  let formatterContext: AccessLogContext | undefined;
  for (const t of tags) {
    switch (t.kind) {
      case "literal":
      case "resolved":
        if (t.value !== "") span.setTag(t.tag, t.value);
        break;
      case "request_header": {
        // A header value is bytes (one char per byte); the default is text from the config.
        const header = requestHeader(ctx.request, t.name);
        const value = header !== undefined ? byteStringText(header) : t.defaultValue;
        if (value !== "") span.setTag(t.tag, value);
        break;
      }
      case "metadata": {
        // MetadataCustomTag::applySpan: a value found is set even when empty (the tracer decides).
        const value = metadataToString(metadataValue(metadataOf(ctx, t.source), t.key, t.path));
        if (value !== undefined) span.setTag(t.tag, value);
        else if (t.defaultValue !== "") span.setTag(t.tag, t.defaultValue);
        break;
      }
      case "formatter": {
        // The formatter writes bytes (the format itself is kept as UTF-8 bytes): back to text.
        const value = byteStringText(t.formatter.format((formatterContext ??= ctx.stream.formatterContext())));
        if (value !== "") span.setTag(t.tag, value);
        break;
      }
    }
  }
}

/** The first value of the field; a pseudo-header (`:path`) as the request has it. */
function requestHeader(request: RequestHeaders | undefined, name: string): string | undefined {
  if (request === undefined) return undefined;
  return name.startsWith(":") ? request.header(name) : request.get(name);
}

/** MetadataCustomTag::metadata: which metadata the kind names. */
function metadataOf(ctx: CustomTagContext, source: "request" | "route" | "cluster" | "host"): FilterMetadata | undefined {
  switch (source) {
    case "request":
      return ctx.info.dynamicMetadata;
    case "route":
      return ctx.stream.routeMetadata;
    case "cluster":
      // Cluster.metadata is refused by polyvoy's config: a cluster has none to find.
      return undefined;
    case "host":
      return ctx.info.upstreamHost !== "" ? ctx.info.upstreamHostMetadata : undefined;
  }
}

/** Config::Metadata::metadataValue: the namespace's struct, then one key per path segment, each but the last a struct; undefined when any is missing. */
function metadataValue(metadata: FilterMetadata | undefined, key: string, path: readonly string[]): unknown {
  const namespace = metadata?.[key];
  if (namespace === undefined || path.length === 0) return undefined;
  let struct: Readonly<Record<string, unknown>> | undefined = namespace;
  let value: unknown;
  for (const segment of path) {
    if (struct === undefined || !Object.hasOwn(struct, segment)) return undefined;
    value = struct[segment];
    struct = isStruct(value) ? value : undefined;
  }
  return value;
}

function isStruct(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** MetadataCustomTag::metadataToString; undefined for a null (or missing) value. */
function metadataToString(value: unknown): string | undefined {
  switch (typeof value) {
    case "string":
      return value;
    case "boolean":
      return value ? "true" : "false";
    case "number":
      // absl::StrCat(double): SixDigitsToBuffer, printf's %g.
      return value === 0 ? (Object.is(value, -0) ? "-0" : "0") : Number.isFinite(value) ? formatG(value, 6) : String(value).toLowerCase().replace("infinity", "inf");
    case "object":
      return value === null ? undefined : protoJson(value);
    default:
      return undefined;
  }
}

/**
 * A list or struct as MessageUtil::getJsonStringFromMessage writes it: protobuf's JSON,
 * compact, a struct's keys sorted, numbers as protobuf writes a double (SimpleDtoa), strings
 * and keys escaped as its writer escapes them (json/internal/writer.cc MustEscape: < and >,
 * 0x7f-0x9f, invisible and formatting characters as \uXXXX; & and / as they are).
 */
function protoJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => protoJson(item ?? null)).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    const fields: string[] = [];
    for (const key of Object.keys(record).sort()) {
      if (record[key] !== undefined) fields.push(`${quoteText(key)}:${protoJson(record[key])}`);
    }
    return `{${fields.join(",")}}`;
  }
  if (typeof value === "number") return formatDouble(value);
  if (typeof value === "string") return quoteText(value);
  if (typeof value === "boolean") return value ? "true" : "false";
  return "null";
}
