/**
 * Which upstream HTTP filter chain an attempt runs (selectUpstreamHttpFilterChain), as
 * Envoy's UpstreamRequest picks it (source/common/router/upstream_request.cc): the cluster's
 * own list — even only the codec — else the router's; and where a cluster's filters count
 * their stats (its scope, cluster.<name>., as Envoy's ClusterInfoImpl gives its upstream
 * filter factories), while the router's count at the root, as router.cc gives them the
 * prefix of the HCM's factory context's scope, which is empty.
 */
import { describe, expect, test } from "vitest";
import { routerUpstreamHttpFilterChain, selectUpstreamHttpFilterChain } from "../../../../core/http/filters/upstream-http-filter-factories.ts";
import { filterStatsScope } from "../../../../core/http/filters/http-filter-registry.ts";
import type { ClusterConfig, HttpFilterConfig } from "../../../../core/config/bootstrap.ts";

const filter = (name: string) => ({ name, type: "envoy.filters.http.ext_proc", config: {} }) as unknown as HttpFilterConfig;
const cluster = (upstreamHttpFilters?: HttpFilterConfig[]) => ({ name: "origin", ...(upstreamHttpFilters ? { upstreamHttpFilters } : {}) }) as unknown as ClusterConfig;

describe("selectUpstreamHttpFilterChain", () => {
  const routerFilters = [filter("router's")];
  const router = routerUpstreamHttpFilterChain(routerFilters, { statPrefix: "ingress" })!;

  test("a cluster without a list runs the router's, whose filters count at the root", () => {
    expect(selectUpstreamHttpFilterChain(cluster(), router)).toBe(router);
    expect(filterStatsScope(router.chain)).toBe("");
    expect(selectUpstreamHttpFilterChain(cluster(), undefined)).toBeUndefined();
  });

  test("a cluster's own list wins, its filters counting under the cluster's scope; the same chain each attempt", () => {
    const own = cluster([filter("cluster's")]);
    const chain = selectUpstreamHttpFilterChain(own, router)!;
    expect(chain.filters.map((f) => f.name)).toEqual(["cluster's"]);
    expect(filterStatsScope(chain.chain)).toBe("cluster.origin.");
    expect(selectUpstreamHttpFilterChain(own, router)).toBe(chain);
  });

  test("a cluster whose list is only the codec runs no filter, not the router's", () => {
    expect(selectUpstreamHttpFilterChain(cluster([]), router)).toBeUndefined();
  });
});
