/**
 * What a host's users tell the two health systems about it (Envoy's
 * `Outlier::DetectorHostMonitor` and `HealthCheckHostMonitor`, upstream/outlier_detection.h
 * and upstream/health_checker.h). Every host holds one of each: the null ones until its
 * cluster has outlier detection or active health checking, so the router reports
 * results without asking whether anyone listens.
 */

/** A request's outcome other than an HTTP status (Envoy's `Outlier::Result`). */
export const enum OutlierResult {
  /** A non-HTTP transaction the upstream failed. */
  ExtOriginRequestFailed,
  /** A non-HTTP transaction that succeeded. */
  ExtOriginRequestSuccess,
  /** The connection could not be made, or broke (a reset). */
  LocalOriginConnectFailed,
  /** Connected; the protocol above will report its own result. */
  LocalOriginConnectSuccess,
  /** Connected, and nothing more will be reported. */
  LocalOriginConnectSuccessFinal,
  /** The request timed out. */
  LocalOriginTimeout,
}

/** Which success rate: of upstream answers, or of local-origin events (connects, timeouts). */
export const enum SuccessRateMonitorType {
  ExternalOrigin,
  LocalOrigin,
}

export interface DetectorHostMonitor {
  /** The upstream answered with this status. */
  putHttpResponseCode(code: number): void;
  /** A local-origin event; `code` is the status it amounts to when errors are not split (a timeout's 504). */
  putResult(result: OutlierResult, code?: number): void;
  /** The last computed success rate (0–100), or -1 (the admin's /clusters). */
  successRate(type: SuccessRateMonitorType): number;
  readonly numEjections: number;
}

/** Why the data path marks a host unhealthy at once (Envoy's `HealthCheckHostMonitor::UnhealthyType`). */
export const enum UnhealthyType {
  /** The upstream answered with `x-envoy-immediate-health-check-fail`. */
  ImmediateHealthCheckFail,
}

export interface HealthCheckHostMonitor {
  setUnhealthy(type: UnhealthyType): void;
}

class NullDetectorHostMonitor implements DetectorHostMonitor {
  putHttpResponseCode(): void {}
  putResult(): void {}
  successRate(): number {
    return -1;
  }
  get numEjections(): number {
    return 0;
  }
}

class NullHealthCheckHostMonitor implements HealthCheckHostMonitor {
  setUnhealthy(): void {}
}

export const NULL_DETECTOR_HOST_MONITOR: DetectorHostMonitor = new NullDetectorHostMonitor();
export const NULL_HEALTH_CHECK_HOST_MONITOR: HealthCheckHostMonitor = new NullHealthCheckHostMonitor();
