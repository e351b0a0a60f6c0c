/**
 * envoy.config.accesslog.v3.MetadataFilter (Envoy's access_log_impl.cc, MetadataFilter) on
 * the stream's dynamic metadata: when the matcher's `filter` namespace and `path` lead to a
 * value, the record is logged if the matcher's `value` matches it; when they lead nowhere
 * (or there is no matcher), if match_if_key_not_found (default true).
 *
 * The lookup is Envoy's Config::Metadata::metadataValue: each path key is read from a
 * struct; a key missing, or one read from something that is not a struct, is no value.
 * A value found may itself be a struct, a list or null: it is present all the same
 * (Envoy's PresentMatcher is "kind set"), so present_match: true logs it. The matcher's
 * `invert` is not read by Envoy's MetadataFilter; polyvoy refuses it (filter-schema.ts).
 */
import type { AccessLogFilterConfig } from "../config/bootstrap.ts";
import type { AccessLogContext } from "./context.ts";
import { compileValueMatch } from "../http/route/metadata-matcher.ts";

type MetadataFilterConfig = Extract<AccessLogFilterConfig, { type: "metadata" }>;

export function compileMetadataFilter(config: MetadataFilterConfig): (ctx: AccessLogContext) => boolean {
  const { matcher, matchIfKeyNotFound } = config;
  if (matcher === undefined) return () => matchIfKeyNotFound;
  const { filter, path, value } = matcher;
  const matches = compileValueMatch(value);
  return (ctx) => {
    const found = metadataValue(ctx.dynamicMetadata, filter, path);
    return found === NOT_FOUND ? matchIfKeyNotFound : matches(found);
  };
}

const NOT_FOUND: unique symbol = Symbol("not found");

/** Config::Metadata::metadataValue(metadata, filter, path): the value, or NOT_FOUND. */
function metadataValue(metadata: Readonly<Record<string, Readonly<Record<string, unknown>>>> | undefined, filter: string, path: readonly string[]): unknown {
  if (metadata === undefined || !Object.hasOwn(metadata, filter)) return NOT_FOUND;
  let struct: unknown = metadata[filter];
  let value: unknown = NOT_FOUND;
  for (const key of path) {
    if (!isStruct(struct) || !Object.hasOwn(struct, key)) return NOT_FOUND;
    value = struct[key];
    struct = value;
  }
  // A value JSON cannot hold (a filter's undefined) is no value either.
  return value === undefined ? NOT_FOUND : value;
}

function isStruct(value: unknown): value is Readonly<Record<string, unknown>> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
