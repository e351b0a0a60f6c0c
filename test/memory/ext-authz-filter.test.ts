/**
 * The envoy.filters.http.ext_authz filter (core/http/filters/ext-authz.ts) with an HTTP
 * authorization service, and the async client under it (core/http/async-client.ts), on
 * the memory runtime: allowed, denied, error, retry, timeout, failure_mode_allow, request body.
 */
import { afterEach, describe, expect, test } from "vitest";
import { filterProxy, PROXY_PORT, type FilterProxy } from "./support/filter-proxy.ts";
import { MemoryHttpClient, MemoryHttpServer, type UpstreamResponse } from "./support/http-peers.ts";
import type { HttpMessage } from "./support/http-wire.ts";

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute";
const AUTHZ_PORT = 9001;
const STATS = "http.ingress_http.ext_authz.";

function extAuthz(fields: Record<string, unknown> = {}, service: Record<string, unknown> = {}) {
  return {
    name: "envoy.filters.http.ext_authz",
    typed_config: {
      "@type": TYPE,
      http_service: { server_uri: { uri: "http://authz", cluster: "authz", timeout: "0.5s" }, ...service },
      ...fields,
    },
  };
}

let proxy: FilterProxy | undefined;
let authz: MemoryHttpServer | undefined;
let checks: HttpMessage[] = [];

afterEach(() => {
  proxy?.close();
  authz?.close();
  proxy = undefined;
  authz = undefined;
  checks = [];
});

/** A proxy with the filter, and an authorization service answering with `decide`. */
async function setUp(filter: object, decide: (check: HttpMessage, res: UpstreamResponse) => void, options: Parameters<typeof filterProxy>[1] = {}): Promise<FilterProxy> {
  proxy = await filterProxy([filter], { ...options, clusters: { authz: [AUTHZ_PORT] } });
  authz = await MemoryHttpServer.listen(proxy.runtime, AUTHZ_PORT, (check, res) => {
    checks.push(check);
    decide(check, res);
  });
  return proxy;
}

/** Allows requests with "authorization: Bearer good", denies the rest with 401 and a challenge. */
function bearer(check: HttpMessage, res: UpstreamResponse): void {
  if (check.get("authorization") === "Bearer good") res.respond(200, "", { "x-user": "alice", "x-auth-note": "fine", "x-envoy-auth-headers-to-remove": "x-strip-me" });
  else res.respond(401, "who are you?", { "www-authenticate": 'Bearer realm="test"', "x-denied-by": "authz", "content-type": "text/html" });
}

