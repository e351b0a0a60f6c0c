import { isoTimestamp } from "../util/civil-time.ts";
import type { Host } from "./host.ts";

/** Where the event lines go: an access log file (buffered, bounded, never blocking). */
export interface EventLogSink {
  append(line: string): void;
}

/** envoy.data.core.v3.HealthCheckFailureType, by the health checker's FailureType order. */
export const FAILURE_TYPE_NAMES = ["ACTIVE", "PASSIVE", "NETWORK", "NETWORK_TIMEOUT"] as const;

/**
 * A health checker's `event_log_path` (Envoy's HealthCheckEventLoggerImpl,
 * health_checker_event_logger.cc): one envoy.data.core.v3.HealthCheckEvent per line, as
 * proto JSON with every primitive field printed (always_print_primitive_fields) —
 * health_checker_type, host, cluster_name, the event, timestamp, locality.
 */
export class HealthCheckEventLogger {
  constructor(
    private readonly sink: EventLogSink,
    private readonly clusterName: string,
    /** "HTTP", "TCP" or "GRPC" (envoy.data.core.v3.HealthCheckerType). */
    private readonly checkerType: string,
    private readonly wallClock: () => number,
  ) {}

  /** The host went unhealthy. */
  logEjectUnhealthy(host: Host, failureType: number): void {
    this.write(host, `"eject_unhealthy_event":{"failure_type":"${FAILURE_TYPE_NAMES[failureType]}"}`);
  }

  /** A check failed (first check, or every one with always_log_health_check_failures). */
  logUnhealthy(host: Host, failureType: number, firstCheck: boolean): void {
    this.write(host, `"health_check_failure_event":{"failure_type":"${FAILURE_TYPE_NAMES[failureType]}","first_check":${firstCheck}}`);
  }

  /** The host became healthy. */
  logAddHealthy(host: Host, firstCheck: boolean): void {
    this.write(host, `"add_healthy_event":{"first_check":${firstCheck}}`);
  }

  /** A passing check that changed nothing, with always_log_health_check_success. */
  logSuccessfulHealthCheck(host: Host): void {
    this.write(host, `"successful_health_check_event":{}`);
  }

  logDegraded(host: Host): void {
    this.write(host, `"degraded_healthy_host":{}`);
  }

  logNoLongerDegraded(host: Host): void {
    this.write(host, `"no_longer_degraded_host":{}`);
  }

  private write(host: Host, event: string): void {
    const l = host.locality;
    this.sink.append(
      `{"health_checker_type":"${this.checkerType}","host":${host.pipe ? `{"pipe":{"path":${JSON.stringify(host.address)},"mode":0}}` : `{"socket_address":{"protocol":"TCP","address":${JSON.stringify(host.address)},"resolver_name":"","ipv4_compat":false,"port_value":${host.port}}}`},` +
        `"cluster_name":${JSON.stringify(this.clusterName)},${event},"timestamp":"${protoTimestamp(this.wallClock())}",` +
        `"locality":{"region":${JSON.stringify(l.region)},"zone":${JSON.stringify(l.zone)},"sub_zone":${JSON.stringify(l.subZone)}}}\n`,
    );
  }
}

/** google.protobuf.Timestamp in JSON: RFC 3339, the fraction left out when it is zero (milliseconds here). */
function protoTimestamp(epochMs: number): string {
  const iso = isoTimestamp(epochMs);
  return iso.endsWith(".000Z") ? `${iso.slice(0, -5)}Z` : iso;
}
