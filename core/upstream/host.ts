import type { FilterMetadata } from "../config/bootstrap.ts";
import { formatAddress } from "../network/address.ts";
import { NULL_DETECTOR_HOST_MONITOR, NULL_HEALTH_CHECK_HOST_MONITOR, type DetectorHostMonitor, type HealthCheckHostMonitor } from "./host-monitors.ts";

/**
 * Envoy's per-host stats (`HostStats`, shown by the admin's /clusters): plain numbers
 * held by the host, not in the stats store — as in Envoy, /reset_counters leaves them.
 * Updated by the HTTP/1 pools (connections and requests) and tcp_proxy (connections).
 */
export class HostStats {
  cxConnectFail = 0;
  cxTotal = 0;
  cxActive = 0;
  rqError = 0;
  rqSuccess = 0;
  rqTimeout = 0;
  rqTotal = 0;
  rqActive = 0;

  /** Counters then gauges, each by Envoy's name: /clusters prints them sorted by name. */
  counters(): [string, number][] {
    return [
      ["cx_connect_fail", this.cxConnectFail],
      ["cx_total", this.cxTotal],
      ["rq_error", this.rqError],
      ["rq_success", this.rqSuccess],
      ["rq_timeout", this.rqTimeout],
      ["rq_total", this.rqTotal],
    ];
  }

  gauges(): [string, number][] {
    return [
      ["cx_active", this.cxActive],
      ["rq_active", this.rqActive],
    ];
  }
}

/**
 * Why a host is not healthy, as bits (Envoy's `Host::HealthFlag`, upstream.h). A host
 * with none set is healthy; /clusters prints the set ones by Envoy's names.
 */
export const enum HealthFlag {
  /** The host is currently failing active health checks. */
  FailedActiveHc = 0x01,
  /** The host is currently considered an outlier and has been ejected. */
  FailedOutlierCheck = 0x02,
  /** The host was marked unhealthy by its endpoint's `health_status`. */
  FailedEdsHealth = 0x04,
  /** The host is degraded, as reported by its active health check. */
  DegradedActiveHc = 0x08,
  /** The host is degraded, as reported by its endpoint's `health_status`. */
  DegradedEdsHealth = 0x10,
  /** Removed from discovery but kept while active health checking still passes it. */
  PendingDynamicRemoval = 0x20,
  /** Not yet checked by active health checking (`ignore_new_hosts_until_first_hc`). */
  PendingActiveHc = 0x40,
  /** Excluded from balancing because active health checking is in progress. */
  ExcludedViaImmediateHcFail = 0x80,
  /** The active health check timed out (set with FailedActiveHc). */
  ActiveHcTimeout = 0x100,
  /** The endpoint's `health_status` is DRAINING: unhealthy and excluded from balancing. */
  EdsStatusDraining = 0x200,
}

/** Flag → Envoy's /clusters text (HostUtility::healthFlagsToString), in Envoy's order. */
const HEALTH_FLAG_NAMES: readonly [HealthFlag, string][] = [
  [HealthFlag.FailedActiveHc, "/failed_active_hc"],
  [HealthFlag.FailedOutlierCheck, "/failed_outlier_check"],
  [HealthFlag.FailedEdsHealth, "/failed_eds_health"],
  [HealthFlag.DegradedActiveHc, "/degraded_active_hc"],
  [HealthFlag.DegradedEdsHealth, "/degraded_eds_health"],
  [HealthFlag.PendingDynamicRemoval, "/pending_dynamic_removal"],
  [HealthFlag.PendingActiveHc, "/pending_active_hc"],
  [HealthFlag.ExcludedViaImmediateHcFail, "/excluded_via_immediate_hc_fail"],
  [HealthFlag.ActiveHcTimeout, "/active_hc_timeout"],
  [HealthFlag.EdsStatusDraining, "/eds_status_draining"],
];

