import type { GoogleGrpcTargetConfig } from "./bootstrap.ts";

/**
 * The names of the internal clusters the google_grpc targets found anywhere in `roots`
 * (parsed configs: plain objects and arrays) ask for. A config change that leaves one
 * unnamed lets its cluster go (ClusterManager.removeInternalClustersExcept).
 */
export function googleGrpcClusterNames(roots: readonly unknown[]): Set<string> {
  const names = new Set<string>();
  const seen = new Set<object>();
  const stack: unknown[] = [...roots];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== "object" || value === null || seen.has(value)) continue;
    seen.add(value);
    if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
      continue;
    }
    // Plain objects only: a config's compiled parts (matchers, regexes) hold no target.
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) continue;
    const target = value as Partial<GoogleGrpcTargetConfig>;
    if (typeof target.statPrefix === "string" && typeof target.authority === "string" && typeof target.cluster?.name === "string") names.add(target.cluster.name);
    for (const key in value) stack.push((value as Record<string, unknown>)[key]);
  }
  return names;
}
