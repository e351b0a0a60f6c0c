/** What an EDS cluster is given to read its resources (a leaf module: no schema behind it). */
import type { LocalityLbEndpointsConfig, NodeConfig } from "../bootstrap.ts";
import type { DecodedResource } from "./discovery-response.ts";
import type { OpenMux, RestFetch } from "./subscription-types.ts";

/** A ClusterLoadAssignment as EDS delivers it, validated. */
export interface ClusterLoadAssignment {
  readonly cluster_name: string;
  readonly endpoints: readonly LocalityLbEndpointsConfig[];
  readonly policy?: { readonly overprovisioning_factor?: number | undefined } | undefined;
}

/**
 * Decodes one EDS resource; throws XdsUpdateError("rejected") naming what is wrong. It
 * carries the server's way to its management servers (for EDS from api_config_source or
 * ADS), so the cluster manager hands both to EDS clusters as one.
 */
export type LoadAssignmentDecoder = ((resource: unknown, path: string) => Promise<DecodedResource<ClusterLoadAssignment>>) & { readonly mux?: { readonly openMux: OpenMux | undefined; readonly restFetch?: RestFetch | undefined; readonly node?: NodeConfig | undefined } };
