/**
 * Envoy's Config::Subscription (envoy/config/subscription.h) as the xDS owners (LDS, CDS,
 * RDS, EDS) see it, whatever the source: a file (filesystem-subscription.ts) or a
 * management server's gRPC stream (grpc-subscription.ts over grpc-mux.ts or
 * delta-grpc-mux.ts) or its REST endpoint (http-subscription.ts). The owner
 * hands a callback that applies a whole DiscoveryResponse or throws to refuse it.
 */
import type { StatsScope } from "../../stats/stats-store.ts";
import type { XdsConfigSource } from "../bootstrap.ts";
import type { ConfigUpdateCallback } from "./filesystem-subscription.ts";
import { FilesystemSubscription } from "./filesystem-subscription.ts";
import { GrpcSubscription } from "./grpc-subscription.ts";
import { HttpSubscription } from "./http-subscription.ts";
import type { Subscription, SubscriptionContext } from "./subscription-types.ts";

export type { GrpcMuxLike, OpenMux, Subscription, SubscriptionContext, Watch, WatchCallbacks } from "./subscription-types.ts";

/**
 * A subscription to `typeUrl` (`resourceNames`: empty for all, LDS's and CDS's wildcard)
 * from `source`, its stats under `scope` (Envoy's SubscriptionStats).
 */
export function createSubscription(
  context: SubscriptionContext,
  name: string,
  source: XdsConfigSource,
  typeUrl: string,
  resourceNames: readonly string[],
  scope: StatsScope,
  onUpdate: ConfigUpdateCallback,
): Subscription {
  if ("path" in source) return new FilesystemSubscription(context.runtime, context.log, name, source, scope, onUpdate);
  if (source.kind === "rest") return new HttpSubscription(context, name, source, typeUrl, resourceNames, scope, onUpdate);
  return new GrpcSubscription(context, name, source, typeUrl, resourceNames, scope, onUpdate);
}
