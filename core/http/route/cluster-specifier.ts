/**
 * What a built cluster specifier plugin does (Envoy's Router::ClusterSpecifierPlugin::route):
 * the cluster for a request's headers. Its own file so that a plugin's module, imported on
 * first use by cluster-specifier-plugin.ts, needs nothing back from it.
 */
import type { RequestHeaders } from "../message.ts";

export interface ClusterSpecifierPlugin {
  cluster(headers: RequestHeaders): string;
}
