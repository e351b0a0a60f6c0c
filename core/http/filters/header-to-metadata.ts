/**
 * Envoy's header_to_metadata HTTP filter (source/extensions/filters/http/header_to_metadata/
 * header_to_metadata_filter.cc): each request rule (on the request headers) and response rule
 * (on the response headers) reads a header — every field of its name joined by "," — or a
 * cookie's value; when there is one and the rule has on_header_present, or there is none and
 * it has on_header_missing, that KeyValuePair's `value` (else the header's value, through
 * regex_value_rewrite when set) goes to the stream's dynamic metadata under its key, in its
 * namespace (envoy.filters.http.header_to_metadata by default): as a string, or a number
 * (NUMBER; a value that is not one writes nothing), base64-decoded first with BASE64 (an
 * undecodable value writes nothing). An empty value, or one of 8 KiB or more, writes nothing.
 * `remove` removes the header once read. The route's (virtual host's, route configuration's)
 * per-filter Config replaces the filter's, for both directions.
 */
import type { HeaderToMetadataConfig, HeaderToMetadataKeyValue, HeaderToMetadataRule } from "../../config/bootstrap.ts";
import { compileRegex, type CompiledRegex } from "../../config/regex.ts";
import { decodeBase64 } from "../../util/base64.ts";
import { PerConfig } from "../../util/per-config.ts";
import { utf8Decode } from "../../util/utf8.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
  type StreamFilterCallbacks,
} from "../filter.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import { parseCookieValue } from "../hash-policy.ts";

/** HttpFilterNames HeaderToMetadata: the namespace when a KeyValuePair names none. */
export const HEADER_TO_METADATA_NAMESPACE = "envoy.filters.http.header_to_metadata";
/** The filter's MAX_HEADER_VALUE_LEN: a value this long or longer is not written. */
const MAX_HEADER_VALUE_LEN = 8 * 1024;
/** absl::SimpleAtod after StringUtil::trim: a decimal or exponent form, inf, infinity or nan. */
const NUMBER = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)$/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * A regex_value_rewrite's compiled pattern, kept as long as its config (PerConfig): a cache
 * by pattern text would keep every pattern any reload or RDS update ever named until exit.
 */
const rewriteRegexes = new PerConfig((rewrite: RegexRewrite): CompiledRegex => {
  const compiled = compileRegex(rewrite.pattern);
  if (!compiled.ok) throw new Error(compiled.error); // the config loader already refused it
  return compiled.regex;
});

type RegexRewrite = NonNullable<HeaderToMetadataKeyValue["regexRewrite"]>;

/**
 * The rule's header (all its fields joined by ",", removed when `remove`) or cookie; undefined
 * when absent. A pseudo-header (`:path`, `:authority`, `:status`…) is read as Envoy's header
 * map holds it, and never removed: the request or response needs it.
 */
function extract(rule: HeaderToMetadataRule, headers: RequestHeaders | ResponseHeaders): string | undefined {
  if (rule.header !== undefined) {
    if (rule.header.startsWith(":")) return headers.header(rule.header);
    const value = headers.getJoined(rule.header, ",");
    if (value !== undefined && rule.remove) headers.remove(rule.header);
    return value;
  }
  // Envoy's CookieValueSelector: an empty cookie value is no value.
  const value = parseCookieValue(headers, rule.cookie!);
  return value === "" ? undefined : value;
}

/** Envoy's addMetadata: the value as its type says, or undefined when it cannot be one. */
function metadataValue(value: string, pair: HeaderToMetadataKeyValue): string | number | undefined {
  if (value.length >= MAX_HEADER_VALUE_LEN) return undefined;
  if (pair.base64) {
    // Base64::decodeWithoutPadding: padding optional; a length of 1 mod 4 or a stray character fails.
    if (!BASE64.test(value) || value.replace(/=+$/, "").length % 4 === 1) return undefined;
    value = utf8Decode(decodeBase64(value));
    if (value === "") return undefined;
    // Unlike Envoy, which keeps any bytes: a decoded control character (CR, LF, NUL…) would
    // reach text access logs through %DYNAMIC_METADATA% as forged lines; such a value is not set.
    if (/[\x00-\x1f\x7f]/.test(value)) return undefined;
  }
  if (pair.type === "STRING") return value;
  const trimmed = value.trim();
  if (!NUMBER.test(trimmed)) return undefined;
  const lower = trimmed.toLowerCase().replace(/^\+/, "");
  if (lower === "inf" || lower === "infinity") return Infinity;
  if (lower === "-inf" || lower === "-infinity") return -Infinity;
  if (lower.endsWith("nan")) return NaN;
  return Number(trimmed);
}

/** writeHeaderToMetadata: every rule in order, the namespaces' fields set once at the end. */
function writeHeaderToMetadata(headers: RequestHeaders | ResponseHeaders, rules: readonly HeaderToMetadataRule[], callbacks: StreamFilterCallbacks): void {
  let byNamespace: Map<string, Record<string, unknown>> | undefined;
  for (const rule of rules) {
    const found = extract(rule, headers);
    const pair = found !== undefined ? rule.onPresent : rule.onMissing;
    if (pair === undefined) continue;
    // applyKeyValue: the pair's own value, else the header's, rewritten.
    let value = pair.value !== "" ? pair.value : (found ?? "");
    if (pair.value === "" && pair.regexRewrite !== undefined) value = rewriteRegexes.get(pair.regexRewrite).replaceAll(value, pair.regexRewrite.substitution);
    if (value === "") continue;
    const typed = metadataValue(value, pair);
    if (typed === undefined) continue;
    const namespace = pair.namespace === "" ? HEADER_TO_METADATA_NAMESPACE : pair.namespace;
    byNamespace ??= new Map();
    let fields = byNamespace.get(namespace);
    if (fields === undefined) byNamespace.set(namespace, (fields = {}));
    fields[pair.key] = typed;
  }
  if (byNamespace !== undefined) for (const [namespace, fields] of byNamespace) callbacks.streamInfo.setDynamicMetadata(namespace, fields);
}

export class HeaderToMetadataFilter implements StreamFilter {
  private decoderCallbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private encoderCallbacks: EncoderFilterCallbacks | undefined;
  /** Envoy's effective_config_: the route's per-filter Config, else the filter's, chosen once. */
  private effective: HeaderToMetadataConfig | undefined;

  constructor(private readonly config: HeaderToMetadataConfig) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoderCallbacks = callbacks;
  }

  setEncoderFilterCallbacks(callbacks: EncoderFilterCallbacks): void {
    this.encoderCallbacks = callbacks;
  }

  private effectiveConfig(): HeaderToMetadataConfig {
    return (this.effective ??= this.decoderCallbacks.mostSpecificPerFilterConfig<HeaderToMetadataConfig>() ?? this.config);
  }

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    const config = this.effectiveConfig();
    if (config.requestRules.length > 0) writeHeaderToMetadata(headers, config.requestRules, this.decoderCallbacks);
    return FilterHeadersStatus.Continue;
  }

  decodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  decodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  encodeHeaders(headers: ResponseHeaders, _endStream: boolean): FilterHeadersStatus {
    const config = this.effectiveConfig();
    if (config.responseRules.length > 0) writeHeaderToMetadata(headers, config.responseRules, this.encoderCallbacks ?? this.decoderCallbacks);
    return FilterHeadersStatus.Continue;
  }

  encodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  encodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  onDestroy(): void {}
}