describe("ext_authz filter with an HTTP service", () => {
  test("the check request: the original method, path_prefix + path, Host, Authorization, allowed headers and headers_to_add, no body", async () => {
    await setUp(
      extAuthz({}, { path_prefix: "/check", authorization_request: { allowed_headers: { patterns: [{ prefix: "x-client-" }] }, headers_to_add: [{ key: "x-authz-from", value: "polyvoy" }] } }),
      bearer,
    );
    await proxy!.request("POST", "/items?id=1", { headers: { authorization: "Bearer good", "x-client-id": "7", "x-other": "no" }, body: "payload" });
    expect(checks).toHaveLength(1);
    const check = checks[0]!;
    expect(check.method).toBe("POST");
    expect(check.path).toBe("/check/items?id=1");
    expect(check.get("host")).toBe("example.com");
    expect(check.get("authorization")).toBe("Bearer good");
    expect(check.get("x-client-id")).toBe("7");
    expect(check.get("x-other")).toBeUndefined();
    expect(check.get("x-authz-from")).toBe("polyvoy");
    expect(check.get("content-length")).toBe("0");
    expect(check.text()).toBe("");
  });

  test("headers_to_add values are substitution formats evaluated per request (%REQ(…)% of the client's request); an empty result is not sent", async () => {
    await setUp(
      extAuthz({}, { authorization_request: { headers_to_add: [{ key: "x-forwarded-host", value: "%REQ(host)%" }, { key: "x-jwt", value: "%REQ(x-jwt-payload)%" }, { key: "x-pct", value: "100%%" }, { key: "x-none", value: "%REQ(x-absent)%" }] } }),
      bearer,
    );
    await proxy!.request("GET", "/", { headers: { authorization: "Bearer good", "x-jwt-payload": "e30" } });
    const check = checks[0]!;
    expect(check.get("x-forwarded-host")).toBe("example.com");
    expect(check.get("x-jwt")).toBe("e30");
    expect(check.get("x-pct")).toBe("100%");
    expect(check.get("x-none")).toBeUndefined();
  });

  test("the top-level allowed_headers stands for authorization_request.allowed_headers; both set is Envoy's duplicate error", async () => {
    await setUp(extAuthz({ allowed_headers: { patterns: [{ exact: "x-request-id" }] } }), bearer);
    await proxy!.request("GET", "/", { headers: { authorization: "Bearer good", "x-request-id": "r1", "x-other": "no" } });
    expect(checks[0]!.get("x-request-id")).toBe("r1");
    expect(checks[0]!.get("authorization")).toBe("Bearer good");
    expect(checks[0]!.get("x-other")).toBeUndefined();
    await expect(
      filterProxy([extAuthz({ allowed_headers: { patterns: [{ exact: "a" }] } }, { authorization_request: { allowed_headers: { patterns: [{ exact: "b" }] } } })], { clusters: { authz: [AUTHZ_PORT] } }),
    ).rejects.toThrow("typed_config.allowed_headers: Invalid duplicate configuration for allowed_headers.");
    await expect(filterProxy([extAuthz({ metadata_context_namespaces: ["envoy.filters.http.jwt_authn"] })], { clusters: { authz: [AUTHZ_PORT] } })).rejects.toThrow(
      "metadata_context_namespaces",
    );
  });

  test("allowed: allowed_upstream_headers set on the request, x-envoy-auth-headers-to-remove honoured, allowed_client_headers_on_success on the response", async () => {
    await setUp(
      extAuthz({}, { authorization_response: { allowed_upstream_headers: { patterns: [{ exact: "x-user" }] }, allowed_client_headers_on_success: { patterns: [{ exact: "x-auth-note" }] } } }),
      bearer,
    );
    const response = await proxy!.request("GET", "/", { headers: { authorization: "Bearer good", "x-user": "mallory", "x-strip-me": "1" } });
    expect(response.status).toBe(200);
    expect(response.get("x-auth-note")).toBe("fine");
    const upstream = proxy!.upstreamRequests[0]!;
    expect(upstream.headers.filter(([name]) => name === "x-user")).toEqual([["x-user", "alice"]]);
    expect(upstream.headers.find(([name]) => name === "x-strip-me")).toBeUndefined();
    expect(upstream.headers.find(([name]) => name === "x-auth-note")).toBeUndefined();
    expect(proxy!.counter(STATS + "ok")).toBe(1);
    expect(proxy!.counter("cluster.backend.ext_authz.ok")).toBe(1);
  });

  test("denied: the service's status, body and headers go to the client (all but Host by default); the upstream never sees the request", async () => {
    await setUp(extAuthz(), bearer);
    const response = await proxy!.request("GET", "/secret", { headers: { authorization: "Bearer bad" } });
    expect(response.status).toBe(401);
    expect(response.text()).toBe("who are you?");
    expect(response.get("www-authenticate")).toBe('Bearer realm="test"');
    expect(response.get("x-denied-by")).toBe("authz");
    expect(response.get("content-type")).toBe("text/html");
    expect(proxy!.upstreamRequests).toHaveLength(0);
    expect(proxy!.counter(STATS + "denied")).toBe(1);
    expect(proxy!.counter("cluster.backend.ext_authz.denied")).toBe(1);
    // ext_authz.cc onComplete: the denial is charged to the route cluster as its answer, internal.
    for (const prefix of ["cluster.backend.", "cluster.backend.internal."]) {
      expect(proxy!.counter(prefix + "upstream_rq_completed")).toBe(1);
      expect(proxy!.counter(prefix + "upstream_rq_4xx")).toBe(1);
      expect(proxy!.counter(prefix + "upstream_rq_401")).toBe(1);
    }
    expect(proxy!.counter("cluster.backend.external.upstream_rq_completed")).toBe(0);
  });

  test("allowed_client_headers limits a denial's headers to the list and Envoy's few (www-authenticate, location)", async () => {
    await setUp(extAuthz({}, { authorization_response: { allowed_client_headers: { patterns: [{ exact: "x-nothing" }] } } }), bearer);
    const response = await proxy!.request("GET", "/");
    expect(response.status).toBe(401);
    expect(response.get("www-authenticate")).toBe('Bearer realm="test"');
    expect(response.get("x-denied-by")).toBeUndefined();
  });

  test("error: a 5xx from the service, or no service at all, is 403 with an empty body (status_on_error changes it)", async () => {
    await setUp(extAuthz({ status_on_error: { code: 503 } }), (_check, res) => res.respond(500, "boom"));
    const response = await proxy!.request("GET", "/");
    expect(response.status).toBe(503);
    expect(response.text()).toBe("");
    expect(proxy!.counter(STATS + "error")).toBe(1);
    proxy!.close();
    authz!.close();
    // Nothing listens on the service's port: a connection failure.
    proxy = await filterProxy([extAuthz()], { clusters: { authz: [AUTHZ_PORT + 1] } });
    const refused = await proxy.request("GET", "/");
    expect(refused.status).toBe(403);
    expect(refused.text()).toBe("");
    expect(proxy.counter(STATS + "error")).toBe(1);
  });

  test("http_service.retry_policy: a 5xx from the service is retried (Envoy's 5xx,gateway-error,connect-failure,reset) and the second answer stands", async () => {
    let n = 0;
    await setUp(extAuthz({}, { retry_policy: { num_retries: 1, retry_back_off: { base_interval: "0.01s" } } }), (check, res) => (++n === 1 ? res.respond(503, "warming up") : bearer(check, res)));
    const client = new MemoryHttpClient(proxy!.runtime, PROXY_PORT);
    client.request("GET", "/", { headers: { authorization: "Bearer good" } });
    // The back-off (under 10 ms, jittered) passes.
    await proxy!.runtime.settle(100);
    expect(client.responses.map((r) => r.status)).toEqual([200]);
    expect(checks).toHaveLength(2);
    expect(proxy!.counter("cluster.authz.upstream_rq_retry")).toBe(1);
    expect(proxy!.counter("cluster.authz.retry.upstream_rq_503")).toBe(1);
    expect(proxy!.counter(STATS + "error")).toBe(0);
  });

  test("timeout: a service slower than server_uri.timeout is an error; failure_mode_allow lets the request through, with the header when asked", async () => {
    const slow: UpstreamResponse[] = [];
    await setUp(extAuthz({ failure_mode_allow: true, failure_mode_allow_header_add: true }), (_check, res) => slow.push(res));
    const client = new MemoryHttpClient(proxy!.runtime, PROXY_PORT);
    client.request("GET", "/");
    await proxy!.runtime.settle(499);
    expect(slow).toHaveLength(1);
    expect(client.responses).toHaveLength(0);
    await proxy!.runtime.settle(10);
    expect(client.responses[0]!.status).toBe(200);
    expect(proxy!.upstreamRequests[0]!.headers).toContainEqual(["x-envoy-auth-failure-mode-allowed", "true"]);
    expect(proxy!.counter(STATS + "error")).toBe(1);
    expect(proxy!.counter(STATS + "failure_mode_allowed")).toBe(1);
    expect(proxy!.counter("cluster.authz.upstream_rq_timeout")).toBe(1);
  });

  test("with_request_body: the body goes to the service (cut at max_request_bytes with allow_partial_message), and on to the upstream whole", async () => {
    await setUp(extAuthz({ with_request_body: { max_request_bytes: 4, allow_partial_message: true } }), (_check, res) => res.respond(200));
    const response = await proxy!.request("POST", "/upload", { body: "0123456789" });
    expect(response.status).toBe(200);
    expect(checks[0]!.text()).toBe("0123");
    expect(checks[0]!.get("content-length")).toBe("4");
    expect(proxy!.upstreamRequests[0]!.body).toBe("0123456789");
  });

  test("with_request_body without allow_partial_message: a body over max_request_bytes is 413, never checked", async () => {
    await setUp(extAuthz({ with_request_body: { max_request_bytes: 4 } }), (_check, res) => res.respond(200));
    const small = await proxy!.request("POST", "/", { body: "abc" });
    expect(small.status).toBe(200);
    expect(checks[0]!.text()).toBe("abc");
    const big = await proxy!.request("POST", "/", { body: "0123456789" });
    expect(big.status).toBe(413);
    expect(checks).toHaveLength(1);
  });

  test("ExtAuthzPerRoute: disabled skips the check on its route; check_settings may turn body buffering off", async () => {
    await setUp(extAuthz({ with_request_body: { max_request_bytes: 100 } }), bearer, {
      routes: [
        { match: { prefix: "/public" }, action: { route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.ext_authz": { "@type": PER_ROUTE, disabled: true } } } },
        {
          match: { prefix: "/nobody" },
          action: {
            route: { cluster: "backend" },
            typed_per_filter_config: { "envoy.filters.http.ext_authz": { "@type": PER_ROUTE, check_settings: { disable_request_body_buffering: true, context_extensions: { a: "b" } } } },
          },
        },
        { match: { prefix: "/" }, cluster: "backend" },
      ],
    });
    expect((await proxy!.request("GET", "/public")).status).toBe(200);
    expect(checks).toHaveLength(0);
    expect((await proxy!.request("POST", "/nobody", { headers: { authorization: "Bearer good" }, body: "xyz" })).status).toBe(200);
    expect(checks[0]!.text()).toBe("");
    expect((await proxy!.request("POST", "/other", { body: "xyz" })).status).toBe(401);
    expect(checks[1]!.text()).toBe("xyz");
  });

  test("filter_enabled off counts disabled and lets the request through, or with deny_at_disable answers status_on_error", async () => {
    const OFF = { default_value: { numerator: 0 } };
    await setUp(extAuthz({ filter_enabled: OFF, stat_prefix: "waf" }), bearer);
    expect((await proxy!.request("GET", "/")).status).toBe(200);
    expect(proxy!.counter(STATS + "waf.disabled")).toBe(1);
    proxy!.close();
    authz!.close();
    await setUp(extAuthz({ filter_enabled: OFF, deny_at_disable: { default_value: true } }), bearer);
    expect((await proxy!.request("GET", "/")).status).toBe(403);
    expect(checks).toHaveLength(0);
  });

  test("clear_route_cache: headers from the service route the request again", async () => {
    await setUp(extAuthz({ clear_route_cache: true }, { authorization_response: { allowed_upstream_headers: { patterns: [{ exact: "x-tier" }] } } }), (_check, res) => res.respond(200, "", { "x-tier": "gold" }), {
      routes: [
        { match: { prefix: "/", headers: [{ name: "x-tier", string_match: { exact: "gold" } }] }, action: { direct_response: { status: 299, body: { inline_string: "gold" } } } },
        { match: { prefix: "/" }, cluster: "backend" },
      ],
    });
    const response = await proxy!.request("GET", "/");
    expect(response.status).toBe(299);
    expect(response.text()).toBe("gold");
  });

  test("a client gone while the check is in flight cancels it: the service's connection is reset, nothing reaches the upstream", async () => {
    const held: UpstreamResponse[] = [];
    await setUp(extAuthz(), (_check, res) => held.push(res));
    const client = new MemoryHttpClient(proxy!.runtime, PROXY_PORT);
    client.request("GET", "/");
    await proxy!.runtime.settle(10);
    expect(held).toHaveLength(1);
    client.socket.reset();
    await proxy!.runtime.settle(10);
    // The check's connection was reset, not kept: a late answer goes nowhere.
    held[0]!.respond(200);
    await proxy!.runtime.settle(1000);
    expect(proxy!.upstreamRequests).toHaveLength(0);
    expect(proxy!.counter(STATS + "ok")).toBe(0);
    expect(proxy!.counter("cluster.authz.upstream_cx_destroy_local")).toBe(1);
  });
});
