/**
 * A cluster's load balancing fields (envoy.config.cluster.v3.Cluster): `lb_policy` with
 * its `*_lb_config`, `common_lb_config`, and the newer `load_balancing_policy`
 * (envoy.extensions.load_balancing_policies.*.v3 typed extensions). Both forms produce one
 * `LoadBalancingConfig`, with Envoy's defaults.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { nonEmptyString, optionalBool, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { LbPolicyName, LoadBalancingConfig, SlowStartConfig } from "./bootstrap.ts";
import { durationMs, uint32 } from "./proto-schema.ts";
import { DEFAULT_LOAD_BALANCING } from "./lb-policy-defaults.ts";

export { DEFAULT_LOAD_BALANCING };

/** Ring sizes: Envoy validates `lte: 8388608`. */
const MAX_RING_SIZE = 8_388_608;
/** Maglev table_size: `lte: 5000011` in the extension's validation. */
const MAX_TABLE_SIZE = 5_000_011;

/** A google.protobuf.UInt64Value: JSON carries it as a number or a decimal string. */
const uint64 = lazySchema(() =>
  z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).pipe(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)));

/** google.protobuf.UInt32Value / UInt64Value may also be written as {value: n}. */
function wrapped<T extends z.ZodType<number>>(inner: T) {
  return z.union([inner, strictObject({ value: inner }).transform((w) => (w as unknown as { value: number }).value)]);
}

/** envoy.config.core.v3.RuntimeDouble: default_value, which the runtime's value for runtime_key replaces. */
const runtimeDouble = lazySchema(() =>
  strictObject({ default_value: z.number(), runtime_key: nonEmptyString }));

/** envoy.type.v3.Percent */
const percent = lazySchema(() =>
  strictObject({ value: z.number().min(0).max(100) }).transform((p) => p.value));

/**
 * ZoneAwareLbConfig: used when the bootstrap names a local cluster
 * (cluster_manager.local_cluster_name); without one, as in Envoy, only
 * fail_traffic_on_panic changes anything.
 */
const zoneAwareLbConfig = lazySchema(() =>
  strictObject({
  routing_enabled: percent.optional(),
  min_cluster_size: wrapped(uint64).optional(),
  fail_traffic_on_panic: optionalBool,
}));

/** hash_balance_factor: a UInt32Value, `gte: 100` in Envoy's validation. */
const consistentHashingLbConfig = lazySchema(() =>
  strictObject({
  use_hostname_for_hashing: optionalBool,
  hash_balance_factor: wrapped(uint32.min(100)).optional(),
}));

/**
 * envoy.extensions.load_balancing_policies.common.v3.SlowStartConfig. Envoy falls back to
 * an aggression of 1.0 at pick time (logging an error) when it is not above 0; a config
 * that says so is refused here instead.
 */
const slowStartConfig = lazySchema(() =>
  strictObject({
      slow_start_window: durationMs.optional(),
      aggression: runtimeDouble.optional(),
      min_weight_percent: percent.optional(),
    })
    .superRefine((c, ctx) => {
      if (c.aggression !== undefined && !(c.aggression.default_value > 0)) ctx.addIssue({ code: "custom", path: ["aggression"], message: "aggression must be greater than 0.0" });
    })
    .transform(
      (c): SlowStartConfig => ({
        windowMs: c.slow_start_window ?? 0,
        aggression: c.aggression?.default_value ?? 1,
        ...(c.aggression?.runtime_key ? { aggressionRuntimeKey: c.aggression.runtime_key } : {}),
        // PROTOBUF_PERCENT_TO_DOUBLE_OR_DEFAULT(min_weight_percent, 10)
        minWeightPercent: c.min_weight_percent ?? 10,
      }),
    ));

/** envoy.config.cluster.v3.Cluster.CommonLbConfig */
export const commonLbConfig = lazySchema(() =>
  strictObject({
  healthy_panic_threshold: percent.optional(),
  zone_aware_lb_config: zoneAwareLbConfig.optional(),
  locality_weighted_lb_config: strictObject({}).optional(),
  consistent_hashing_lb_config: consistentHashingLbConfig.optional(),
  // Read by the cluster (schema.ts), not the balancer: Envoy's ClusterInfoImpl::warmHosts.
  ignore_new_hosts_until_first_hc: optionalBool,
}));

