import type { FractionalPercent } from "../config/bootstrap.ts";

/**
 * Envoy's Runtime::SnapshotImpl::featureEnabled(key, FractionalPercent): true for
 * numerator out of every denominator draws. `source` is the port's runtime (its random(), a float in [0, 1));
 * a numerator at or over the denominator is always on, 0 always off (no draw wasted).
 */
export function fractionEnabled(percent: FractionalPercent, source: { random(): number }): boolean {
  if (percent.numerator >= percent.denominator) return true;
  if (percent.numerator === 0) return false;
  return Math.floor(source.random() * percent.denominator) < percent.numerator;
}
