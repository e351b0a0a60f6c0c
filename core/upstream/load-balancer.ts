import type { MetadataMatchCriteria } from "../config/bootstrap.ts";
import type { Host } from "./host.ts";
import type { PrioritySet } from "./host-set.ts";
import type { SocketAddress } from "../port.ts";

/** Dynamic metadata by namespace (a stream's or a connection's StreamInfo). */
export type DynamicMetadata = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

/** The downstream connection as a load balancer sees it (Envoy's LoadBalancerContext::downstreamConnection). */
export interface DownstreamConnectionView {
  readonly localAddress: SocketAddress | undefined;
  /** A listener filter (proxy_protocol) put the address the client connected to in place of the socket's own (Envoy's localAddressRestored). */
  readonly localAddressRestored: boolean;
  readonly dynamicMetadata: DynamicMetadata | undefined;
  /** The SNI the tls_inspector read ("" when none): a dynamic forward proxy cluster's host without request headers. */
  readonly requestedServerName?: string;
  /** The port sni_dynamic_forward_proxy chose (Envoy's `envoy.upstream.dynamic_port` filter state). */
  readonly upstreamDynamicPort?: number | undefined;
}

/** A host's level in the priority set being balanced, undefined when it is in none (Envoy's RetryPriority::PriorityMappingFunc). */
export type HostPriorityMapping = (host: Host) => number | undefined;

/** Percent of the load per priority for healthy and for degraded hosts; together they add up to 100 (Envoy's HealthyAndDegradedLoad). */
export interface PriorityLoad {
  readonly healthy: readonly number[];
  readonly degraded: readonly number[];
}

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
  /**
   * The priority loads to pick by instead of the balancer's own (`original`): a retry's
   * retry_priority moving load off priorities already tried (Envoy's determinePriorityLoad).
   * `priorityOf` maps an attempted host to its level in `prioritySet` (Envoy's
   * PriorityMappingFunc: an aggregate cluster's levels are not its hosts' own priorities);
   * absent: the host's priority.
   */
  determinePriorityLoad?(prioritySet: PrioritySet, original: PriorityLoad, priorityOf?: HostPriorityMapping): PriorityLoad;
  /**
   * The route's metadata_match `envoy.lb` criteria, sorted by name (with the stream's
   * `envoy.lb` dynamic metadata merged in): the subset load balancer picks by them.
   * Undefined when there are none.
   */
  metadataMatchCriteria?(): MetadataMatchCriteria | undefined;
  /** The request's headers (Envoy's downstreamHeaders): an ORIGINAL_DST cluster's use_http_header reads them, a dynamic forward proxy cluster its `authority`. */
  downstreamHeaders?(): { get(name: string): string | undefined; readonly authority?: string } | undefined;
  /** The request's dynamic metadata (Envoy's requestStreamInfo): an ORIGINAL_DST cluster's metadata_key reads it first. */
  requestDynamicMetadata?(): DynamicMetadata | undefined;
  /** The downstream connection, if any (an ORIGINAL_DST cluster's restored local address, its metadata). */
  downstreamConnection?(): DownstreamConnectionView | undefined;
}

/** Picks the host for each new request or connection (Envoy's `Upstream::LoadBalancer`). */
export interface LoadBalancer {
  /** The chosen host, or undefined when the cluster has none to offer (503 UH). */
  chooseHost(context: LoadBalancerContext | undefined): Host | undefined;
}