const ringHashLbConfig = lazySchema(() =>
  strictObject({
  minimum_ring_size: wrapped(uint64.pipe(z.number().max(MAX_RING_SIZE))).optional(),
  hash_function: z.enum(["XX_HASH", "MURMUR_HASH_2"]).optional(),
  maximum_ring_size: wrapped(uint64.pipe(z.number().max(MAX_RING_SIZE))).optional(),
}));

const maglevLbConfig = lazySchema(() =>
  strictObject({ table_size: wrapped(uint64.pipe(z.number().max(MAX_TABLE_SIZE))).optional() }));

const leastRequestLbConfig = lazySchema(() =>
  strictObject({
  choice_count: wrapped(uint32.min(2)).optional(),
  active_request_bias: runtimeDouble.optional(),
  slow_start_config: slowStartConfig.optional(),
}));

const roundRobinLbConfig = lazySchema(() =>
  strictObject({ slow_start_config: slowStartConfig.optional() }));

/** envoy.extensions.load_balancing_policies.common.v3.LocalityLbConfig (a oneof). */
const localityLbConfig = lazySchema(() =>
  strictObject({
  zone_aware_lb_config: zoneAwareLbConfig.optional(),
  locality_weighted_lb_config: strictObject({}).optional(),
}));

const EXTENSION = "type.googleapis.com/envoy.extensions.load_balancing_policies.";

/** The typed_config of each supported policy, by its type URL. */
export const typedPolicies = {
  [`${EXTENSION}round_robin.v3.RoundRobin`]: lazySchema(() =>
  strictObject({
    "@type": z.string(),
    locality_lb_config: localityLbConfig.optional(),
    slow_start_config: slowStartConfig.optional(),
  })),
  [`${EXTENSION}least_request.v3.LeastRequest`]: lazySchema(() =>
  strictObject({
    "@type": z.string(),
    choice_count: wrapped(uint32.min(2)).optional(),
    active_request_bias: runtimeDouble.optional(),
    locality_lb_config: localityLbConfig.optional(),
    slow_start_config: slowStartConfig.optional(),
  })),
  [`${EXTENSION}random.v3.Random`]: lazySchema(() =>
  strictObject({
    "@type": z.string(),
    locality_lb_config: localityLbConfig.optional(),
  })),
  [`${EXTENSION}ring_hash.v3.RingHash`]: lazySchema(() =>
  strictObject({
    "@type": z.string(),
    hash_function: z.enum(["DEFAULT_HASH", "XX_HASH", "MURMUR_HASH_2"]).optional(),
    minimum_ring_size: wrapped(uint64.pipe(z.number().max(MAX_RING_SIZE))).optional(),
    maximum_ring_size: wrapped(uint64.pipe(z.number().max(MAX_RING_SIZE))).optional(),
    consistent_hashing_lb_config: consistentHashingLbConfig.optional(),
    locality_weighted_lb_config: strictObject({}).optional(),
  })),
  [`${EXTENSION}maglev.v3.Maglev`]: lazySchema(() =>
  strictObject({
    "@type": z.string(),
    table_size: wrapped(uint64.pipe(z.number().max(MAX_TABLE_SIZE))).optional(),
    consistent_hashing_lb_config: consistentHashingLbConfig.optional(),
    locality_weighted_lb_config: strictObject({}).optional(),
  })),
} as const;

type TypedPolicyUrl = keyof typeof typedPolicies;

const POLICY_OF_URL: Record<TypedPolicyUrl, LbPolicyName> = {
  [`${EXTENSION}round_robin.v3.RoundRobin`]: "ROUND_ROBIN",
  [`${EXTENSION}least_request.v3.LeastRequest`]: "LEAST_REQUEST",
  [`${EXTENSION}random.v3.Random`]: "RANDOM",
  [`${EXTENSION}ring_hash.v3.RingHash`]: "RING_HASH",
  [`${EXTENSION}maglev.v3.Maglev`]: "MAGLEV",
};

