/**
 * Envoy's default tag extraction (`TagNameValues` in well_known_names.cc), as the
 * Prometheus output uses it: each rule's regex is matched against the full stat name;
 * its first capture group is cut from the name and the second (or the first, when
 * there is only one) becomes the tag's value. So `cluster.backend.upstream_rq_200`
 * becomes `cluster.upstream_rq` with envoy.response_code="200" and
 * envoy.cluster_name="backend".
 *
 * Only the rules for stats polyvoy has (or soon will) are listed, in Envoy's order.
 * stats_config (Envoy's TagProducerImpl) drops them (use_all_default_tags: false) and
 * adds its stats_tags after them: a regex of the same form, a fixed value every stat
 * carries, or a default rule by name.
 */
import type { StatsConfig } from "../config/bootstrap.ts";

export interface Tag {
  readonly name: string;
  readonly value: string;
}

export interface TaggedName {
  /** The name with the tag values cut out (Envoy's "tag extracted name"). */
  readonly name: string;
  readonly tags: readonly Tag[];
}

interface Rule {
  readonly name: string;
  readonly regex?: RegExp;
  /** A substring the name must contain for the rule to apply (Envoy's fast pre-check). */
  readonly substr?: string;
  /** A fixed_value tag: every stat has it, and its name is not changed (TagExtractorFixedImpl). */
  readonly fixedValue?: string;
}

// The `d` flag gives capture group positions (what Envoy cuts out of the name).
const RULES: readonly Rule[] = [
  // *_rq(_<response_code>)
  { name: "envoy.response_code", regex: /_rq(_(\d{3}))$/d, substr: "_rq_" },
  // *_rq_(<response_code_class>)xx
  { name: "envoy.response_code_class", regex: /_rq_(\d)xx$/d, substr: "_rq_" },
  // cluster.[<route_target_cluster>.]grpc.[<grpc_service>.](<grpc_method>.)<base_stat>
  { name: "envoy.grpc_bridge_method", regex: /^cluster(?=\.).*?\.grpc(?=\.).*\.((.*?)\.)\w+?$/d, substr: ".grpc." },
  // http.[<stat_prefix>.]user_agent.(<user_agent>.)<base_stat>
  { name: "envoy.http_user_agent", regex: /^http(?=\.).*?\.user_agent\.((.*?)\.)\w+?$/d, substr: ".user_agent." },
  // vhost.[<virtual host name>.]vcluster.(<virtual_cluster_name>.)<base_stat>
  { name: "envoy.virtual_cluster", regex: /^vhost(?=\.).*?\.vcluster\.((.*?)\.)\w+?$/d, substr: ".vcluster." },
  // cluster.[<route_target_cluster>.]grpc.(<grpc_service>.)*
  { name: "envoy.grpc_bridge_service", regex: /^cluster(?=\.).*?\.grpc\.((.*?)\.)/d, substr: ".grpc." },
  // tcp.(<stat_prefix>.)<base_stat>
  { name: "envoy.tcp_prefix", regex: /^tcp\.((.*?)\.)\w+?$/d },
  // cluster.(<cluster_name>.)*
  { name: "envoy.cluster_name", regex: /^cluster\.((.*?)\.)/d },
  // listener.[<address>.]http.(<stat_prefix>.)*
  { name: "envoy.http_conn_manager_prefix", regex: /^listener(?=\.).*?\.http\.((.*?)\.)/d, substr: ".http." },
  // http.(<stat_prefix>.)*
  { name: "envoy.http_conn_manager_prefix", regex: /^http\.((.*?)\.)/d },
  // listener.(<address>.)* — an IPv4 or IPv6 address with its port (127.0.0.1_10000)
  { name: "envoy.listener_address", regex: /^listener\.(((?:[_.\d]*|[_\[\]aAbBcCdDeEfF\d]*))\.)/d },
  // vhost.(<virtual host name>.)*
  { name: "envoy.virtual_host", regex: /^vhost\.((.*?)\.)/d },
];

/** The default tags' names (a stats_tags entry without regex names one of them). */
export const DEFAULT_TAG_NAMES: readonly string[] = [...new Set(RULES.map((rule) => rule.name))];

/** The rules stats_config asks for (Envoy's TagProducerImpl constructor). */
function rulesOf(config: StatsConfig | undefined): readonly Rule[] {
  if (config === undefined) return RULES;
  const rules: Rule[] = config.useAllDefaultTags ? [...RULES] : [];
  for (const spec of config.statsTags) {
    if ("fixedValue" in spec) rules.push({ name: spec.tagName, fixedValue: spec.fixedValue });
    // Envoy runs these with std::regex_search (ECMAScript syntax): a JavaScript RegExp, unanchored.
    else if ("regex" in spec) rules.push({ name: spec.tagName, regex: new RegExp(spec.regex, "d") });
    else rules.push(...RULES.filter((rule) => rule.name === spec.tagName));
  }
  return rules;
}

/**
 * Extracts tags from stat names, remembering each answer (stat names are few and never
 * change; the cache is bounded by the number of stats).
 */
export class TagExtractor {
  private readonly cache = new Map<string, TaggedName>();
  private readonly rules: readonly Rule[];

  constructor(config?: StatsConfig) {
    this.rules = rulesOf(config);
  }

  extract(statName: string): TaggedName {
    let tagged = this.cache.get(statName);
    if (!tagged) {
      tagged = extractTags(statName, this.rules);
      this.cache.set(statName, tagged);
    }
    return tagged;
  }
}

export function extractTags(statName: string, rules: readonly Rule[] = RULES): TaggedName {
  const tags: Tag[] = [];
  const cuts: [number, number][] = [];
  const seen = new Set<string>();
  for (const rule of rules) {
    // One value per tag name: the first rule that matches wins (Envoy's TagProducer).
    if (seen.has(rule.name)) continue;
    if (rule.fixedValue !== undefined) {
      tags.push({ name: rule.name, value: rule.fixedValue });
      seen.add(rule.name);
      continue;
    }
    if (rule.substr !== undefined && !statName.includes(rule.substr)) continue;
    const match = rule.regex!.exec(statName);
    if (!match?.indices) continue;
    const remove = match.indices[1];
    if (!remove) continue;
    const value = match[2] ?? match[1] ?? "";
    tags.push({ name: rule.name, value });
    seen.add(rule.name);
    cuts.push(remove);
  }
  if (cuts.length === 0) return { name: statName, tags };
  // Cut every removed span (they may touch or overlap) from the original name.
  const keep = new Uint8Array(statName.length).fill(1);
  for (const [start, end] of cuts) keep.fill(0, start, end);
  let name = "";
  for (let i = 0; i < statName.length; i++) if (keep[i]) name += statName[i];
  return { name, tags };
}
