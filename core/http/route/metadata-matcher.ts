import type { MetadataMatcherConfig, ValueMatcherConfig } from "../../config/bootstrap.ts";
import { compileStringMatch } from "./header-matcher.ts";

/** Metadata by filter namespace, as StreamInfo keeps the dynamic metadata. */
export type MetadataByNamespace = Readonly<Record<string, Readonly<Record<string, unknown>>>> | undefined;

/**
 * Envoy's Matchers::MetadataMatcher (source/common/common/matchers.cc): the value at
 * `path` in the `filter` namespace (through nested structs), matched by the ValueMatcher,
 * the result inverted with `invert`. A path that leads nowhere has no value: no matcher
 * matches it (so `invert` makes it a match).
 */
export function compileMetadataMatcher(config: MetadataMatcherConfig): (metadata: MetadataByNamespace) => boolean {
  const matches = compileValueMatch(config.value);
  return (metadata) => {
    // Own keys only: a namespace or key named `__proto__` or `toString` is no value.
    let value: unknown = metadata !== undefined && Object.hasOwn(metadata, config.filter) ? metadata[config.filter] : undefined;
    for (const key of config.path) {
      value = isStruct(value) && Object.hasOwn(value, key) ? value[key] : undefined;
    }
    return matches(value) !== config.invert;
  };
}

export function compileValueMatch(match: ValueMatcherConfig): (value: unknown) => boolean {
  switch (match.type) {
    case "null":
      return (value) => value === null;
    case "bool":
      return (value) => value === match.value;
    case "double_exact":
      return (value) => typeof value === "number" && value === match.value;
    case "double_range":
      // envoy.type.v3.DoubleRange: [start, end).
      return (value) => typeof value === "number" && value >= match.start && value < match.end;
    case "present":
      // Envoy's PresentMatcher (common/matchers.cc): `present_match && kind_case() != KIND_NOT_SET`,
      // so any value found matches, a struct or a list too (the proto's comment says otherwise;
      // Envoy's code decides); present_match false matches nothing.
      return (value) => match.present && value !== undefined;
    case "string": {
      const matches = compileStringMatch(match.match);
      return (value) => typeof value === "string" && matches(value);
    }
    case "list": {
      // Envoy's ListMatcher: a list value one of whose elements matches; anything else does not.
      const matches = compileValueMatch(match.oneOf);
      return (value) => Array.isArray(value) && value.some(matches);
    }
    case "or": {
      // Envoy's OrMatcher: any of its matchers.
      const matchers = match.matchers.map(compileValueMatch);
      return (value) => matchers.some((matches) => matches(value));
    }
  }
}

function isStruct(value: unknown): value is Readonly<Record<string, unknown>> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
