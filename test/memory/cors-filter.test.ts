/** The envoy.filters.http.cors filter (core/http/filters/cors.ts) in a proxy on the memory runtime. */
import { afterEach, describe, expect, test } from "vitest";
import { filterProxy, type FilterProxy } from "./support/filter-proxy.ts";

const CORS = { name: "envoy.filters.http.cors", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" } };
const POLICY = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy";
const STATS = "http.ingress_http.cors.";

const POLICY_FIELDS = {
  allow_origin_string_match: [{ exact: "https://app.example" }, { suffix: ".trusted.example" }],
  allow_methods: "GET, PUT",
  allow_headers: "content-type, x-token",
  expose_headers: "x-request-id",
  max_age: "600",
  allow_credentials: true,
};

function withPolicy(policy: Record<string, unknown>, vhostPolicy?: Record<string, unknown>) {
  return {
    virtualHosts: [
      {
        name: "backend",
        domains: ["*"],
        ...(vhostPolicy && { typed_per_filter_config: { "envoy.filters.http.cors": { "@type": POLICY, ...vhostPolicy } } }),
        routes: [
          { match: { prefix: "/api" }, route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.cors": { "@type": POLICY, ...policy } } },
          { match: { prefix: "/" }, route: { cluster: "backend" } },
        ],
      },
    ],
  };
}

let proxy: FilterProxy | undefined;
afterEach(() => {
  proxy?.close();
  proxy = undefined;
});

const preflight = (origin: string, extra: Record<string, string> = {}) => ({ origin, "access-control-request-method": "PUT", ...extra });

describe("cors filter", () => {
  test("a preflight from an allowed origin is answered here with the policy's headers", async () => {
    proxy = await filterProxy([CORS], withPolicy(POLICY_FIELDS));
    const response = await proxy.request("OPTIONS", "/api/x", { headers: preflight("https://app.example") });
    expect(response.status).toBe(200);
    expect(response.get("access-control-allow-origin")).toBe("https://app.example");
    expect(response.get("access-control-allow-methods")).toBe("GET, PUT");
    expect(response.get("access-control-allow-headers")).toBe("content-type, x-token");
    expect(response.get("access-control-max-age")).toBe("600");
    expect(response.get("access-control-allow-credentials")).toBe("true");
    // The answer passes the filter's encodeHeaders too, as in Envoy.
    expect(response.get("access-control-expose-headers")).toBe("x-request-id");
    expect(response.get("content-length")).toBe("0");
    expect(proxy.upstreamRequests).toHaveLength(0);
    expect(proxy.counter(STATS + "origin_valid")).toBe(1);
  });

  test("a simple request from an allowed origin gets allow-origin, credentials and expose-headers on the upstream's response", async () => {
    proxy = await filterProxy([CORS], withPolicy(POLICY_FIELDS));
    const response = await proxy.request("GET", "/api/x", { headers: { origin: "https://a.trusted.example" } });
    expect(response.text()).toBe("from upstream");
    expect(response.get("access-control-allow-origin")).toBe("https://a.trusted.example");
    expect(response.get("access-control-allow-credentials")).toBe("true");
    expect(response.get("access-control-expose-headers")).toBe("x-request-id");
    expect(response.get("access-control-allow-methods")).toBeUndefined();
  });

  test("an origin not allowed: origin_invalid, no CORS headers; its preflight is forwarded unless forward_not_matching_preflights is false", async () => {
    proxy = await filterProxy([CORS], withPolicy(POLICY_FIELDS));
    const simple = await proxy.request("GET", "/api/x", { headers: { origin: "https://evil.example" } });
    expect(simple.get("access-control-allow-origin")).toBeUndefined();
    const forwarded = await proxy.request("OPTIONS", "/api/x", { headers: preflight("https://evil.example") });
    expect(forwarded.text()).toBe("from upstream");
    expect(proxy.counter(STATS + "origin_invalid")).toBe(2);
    proxy.close();

    proxy = await filterProxy([CORS], withPolicy({ ...POLICY_FIELDS, forward_not_matching_preflights: false }));
    const answered = await proxy.request("OPTIONS", "/api/x", { headers: preflight("https://evil.example") });
    expect(answered.status).toBe(200);
    expect(answered.text()).toBe("");
    expect(answered.get("access-control-allow-origin")).toBeUndefined();
    expect(answered.get("access-control-allow-methods")).toBe("GET, PUT");
    expect(proxy.upstreamRequests).toHaveLength(0);
  });

  test("'*' methods and headers echo the preflight's; a '*' origin matcher allows any origin", async () => {
    proxy = await filterProxy([CORS], withPolicy({ allow_origin_string_match: [{ exact: "*" }], allow_methods: "*", allow_headers: "*" }));
    const response = await proxy.request("OPTIONS", "/api", { headers: preflight("https://any.example", { "access-control-request-headers": "x-a, x-b" }) });
    expect(response.get("access-control-allow-origin")).toBe("https://any.example");
    expect(response.get("access-control-allow-methods")).toBe("PUT");
    expect(response.get("access-control-allow-headers")).toBe("x-a, x-b");
    expect(response.get("access-control-allow-credentials")).toBeUndefined();
  });

  test("fields fall through from the route's policy to the virtual host's; routes without a policy are left alone", async () => {
    proxy = await filterProxy([CORS], withPolicy({ allow_methods: "POST" }, { allow_origin_string_match: [{ prefix: "https://" }], max_age: "30" }));
    const response = await proxy.request("OPTIONS", "/api", { headers: preflight("https://x.example") });
    expect(response.get("access-control-allow-methods")).toBe("POST");
    expect(response.get("access-control-max-age")).toBe("30");
    // "/" has no route policy: the virtual host's alone applies.
    const other = await proxy.request("OPTIONS", "/other", { headers: preflight("https://x.example") });
    expect(other.status).toBe(200);
    expect(other.get("access-control-allow-methods")).toBeUndefined();
    expect(other.get("access-control-max-age")).toBe("30");
  });

  test("filter_enabled 0 %: off; shadow_enabled counts without touching the response", async () => {
    const off = { default_value: { numerator: 0 } };
    proxy = await filterProxy([CORS], withPolicy({ ...POLICY_FIELDS, filter_enabled: off, shadow_enabled: { default_value: { numerator: 100 } } }));
    const response = await proxy.request("OPTIONS", "/api", { headers: preflight("https://app.example") });
    expect(response.text()).toBe("from upstream");
    expect(response.get("access-control-allow-origin")).toBeUndefined();
    expect(proxy.counter(STATS + "origin_valid")).toBe(1);
    proxy.close();
    proxy = await filterProxy([CORS], withPolicy({ ...POLICY_FIELDS, filter_enabled: off }));
    await proxy.request("GET", "/api", { headers: { origin: "https://app.example" } });
    expect(proxy.counter(STATS + "origin_valid")).toBe(0);
  });

  test("the deprecated route and virtual host `cors` fields, when no typed_per_filter_config has a policy", async () => {
    proxy = await filterProxy([CORS], {
      virtualHosts: [
        {
          name: "backend",
          domains: ["*"],
          cors: { allow_origin_string_match: [{ exact: "https://app.example" }], max_age: "5" },
          routes: [{ match: { prefix: "/" }, route: { cluster: "backend", cors: { allow_methods: "DELETE" } } }],
        },
      ],
    });
    const response = await proxy.request("OPTIONS", "/", { headers: preflight("https://app.example") });
    expect(response.get("access-control-allow-origin")).toBe("https://app.example");
    expect(response.get("access-control-allow-methods")).toBe("DELETE");
    expect(response.get("access-control-max-age")).toBe("5");
  });
});
