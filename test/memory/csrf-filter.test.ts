/** The envoy.filters.http.csrf filter (core/http/filters/csrf.ts) in a proxy on the memory runtime. */
import { afterEach, describe, expect, test } from "vitest";
import { filterProxy, type FilterProxy } from "./support/filter-proxy.ts";

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.csrf.v3.CsrfPolicy";
const ON = { default_value: { numerator: 100 } };
const OFF = { default_value: { numerator: 0 } };
const csrf = (fields: Record<string, unknown>) => ({ name: "envoy.filters.http.csrf", typed_config: { "@type": TYPE, ...fields } });
const STATS = "http.ingress_http.csrf.";

let proxy: FilterProxy | undefined;
afterEach(() => {
  proxy?.close();
  proxy = undefined;
});

describe("csrf filter", () => {
  test("a modifying request from another origin: 403 Invalid origin; from its own host or an additional origin: forwarded", async () => {
    proxy = await filterProxy([csrf({ filter_enabled: ON, additional_origins: [{ suffix: ".partner.example" }] })]);
    const refused = await proxy.request("POST", "/", { headers: { origin: "https://evil.example" }, body: "x" });
    expect(refused.status).toBe(403);
    expect(refused.text()).toBe("Invalid origin");
    // The test client sends host: example.com.
    expect((await proxy.request("POST", "/", { headers: { origin: "http://example.com" }, body: "x" })).status).toBe(200);
    expect((await proxy.request("DELETE", "/", { headers: { referer: "https://example.com/page?q=1" } })).status).toBe(200);
    expect((await proxy.request("PUT", "/", { headers: { origin: "https://www.partner.example" }, body: "x" })).status).toBe(200);
    // Not a modifying method: never checked.
    expect((await proxy.request("GET", "/", { headers: { origin: "https://evil.example" } })).status).toBe(200);
    expect(proxy.counter(STATS + "request_invalid")).toBe(1);
    expect(proxy.counter(STATS + "request_valid")).toBe(3);
  });

  test("no Origin or Referer: missing_source_origin and refused", async () => {
    proxy = await filterProxy([csrf({ filter_enabled: ON })]);
    expect((await proxy.request("PATCH", "/", { body: "x" })).status).toBe(403);
    expect(proxy.counter(STATS + "missing_source_origin")).toBe(1);
    expect(proxy.counter(STATS + "request_invalid")).toBe(1);
  });

  test("shadow_enabled counts without refusing; a route's policy replaces the filter's", async () => {
    proxy = await filterProxy([csrf({ filter_enabled: OFF, shadow_enabled: ON })], {
      routes: [
        { match: { prefix: "/strict" }, action: { route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.csrf": { "@type": TYPE, filter_enabled: ON } } } },
        { match: { prefix: "/" }, cluster: "backend" },
      ],
    });
    expect((await proxy.request("POST", "/", { headers: { origin: "https://evil.example" }, body: "x" })).status).toBe(200);
    expect(proxy.counter(STATS + "request_invalid")).toBe(1);
    expect((await proxy.request("POST", "/strict", { headers: { origin: "https://evil.example" }, body: "x" })).status).toBe(403);
  });
});
