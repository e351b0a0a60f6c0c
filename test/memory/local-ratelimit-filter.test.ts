/** The envoy.filters.http.local_ratelimit filter (core/http/filters/local-ratelimit.ts) in a proxy on the memory runtime. */
import { afterEach, describe, expect, test } from "vitest";
import { filterProxy, type FilterProxy } from "./support/filter-proxy.ts";

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
const ALWAYS = { default_value: { numerator: 100, denominator: "HUNDRED" }, runtime_key: "local_rate_limit_enabled" };

function localRateLimit(fields: Record<string, unknown>): object {
  return { name: "envoy.filters.http.local_ratelimit", typed_config: { "@type": TYPE, stat_prefix: "http_local_rate_limiter", ...fields } };
}

let proxy: FilterProxy | undefined;
afterEach(() => {
  proxy?.close();
  proxy = undefined;
});

describe("local_ratelimit filter", () => {
  test("429 local_rate_limited once the bucket is empty, and again allowed after fill_interval; stats as Envoy's", async () => {
    proxy = await filterProxy([
      localRateLimit({
        token_bucket: { max_tokens: 2, tokens_per_fill: 1, fill_interval: "1s" },
        filter_enabled: ALWAYS,
        filter_enforced: ALWAYS,
        response_headers_to_add: [{ append_action: "OVERWRITE_IF_EXISTS_OR_ADD", header: { key: "x-local-rate-limit", value: "true" } }],
      }),
    ]);
    expect((await proxy.request("GET", "/")).status).toBe(200);
    const second = await proxy.request("GET", "/");
    expect(second.status).toBe(200);
    expect(second.get("x-local-rate-limit")).toBeUndefined();
    const limited = await proxy.request("GET", "/");
    expect(limited.status).toBe(429);
    expect(limited.text()).toBe("local_rate_limited");
    expect(limited.get("x-local-rate-limit")).toBe("true");
    // Envoy's local filter does not send the global ratelimit filter's header.
    expect(limited.get("x-envoy-ratelimited")).toBeUndefined();
    expect(proxy.upstreamRequests).toHaveLength(2);
    await proxy.runtime.settle(999);
    expect((await proxy.request("GET", "/")).status).toBe(429);
    await proxy.runtime.settle(1);
    expect((await proxy.request("GET", "/")).status).toBe(200);
    expect((await proxy.request("GET", "/")).status).toBe(429);
    const prefix = "http_local_rate_limiter.http_local_rate_limit.";
    expect(proxy.counter(prefix + "enabled")).toBe(6);
    expect(proxy.counter(prefix + "ok")).toBe(3);
    expect(proxy.counter(prefix + "rate_limited")).toBe(3);
    expect(proxy.counter(prefix + "enforced")).toBe(3);
  });

  test("tokens come back continuously, tokens_per_fill per fill_interval, never past max_tokens", async () => {
    proxy = await filterProxy([
      localRateLimit({ token_bucket: { max_tokens: 3, tokens_per_fill: 2, fill_interval: "0.1s" }, filter_enabled: ALWAYS, filter_enforced: ALWAYS }),
    ]);
    const statuses = async (n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await proxy!.request("GET", "/")).status);
      return out;
    };
    expect(await statuses(4)).toEqual([200, 200, 200, 429]);
    // Half an interval: one of the two tokens.
    await proxy.runtime.settle(50);
    expect(await statuses(2)).toEqual([200, 429]);
    await proxy.runtime.settle(100);
    expect(await statuses(3)).toEqual([200, 200, 429]);
    await proxy.runtime.settle(10_000);
    expect(await statuses(4)).toEqual([200, 200, 200, 429]);
  });

  test("without filter_enabled the filter is off; without filter_enforced it counts but lets the request through with request_headers_to_add_when_not_enforced", async () => {
    proxy = await filterProxy([localRateLimit({ token_bucket: { max_tokens: 1, fill_interval: "60s" } })]);
    expect((await proxy.request("GET", "/")).status).toBe(200);
    expect((await proxy.request("GET", "/")).status).toBe(200);
    expect(proxy.counter("http_local_rate_limiter.http_local_rate_limit.enabled")).toBe(0);
    proxy.close();

    proxy = await filterProxy([
      localRateLimit({
        token_bucket: { max_tokens: 1, fill_interval: "60s" },
        filter_enabled: ALWAYS,
        request_headers_to_add_when_not_enforced: [{ header: { key: "x-rate-limited", value: "yes" } }],
      }),
    ]);
    expect((await proxy.request("GET", "/")).status).toBe(200);
    expect((await proxy.request("GET", "/")).status).toBe(200);
    expect(proxy.upstreamRequests.map((r) => r.headers.find(([n]) => n === "x-rate-limited")?.[1])).toEqual([undefined, "yes"]);
    expect(proxy.counter("http_local_rate_limiter.http_local_rate_limit.rate_limited")).toBe(1);
    expect(proxy.counter("http_local_rate_limiter.http_local_rate_limit.enforced")).toBe(0);
  });

  test("status overrides 429 (a code under 400 means 429); filter_enabled is a fraction of requests", async () => {
    proxy = await filterProxy([
      localRateLimit({ token_bucket: { max_tokens: 1, fill_interval: "60s" }, filter_enabled: ALWAYS, filter_enforced: ALWAYS, status: { code: 503 } }),
    ]);
    await proxy.request("GET", "/");
    expect((await proxy.request("GET", "/")).status).toBe(503);
    proxy.close();

    proxy = await filterProxy([
      localRateLimit({
        token_bucket: { max_tokens: 1000, fill_interval: "60s" },
        filter_enabled: { default_value: { numerator: 25 } },
        filter_enforced: ALWAYS,
      }),
    ]);
    for (let i = 0; i < 200; i++) await proxy.request("GET", "/");
    const enabled = proxy.counter("http_local_rate_limiter.http_local_rate_limit.enabled");
    expect(enabled).toBeGreaterThan(25);
    expect(enabled).toBeLessThan(75);
  });

  test("x-ratelimit-* headers (DRAFT_VERSION_03) on answered and limited requests", async () => {
    proxy = await filterProxy([
      localRateLimit({
        token_bucket: { max_tokens: 2, fill_interval: "60s" },
        filter_enabled: ALWAYS,
        filter_enforced: ALWAYS,
        enable_x_ratelimit_headers: "DRAFT_VERSION_03",
      }),
    ]);
    const headers = (r: { get(name: string): string | undefined }) => ["limit", "remaining", "reset"].map((h) => r.get(`x-ratelimit-${h}`));
    // reset is Envoy's resetSeconds: 0 while a whole token is left, else the seconds one token takes.
    expect(headers(await proxy.request("GET", "/"))).toEqual(["2", "1", "0"]);
    // 2.5 s at one token a minute brings back a 24th of a token: not a whole one.
    await proxy.runtime.settle(2500);
    expect(headers(await proxy.request("GET", "/"))).toEqual(["2", "0", "60"]);
    const limited = await proxy.request("GET", "/");
    expect(limited.status).toBe(429);
    expect(headers(limited)).toEqual(["2", "0", "60"]);
  });

  test("per-route config (typed_per_filter_config) has its own bucket and stats; other routes use the filter's", async () => {
    proxy = await filterProxy(
      [localRateLimit({ token_bucket: { max_tokens: 100, fill_interval: "60s" }, filter_enabled: ALWAYS, filter_enforced: ALWAYS })],
      {
        routes: [
          {
            match: { prefix: "/limited" },
            action: {
              route: { cluster: "backend" },
              typed_per_filter_config: {
                "envoy.filters.http.local_ratelimit": {
                  "@type": TYPE,
                  stat_prefix: "route_limiter",
                  token_bucket: { max_tokens: 1, fill_interval: "60s" },
                  filter_enabled: ALWAYS,
                  filter_enforced: ALWAYS,
                },
              },
            },
          },
          { match: { prefix: "/" }, cluster: "backend" },
        ],
      },
    );
    expect((await proxy.request("GET", "/limited")).status).toBe(200);
    expect((await proxy.request("GET", "/limited")).status).toBe(429);
    expect((await proxy.request("GET", "/other")).status).toBe(200);
    expect(proxy.counter("route_limiter.http_local_rate_limit.rate_limited")).toBe(1);
    expect(proxy.counter("http_local_rate_limiter.http_local_rate_limit.ok")).toBe(1);
  });

  test("a filter without token_bucket limits nothing", async () => {
    proxy = await filterProxy([localRateLimit({ filter_enabled: ALWAYS, filter_enforced: ALWAYS })]);
    for (let i = 0; i < 5; i++) expect((await proxy.request("GET", "/")).status).toBe(200);
  });

  describe("descriptors", () => {
    const USER_LIMITS = [{ actions: [{ request_headers: { header_name: "x-user", descriptor_key: "user" } }] }];
    const statuses = async (n: number, headers: Record<string, string> = {}) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await proxy!.request("GET", "/", { headers })).status);
      return out;
    };

    test("the route's rate_limits make the request's descriptors: a configured one is that descriptor's bucket, the rest use the default", async () => {
      proxy = await filterProxy(
        [
          localRateLimit({
            token_bucket: { max_tokens: 100, fill_interval: "60s" },
            descriptors: [{ entries: [{ key: "user", value: "alice" }], token_bucket: { max_tokens: 2, fill_interval: "60s" } }],
            filter_enabled: ALWAYS,
            filter_enforced: ALWAYS,
            enable_x_ratelimit_headers: "DRAFT_VERSION_03",
          }),
        ],
        { routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend", rate_limits: USER_LIMITS } } }] },
      );
      expect(await statuses(3, { "x-user": "alice" })).toEqual([200, 200, 429]);
      expect(await statuses(3, { "x-user": "bob" })).toEqual([200, 200, 200]);
      expect(await statuses(2)).toEqual([200, 200]);
      // The headers describe the descriptor's bucket for alice, the default one for bob.
      expect((await proxy.request("GET", "/", { headers: { "x-user": "alice" } })).get("x-ratelimit-limit")).toBe("2");
      expect((await proxy.request("GET", "/", { headers: { "x-user": "bob" } })).get("x-ratelimit-limit")).toBe("100");
    });

    test("the filter's own rate_limits make the descriptors instead of the route's; an entry without a value is a dynamic descriptor (a bucket per value, refilled as its token_bucket says), an exact one taking precedence", async () => {
      proxy = await filterProxy(
        [
          localRateLimit({
            token_bucket: { max_tokens: 100, fill_interval: "60s" },
            descriptors: [
              { entries: [{ key: "user" }], token_bucket: { max_tokens: 1, fill_interval: "1s" } },
              { entries: [{ key: "user", value: "vip" }], token_bucket: { max_tokens: 3, fill_interval: "60s" } },
            ],
            rate_limits: USER_LIMITS,
            filter_enabled: ALWAYS,
            filter_enforced: ALWAYS,
          }),
        ],
        // The route's rate_limits are not read when the filter has its own.
        { routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend", rate_limits: [{ actions: [{ generic_key: { descriptor_value: "route" } }] }] } } }] },
      );
      expect(await statuses(2, { "x-user": "alice" })).toEqual([200, 429]);
      expect(await statuses(2, { "x-user": "bob" })).toEqual([200, 429]);
      expect(await statuses(4, { "x-user": "vip" })).toEqual([200, 200, 200, 429]);
      await proxy.runtime.settle(1000);
      expect(await statuses(2, { "x-user": "alice" })).toEqual([200, 429]);
    });

    test("always_consume_default_token_bucket: by default a matched request draws from the default bucket too; false, only from its descriptor's", async () => {
      const config = (always: boolean) =>
        localRateLimit({
          token_bucket: { max_tokens: 2, fill_interval: "60s" },
          descriptors: [{ entries: [{ key: "user", value: "alice" }], token_bucket: { max_tokens: 5, fill_interval: "60s" } }],
          always_consume_default_token_bucket: always,
          filter_enabled: ALWAYS,
          filter_enforced: ALWAYS,
        });
      const routes = [{ match: { prefix: "/" }, action: { route: { cluster: "backend", rate_limits: USER_LIMITS } } }];
      proxy = await filterProxy([config(true)], { routes });
      expect(await statuses(4, { "x-user": "alice" })).toEqual([200, 200, 429, 429]);
      proxy.close();
      proxy = await filterProxy([config(false)], { routes });
      expect(await statuses(6, { "x-user": "alice" })).toEqual([200, 200, 200, 200, 200, 429]);
      expect(await statuses(3, { "x-user": "bob" })).toEqual([200, 200, 429]);
    });

    test("several matched descriptors: the slowest-filling first, and a request it limits takes nothing from the others", async () => {
      proxy = await filterProxy(
        [
          localRateLimit({
            descriptors: [
              { entries: [{ key: "generic_key", value: "all" }], token_bucket: { max_tokens: 3, tokens_per_fill: 10, fill_interval: "1s" } },
              { entries: [{ key: "user", value: "alice" }], token_bucket: { max_tokens: 1, fill_interval: "60s" } },
            ],
            filter_enabled: ALWAYS,
            filter_enforced: ALWAYS,
          }),
        ],
        {
          routes: [
            {
              match: { prefix: "/" },
              action: { route: { cluster: "backend", rate_limits: [...USER_LIMITS, { actions: [{ generic_key: { descriptor_value: "all" } }] }] } },
            },
          ],
        },
      );
      // alice's bucket (1 per minute) is drawn first: her second request is limited without taking from "all".
      expect(await statuses(3, { "x-user": "alice" })).toEqual([200, 429, 429]);
      expect(await statuses(3, { "x-user": "bob" })).toEqual([200, 200, 429]);
    });

    test("the x-ratelimit headers describe the bucket that refused, else the slowest matched, else the default one", async () => {
      // "all" first in request order, and faster-filling: the order drawn from is the fill rate's.
      const TWO = [{ actions: [{ generic_key: { descriptor_value: "all" } }] }, ...USER_LIMITS];
      proxy = await filterProxy(
        [
          localRateLimit({
            token_bucket: { max_tokens: 3, fill_interval: "60s" },
            descriptors: [
              { entries: [{ key: "generic_key", value: "all" }], token_bucket: { max_tokens: 10, tokens_per_fill: 10, fill_interval: "60s" } },
              { entries: [{ key: "user", value: "alice" }], token_bucket: { max_tokens: 1, fill_interval: "60s" } },
            ],
            filter_enabled: ALWAYS,
            filter_enforced: ALWAYS,
            enable_x_ratelimit_headers: "DRAFT_VERSION_03",
          }),
        ],
        { routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend", rate_limits: TWO } } }] },
      );
      const seen = async (headers: Record<string, string>) => {
        const r = await proxy!.request("GET", "/", { headers });
        return [r.status, r.get("x-ratelimit-limit"), r.get("x-ratelimit-remaining")];
      };
      // Allowed: alice's bucket, the slower of the two matched (not "all", the first in request order, nor the default).
      expect(await seen({ "x-user": "alice" })).toEqual([200, "1", "0"]);
      // Refused by alice's bucket, drawn first: that bucket, and nothing taken from "all".
      expect(await seen({ "x-user": "alice" })).toEqual([429, "1", "0"]);
      // bob matches only "all" (10, one taken by alice): allowed twice while the default bucket (3, drawn always) has tokens, then the default refuses.
      expect(await seen({ "x-user": "bob" })).toEqual([200, "10", "8"]);
      expect(await seen({ "x-user": "bob" })).toEqual([200, "10", "7"]);
      expect(await seen({ "x-user": "bob" })).toEqual([429, "3", "0"]);
    });

    test("a descriptor the request makes twice draws two tokens (the route's and the virtual host's rate_limits alike)", async () => {
      const AGAIN = [{ actions: [{ generic_key: { descriptor_value: "a" } }] }, { actions: [{ generic_key: { descriptor_value: "a" } }] }];
      proxy = await filterProxy(
        [
          localRateLimit({
            descriptors: [{ entries: [{ key: "generic_key", value: "a" }], token_bucket: { max_tokens: 2, fill_interval: "60s" } }],
            filter_enabled: ALWAYS,
            filter_enforced: ALWAYS,
          }),
        ],
        { routes: [{ match: { prefix: "/" }, action: { route: { cluster: "backend", rate_limits: AGAIN } } }] },
      );
      expect(await statuses(3)).toEqual([200, 429, 429]);
    });

    test("vh_rate_limits: the virtual host's rate_limits when the route has none (OVERRIDE), never with IGNORE; stage selects", async () => {
      const virtualHosts = [
        {
          name: "backend",
          domains: ["*"],
          rate_limits: [{ actions: [{ generic_key: { descriptor_value: "vhost" } }] }, { stage: 1, actions: [{ generic_key: { descriptor_value: "stage1" } }] }],
          routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }],
        },
      ];
      const config = (fields: Record<string, unknown>) =>
        localRateLimit({
          descriptors: [
            { entries: [{ key: "generic_key", value: "vhost" }], token_bucket: { max_tokens: 1, fill_interval: "60s" } },
            { entries: [{ key: "generic_key", value: "stage1" }], token_bucket: { max_tokens: 2, fill_interval: "60s" } },
          ],
          filter_enabled: ALWAYS,
          filter_enforced: ALWAYS,
          ...fields,
        });
      proxy = await filterProxy([config({})], { virtualHosts });
      expect(await statuses(2)).toEqual([200, 429]);
      proxy.close();
      proxy = await filterProxy([config({ vh_rate_limits: "IGNORE" })], { virtualHosts });
      expect(await statuses(3)).toEqual([200, 200, 200]);
      proxy.close();
      proxy = await filterProxy([config({ stage: 1 })], { virtualHosts });
      expect(await statuses(3)).toEqual([200, 200, 429]);
    });
  });
});