const UNHEALTHY_FLAGS = HealthFlag.FailedActiveHc | HealthFlag.FailedOutlierCheck | HealthFlag.FailedEdsHealth | HealthFlag.EdsStatusDraining;
/**
 * Flags that take a host out of load balancing altogether (upstream_impl.cc,
 * excludeBasedOnHealthFlag): an excluded host counts neither as available nor in the
 * total a priority level's health and panic are computed from.
 */
const EXCLUDED_FLAGS = HealthFlag.PendingActiveHc | HealthFlag.ExcludedViaImmediateHcFail | HealthFlag.EdsStatusDraining;
const DEGRADED_FLAGS = HealthFlag.DegradedActiveHc | HealthFlag.DegradedEdsHealth;

/** A host's health for load balancing (Envoy's `Host::Health`). */
export const enum HostHealth {
  Unhealthy,
  Degraded,
  Healthy,
}

/** envoy.config.core.v3.Locality: empty strings when unset, as Envoy prints them. */
export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subZone: string;
}

export const NO_LOCALITY: Locality = { region: "", zone: "", subZone: "" };

/** What a host is made of besides its address (all optional: a STATIC endpoint needs none). */
export interface HostOptions {
  /** The endpoint's `hostname`, or the DNS name it was resolved from (/clusters `hostname`). */
  readonly hostname?: string;
  /** `load_balancing_weight` of the endpoint (1–128 in Envoy's validation; default 1). */
  readonly weight?: number;
  readonly priority?: number;
  readonly locality?: Locality;
  /** Initial health flags (an endpoint's `health_status` UNHEALTHY → FailedEdsHealth). */
  readonly healthFlags?: number;
  /** health_check_config.port_value: the port active health checks connect to (0: the serving port). */
  readonly healthCheckPort?: number;
  /** health_check_config.hostname: the Host of HTTP health checks without http_health_check.host. */
  readonly healthCheckHostname?: string;
  /** LbEndpoint.metadata's filter_metadata. */
  readonly metadata?: FilterMetadata;
  /** The endpoint is a Unix domain socket (Address.pipe): `address` is its path, the port 0. */
  readonly pipe?: boolean;
  /** The metadata of its LocalityLbEndpoints. */
  readonly localityMetadata?: FilterMetadata;
}

const NO_METADATA: FilterMetadata = {};

/** One upstream endpoint of a cluster (Envoy's `Upstream::Host`). */
export class Host {
  readonly stats = new HostStats();
  readonly hostname: string;
  /** Mutable: a DNS refresh or EDS update may change it without replacing the host. */
  weight: number;
  priority: number;
  readonly locality: Locality;
  /**
   * The endpoint's filter_metadata (Envoy's Host::metadata): `envoy.lb` keys place it in
   * subsets (subset-load-balancer.ts); %UPSTREAM_METADATA% and omit_host_metadata read it.
   * Replaced, not edited, by an EDS update that changes it (Envoy updates it in place too).
   */
  metadata: FilterMetadata;
  /** Its locality's filter_metadata (Envoy's Host::localityMetadata). */
  localityMetadata: FilterMetadata;
  /** HealthFlag bits; set and cleared by health checking and outlier detection. */
  private flags: number;
  /** Where the router reports results (outlier-detection.ts sets a real one). */
  outlierDetector: DetectorHostMonitor = NULL_DETECTOR_HOST_MONITOR;
  /** Where the router reports x-envoy-immediate-health-check-fail (health-checker.ts sets a real one). */
  healthChecker: HealthCheckHostMonitor = NULL_HEALTH_CHECK_HOST_MONITOR;
  private currentAddress: string;
  /**
   * Monotonic ms of the host's last passage to healthy by active health checking, or
   * when slow start first saw it healthy (Envoy's Host::lastHcPassTime); undefined before.
   */
  lastHcPassTime: number | undefined;

