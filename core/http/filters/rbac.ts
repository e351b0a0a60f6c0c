/**
 * Envoy's RBAC HTTP filter (source/extensions/filters/http/rbac/rbac_filter.cc): the
 * shadow rules are evaluated and counted only, the enforced rules decide — a denied
 * request gets 403 "RBAC: access denied" (details rbac_access_denied_matched_policy[…]).
 * The results go to the stream's dynamic metadata under "envoy.filters.http.rbac"
 * (shadow_engine_result, shadow_effective_policy_id, enforced_engine_result,
 * enforced_effective_policy_id, each key after its rules' stat prefix), where access logs
 * read them; LOG rules set "envoy.common" access_log_hint. A route's RBACPerRoute
 * replaces the filter's rules. Stats: http.<stat_prefix>.rbac.<rules_stat_prefix>{allowed,denied}
 * and http.<stat_prefix>.rbac.<shadow_rules_stat_prefix>{shadow_allowed,shadow_denied}.
 */
import type { RbacConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Counter } from "../../stats/counter.ts";
import { RbacEngine, type RbacDecision, type RbacInput } from "../../rbac/rbac-engine.ts";
import type { MetadataByNamespace } from "../route/metadata-matcher.ts";
import { RbacMatcherEngine } from "../../rbac/rbac-matcher-engine.ts";
import type { SocketAddress, TlsSession } from "../../port.ts";
import { PerConfig } from "../../util/per-config.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type StreamDecoderFilter,
} from "../filter.ts";
import type { RequestHeaders } from "../message.ts";
import { filterStatsScope, type HttpFilterChainContext } from "./http-filter-registry.ts";
import { sanitizeStatsPrefix } from "../../stats/sanitize-stats-name.ts";

export const RBAC_METADATA_NAMESPACE = "envoy.filters.http.rbac";
/** Where LOG rules put access_log_hint (Envoy's DynamicMetadataKeys::CommonNamespace). */
export const RBAC_COMMON_METADATA_NAMESPACE = "envoy.common";
const ACCESS_DENIED = "RBAC: access denied";

/** Envoy's responseDetail: white space in a policy's name becomes "_", so access log fields stay apart. */
export function rbacResponseDetail(policyId: string): string {
  return `rbac_access_denied_matched_policy[${policyId.replace(/\s/g, "_")}]`;
}

/** One RBAC config's engines and metadata keys (the filter's, or a route's RBACPerRoute). */
export class RbacRules {
  readonly engine: RbacEngine | RbacMatcherEngine | undefined;
  readonly shadowEngine: RbacEngine | RbacMatcherEngine | undefined;
  readonly enforcedResultKey: string;
  readonly enforcedPolicyKey: string;
  readonly shadowResultKey: string;
  readonly shadowPolicyKey: string;

  constructor(config: RbacConfig) {
    this.engine = config.rules ? new RbacEngine(config.rules) : config.matcher && new RbacMatcherEngine(config.matcher);
    this.shadowEngine = config.shadowRules ? new RbacEngine(config.shadowRules) : config.shadowMatcher && new RbacMatcherEngine(config.shadowMatcher);
    this.enforcedResultKey = config.rulesStatPrefix + "enforced_engine_result";
    this.enforcedPolicyKey = config.rulesStatPrefix + "enforced_effective_policy_id";
    this.shadowResultKey = config.shadowRulesStatPrefix + "shadow_engine_result";
    this.shadowPolicyKey = config.shadowRulesStatPrefix + "shadow_effective_policy_id";
  }
}

const RULES = new PerConfig((config: RbacConfig) => new RbacRules(config));

/** What one rbac filter's streams share: its rules and its stats. */
export class RbacFilterConfig {
  readonly rules: RbacRules;
  readonly allowed: Counter;
  readonly denied: Counter;
  readonly shadowAllowed: Counter;
  readonly shadowDenied: Counter;

  constructor(config: RbacConfig, server: ServerContext, chain: HttpFilterChainContext) {
    this.rules = RULES.get(config);
    // Upstream, under the chain's scope (`cluster.<name>.rbac.…` for a cluster's list): Envoy's
    // upstream_rbac/config.cc takes the stats_prefix its owner gives (envoyproxy/envoy#45987).
    const prefix = sanitizeStatsPrefix(`${filterStatsScope(chain)}rbac.`);
    this.allowed = server.stats.counter(prefix + config.rulesStatPrefix + "allowed");
    this.denied = server.stats.counter(prefix + config.rulesStatPrefix + "denied");
    this.shadowAllowed = server.stats.counter(prefix + config.shadowRulesStatPrefix + "shadow_allowed");
    this.shadowDenied = server.stats.counter(prefix + config.shadowRulesStatPrefix + "shadow_denied");
  }
}

