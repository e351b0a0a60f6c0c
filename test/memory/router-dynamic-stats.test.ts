/**
 * The Router's dynamic_stats (Envoy's emit_dynamic_stats_, router.cc chargeUpstreamCode and
 * onUpstreamComplete): false charges no per-response cluster stats; the request still goes.
 */
import { afterEach, expect, test } from "vitest";
import { filterProxy, type FilterProxy } from "./support/filter-proxy.ts";

const ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
let proxy: FilterProxy | undefined;
afterEach(() => {
  proxy?.close();
  proxy = undefined;
});

const PER_RESPONSE = ["upstream_rq_200", "upstream_rq_2xx", "upstream_rq_completed", "external.upstream_rq_200"];

test("dynamic_stats false: no upstream_rq_<code>, _<N>xx, _completed, upstream_rq_time; upstream_rq_total still counted", async () => {
  proxy = await filterProxy([], { hcm: { http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE, dynamic_stats: false } }] } });
  expect((await proxy.request("GET", "/")).status).toBe(200);
  for (const name of PER_RESPONSE) expect(proxy.counter(`cluster.backend.${name}`)).toBe(0);
  expect(proxy.counter("cluster.backend.upstream_rq_total")).toBe(1);
  expect((proxy.server.stats.get("cluster.backend.upstream_rq_time") as { count: number } | undefined)?.count ?? 0).toBe(0);
});

test("dynamic_stats true (the default): the same request charges them", async () => {
  proxy = await filterProxy([], { hcm: { http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE, dynamic_stats: true } }] } });
  expect((await proxy.request("GET", "/")).status).toBe(200);
  for (const name of PER_RESPONSE) expect(proxy.counter(`cluster.backend.${name}`)).toBe(1);
  expect((proxy.server.stats.get("cluster.backend.upstream_rq_time") as { count: number }).count).toBe(1);
});
