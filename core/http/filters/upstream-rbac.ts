/**
 * RBAC as an upstream HTTP filter: Envoy's envoy.filters.http.upstream_rbac
 * (source/extensions/filters/http/upstream_rbac/upstream_rbac_filter.cc), the factory an
 * upstream chain finds for the RBAC config's type URL. Its rules, stats and dynamic
 * metadata are the RBAC filter's (rbac.ts), its stats under the chain's scope
 * (`cluster.<name>.rbac.allowed` for a cluster's list); a denial is the same 403
 * "RBAC: access denied", sent by the downstream stream (the upstream filter manager's
 * sendLocalReply), and the request never reaches the upstream.
 *
 * Envoy judges the attempt when its host is chosen (onHostSelected, before the connection is
 * made and before any upstream filter's decodeHeaders), from the downstream request's
 * headers in the stream info. polyvoy builds an attempt's chain when the pool gives its
 * connection (upstream-filter-manager.ts), and judges then, before the chain's first
 * decodeHeaders, on the request as the router wrote it: a filter before it changing a header
 * does not change the decision, and the request still never goes out. A stream without a
 * downstream connection (an async request: a mirror, an ext_authz check) is not judged, as
 * Envoy's skips it ("no downstream connection available at host selection"). The
 * upstream_ip_port matcher, the point of the filter in Envoy, is not one polyvoy's RBAC has
 * (refused by the config).
 */
import type { RequestHeaders } from "../message.ts";
import { FilterHeadersStatus } from "../filter.ts";
import { RbacFilter, type RbacFilterConfig } from "./rbac.ts";
import type { UpstreamHostSelectedFilter } from "./upstream-filter-manager.ts";

/**
 * Envoy's upstream_rbac_filter.h DynamicMetadataKey: the decision's dynamic metadata, apart
 * from a downstream RBAC filter's (envoy.filters.http.rbac) on the same stream.
 */
export const UPSTREAM_RBAC_METADATA_NAMESPACE = "envoy.filters.http.upstream_rbac";

export class UpstreamRbacFilter extends RbacFilter implements UpstreamHostSelectedFilter {
  constructor(config: RbacFilterConfig) {
    super(config, UPSTREAM_RBAC_METADATA_NAMESPACE);
  }

  onHostSelected(headers: RequestHeaders): void {
    // The async client's stream (async-upstream-filters.ts) has no downstream connection.
    if (this.callbacks.downstreamRemoteAddress === undefined) return;
    // A denial is the downstream stream's local reply: the attempt is over before its chain runs.
    super.decodeHeaders(headers, false);
  }

  /** Judged already, at host selection. */
  override decodeHeaders(_headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    return FilterHeadersStatus.Continue;
  }
}
