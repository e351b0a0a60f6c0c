/**
 * The local_ratelimit, fault, buffer, cors, csrf and header_mutation HTTP filters against the
 * real proxy on every runtime. The cors filter reads typed_per_filter_config policies, and
 * without one the deprecated `cors` of the route action and of the virtual host, merged
 * field by field with the route's first (Envoy's CorsFilter::initializeCorsPolicies).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Client, request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const RATELIMIT = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";
const FAULT = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
const BUFFER = "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer";
const CSRF = "type.googleapis.com/envoy.extensions.filters.http.csrf.v3.CsrfPolicy";
const CORS_POLICY = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy";
const ALWAYS = { default_value: { numerator: 100 } };

function route(prefix: string, perFilter: Record<string, object> = {}) {
  return { match: { prefix }, action: { route: { cluster: "echo" }, typed_per_filter_config: perFilter } };
}

describe.each(RUNTIMES)("HTTP filters on %s", (runtime) => {
  let echo: HttpUpstream;
  let proxy: ProxyProcess;
  let base: string;
  let adminPort: number;

  beforeAll(async () => {
    echo = await httpUpstream((req, res) => res.end(`${req.url} ${req.body.length}`));
    const port = await freePort();
    adminPort = await freePort();
    base = `http://127.0.0.1:${port}`;
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [echo.port] },
      routes: [
        // A direct_response and a redirect route with a cors policy: Envoy's cors filter acts only on routes with a route entry.
        {
          match: { prefix: "/cors-direct" },
          action: {
            direct_response: { status: 200, body: { inline_string: "direct" } },
            typed_per_filter_config: { "envoy.filters.http.cors": { "@type": CORS_POLICY, allow_origin_string_match: [{ exact: "https://app.example" }], allow_methods: "GET" } },
          },
        },
        {
          match: { prefix: "/cors-redirect" },
          action: {
            redirect: { path_redirect: "/elsewhere" },
            typed_per_filter_config: { "envoy.filters.http.cors": { "@type": CORS_POLICY, allow_origin_string_match: [{ exact: "https://app.example" }], allow_methods: "GET" } },
          },
        },
        route("/ratelimit", {
          "envoy.filters.http.local_ratelimit": {
            "@type": RATELIMIT,
            stat_prefix: "route_rl",
            token_bucket: { max_tokens: 2, tokens_per_fill: 2, fill_interval: "1s" },
            filter_enabled: ALWAYS,
            filter_enforced: ALWAYS,
            response_headers_to_add: [{ header: { key: "x-local-rate-limit", value: "true" } }],
          },
        }),
        route("/ratelimit-full", {
          "envoy.filters.http.local_ratelimit": {
            "@type": RATELIMIT,
            stat_prefix: "full_rl",
            token_bucket: { max_tokens: 1, tokens_per_fill: 1, fill_interval: "3600s" },
            filter_enabled: ALWAYS,
            filter_enforced: ALWAYS,
          },
        }),
        route("/per-connection", {
          "envoy.filters.http.local_ratelimit": {
            "@type": RATELIMIT,
            stat_prefix: "conn_rl",
            token_bucket: { max_tokens: 1, tokens_per_fill: 1, fill_interval: "3600s" },
            filter_enabled: ALWAYS,
            filter_enforced: ALWAYS,
            local_rate_limit_per_downstream_connection: true,
          },
        }),
        // The filter's own rate_limits make the descriptors; an entry without a value is a
        // dynamic descriptor: a bucket per user, two users' buckets kept (LRU).
        route("/per-user", {
          "envoy.filters.http.local_ratelimit": {
            "@type": RATELIMIT,
            stat_prefix: "user_rl",
            token_bucket: { max_tokens: 1000, tokens_per_fill: 1000, fill_interval: "1s" },
            filter_enabled: ALWAYS,
            filter_enforced: ALWAYS,
            descriptors: [{ entries: [{ key: "user" }], token_bucket: { max_tokens: 1, tokens_per_fill: 1, fill_interval: "3600s" } }],
            max_dynamic_descriptors: 2,
            always_consume_default_token_bucket: false,
            rate_limits: [{ actions: [{ request_headers: { header_name: "x-user", descriptor_key: "user" } }] }],
          },
        }),
        // As a user's config has it: a bucket per client address.
        route("/per-source", {
          "envoy.filters.http.local_ratelimit": {
            "@type": RATELIMIT,
            stat_prefix: "source_rl",
            token_bucket: { max_tokens: 1000, tokens_per_fill: 1000, fill_interval: "1s" },
            filter_enabled: ALWAYS,
            filter_enforced: ALWAYS,
            descriptors: [{ entries: [{ key: "remote_address" }], token_bucket: { max_tokens: 1, tokens_per_fill: 1, fill_interval: "3600s" } }],
            max_dynamic_descriptors: 20000,
            always_consume_default_token_bucket: false,
            rate_limits: [{ actions: [{ remote_address: {} }] }],
          },
        }),
        route("/abort", { "envoy.filters.http.fault": { "@type": FAULT, abort: { http_status: 503, percentage: { numerator: 100 } } } }),
        route("/cors", {
          "envoy.filters.http.cors": {
            "@type": CORS_POLICY,
            allow_origin_string_match: [{ exact: "https://app.example" }],
            allow_methods: "GET, PUT",
            allow_headers: "content-type",
            expose_headers: "x-request-id",
            max_age: "600",
            allow_credentials: true,
          },
        }),
        route("/csrf", { "envoy.filters.http.csrf": { "@type": CSRF, filter_enabled: ALWAYS } }),
        route("/delay", { "envoy.filters.http.fault": { "@type": FAULT, delay: { fixed_delay: "0.4s", percentage: { numerator: 100 } } } }),
        route("/"),
      ],
      hcm: {
        http_filters: [
          { name: "envoy.filters.http.cors", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" } },
          // No bucket on the filter: only /ratelimit is limited.
          { name: "envoy.filters.http.local_ratelimit", typed_config: { "@type": RATELIMIT, stat_prefix: "rl", filter_enabled: ALWAYS, filter_enforced: ALWAYS } },
          // header_abort: only requests asking for a fault get one.
          { name: "envoy.filters.http.fault", typed_config: { "@type": FAULT, abort: { header_abort: {}, percentage: { numerator: 100 } } } },
          // Off but on /csrf.
          { name: "envoy.filters.http.csrf", typed_config: { "@type": CSRF, filter_enabled: { default_value: { numerator: 0 } } } },
          {
            name: "envoy.filters.http.header_mutation",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
              mutations: {
                request_mutations: [{ remove: "x-drop-me" }, { append: { header: { key: "x-mutated", value: "yes" } } }],
                response_mutations: [{ append: { header: { key: "x-served-by", value: "polyvoy" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" } }],
              },
            },
          },
          { name: "envoy.filters.http.buffer", typed_config: { "@type": BUFFER, max_request_bytes: 1024 } },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    });
    // A virtual host with the deprecated (non-typed) `cors`, and a route of it with its own.
    const routeConfig = (config as { static_resources: { listeners: { filter_chains: { filters: { typed_config: { route_config: { virtual_hosts: object[] } } }[] }[] }[] } })
      .static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.route_config;
    routeConfig.virtual_hosts.unshift({
      name: "legacy-cors",
      domains: ["legacy.example"],
      cors: { allow_origin_string_match: [{ suffix: ".vh.example" }], allow_methods: "GET", allow_headers: "x-vh", max_age: "60" },
      routes: [
        { match: { prefix: "/route-cors" }, route: { cluster: "echo", cors: { allow_methods: "DELETE", expose_headers: "x-route" } } },
        { match: { prefix: "/" }, route: { cluster: "echo" } },
      ],
    });
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
    await echo?.close();
  });

  async function get(path: string, headers: Record<string, string> = {}) {
    const response = await request(base + path, { headers });
    return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
  }

  async function stats(filter: string): Promise<string> {
    return (await request(`http://127.0.0.1:${adminPort}/stats?filter=${filter}`)).body.text();
  }

  test("local_ratelimit: 429 local_rate_limited once the route's bucket is empty, allowed again after fill_interval", async () => {
    // Two tokens a second: a refill may land between two requests, so go on until refused.
    expect((await get("/ratelimit")).status).toBe(200);
    let limited = await get("/ratelimit");
    for (let i = 0; i < 10 && limited.status !== 429; i++) limited = await get("/ratelimit");
    expect(limited.status).toBe(429);
    expect(limited.body).toBe("local_rate_limited");
    expect(limited.headers["x-local-rate-limit"]).toBe("true");
    expect((await get("/other")).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await get("/ratelimit")).status).toBe(200);
    const text = await stats("http_local_rate_limit");
    expect(text).toMatch(/^route_rl\.http_local_rate_limit\.rate_limited: [1-9]/m);
    expect(text).toMatch(/^route_rl\.http_local_rate_limit\.enforced: [1-9]/m);
  });

  test("local_ratelimit: a bucket starts full — max_tokens 1 lets the first request through and refuses the next", async () => {
    // Full whatever clock read built it (test/unit/http/filters/token-bucket.test.ts holds the
    // case of a limiter built later in the same event than the time the request is judged at).
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await get("/ratelimit-full")).status);
    expect(statuses).toEqual([200, 429, 429]);
  });

  test("local_ratelimit: local_rate_limit_per_downstream_connection gives each connection its own bucket", async () => {
    const first = new Client(base, { pipelining: 1 });
    const second = new Client(base, { pipelining: 1 });
    try {
      const on = async (client: Client) => {
        const response = await client.request({ path: "/per-connection", method: "GET" });
        await response.body.text();
        return response.statusCode;
      };
      // One token per connection, never refilled within the test: the first connection's
      // second request is refused, while a second connection still has its own token.
      expect(await on(first)).toBe(200);
      expect(await on(first)).toBe(429);
      expect(await on(second)).toBe(200);
      expect(await on(second)).toBe(429);
    } finally {
      await first.close();
      await second.close();
    }
    const text = await stats("conn_rl");
    expect(text).toMatch(/^conn_rl\.http_local_rate_limit\.ok: 2$/m);
    expect(text).toMatch(/^conn_rl\.http_local_rate_limit\.rate_limited: 2$/m);
  });

  test("local_ratelimit: the filter's rate_limits and a dynamic descriptor — a bucket per distinct value, max_dynamic_descriptors kept, least recently used dropped", async () => {
    const as = async (user?: string) => (await get("/per-user", user === undefined ? {} : { "x-user": user })).status;
    expect([await as("a"), await as("a"), await as("b"), await as("b")]).toEqual([200, 429, 200, 429]);
    // No x-user: no descriptor, the default bucket only.
    expect([await as(), await as()]).toEqual([200, 200]);
    // A third user's bucket drops the least recently used one (a's): a starts again full (which
    // drops b's); c's and a's buckets are then kept, empty.
    expect([await as("c"), await as("a"), await as("a"), await as("c")]).toEqual([200, 200, 429, 429]);
    expect(await stats("user_rl")).toMatch(/^user_rl\.http_local_rate_limit\.rate_limited: 4$/m);
    expect([(await get("/per-source")).status, (await get("/per-source")).status]).toEqual([200, 429]);
  });

  test("fault: abort 503 at 100 %, a header-requested abort, and a measurable delay", async () => {
    const abort = await get("/abort");
    expect(abort.status).toBe(503);
    expect(abort.body).toBe("fault filter abort");
    expect((await get("/other", { "x-envoy-fault-abort-request": "418" })).status).toBe(418);
    expect((await get("/other")).status).toBe(200);
    const start = performance.now();
    const delayed = await get("/delay");
    const elapsed = performance.now() - start;
    expect(delayed.status).toBe(200);
    expect(elapsed).toBeGreaterThanOrEqual(390);
    const text = await stats("fault");
    expect(text).toMatch(/^http\.ingress_http\.fault\.aborts_injected: 2$/m);
    expect(text).toMatch(/^http\.ingress_http\.fault\.delays_injected: 1$/m);
  });

  test("buffer: a body over max_request_bytes gets 413, one within it reaches the upstream", async () => {
    const big = await request(base + "/upload", { method: "POST", body: "x".repeat(2000) });
    expect(big.statusCode).toBe(413);
    expect(await big.body.text()).toBe("Payload Too Large");
    const small = await request(base + "/upload", { method: "POST", body: "y".repeat(1000) });
    expect(small.statusCode).toBe(200);
    expect(await small.body.text()).toBe("/upload 1000");
  });

  test("cors: a preflight is answered by the proxy with the policy's headers; a simple request gets allow-origin", async () => {
    const seen = echo.requests.length;
    const preflight = await request(base + "/cors/item", {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "PUT" },
    });
    expect(preflight.statusCode).toBe(200);
    await preflight.body.text();
    expect(preflight.headers["access-control-allow-origin"]).toBe("https://app.example");
    expect(preflight.headers["access-control-allow-methods"]).toBe("GET, PUT");
    expect(preflight.headers["access-control-allow-headers"]).toBe("content-type");
    expect(preflight.headers["access-control-max-age"]).toBe("600");
    expect(preflight.headers["access-control-allow-credentials"]).toBe("true");
    expect(echo.requests.length).toBe(seen);
    const simple = await get("/cors/item", { origin: "https://app.example" });
    expect(simple.body).toBe("/cors/item 0");
    expect(simple.headers["access-control-allow-origin"]).toBe("https://app.example");
    expect(simple.headers["access-control-expose-headers"]).toBe("x-request-id");
    const other = await get("/cors/item", { origin: "https://evil.example" });
    expect(other.headers["access-control-allow-origin"]).toBeUndefined();
    const text = await stats("cors");
    expect(text).toMatch(/^http\.ingress_http\.cors\.origin_valid: 2$/m);
    expect(text).toMatch(/^http\.ingress_http\.cors\.origin_invalid: 1$/m);
  });

  test("cors: a direct_response or redirect route gets no CORS handling, as Envoy's filter needs a route entry", async () => {
    const before = await stats("cors");
    const preflight = await request(base + "/cors-direct", {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "GET" },
    });
    // The router's direct response, not the filter's preflight answer.
    expect(await preflight.body.text()).toBe("direct");
    expect(preflight.headers["access-control-allow-origin"]).toBeUndefined();
    expect(preflight.headers["access-control-allow-methods"]).toBeUndefined();
    const simple = await get("/cors-direct", { origin: "https://app.example" });
    expect(simple.body).toBe("direct");
    expect(simple.headers["access-control-allow-origin"]).toBeUndefined();
    const redirect = await get("/cors-redirect", { origin: "https://app.example" });
    expect(redirect.status).toBe(301);
    expect(redirect.headers["access-control-allow-origin"]).toBeUndefined();
    // Nothing counted either.
    expect(await stats("cors")).toBe(before);
  });

  test("csrf: a POST from another origin gets 403 Invalid origin, one from the proxy's own origin goes through", async () => {
    const refused = await request(base + "/csrf", { method: "POST", headers: { origin: "https://evil.example" }, body: "x" });
    expect(refused.statusCode).toBe(403);
    expect(await refused.body.text()).toBe("Invalid origin");
    const allowed = await request(base + "/csrf", { method: "POST", headers: { origin: base }, body: "x" });
    expect(allowed.statusCode).toBe(200);
    expect(await allowed.body.text()).toBe("/csrf 1");
  });

  test("header_mutation: request headers removed and added before the upstream, a response header set", async () => {
    const response = await get("/mutate", { "x-drop-me": "1" });
    expect(response.status).toBe(200);
    expect(response.headers["x-served-by"]).toBe("polyvoy");
    const seen = echo.requests.at(-1)!;
    expect(seen.url).toBe("/mutate");
    expect(seen.headers["x-drop-me"]).toBeUndefined();
    expect(seen.headers["x-mutated"]).toBe("yes");
  });

  test("deprecated cors on a virtual host and a route: preflight and actual requests, the route's fields first", async () => {
    const seen = echo.requests.length;
    const preflight = (path: string, origin: string) =>
      request(base + path, { method: "OPTIONS", headers: { host: "legacy.example", origin, "access-control-request-method": "GET" } });
    // The virtual host's policy alone.
    const vh = await preflight("/page", "https://a.vh.example");
    await vh.body.text();
    expect(vh.statusCode).toBe(200);
    expect(vh.headers["access-control-allow-origin"]).toBe("https://a.vh.example");
    expect(vh.headers["access-control-allow-methods"]).toBe("GET");
    expect(vh.headers["access-control-allow-headers"]).toBe("x-vh");
    expect(vh.headers["access-control-max-age"]).toBe("60");
    // The route's allow_methods over the virtual host's; its origins are the virtual host's.
    const routed = await preflight("/route-cors", "https://b.vh.example");
    await routed.body.text();
    expect(routed.headers["access-control-allow-origin"]).toBe("https://b.vh.example");
    expect(routed.headers["access-control-allow-methods"]).toBe("DELETE");
    expect(routed.headers["access-control-allow-headers"]).toBe("x-vh");
    expect(echo.requests.length).toBe(seen);
    // An origin outside the policy: the preflight goes on to the upstream, without CORS headers.
    const foreign = await preflight("/page", "https://evil.example");
    await foreign.body.text();
    expect(foreign.headers["access-control-allow-origin"]).toBeUndefined();
    expect(echo.requests.length).toBe(seen + 1);
    // Actual requests: allow-origin, and the route's expose_headers.
    const actual = await get("/route-cors/x", { host: "legacy.example", origin: "https://c.vh.example" });
    expect(actual.body).toBe("/route-cors/x 0");
    expect(actual.headers["access-control-allow-origin"]).toBe("https://c.vh.example");
    expect(actual.headers["access-control-expose-headers"]).toBe("x-route");
    const plain = await get("/page", { host: "legacy.example", origin: "https://evil.example" });
    expect(plain.headers["access-control-allow-origin"]).toBeUndefined();
  });
});