  constructor(
    address: string,
    readonly port: number,
    options: HostOptions = {},
  ) {
    this.currentAddress = address;
    this.pipe = options.pipe === true;
    this.hostname = options.hostname ?? "";
    this.weight = options.weight ?? 1;
    this.priority = options.priority ?? 0;
    this.locality = options.locality ?? NO_LOCALITY;
    this.metadata = options.metadata ?? NO_METADATA;
    this.localityMetadata = options.localityMetadata ?? NO_METADATA;
    this.flags = options.healthFlags ?? 0;
    this.healthCheckPort = options.healthCheckPort || port;
    this.hostnameForHealthChecks = options.healthCheckHostname ?? "";
  }

  /** A Unix domain socket's path is `address` (Envoy's Address::Type::Pipe); /clusters shows the path alone. */
  readonly pipe: boolean;

  /** Where active health checks connect (Envoy's healthCheckAddress: the host's address, health_check_config's port). */
  readonly healthCheckPort: number;
  /** Envoy's hostnameForHealthChecks(): health_check_config.hostname, "" when not set. */
  readonly hostnameForHealthChecks: string;

  /**
   * Envoy's Host::canary(): the `envoy.lb` metadata's `canary` is true (HostDescriptionImpl
   * reads Config::MetadataEnvoyLbKeys::get().CANARY); the omit_canary_hosts retry predicate reads it.
   */
  get canary(): boolean {
    return this.metadata["envoy.lb"]?.["canary"] === true;
  }

  /** The IP address new connections go to. */
  get address(): string {
    return this.currentAddress;
  }

  /**
   * A LOGICAL_DNS cluster's name now resolves to `address` (Envoy's
   * LogicalHost::setNewAddresses): new connections go there; open ones stay where they
   * are. The host — its stats, its pools — is the same.
   */
  setAddress(address: string): void {
    this.currentAddress = address;
    this.text = undefined;
  }

  healthFlagSet(flag: HealthFlag): void {
    this.flags |= flag;
  }

  healthFlagClear(flag: HealthFlag): void {
    this.flags &= ~flag;
  }

  healthFlagGet(flag: HealthFlag): boolean {
    return (this.flags & flag) !== 0;
  }

  /** Envoy's Host::coarseHealth(): any failure flag makes it unhealthy, a degraded flag degraded. */
  health(): HostHealth {
    if (this.flags & UNHEALTHY_FLAGS) return HostHealth.Unhealthy;
    if (this.flags & DEGRADED_FLAGS) return HostHealth.Degraded;
    return HostHealth.Healthy;
  }

  /** Excluded from load balancing (Envoy's excludeBasedOnHealthFlag). */
  excluded(): boolean {
    return (this.flags & EXCLUDED_FLAGS) !== 0;
  }

  /** /clusters' `health_flags`: "healthy", or the set flags joined ("/failed_active_hc/failed_outlier_check"). */
  healthFlagsText(): string {
    if (this.flags === 0) return "healthy";
    let text = "";
    for (const [flag, name] of HEALTH_FLAG_NAMES) if (this.flags & flag) text += name;
    return text;
  }

  private text: string | undefined;

  toString(): string {
    return (this.text ??= formatAddress(this));
  }
}

/**
 * Envoy's HostImpl::setEdsHealthFlag: the endpoint's health_status as a health flag.
 * DRAINING is its own flag (runtime feature exclude_host_in_eds_status_draining, on by
 * default): the host is unhealthy and excluded, so it neither takes new requests nor
 * pushes its priority level toward panic; requests already on it finish.
 */
export function edsHealthFlag(status: string | undefined): number {
  switch (status) {
    case "DRAINING":
      return HealthFlag.EdsStatusDraining;
    case "UNHEALTHY":
    case "TIMEOUT":
      return HealthFlag.FailedEdsHealth;
    case "DEGRADED":
      return HealthFlag.DegradedEdsHealth;
    default:
      return 0;
  }
}

