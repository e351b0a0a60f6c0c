/**
 * Envoy's RBAC network filter (source/extensions/filters/network/rbac/rbac_filter.cc):
 * on the connection's first data (enforcement_type ONE_TIME_ON_FIRST_BYTE) the shadow
 * rules are evaluated and counted, and the enforced rules decide — a denied connection
 * is closed before any byte reaches the next filter (tcp_proxy, the HCM). With CONTINUOUS
 * both are evaluated again on every read, each evaluation counted (allowed, denied, shadow_*)
 * and the shadow result written again, so a rule on dynamic metadata an earlier filter sets
 * later (postgres_proxy's per query) closes the connection at the read that makes it match,
 * whatever went before. With delay_deny a denied connection is not closed at once: its
 * reads stop (what it already sent is dropped) and a timer closes it after the delay,
 * cancelled if it closes first (Envoy's is_delay_denied_ / delay_timer_). Header and path
 * rules never match a connection. Stats: <stat_prefix>.rbac.<rules_stat_prefix>{allowed,denied},
 * <stat_prefix>.rbac.<shadow_rules_stat_prefix>{shadow_allowed,shadow_denied}.
 */
import type { NetworkRbacConfig } from "../config/bootstrap.ts";
import type { ServerContext } from "../server-context.ts";
import type { Counter } from "../stats/counter.ts";
import type { SocketAddress, TlsSession } from "../port.ts";
import { RbacEngine, type RbacInput } from "../rbac/rbac-engine.ts";
import type { Timer, TimerTarget, Timers } from "../event/timers.ts";
import type { Connection, ConnectionCallbacks, ConnectionEvent } from "./connection.ts";
import { FilterStatus, type ReadFilter } from "./filter.ts";
import type { ReadBuffer } from "./read-buffer.ts";
import { sanitizeStatsPrefix } from "../stats/sanitize-stats-name.ts";

/** The network filter's dynamic metadata namespace (Envoy's NetworkFilterNames::get().Rbac). */
export const NETWORK_RBAC_METADATA_NAMESPACE = "envoy.filters.network.rbac";
/** The RBAC engine's LOG action writes here (Envoy's DynamicMetadataKeys::CommonNamespace). */
const RBAC_COMMON_METADATA_NAMESPACE = "envoy.common";

/** What one network rbac filter config shares across its connections. */
export class NetworkRbacConfigState {
  readonly engine: RbacEngine | undefined;
  readonly shadowEngine: RbacEngine | undefined;
  readonly allowed: Counter;
  readonly denied: Counter;
  readonly shadowAllowed: Counter;
  readonly shadowDenied: Counter;
  /** The shadow result's dynamic metadata keys (Envoy's shadowEngineResultField / shadowEffectivePolicyIdField). */
  readonly shadowResultKey: string;
  readonly shadowPolicyKey: string;
  /** enforcement_type CONTINUOUS. */
  readonly continuous: boolean;
  /** delay_deny in ms (0: close at once), and the timers its delay runs on. */
  readonly delayDenyMs: number;
  readonly timers: Timers;

  constructor(config: NetworkRbacConfig, context: ServerContext) {
    this.continuous = config.continuous;
    this.delayDenyMs = config.delayDenyMs;
    this.timers = context.timers;
    this.shadowResultKey = config.shadowRulesStatPrefix + "shadow_engine_result";
    this.shadowPolicyKey = config.shadowRulesStatPrefix + "shadow_effective_policy_id";
    this.engine = config.rules && new RbacEngine(config.rules);
    this.shadowEngine = config.shadowRules && new RbacEngine(config.shadowRules);
    const prefix = sanitizeStatsPrefix(`${config.statPrefix}${config.statPrefix.endsWith(".") ? "" : "."}rbac.`);
    this.allowed = context.stats.counter(prefix + config.rulesStatPrefix + "allowed");
    this.denied = context.stats.counter(prefix + config.rulesStatPrefix + "denied");
    this.shadowAllowed = context.stats.counter(prefix + config.shadowRulesStatPrefix + "shadow_allowed");
    this.shadowDenied = context.stats.counter(prefix + config.shadowRulesStatPrefix + "shadow_denied");
  }
}

const enum Decision {
  Unknown,
  Allow,
  Deny,
}

export class NetworkRbacFilter implements ReadFilter, RbacInput, ConnectionCallbacks, TimerTarget {
  private decision = Decision.Unknown;
  /** The delay_deny timer while a denied connection waits for its close. */
  private delayTimer: Timer | undefined;
  readonly headers = undefined;
  readonly remoteIp = "";
  /** A connection has no route: sourced_metadata ROUTE never matches it (matchers.cc). */
  readonly route = undefined;

