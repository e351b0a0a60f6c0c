/**
 * The cluster a stream's route sends it to, chosen once per stream when the route is
 * resolved, as Envoy's route entry carries it (RouteEntryImplBase::clusterEntry in
 * source/common/router/config_impl.cc): `cluster` names it; `cluster_header` reads the
 * header's first value then (absent: no cluster); a cluster specifier plugin
 * (cluster-specifier-plugin.ts) is asked then; `weighted_clusters` picks a
 * WeightedClusterEntry from the stream's random value (ActiveStream::refreshCachedRoute
 * passes stream_id_), so resolving the same route again after clearRouteCache keeps the
 * pick. The filters that read the route's cluster (ratelimit's destination_cluster and
 * stats, local_ratelimit, fault's upstream_cluster, ext_authz's stats, the gRPC stats)
 * and the router all read this one choice.
 */
import type { ForwardAction } from "../../config/bootstrap.ts";
import { pickWeighted } from "../../util/weighted-pick.ts";
import type { RequestHeaders } from "../message.ts";
import type { StreamInfo } from "../stream-info.ts";
import type { RouteMatch } from "./route-table.ts";
import { clusterFromPlugin } from "./cluster-specifier-plugin.ts";

/** Where the stream's random value comes from (the port's random()). */
export interface RandomSource {
  random(): number;
}

/** What the choice needs of a stream (DecoderFilterCallbacks has all of it). */
export interface RouteClusterStream {
  readonly streamInfo: StreamInfo;
  readonly route: RouteMatch | undefined;
  readonly requestHeaders: RequestHeaders;
}

/**
 * Choose the cluster of `match` for the stream now (the connection manager calls it where
 * it resolves the route); "" when the route forwards nowhere or names no cluster.
 */
export function resolveRouteCluster(info: StreamInfo, match: RouteMatch | undefined, headers: RequestHeaders, source: RandomSource): string {
  const action = match?.route.action;
  info.routeClusterOf = match;
  if (action?.type !== "route") info.routeMetadataMatch = undefined;
  return (info.routeCluster = action?.type === "route" ? clusterOf(info, action.route, headers, source) : "");
}

/**
 * The cluster chosen for the stream's current route: the connection manager's choice, or
 * (a stream without one, as the unit tests' filter managers) chosen now, once.
 */
export function routeCluster(stream: RouteClusterStream, source: RandomSource): string {
  const info = stream.streamInfo;
  const match = stream.route;
  if (info.routeClusterOf === match && match !== undefined) return info.routeCluster;
  return resolveRouteCluster(info, match, stream.requestHeaders, source);
}

function clusterOf(info: StreamInfo, action: ForwardAction, headers: RequestHeaders, source: RandomSource): string {
  info.routeMetadataMatch = action.metadataMatch;
  if (action.cluster !== undefined) return action.cluster;
  if (action.clusterHeader !== undefined) return headers.get(action.clusterHeader) ?? "";
  // Envoy's DynamicRouteEntry delegates the metadata match to its route, as here.
  if (action.clusterSpecifierPlugin !== undefined) return clusterFromPlugin(action.clusterSpecifierPlugin, headers);
  // One draw per stream, kept: a route resolved again picks the same entry.
  if (info.routeRandom < 0) info.routeRandom = source.random();
  const picked = pickWeighted(action.weightedClusters ?? [], info.routeRandom);
  // A weighted cluster's entry has the route's criteria merged with its own (WeightedClusterEntry).
  info.routeMetadataMatch = picked?.metadataMatch;
  return picked?.name ?? "";
}