/** One policy of load_balancing_policy.policies: kept raw, the first supported one is parsed. */
const policyEntry = lazySchema(() =>
  strictObject({
  typed_extension_config: strictObject({
    name: nonEmptyString,
    typed_config: z.looseObject({ "@type": z.string() }),
  }),
}));

/** envoy.config.cluster.v3.LoadBalancingPolicy */
const loadBalancingPolicy = lazySchema(() =>
  strictObject({ policies: z.array(policyEntry).min(1) }));

/** The cluster fields this file owns, spread into the cluster schema. */
export const lbPolicyFields = {
  lb_policy: lazySchema(() =>
  z.enum(["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM", "RING_HASH", "MAGLEV", "CLUSTER_PROVIDED", "LOAD_BALANCING_POLICY_CONFIG"])).default("ROUND_ROBIN"),
  ring_hash_lb_config: ringHashLbConfig.optional(),
  maglev_lb_config: maglevLbConfig.optional(),
  least_request_lb_config: leastRequestLbConfig.optional(),
  round_robin_lb_config: roundRobinLbConfig.optional(),
  common_lb_config: commonLbConfig.optional(),
  load_balancing_policy: loadBalancingPolicy.optional(),
};

type LbFields = { [K in keyof typeof lbPolicyFields]?: z.output<(typeof lbPolicyFields)[K]> };

const POLICY_CONFIG_FIELD: Record<string, LbPolicyName> = {
  ring_hash_lb_config: "RING_HASH",
  maglev_lb_config: "MAGLEV",
  least_request_lb_config: "LEAST_REQUEST",
  round_robin_lb_config: "ROUND_ROBIN",
};

/** Envoy's primality check for the Maglev table size (Primes::isPrime). */
export function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/**
 * The cluster's LoadBalancingConfig from its fields, with issues reported at the field
 * they concern; undefined when every field has Envoy's default (configs without
 * load balancing settings compare as they did).
 */