const CONFIGS = new PerConfig((config: RbacConfig, server: ServerContext, chain: HttpFilterChainContext) => new RbacFilterConfig(config, server, chain));

export function rbacFilterConfig(config: RbacConfig, server: ServerContext, chain: HttpFilterChainContext): RbacFilterConfig {
  return CONFIGS.get(config, server, chain);
}

export class RbacFilter implements StreamDecoderFilter, RbacInput {
  protected callbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  headers: RequestHeaders | undefined;

  constructor(
    protected readonly config: RbacFilterConfig,
    /** Where the decision's dynamic metadata goes: the upstream filter's is its own (upstream-rbac.ts). */
    private readonly metadataNamespace: string = RBAC_METADATA_NAMESPACE,
  ) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.callbacks = callbacks;
  }

  // ---- RbacInput: what the matchers look at ----
  get directRemoteAddress(): SocketAddress | undefined {
    return this.callbacks.downstreamDirectRemoteAddress;
  }
  get connectionRemoteAddress(): SocketAddress | undefined {
    return this.callbacks.downstreamRemoteAddress;
  }
  get remoteIp(): string {
    return this.callbacks.streamInfo.downstreamRemoteIp;
  }
  get localAddress(): SocketAddress | undefined {
    return this.callbacks.downstreamLocalAddress;
  }
  get tls(): TlsSession | undefined {
    return this.callbacks.downstreamTls;
  }
  /** An HTTP connection manager reads plaintext: its SNI is the one its TLS handshake got. */
  get requestedServerName(): string {
    return this.callbacks.downstreamTls?.serverName ?? "";
  }
  get dynamicMetadata(): MetadataByNamespace {
    return this.callbacks.streamInfo.dynamicMetadata;
  }
  /** The route matched for this request, when there is one (Envoy's info.route()). */
  get route(): RbacInput["route"] {
    return this.callbacks.route?.route;
  }

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    const perRoute = this.callbacks.mostSpecificPerFilterConfig<RbacConfig>();
    const rules = perRoute !== undefined ? RULES.get(perRoute) : this.config.rules;
    const { engine, shadowEngine } = rules;
    if (engine === undefined && shadowEngine === undefined) return FilterHeadersStatus.Continue;
    this.headers = headers;
    const config = this.config;
    const metadata: Record<string, string> = {};
    if (shadowEngine !== undefined) {
      const shadow = shadowEngine.evaluate(this);
      (shadow.allowed ? config.shadowAllowed : config.shadowDenied).inc();
      if (shadow.effectivePolicyId !== "") metadata[rules.shadowPolicyKey] = shadow.effectivePolicyId;
      metadata[rules.shadowResultKey] = shadow.allowed ? "allowed" : "denied";
    }
    if (engine === undefined) {
      this.callbacks.streamInfo.adoptDynamicMetadata(this.metadataNamespace, metadata);
      return FilterHeadersStatus.Continue;
    }
    const decision = engine.evaluate(this);
    this.logHint(decision);
    if (decision.effectivePolicyId !== "") metadata[rules.enforcedPolicyKey] = decision.effectivePolicyId;
    metadata[rules.enforcedResultKey] = decision.allowed ? "allowed" : "denied";
    this.callbacks.streamInfo.adoptDynamicMetadata(this.metadataNamespace, metadata);
    if (decision.allowed) {
      config.allowed.inc();
      return FilterHeadersStatus.Continue;
    }
    config.denied.inc();
    this.callbacks.sendLocalReply(403, ACCESS_DENIED, rbacResponseDetail(decision.effectivePolicyId || "none"));
    return FilterHeadersStatus.StopIteration;
  }

  /** Envoy's LOG action (enforced rules or matcher only): whether it is logged, for access log filters. */
  private logHint(decision: RbacDecision): void {
    if (decision.logHint !== undefined) this.callbacks.streamInfo.setDynamicMetadata(RBAC_COMMON_METADATA_NAMESPACE, { access_log_hint: decision.logHint });
  }

  decodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  decodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  onDestroy(): void {
    this.headers = undefined;
  }
}