  constructor(
    private readonly state: NetworkRbacConfigState,
    private readonly connection: Connection,
  ) {
    // Only a delayed deny has something to undo when the connection closes first.
    if (state.delayDenyMs > 0) connection.addConnectionCallbacks(this);
  }

  get directRemoteAddress(): SocketAddress | undefined {
    return this.connection.directRemoteAddress;
  }
  /** source_ip and remote_ip: for a connection both are its remote address (a PROXY header's client). */
  get connectionRemoteAddress(): SocketAddress | undefined {
    return this.connection.remoteAddress;
  }
  get localAddress(): SocketAddress | undefined {
    return this.connection.localAddress;
  }
  get tls(): TlsSession | undefined {
    return this.connection.socket.tls;
  }
  get requestedServerName(): string {
    return this.connection.requestedServerName || (this.connection.socket.tls?.serverName ?? "");
  }
  /** The connection's: what listener and network filters before this one set. */
  get dynamicMetadata(): RbacInput["dynamicMetadata"] {
    return this.connection.dynamicMetadata;
  }

  initializeReadFilterCallbacks(): void {}

  onNewConnection(): FilterStatus {
    return FilterStatus.Continue;
  }

  onData(buffer: ReadBuffer, _endStream: boolean): FilterStatus {
    // Envoy's onData: CONTINUOUS checks both engines on every call; ONE_TIME_ON_FIRST_BYTE once.
    if (this.decision === Decision.Unknown || (this.state.continuous && this.decision === Decision.Allow)) this.decide();
    if (this.decision === Decision.Allow) return FilterStatus.Continue;
    // Denied: what it sends goes nowhere.
    buffer.drainAll();
    return FilterStatus.StopIteration;
  }

  private decide(): void {
    const state = this.state;
    if (state.shadowEngine !== undefined) {
      const shadow = state.shadowEngine.evaluate(this);
      (shadow.allowed ? state.shadowAllowed : state.shadowDenied).inc();
      // Envoy's RoleBasedAccessControlFilter::setDynamicMetadata: the shadow result on the
      // connection, for access logs (%DYNAMIC_METADATA(envoy.filters.network.rbac:…)%).
      const metadata: Record<string, string> = {};
      if (shadow.effectivePolicyId !== "") metadata[state.shadowPolicyKey] = shadow.effectivePolicyId;
      metadata[state.shadowResultKey] = shadow.allowed ? "allowed" : "denied";
      this.connection.setDynamicMetadata(NETWORK_RBAC_METADATA_NAMESPACE, metadata);
    }
    if (state.engine === undefined) {
      this.decision = Decision.Allow;
      return;
    }
    const decision = state.engine.evaluate(this);
    // The engine's LOG action (engine_impl.cc generateLog, enforced rules only): envoy.common access_log_hint.
    if (decision.logHint !== undefined) this.connection.setDynamicMetadata(RBAC_COMMON_METADATA_NAMESPACE, { access_log_hint: decision.logHint });
    if (decision.allowed) {
      state.allowed.inc();
      this.decision = Decision.Allow;
      return;
    }
    state.denied.inc();
    this.decision = Decision.Deny;
    // Envoy's network RBAC filter: setConnectionTerminationDetails(responseDetail(policy id)), "none" without one.
    this.connection.terminationDetails = `rbac_access_denied_matched_policy[${decision.effectivePolicyId === "" ? "none" : decision.effectivePolicyId.replace(/\s/g, "_")}]`;
    if (state.delayDenyMs > 0) {
      // Envoy's delay_deny: reads stop (readDisable(true)) and a timer closes the connection
      // later; the denied bytes of this read are dropped by onData.
      this.connection.readDisable(true);
      this.delayTimer = state.timers.create(this);
      this.delayTimer.enable(state.delayDenyMs);
      return;
    }
    this.closeConnection();
  }

  /** @internal The delay_deny delay passed. */
  onTimer(): void {
    this.delayTimer = undefined;
    this.closeConnection();
  }

  /**
   * Envoy's closeConnection: close(NoFlush, "rbac_deny_close"): under CONTINUOUS the upstream
   * may have answered earlier reads; what is still queued for the client is dropped, not sent.
   */
  private closeConnection(): void {
    this.connection.close("NoFlush");
  }

  /** The connection closed before the delay passed: the timer goes (Envoy's resetTimerState). */
  onEvent(event: ConnectionEvent): void {
    if (event === "Connected") return;
    this.delayTimer?.disable();
    this.delayTimer = undefined;
  }

  onAboveWriteBufferHighWatermark(): void {}
  onBelowWriteBufferLowWatermark(): void {}
}
