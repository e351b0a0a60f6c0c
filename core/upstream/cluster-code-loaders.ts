/**
 * Code a cluster needs loaded before it serves that belongs to other layers (its upstream
 * HTTP filters' modules: core/http/filters/upstream-http-filter-factories.ts), registered by
 * core/extensions.ts, so that the cluster manager imports none of them (an import cycle
 * through the server context otherwise).
 */
import type { ClusterConfig } from "../config/bootstrap.ts";

type ClusterCodeLoader = (config: ClusterConfig) => Promise<void> | undefined;

const LOADERS: ClusterCodeLoader[] = [];

export function registerClusterCodeLoader(loader: ClusterCodeLoader): void {
  LOADERS.push(loader);
}

/** The registered loads `config` needs, undefined when none does. */
export function loadClusterCode(config: ClusterConfig): Promise<unknown> | undefined {
  let loading: Promise<void>[] | undefined;
  for (const loader of LOADERS) {
    const load = loader(config);
    if (load !== undefined) (loading ??= []).push(load);
  }
  return loading === undefined ? undefined : Promise.all(loading);
}