export function loadBalancingConfig(c: LbFields, ctx: z.RefinementCtx): LoadBalancingConfig | undefined {
  const common = c.common_lb_config;
  const config: LoadBalancingConfig = { ...DEFAULT_LOAD_BALANCING };
  let changed = false;
  if (common?.healthy_panic_threshold !== undefined) {
    // PROTOBUF_PERCENT_TO_ROUNDED_INTEGER_OR_DEFAULT(common_config, healthy_panic_threshold, 100, 50)
    config.healthyPanicThreshold = Math.round(common.healthy_panic_threshold);
    changed = true;
  }
  if (common?.zone_aware_lb_config !== undefined && common.locality_weighted_lb_config !== undefined) {
    ctx.addIssue({ code: "custom", path: ["common_lb_config"], message: "must set only one of zone_aware_lb_config, locality_weighted_lb_config" });
  }
  if (common?.consistent_hashing_lb_config?.use_hostname_for_hashing) {
    config.useHostnameForHashing = true;
    changed = true;
  }
  if (common?.consistent_hashing_lb_config?.hash_balance_factor !== undefined) {
    config.hashBalanceFactor = common.consistent_hashing_lb_config.hash_balance_factor;
    changed = true;
  }

  if (c.load_balancing_policy !== undefined || c.lb_policy === "LOAD_BALANCING_POLICY_CONFIG") {
    // Envoy uses load_balancing_policy when it is set and ignores lb_policy then.
    for (const field of Object.keys(POLICY_CONFIG_FIELD)) {
      if (c[field as keyof LbFields] !== undefined) {
        ctx.addIssue({ code: "custom", path: [field], message: "applies to lb_policy only; with load_balancing_policy, configure the policy's typed_config instead" });
      }
    }
    if (c.load_balancing_policy === undefined) {
      ctx.addIssue({ code: "custom", path: ["load_balancing_policy"], message: "must be set when lb_policy is LOAD_BALANCING_POLICY_CONFIG" });
      return undefined;
    }
    typedPolicy(c.load_balancing_policy.policies, config, ctx);
    return config;
  }

  // CLUSTER_PROVIDED (an aggregate cluster): the cluster picks its hosts; the policy's
  // settings below stay Envoy's defaults, and only healthy_panic_threshold applies.
  const named = c.lb_policy ?? "ROUND_ROBIN";
  if (named !== "CLUSTER_PROVIDED") config.policy = named as LbPolicyName;
  if (config.policy !== "ROUND_ROBIN") changed = true;
  for (const [field, policy] of Object.entries(POLICY_CONFIG_FIELD)) {
    if (c[field as keyof LbFields] !== undefined && policy !== named) {
      ctx.addIssue({ code: "custom", path: [field], message: `applies to lb_policy ${policy} only (lb_policy is ${named})` });
    }
  }
  if (common?.locality_weighted_lb_config !== undefined) {
    config.localityWeighted = true;
    changed = true;
  }
  if (common?.zone_aware_lb_config?.fail_traffic_on_panic) {
    config.failTrafficOnPanic = true;
    changed = true;
  }
  if (common?.zone_aware_lb_config) changed = applyZoneAware(common.zone_aware_lb_config, config) || changed;
  const ring = c.ring_hash_lb_config;
  if (ring) {
    if (ring.minimum_ring_size !== undefined) config.minimumRingSize = ring.minimum_ring_size;
    if (ring.maximum_ring_size !== undefined) config.maximumRingSize = ring.maximum_ring_size;
    if (ring.hash_function !== undefined) config.hashFunction = ring.hash_function;
  }
  const maglev = c.maglev_lb_config;
  if (maglev?.table_size !== undefined) config.tableSize = maglev.table_size;
  const least = c.least_request_lb_config;
  const slowStart = least?.slow_start_config ?? c.round_robin_lb_config?.slow_start_config;
  if (slowStart && slowStart.windowMs > 0) config.slowStart = slowStart;
  if (least?.choice_count !== undefined) config.choiceCount = least.choice_count;
  if (least?.active_request_bias !== undefined) {
    config.activeRequestBias = least.active_request_bias.default_value;
    config.activeRequestBiasRuntimeKey = least.active_request_bias.runtime_key;
    config.activeRequestBiasSet = true;
  }
  checkPolicyConfig(config, ctx, ring ? ["ring_hash_lb_config"] : [], maglev ? ["maglev_lb_config", "table_size"] : []);
  return changed || ring !== undefined || maglev !== undefined || least !== undefined || config.slowStart !== undefined ? config : undefined;
}

/** routing_enabled (PROTOBUF_PERCENT_TO_ROUNDED_INTEGER_OR_DEFAULT, 100) and min_cluster_size (6). */
function applyZoneAware(zone: z.output<typeof zoneAwareLbConfig>, config: LoadBalancingConfig): boolean {
  let changed = false;
  if (zone.routing_enabled !== undefined) {
    config.zoneRoutingEnabled = Math.round(zone.routing_enabled);
    changed = true;
  }
  if (zone.min_cluster_size !== undefined) {
    config.zoneMinClusterSize = zone.min_cluster_size;
    changed = true;
  }
  return changed;
}

/** Envoy's own checks when it builds the balancer (ring_hash_lb.cc, maglev_lb.cc). */
function checkPolicyConfig(config: LoadBalancingConfig, ctx: z.RefinementCtx, ringPath: (string | number)[], tablePath: (string | number)[]): void {
  if (config.policy === "RING_HASH" && config.minimumRingSize > config.maximumRingSize) {
    ctx.addIssue({
      code: "custom",
      path: ringPath,
      message: `ring hash: minimum_ring_size (${config.minimumRingSize}) > maximum_ring_size (${config.maximumRingSize})`,
    });
  }
  if (config.policy === "MAGLEV" && !isPrime(config.tableSize)) {
    ctx.addIssue({ code: "custom", path: tablePath, message: "The table size of maglev must be prime number" });
  }
  if (config.activeRequestBias < 0 || Number.isNaN(config.activeRequestBias)) {
    // Envoy warns and uses 1.0 for a negative bias; a config that says so is refused here instead.
    ctx.addIssue({ code: "custom", path: [], message: "active_request_bias must be greater than or equal to 0.0" });
  }
}

