/** The envoy.filters.http.custom_response filter (core/http/filters/custom-response.ts) in a proxy on the memory runtime. */
import { afterEach, describe, expect, test } from "vitest";
import { gunzipSync } from "node:zlib";
import { filterProxy, type FilterProxy } from "./support/filter-proxy.ts";

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.custom_response.v3.CustomResponse";
const LOCAL = "type.googleapis.com/envoy.extensions.http.custom_response.local_response_policy.v3.LocalResponsePolicy";
const REDIRECT = "type.googleapis.com/envoy.extensions.http.custom_response.redirect_policy.v3.RedirectPolicy";
const CODE = "type.googleapis.com/envoy.type.matcher.v3.HttpResponseStatusCodeMatchInput";
const CLASS = "type.googleapis.com/envoy.type.matcher.v3.HttpResponseStatusCodeClassMatchInput";
const HEADER = "type.googleapis.com/envoy.type.matcher.v3.HttpResponseHeaderMatchInput";

const input = (typeUrl: string, fields: Record<string, unknown> = {}) => ({ name: "in", typed_config: { "@type": typeUrl, ...fields } });
const action = (typeUrl: string, fields: Record<string, unknown>) => ({ action: { name: "policy", typed_config: { "@type": typeUrl, ...fields } } });
const single = (typeUrl: string, exact: string, fields: Record<string, unknown> = {}) => ({ single_predicate: { input: input(typeUrl, fields), value_match: { exact } } });
const customResponse = (matcher: Record<string, unknown>) => ({ "@type": TYPE, custom_response_matcher: matcher });
const filter = (matcher: Record<string, unknown>) => ({ name: "envoy.filters.http.custom_response", typed_config: customResponse(matcher) });

let proxy: FilterProxy | undefined;
afterEach(() => {
  proxy?.close();
  proxy = undefined;
});

/** The upstream answers /status/N with N and a body naming the path. */
function statusByPath(p: FilterProxy): void {
  p.upstream.handler = (req, res) => {
    const m = /\/status\/(\d+)/.exec(req.path);
    res.respond(m ? Number(m[1]) : 200, `upstream ${req.path}`, { "x-upstream": "1" });
  };
}

