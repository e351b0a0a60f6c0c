/**
 * outlier_detection's settings as Envoy's detector reads them
 * (upstream/outlier_detection_impl.cc): each numeric setting through the runtime, at the
 * moment it is used, under its outlier_detection.* key (outlier_detection_impl.h lists
 * them), with the configured value as the default. The three booleans are not runtime
 * keys in Envoy and are read as configured.
 */
import type { OutlierDetectionConfig } from "../config/bootstrap.ts";
import type { RuntimeSnapshot } from "../runtime/runtime-loader.ts";

export class RuntimeOutlierDetectionConfig implements OutlierDetectionConfig {
  constructor(
    private readonly config: OutlierDetectionConfig,
    private readonly runtime: RuntimeSnapshot,
  ) {}

  private read(key: string, value: number): number {
    return this.runtime.getInteger(`outlier_detection.${key}`, value);
  }

  get consecutive5xx(): number {
    return this.read("consecutive_5xx", this.config.consecutive5xx);
  }
  get intervalMs(): number {
    return this.read("interval_ms", this.config.intervalMs);
  }
  get baseEjectionTimeMs(): number {
    return this.read("base_ejection_time_ms", this.config.baseEjectionTimeMs);
  }
  get maxEjectionPercent(): number {
    return this.read("max_ejection_percent", this.config.maxEjectionPercent);
  }
  get enforcingConsecutive5xx(): number {
    return this.read("enforcing_consecutive_5xx", this.config.enforcingConsecutive5xx);
  }
  get enforcingSuccessRate(): number {
    return this.read("enforcing_success_rate", this.config.enforcingSuccessRate);
  }
  get successRateMinimumHosts(): number {
    return this.read("success_rate_minimum_hosts", this.config.successRateMinimumHosts);
  }
  get successRateRequestVolume(): number {
    return this.read("success_rate_request_volume", this.config.successRateRequestVolume);
  }
  get successRateStdevFactor(): number {
    return this.read("success_rate_stdev_factor", this.config.successRateStdevFactor);
  }
  get consecutiveGatewayFailure(): number {
    return this.read("consecutive_gateway_failure", this.config.consecutiveGatewayFailure);
  }
  get enforcingConsecutiveGatewayFailure(): number {
    return this.read("enforcing_consecutive_gateway_failure", this.config.enforcingConsecutiveGatewayFailure);
  }
  get splitExternalLocalOriginErrors(): boolean {
    return this.config.splitExternalLocalOriginErrors;
  }
  get consecutiveLocalOriginFailure(): number {
    return this.read("consecutive_local_origin_failure", this.config.consecutiveLocalOriginFailure);
  }
  get enforcingConsecutiveLocalOriginFailure(): number {
    return this.read("enforcing_consecutive_local_origin_failure", this.config.enforcingConsecutiveLocalOriginFailure);
  }
  get enforcingLocalOriginSuccessRate(): number {
    return this.read("enforcing_local_origin_success_rate", this.config.enforcingLocalOriginSuccessRate);
  }
  get failurePercentageThreshold(): number {
    return this.read("failure_percentage_threshold", this.config.failurePercentageThreshold);
  }
  get enforcingFailurePercentage(): number {
    return this.read("enforcing_failure_percentage", this.config.enforcingFailurePercentage);
  }
  get enforcingFailurePercentageLocalOrigin(): number {
    return this.read("enforcing_failure_percentage_local_origin", this.config.enforcingFailurePercentageLocalOrigin);
  }
  get failurePercentageMinimumHosts(): number {
    return this.read("failure_percentage_minimum_hosts", this.config.failurePercentageMinimumHosts);
  }
  get failurePercentageRequestVolume(): number {
    return this.read("failure_percentage_request_volume", this.config.failurePercentageRequestVolume);
  }
  get maxEjectionTimeMs(): number {
    return this.read("max_ejection_time_ms", this.config.maxEjectionTimeMs);
  }
  get maxEjectionTimeJitterMs(): number {
    return this.read("max_ejection_time_jitter_ms", this.config.maxEjectionTimeJitterMs);
  }
  get successfulActiveHealthCheckUnejectHost(): boolean {
    return this.config.successfulActiveHealthCheckUnejectHost;
  }
  get alwaysEjectOneHost(): boolean {
    return this.config.alwaysEjectOneHost;
  }
}
