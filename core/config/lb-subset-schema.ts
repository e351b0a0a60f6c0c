/**
 * envoy.config.cluster.v3.Cluster.LbSubsetConfig: the subset load balancer
 * (core/upstream/subset-load-balancer.ts, Envoy's subset_lb.cc). Envoy turns it on only
 * when subset_selectors is not empty; without selectors it changes nothing, here too.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, strictObject } from "./shared-schemas.ts";
import type { LbSubsetConfig } from "./bootstrap.ts";
import { lazySchema } from "./lazy-schema.ts";
import { isFalse, unsupportedField, unsupportedValue } from "./unsupported-field.ts";

/** Cluster.LbSubsetConfig.LbSubsetSelector, with SubsetSelectorImpl's checks (upstream_impl.cc). */
const subsetSelector = lazySchema(() =>
  strictObject({
      keys: z.array(z.string()).default([]),
      fallback_policy: z.enum(["NOT_DEFINED", "NO_FALLBACK", "ANY_ENDPOINT", "DEFAULT_SUBSET", "KEYS_SUBSET"]).default("NOT_DEFINED"),
      fallback_keys_subset: z.array(z.string()).default([]),
      single_host_per_subset: unsupportedField("a subset of one host each, for stateful sessions", isFalse),
    })
    .transform((s, ctx) => {
      const keys = [...new Set(s.keys)].sort();
      const fallbackKeys = [...new Set(s.fallback_keys_subset)].sort();
      if (s.fallback_policy === "KEYS_SUBSET") {
        // Envoy's messages, word for word.
        if (fallbackKeys.length === 0) ctx.addIssue({ code: "custom", message: "fallback_keys_subset cannot be empty", path: ["fallback_keys_subset"] });
        else if (!fallbackKeys.every((k) => keys.includes(k))) ctx.addIssue({ code: "custom", message: "fallback_keys_subset must be a subset of selector keys", path: ["fallback_keys_subset"] });
        else if (fallbackKeys.length === keys.length) ctx.addIssue({ code: "custom", message: "fallback_keys_subset cannot be equal to keys", path: ["fallback_keys_subset"] });
      } else if (s.fallback_keys_subset.length > 0) {
        ctx.addIssue({ code: "custom", message: "fallback_keys_subset applies to fallback_policy KEYS_SUBSET only; it would be ignored", path: ["fallback_keys_subset"] });
      }
      return { keys, fallbackPolicy: s.fallback_policy, ...(s.fallback_policy === "KEYS_SUBSET" ? { fallbackKeysSubset: fallbackKeys } : {}) };
    }),
);

export const lbSubsetConfig = lazySchema(() =>
  strictObject({
      fallback_policy: z.enum(["NO_FALLBACK", "ANY_ENDPOINT", "DEFAULT_SUBSET"]).default("NO_FALLBACK"),
      // google.protobuf.Struct: the labels a host of the default subset has in `envoy.lb`.
      default_subset: z.record(z.string(), z.unknown()).default({}),
      subset_selectors: z.array(subsetSelector).default([]),
      locality_weight_aware: boolFalse,
      scale_locality_weight: boolFalse,
      panic_mode_any: boolFalse,
      list_as_any: boolFalse,
      allow_redundant_keys: boolFalse,
      metadata_fallback_policy: unsupportedValue("supported: METADATA_NO_FALLBACK; FALLBACK_LIST reads fallback_list in the route's metadata_match", (v) => v === "METADATA_NO_FALLBACK"),
    })
    .transform(
      (c): LbSubsetConfig => ({
        fallbackPolicy: c.fallback_policy,
        defaultSubset: Object.entries(c.default_subset),
        selectors: c.subset_selectors,
        localityWeightAware: c.locality_weight_aware,
        scaleLocalityWeight: c.scale_locality_weight,
        panicModeAny: c.panic_mode_any,
        listAsAny: c.list_as_any,
        allowRedundantKeys: c.allow_redundant_keys,
      }),
    ),
);
