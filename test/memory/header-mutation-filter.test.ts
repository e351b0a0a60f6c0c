/** The envoy.filters.http.header_mutation filter (core/http/filters/header-mutation.ts) in a proxy on the memory runtime. */
import { afterEach, describe, expect, test } from "vitest";
import { filterProxy, type FilterProxy } from "./support/filter-proxy.ts";

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation";
const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute";
const NAME = "envoy.filters.http.header_mutation";
const add = (key: string, value: string, append_action = "APPEND_IF_EXISTS_OR_ADD") => ({ append: { header: { key, value }, append_action } });

let proxy: FilterProxy | undefined;
afterEach(() => {
  proxy?.close();
  proxy = undefined;
});

const upstreamHeader = (p: FilterProxy, name: string) => p.upstreamRequests.at(-1)!.headers.filter(([n]) => n === name).map(([, v]) => v);

describe("header_mutation filter", () => {
  test("request and response mutations in order: remove, append, add if absent, overwrite", async () => {
    proxy = await filterProxy([
      {
        name: NAME,
        typed_config: {
          "@type": TYPE,
          mutations: {
            request_mutations: [{ remove: "x-secret" }, add("x-added", "1"), add("x-added", "2"), add("x-present", "new", "ADD_IF_ABSENT"), add("x-over", "o", "OVERWRITE_IF_EXISTS")],
            response_mutations: [add("x-served-by", "polyvoy", "OVERWRITE_IF_EXISTS_OR_ADD")],
          },
        },
      },
    ]);
    const response = await proxy.request("GET", "/", { headers: { "x-secret": "s", "x-present": "old" } });
    expect(response.get("x-served-by")).toBe("polyvoy");
    expect(upstreamHeader(proxy, "x-secret")).toEqual([]);
    expect(upstreamHeader(proxy, "x-added")).toEqual(["1", "2"]);
    expect(upstreamHeader(proxy, "x-present")).toEqual(["old"]);
    expect(upstreamHeader(proxy, "x-over")).toEqual([]);
  });

  test("per-route mutations run after the filter's, route before virtual host (the least specific wins), or the reverse", async () => {
    const routes = (winsFlag: boolean) =>
      filterProxy([{ name: NAME, typed_config: { "@type": TYPE, most_specific_header_mutations_wins: winsFlag, mutations: { response_mutations: [add("x-level", "filter", "OVERWRITE_IF_EXISTS_OR_ADD")] } } }], {
        virtualHosts: [
          {
            name: "backend",
            domains: ["*"],
            typed_per_filter_config: { [NAME]: { "@type": PER_ROUTE, mutations: { response_mutations: [add("x-level", "vhost", "OVERWRITE_IF_EXISTS_OR_ADD")] } } },
            routes: [
              {
                match: { prefix: "/" },
                route: { cluster: "backend" },
                typed_per_filter_config: { [NAME]: { "@type": PER_ROUTE, mutations: { response_mutations: [add("x-level", "route", "OVERWRITE_IF_EXISTS_OR_ADD")] } } },
              },
            ],
          },
        ],
      });
    proxy = await routes(false);
    expect((await proxy.request("GET", "/")).get("x-level")).toBe("vhost");
    proxy.close();
    proxy = await routes(true);
    expect((await proxy.request("GET", "/")).get("x-level")).toBe("route");
  });

  test("an added value may be an Envoy format: %REQ(...)% rendered per request", async () => {
    proxy = await filterProxy([
      { name: NAME, typed_config: { "@type": TYPE, mutations: { response_mutations: [add("x-echo-method", "%REQ(:METHOD)% %REQ(x-user)%")] } } },
    ]);
    expect((await proxy.request("GET", "/", { headers: { "x-user": "ann" } })).get("x-echo-method")).toBe("GET ann");
  });
});
