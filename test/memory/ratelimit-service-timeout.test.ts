/**
 * The global ratelimit filter with rate_limit_service.grpc_service.timeout set: accepted as
 * Envoy accepts it, and said at start not to bound the call (the filter's timeout does).
 */
import { afterEach, expect, test } from "vitest";
import { filterProxy, type FilterProxy } from "./support/filter-proxy.ts";

let proxy: FilterProxy | undefined;
afterEach(() => {
  proxy?.close();
  proxy = undefined;
});

test("a grpc_service.timeout on the rate limit service: the proxy starts and warns that the filter's timeout bounds the call", async () => {
  proxy = await filterProxy(
    [
      {
        name: "envoy.filters.http.ratelimit",
        typed_config: {
          "@type": "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit",
          domain: "d",
          rate_limit_service: { grpc_service: { envoy_grpc: { cluster_name: "rls" }, timeout: "1s" }, transport_api_version: "V3" },
        },
      },
    ],
    { clusters: { rls: [9002] } },
  );
  await proxy.request("GET", "/");
  expect(proxy.runtime.logText).toContain("ratelimit: rate_limit_service.grpc_service.timeout (1000ms) does not bound the call: as in Envoy, the filter's timeout (20ms) does");
});
