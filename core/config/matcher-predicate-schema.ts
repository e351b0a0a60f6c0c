/**
 * xds.type.matcher.v3.Matcher.MatcherList.Predicate: one of single_predicate, or_matcher,
 * and_matcher (each of at least two predicates) and not_matcher, as Envoy's
 * source/common/matcher/matcher.h builds it. The single predicate's schema is the caller's
 * (its inputs and value matchers differ per filter: rbac, custom_response).
 */
import * as z from "./schema-kit/index.ts";
import { strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import { oneOf } from "./proto-schema.ts";

/** A predicate tree over single predicates of type S. */
export type PredicateTree<S> =
  | S
  | { type: "and" | "or"; predicates: PredicateTree<S>[] }
  | { type: "not"; predicate: PredicateTree<S> };

const PREDICATES = ["single_predicate", "or_matcher", "and_matcher", "not_matcher"] as const;

/** Call it at module scope (lazySchema's stand-in). */
export function predicateTree<S>(single: z.ZodType<S>): z.ZodType<PredicateTree<S>> {
  const tree: z.ZodType<PredicateTree<S>> = lazySchema(() =>
    strictObject({
      single_predicate: single.optional(),
      or_matcher: strictObject({ predicate: z.array(tree).min(2) }).optional(),
      and_matcher: strictObject({ predicate: z.array(tree).min(2) }).optional(),
      not_matcher: tree.optional(),
    })
    .transform((p, ctx): PredicateTree<S> => {
      switch (oneOf(p, PREDICATES, ctx, true)) {
        case "single_predicate":
          return p.single_predicate!;
        case "or_matcher":
          return { type: "or", predicates: p.or_matcher!.predicate };
        case "and_matcher":
          return { type: "and", predicates: p.and_matcher!.predicate };
        case "not_matcher":
          return { type: "not", predicate: p.not_matcher! };
        default:
          return z.NEVER;
      }
    }));
  return tree;
}
