import type { Host } from "./host.ts";

/**
 * What a load balancer may ask of the request it picks a host for (Envoy's
 * `LoadBalancerContext`, load_balancer.h). Every member is optional: tcp_proxy and a
 * plain route pass none.
 */
export interface LoadBalancerContext {
  /**
   * The request's hash for consistent hashing (ring hash, Maglev), from the route's
   * hash_policy; undefined when the policy yields none (a random pick then).
   */
  computeHashKey?(): bigint | undefined;
  /** Retry host predicates (previous_hosts): true to reject `host` and pick again. */
  shouldSelectAnotherHost?(host: Host): boolean;
  /** How many times a pick may be retried when `shouldSelectAnotherHost` rejects it. */
  hostSelectionRetryCount?(): number;
}

/** Picks the host for each new request or connection (Envoy's `Upstream::LoadBalancer`). */
export interface LoadBalancer {
  /** The chosen host, or undefined when the cluster has none to offer (503 UH). */
  chooseHost(context: LoadBalancerContext | undefined): Host | undefined;
}