/**
 * load_balancing_policy: the first policy polyvoy implements is used, as Envoy takes the
 * first whose factory is registered; none supported is an error naming them.
 */
function typedPolicy(policies: z.output<typeof policyEntry>[], config: LoadBalancingConfig, ctx: z.RefinementCtx): void {
  const index = policies.findIndex((p) => p.typed_extension_config.typed_config["@type"] in typedPolicies);
  if (index < 0) {
    const names = policies.map((p) => p.typed_extension_config.typed_config["@type"]).join(", ");
    ctx.addIssue({
      code: "custom",
      path: ["load_balancing_policy", "policies"],
      message: `didn't find a supported load balancer policy among [${names}] (supported: ${Object.keys(typedPolicies).join(", ")})`,
    });
    return;
  }
  const entry = policies[index]!.typed_extension_config;
  const url = entry.typed_config["@type"] as TypedPolicyUrl;
  const parsed = typedPolicies[url].safeParse(entry.typed_config);
  const path: (string | number)[] = ["load_balancing_policy", "policies", index, "typed_extension_config", "typed_config"];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) ctx.addIssue({ code: "custom", path: [...path, ...issue.path.map(String)], message: issue.message });
    return;
  }
  const typed = parsed.data as Record<string, unknown> & {
    locality_lb_config?: z.output<typeof localityLbConfig>;
    locality_weighted_lb_config?: object;
    consistent_hashing_lb_config?: z.output<typeof consistentHashingLbConfig>;
    choice_count?: number;
    active_request_bias?: z.output<typeof runtimeDouble>;
    slow_start_config?: SlowStartConfig;
    hash_function?: "DEFAULT_HASH" | "XX_HASH" | "MURMUR_HASH_2";
    minimum_ring_size?: number;
    maximum_ring_size?: number;
    table_size?: number;
  };
  config.policy = POLICY_OF_URL[url];
  // With the typed policies, locality settings come from the policy, not common_lb_config.
  config.useHostnameForHashing = typed.consistent_hashing_lb_config?.use_hostname_for_hashing ?? false;
  config.hashBalanceFactor = typed.consistent_hashing_lb_config?.hash_balance_factor ?? 0;
  if (typed.slow_start_config && typed.slow_start_config.windowMs > 0) config.slowStart = typed.slow_start_config;
  const locality = typed.locality_lb_config;
  if (locality?.zone_aware_lb_config !== undefined && locality.locality_weighted_lb_config !== undefined) {
    ctx.addIssue({ code: "custom", path: [...path, "locality_lb_config"], message: "must set only one of zone_aware_lb_config, locality_weighted_lb_config" });
  }
  config.localityWeighted = locality?.locality_weighted_lb_config !== undefined || typed.locality_weighted_lb_config !== undefined;
  config.failTrafficOnPanic = locality?.zone_aware_lb_config?.fail_traffic_on_panic ?? false;
  if (locality?.zone_aware_lb_config) applyZoneAware(locality.zone_aware_lb_config, config);
  if (typed.choice_count !== undefined) config.choiceCount = typed.choice_count;
  if (typed.active_request_bias !== undefined) {
    config.activeRequestBias = typed.active_request_bias.default_value;
    config.activeRequestBiasRuntimeKey = typed.active_request_bias.runtime_key;
    config.activeRequestBiasSet = true;
  }
  if (typed.hash_function === "MURMUR_HASH_2") config.hashFunction = "MURMUR_HASH_2";
  if (typed.minimum_ring_size !== undefined) config.minimumRingSize = typed.minimum_ring_size;
  if (typed.maximum_ring_size !== undefined) config.maximumRingSize = typed.maximum_ring_size;
  if (typed.table_size !== undefined) config.tableSize = typed.table_size;
  checkPolicyConfig(config, ctx, path, [...path, "table_size"]);
}
