/**
 * envoy.extensions.filters.http.header_mutation.v3.HeaderMutation and
 * HeaderMutationPerRoute: the header_mutation HTTP filter's config
 * (core/http/filters/header-mutation.ts). Header mutations only: query parameter and
 * trailer mutations are refused by name.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { HeaderMutationConfig, HeaderMutationRule, HeaderMutationRules } from "./bootstrap.ts";
import { headerValueOption, removableHeader } from "./custom-headers-schema.ts";
import { oneOf } from "./proto-schema.ts";
import { isEmptyList, unsupportedField } from "./unsupported-field.ts";

export const HEADER_MUTATION_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation";
export const HEADER_MUTATION_PER_ROUTE_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute";

/** envoy.config.common.mutation_rules.v3.HeaderMutation: oneof remove, append (remove_on_match is refused). */
const headerMutationRule = lazySchema(() =>
  strictObject({
    remove: removableHeader.optional(),
    append: headerValueOption.optional(),
    remove_on_match: unsupportedField("use remove"),
  })
  .transform((m, ctx): HeaderMutationRule => {
    const key = oneOf(m, ["remove", "append"] as const, ctx, true);
    if (key === "remove") return { remove: m.remove! };
    if (key === "append") return { append: m.append! };
    return z.NEVER;
  }));

/** envoy.extensions.filters.http.header_mutation.v3.Mutations */
const mutations = lazySchema(() =>
  strictObject({
    request_mutations: z.array(headerMutationRule).default([]),
    response_mutations: z.array(headerMutationRule).default([]),
    query_parameter_mutations: unsupportedField(undefined, isEmptyList),
    request_trailers_mutations: unsupportedField(undefined, isEmptyList),
    response_trailers_mutations: unsupportedField(undefined, isEmptyList),
  })
  .transform((m): HeaderMutationRules => ({ request: m.request_mutations, response: m.response_mutations })));

const NO_MUTATIONS: HeaderMutationRules = { request: [], response: [] };

export const headerMutationConfig: z.ZodType<HeaderMutationConfig> = lazySchema(() =>
  strictObject({
    mutations: mutations.optional(),
    most_specific_header_mutations_wins: boolFalse,
  })
  .transform((c): HeaderMutationConfig => ({ mutations: c.mutations ?? NO_MUTATIONS, mostSpecificHeaderMutationsWins: c.most_specific_header_mutations_wins })));

/** HeaderMutationPerRoute: its mutations. */
export const headerMutationPerRouteConfig: z.ZodType<HeaderMutationRules> = lazySchema(() =>
  strictObject({ mutations: mutations.optional() })
  .transform((c) => c.mutations ?? NO_MUTATIONS));