describe("custom_response filter", () => {
  test("LocalResponsePolicy replaces a matching upstream response: status_code, body_format with %LOCAL_REPLY_BODY%, response_headers_to_add", async () => {
    proxy = await filterProxy([
      filter({
        matcher_list: {
          matchers: [
            {
              predicate: single(CLASS, "4xx"),
              on_match: action(LOCAL, {
                status_code: 499,
                body: { inline_string: "not allowed" },
                body_format: { json_format: { status: "%RESPONSE_CODE%", message: "%LOCAL_REPLY_BODY%" } },
                response_headers_to_add: [{ header: { key: "foo", value: "x-bar" } }, { header: { key: "x-path", value: "%REQ(:PATH)%" } }],
              }),
            },
            // No status_code: the response's own is kept.
            { predicate: single(CODE, "503"), on_match: action(LOCAL, { body: { inline_string: "try later" } }) },
          ],
        },
      }),
    ]);
    statusByPath(proxy);
    const replaced = await proxy.request("GET", "/status/401");
    expect(replaced.status).toBe(499);
    // %RESPONSE_CODE% is the code of the response being replaced (the router has set it by then, as in Envoy).
    expect(JSON.parse(replaced.text())).toEqual({ status: 401, message: "not allowed" });
    expect(replaced.get("foo")).toBe("x-bar");
    expect(replaced.get("x-path")).toBe("/status/401");
    // A local reply: nothing of the upstream's response is kept.
    expect(replaced.get("x-upstream")).toBeUndefined();
    const unavailable = await proxy.request("GET", "/status/503");
    expect(unavailable.status).toBe(503);
    expect(unavailable.text()).toBe("try later");
    // Not matched: passed through.
    const ok = await proxy.request("GET", "/status/500");
    expect(ok.status).toBe(500);
    expect(ok.text()).toBe("upstream /status/500");
  });

  test("matcher_tree exact_match_map on the status code, a response header predicate, on_no_match", async () => {
    proxy = await filterProxy([
      filter({
        matcher_tree: { input: input(CODE), exact_match_map: { map: { "404": action(LOCAL, { body: { inline_string: "tree 404" } }) } } },
        on_no_match: action(LOCAL, { status_code: 200, body: { inline_string: "no match" } }),
      }),
    ]);
    statusByPath(proxy);
    expect((await proxy.request("GET", "/status/404")).text()).toBe("tree 404");
    const other = await proxy.request("GET", "/status/201");
    expect([other.status, other.text()]).toEqual([200, "no match"]);

    proxy.close();
    proxy = await filterProxy([filter({ matcher_list: { matchers: [{ predicate: single(HEADER, "1", { header_name: "X-Upstream" }), on_match: action(LOCAL, { status_code: 202 }) }] } })]);
    statusByPath(proxy);
    expect((await proxy.request("GET", "/")).status).toBe(202);
  });

  test("a route's CustomResponse wins where it matches; elsewhere the filter's applies", async () => {
    proxy = await filterProxy([filter({ matcher_list: { matchers: [{ predicate: single(CLASS, "5xx"), on_match: action(LOCAL, { body: { inline_string: "filter" } }) }] } })], {
      routes: [
        {
          match: { prefix: "/special" },
          action: {
            route: { cluster: "backend" },
            typed_per_filter_config: {
              "envoy.filters.http.custom_response": customResponse({ matcher_list: { matchers: [{ predicate: single(CODE, "502"), on_match: action(LOCAL, { body: { inline_string: "route" } }) }] } }),
            },
          },
        },
        { match: { prefix: "/" }, cluster: "backend" },
      ],
    });
    proxy.upstream.handler = (req, res) => res.respond(req.path.endsWith("502") ? 502 : 503, "upstream");
    expect((await proxy.request("GET", "/special/502")).text()).toBe("route");
    expect((await proxy.request("GET", "/special/503")).text()).toBe("filter");
    expect((await proxy.request("GET", "/502")).text()).toBe("filter");
  });

  test("a local reply (no healthy upstream) is matched too", async () => {
    proxy = await filterProxy([filter({ matcher_list: { matchers: [{ predicate: single(CODE, "503"), on_match: action(LOCAL, { body: { inline_string: "custom 503" } }) }] } })]);
    proxy.upstream.close();
    const reply = await proxy.request("GET", "/");
    expect(reply.status).toBe(503);
    expect(reply.text()).toBe("custom 503");
  });

  test("RedirectPolicy: the request goes again as a GET to uri, with request_headers_to_add; the response gets status_code and response_headers_to_add", async () => {
    proxy = await filterProxy([
      filter({
        matcher_list: {
          matchers: [
            {
              predicate: single(CODE, "401"),
              on_match: action(REDIRECT, {
                uri: "https://errors.example/login?from=401#frag",
                status_code: 299,
                request_headers_to_add: [{ header: { key: "x-redirected", value: "yes" } }],
                response_headers_to_add: [{ header: { key: "x-custom", value: "redirected" } }],
              }),
            },
            // No status_code: the first response's code (503) is kept.
            { predicate: single(CODE, "503"), on_match: action(REDIRECT, { redirect_action: { path_redirect: "/maintenance" } }) },
          ],
        },
      }),
    ]);
    statusByPath(proxy);
    const login = await proxy.request("POST", "/status/401", { body: "payload" });
    expect(login.status).toBe(299);
    expect(login.text()).toBe("upstream /login?from=401");
    expect(login.get("x-custom")).toBe("redirected");
    const second = proxy.upstream.requests[1]!;
    expect([second.method, second.path, second.text()]).toEqual(["GET", "/login?from=401", ""]);
    expect(second.get("x-redirected")).toBe("yes");
    expect(second.get("host")).toBe("errors.example");
    expect(second.get("content-length")).toBeUndefined();

    const maintenance = await proxy.request("GET", "/status/503?x=1");
    expect(maintenance.status).toBe(503);
    // The redirect's response is not matched again (its 200 would not be anyway; its code becomes the first one's).
    expect(maintenance.text()).toBe("upstream /maintenance?x=1");
  });

  test("RedirectPolicy to a URL no route matches: counted, and the response goes on as it is", async () => {
    proxy = await filterProxy([filter({ matcher_list: { matchers: [{ predicate: single(CODE, "401"), on_match: action(REDIRECT, { uri: "http://nowhere.example/x" }) }] } })], {
      virtualHosts: [{ name: "only", domains: ["example.com"], routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }] }],
    });
    statusByPath(proxy);
    const reply = await proxy.request("GET", "/status/401");
    expect([reply.status, reply.text()]).toEqual([401, "upstream /status/401"]);
    expect(proxy.counter("http.ingress_http.custom_response_redirect_no_route")).toBe(1);
  });

  test("RedirectPolicy: request_headers_to_add are in the request before the new route is chosen (a route matching only with them)", async () => {
    proxy = await filterProxy([filter({ matcher_list: { matchers: [{ predicate: single(CODE, "401"), on_match: action(REDIRECT, { uri: "http://example.com/errors/page", request_headers_to_add: [{ header: { key: "x-cr", value: "1" } }] }) }] } })], {
      routes: [
        { match: { prefix: "/errors", headers: [{ name: "x-cr", string_match: { exact: "1" } }] }, cluster: "backend" },
        { match: { prefix: "/status" }, cluster: "backend" },
      ],
    });
    statusByPath(proxy);
    const reply = await proxy.request("GET", "/status/401");
    expect([reply.status, reply.text()]).toEqual([401, "upstream /errors/page"]);
    expect(proxy.counter("http.ingress_http.custom_response_redirect_no_route")).toBe(0);
  });

  test("a redirected stream keeps no filter state of the first one's chain: the compressor decides again on the new response", async () => {
    const compressor = { name: "envoy.filters.http.compressor", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor", compressor_library: { name: "text", typed_config: { "@type": "type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip" } } } };
    proxy = await filterProxy([filter({ matcher_list: { matchers: [{ predicate: single(CODE, "503"), on_match: action(REDIRECT, { uri: "http://example.com/page" }) }] } }), compressor]);
    const page = "<html>" + "custom error page ".repeat(40) + "</html>";
    proxy.upstream.handler = (req, res) => {
      if (req.path === "/page") res.respond(200, page, { "content-type": "text/html" });
      else res.respond(503, "x".repeat(100), { "content-type": "application/octet-stream" });
    };
    const reply = await proxy.request("GET", "/", { headers: { "accept-encoding": "gzip" } });
    expect(reply.status).toBe(503);
    expect(reply.get("content-encoding")).toBe("gzip");
    expect(gunzipSync(reply.body).toString("latin1")).toBe(page);
  });

  test("redirect stats have Envoy's names; a per-route config counts them in the root scope", async () => {
    const redirect = (uri: string) => ({ matcher_list: { matchers: [{ predicate: single(CODE, "401"), on_match: action(REDIRECT, { redirect_action: { host_redirect: uri } }) }] } });
    proxy = await filterProxy([filter(redirect("bad host"))], {
      routes: [
        { match: { prefix: "/route" }, action: { route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.custom_response": customResponse(redirect("also bad")) } } },
        { match: { prefix: "/" }, cluster: "backend" },
      ],
    });
    statusByPath(proxy);
    expect((await proxy.request("GET", "/status/401")).status).toBe(401);
    expect((await proxy.request("GET", "/route/status/401")).status).toBe(401);
    expect(proxy.counter("http.ingress_http.custom_response_invalid_uri")).toBe(1);
    expect(proxy.counter("custom_response_invalid_uri")).toBe(1);
  });

  test("%RESPONSE_CODE% in response_headers_to_add is the new response's code: a local reply's status, a redirect's response", async () => {
    proxy = await filterProxy([
      filter({
        matcher_list: {
          matchers: [
            { predicate: single(CODE, "401"), on_match: action(LOCAL, { status_code: 418, response_headers_to_add: [{ header: { key: "x-code", value: "%RESPONSE_CODE%" } }] }) },
            { predicate: single(CODE, "503"), on_match: action(REDIRECT, { uri: "http://example.com/status/202", response_headers_to_add: [{ header: { key: "x-code", value: "%RESPONSE_CODE%" } }] }) },
          ],
        },
      }),
    ]);
    statusByPath(proxy);
    const local = await proxy.request("GET", "/status/401");
    expect([local.status, local.get("x-code")]).toEqual([418, "418"]);
    const redirected = await proxy.request("GET", "/status/503");
    expect([redirected.status, redirected.get("x-code")]).toEqual([503, "202"]);
  });

  test("HttpResponseHeaderMatchInput on :status matches the status code", async () => {
    proxy = await filterProxy([filter({ matcher_list: { matchers: [{ predicate: single(HEADER, "404", { header_name: ":status" }), on_match: action(LOCAL, { body: { inline_string: "by :status" } }) }] } })]);
    statusByPath(proxy);
    const reply = await proxy.request("GET", "/status/404");
    expect([reply.status, reply.text()]).toEqual([404, "by :status"]);
  });
});
