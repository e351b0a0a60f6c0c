/**
 * Route conditions on headers and query parameters, compiled once per route into
 * predicates, with Envoy's semantics (source/common/http/header_utility.cc and
 * source/common/router/config_utility.cc).
 */
import type { HeaderMatcherConfig, QueryParameterMatcherConfig, ValueMatchConfig } from "../../config/bootstrap.ts";
import { compileRegex } from "../../config/regex.ts";

/** Anything that answers header lookups by lowercase name (pseudo-headers included). */
export interface HeaderSource {
  header(name: string): string | undefined;
}

/** A query string's parameters: the first value of each name, as Envoy matches only that. */
export type QueryParameters = ReadonlyMap<string, string>;

export type StringMatch = Exclude<ValueMatchConfig, { type: "present" }>;

/** Envoy's StringMatcher as a predicate. */
export function compileStringMatch(kind: StringMatch): (value: string) => boolean {
  if (kind.type === "regex") {
    const compiled = compileRegex(kind.regex);
    if (!compiled.ok) throw new Error(compiled.error); // the config loader already refused it
    const regex = compiled.regex;
    return (value) => regex.fullMatch(value);
  }
  const { type, ignoreCase } = kind;
  const expected = ignoreCase ? kind.value.toLowerCase() : kind.value;
  return (value) => {
    const actual = ignoreCase ? value.toLowerCase() : value;
    switch (type) {
      case "exact":
        return actual === expected;
      case "prefix":
        return actual.startsWith(expected);
      case "suffix":
        return actual.endsWith(expected);
      case "contains":
        return actual.includes(expected);
    }
  };
}

/**
 * Envoy's HeaderMatcher. Several fields of one name are matched as one value joined
 * by "," (the HeaderSource's job).
 */
export function compileHeaderMatcher(config: HeaderMatcherConfig): (headers: HeaderSource) => boolean {
  const { name, invertMatch, kind } = config;
  if (kind.type === "present") {
    // Presence compared with present_match, then inverted.
    return (headers) => (headers.header(name) !== undefined) === kind.present !== invertMatch;
  }
  const test = compileStringMatch(kind);
  // Envoy: a missing header fails a value match even when inverted (only
  // treat_missing_header_as_empty, unsupported here, changes that).
  return (headers) => {
    const value = headers.header(name);
    return value !== undefined && test(value) !== invertMatch;
  };
}

/**
 * Envoy's QueryParameterMatcher: a missing parameter fails a value match; presence
 * checks compare presence with present_match.
 */
export function compileQueryParameterMatcher(config: QueryParameterMatcherConfig): (query: QueryParameters) => boolean {
  const { name, kind } = config;
  if (kind.type === "present") return (query) => query.has(name) === kind.present;
  const test = compileStringMatch(kind);
  return (query) => {
    const value = query.get(name);
    return value !== undefined && test(value);
  };
}

/**
 * The parameters after the first "?", split on "&" and the first "=", not URL-decoded
 * (Envoy's QueryParamsMulti::parseQueryString); a name without "=" has the value "".
 */
export function parseQueryParameters(path: string): QueryParameters {
  const params = new Map<string, string>();
  const start = path.indexOf("?");
  if (start < 0) return params;
  for (const param of path.slice(start + 1).split("&")) {
    const equals = param.indexOf("=");
    const name = equals < 0 ? param : param.slice(0, equals);
    if (!params.has(name)) params.set(name, equals < 0 ? "" : param.slice(equals + 1));
  }
  return params;
}
