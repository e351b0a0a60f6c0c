import { describe, expect, test } from "vitest";
import type { RouteConfiguration } from "../../../../core/config/bootstrap.ts";
import { routeConfiguration } from "../../../../core/config/route-config-schema.ts";
import { applyRequestHeaderMutations, applyResponseHeaderMutations, type HeaderFormatterSource, type MutableHeaders } from "../../../../core/http/route/custom-headers.ts";
import { RouteTable, type RouteRequest } from "../../../../core/http/route/route-table.ts";
import { RuntimeLoader, defaultsOnly } from "../../../../core/runtime/runtime-loader.ts";
import { ResponseHeaders } from "../../../../core/http/message.ts";
// Checks regexes synchronously: the RE2 engine loaded up front (core/config/regex-engine.ts).
import "../../../../core/config/regex-engine-static.ts";

type Json = Record<string, unknown>;

/** Literal header values never ask for the stream. */
const LITERALS_ONLY: HeaderFormatterSource = {
  headerFormatterContext() {
    throw new Error("a literal value asked for the formatter context");
  },
};

/** A validated route_config (snake_case, as after the loader's key normalization). */
function routeConfig(config: Json): RouteConfiguration {
  return routeConfiguration.parse(config);
}

/** A request; `headers` keys are lowercase, several values of one name are given joined by ",". */
function request(authority: string, path = "/", headers: Record<string, string> = {}, method = "GET"): RouteRequest {
  const pseudo: Record<string, string> = { ":authority": authority, ":path": path, ":method": method, ":scheme": "http" };
  return { authority, path, method, header: (name) => pseudo[name] ?? headers[name] };
}

/** A route named `name` that matches `match` and answers 200. */
function named(name: string, match: Json): Json {
  return { name, match, direct_response: { status: 200 } };
}

/** A table of one "*" virtual host with `routes`. */
function tableOf(...routes: Json[]): RouteTable {
  return new RouteTable(routeConfig({ virtual_hosts: [{ name: "any", domains: ["*"], routes }] }));
}

/** The name of the route chosen for `req`, or undefined. */
function routed(table: RouteTable, req: RouteRequest): string | undefined {
  return table.route(req)?.route.name;
}

describe("virtual host selection", () => {
  /** One virtual host per domain, named after it, each with a catch-all route. */
  function hostsFor(domains: string[], extra: Json = {}): RouteTable {
    const virtual_hosts = domains.map((domain) => ({ name: domain, domains: [domain], routes: [named("r", { prefix: "/" })] }));
    return new RouteTable(routeConfig({ virtual_hosts, ...extra }));
  }
  const host = (table: RouteTable, authority: string) => table.findVirtualHost(authority)?.name;

  test("exact, then suffix wildcards, then prefix wildcards, then *", () => {
    const table = hostsFor(["www.foo.com", "*.foo.com", "www.*", "*"]);
    expect(host(table, "www.foo.com")).toBe("www.foo.com");
    expect(host(table, "api.foo.com")).toBe("*.foo.com");
    expect(host(table, "www.bar.com")).toBe("www.*");
    expect(host(table, "bar.com")).toBe("*");
  });

  test("a suffix wildcard beats a prefix wildcard even when shorter", () => {
    const table = hostsFor(["*.com", "www.example.*"]);
    expect(host(table, "www.example.com")).toBe("*.com");
  });

  test("the longest wildcard wins", () => {
    const table = hostsFor(["*.foo.com", "*-bar.foo.com", "foo.*", "foo.bar.*"]);
    expect(host(table, "baz-bar.foo.com")).toBe("*-bar.foo.com");
    expect(host(table, "baz.foo.com")).toBe("*.foo.com");
    expect(host(table, "foo.bar.org")).toBe("foo.bar.*");
    expect(host(table, "foo.baz.org")).toBe("foo.*");
  });

  test("a wildcard does not match the empty string", () => {
    const table = hostsFor(["*.foo.com", "foo.*"]);
    expect(host(table, "x.foo.com")).toBe("*.foo.com");
    expect(host(table, ".foo.com")).toBeUndefined();
    expect(host(table, "foo.")).toBeUndefined();
    expect(host(table, "foo.x")).toBe("foo.*");
  });

  test("host and domains match case-insensitively", () => {
    const table = hostsFor(["Example.COM", "*.Foo.com"]);
    expect(host(table, "EXAMPLE.com")).toBe("Example.COM");
    expect(host(table, "API.FOO.COM")).toBe("*.Foo.com");
  });

  test("the port is part of the host, as in Envoy", () => {
    const table = hostsFor(["example.com", "example.com:8443", "api.com:*", "*"]);
    expect(host(table, "example.com")).toBe("example.com");
    expect(host(table, "example.com:8000")).toBe("*");
    expect(host(table, "example.com:8443")).toBe("example.com:8443");
    expect(host(table, "api.com:9000")).toBe("api.com:*");
  });

  test("ignore_port_in_host_matching drops the port before matching", () => {
    const table = hostsFor(["example.com", "[::1]", "*"], { ignore_port_in_host_matching: true });
    expect(host(table, "example.com:8000")).toBe("example.com");
    expect(host(table, "[::1]:8000")).toBe("[::1]");
    expect(host(table, "[::1]")).toBe("[::1]");
    expect(host(table, "other.com:80")).toBe("*");
  });

  test("no virtual host for an unknown host without *", () => {
    const table = hostsFor(["example.com"]);
    expect(host(table, "other.com")).toBeUndefined();
    expect(table.route(request("other.com"))).toBeUndefined();
  });

  test("with only *, any authority (even none) selects it", () => {
    const table = hostsFor(["*"]);
    expect(host(table, "")).toBe("*");
    expect(host(table, "whatever:1")).toBe("*");
  });

  test("routes come from the selected virtual host", () => {
    const table = new RouteTable(
      routeConfig({
        virtual_hosts: [
          { name: "api", domains: ["api.example.com"], routes: [named("api-root", { prefix: "/" })] },
          { name: "web", domains: ["*"], routes: [named("web-root", { prefix: "/" })] },
        ],
      }),
    );
    const match = table.route(request("api.example.com", "/x"));
    expect(match?.virtualHost.name).toBe("api");
    expect(match?.route.name).toBe("api-root");
    expect(routed(table, request("www.example.com", "/x"))).toBe("web-root");
  });
});

describe("path matching", () => {
  test("routes are tried in order and the first match wins", () => {
    const table = tableOf(named("service1", { prefix: "/service/1" }), named("root", { prefix: "/" }), named("never", { prefix: "/service/1/x" }));
    expect(routed(table, request("h", "/service/1/x"))).toBe("service1");
    expect(routed(table, request("h", "/service/2"))).toBe("root");
  });

  test("prefix: plain string prefix (not segment-aware), on the path without query or fragment", () => {
    const table = tableOf(named("api", { prefix: "/api" }), named("query", { prefix: "/q?a" }));
    expect(routed(table, request("h", "/api"))).toBe("api");
    expect(routed(table, request("h", "/apiary"))).toBe("api");
    expect(routed(table, request("h", "/api?x=1"))).toBe("api");
    expect(routed(table, request("h", "/ap"))).toBeUndefined();
    // The query string is not part of what prefix sees.
    expect(routed(table, request("h", "/q?a=1"))).toBeUndefined();
  });

  test("an empty prefix matches everything", () => {
    expect(routed(tableOf(named("all", { prefix: "" })), request("h", "/anything"))).toBe("all");
  });

  test("path: exact, ignoring query and fragment", () => {
    const table = tableOf(named("exact", { path: "/exact" }));
    expect(routed(table, request("h", "/exact"))).toBe("exact");
    expect(routed(table, request("h", "/exact?x=1"))).toBe("exact");
    expect(routed(table, request("h", "/exact#top"))).toBe("exact");
    expect(routed(table, request("h", "/exact/"))).toBeUndefined();
    expect(routed(table, request("h", "/exac"))).toBeUndefined();
  });

  test("path_separated_prefix: the prefix alone or followed by /, ignoring query and fragment; case_sensitive applies; Envoy's pattern refuses ? # and a trailing /", () => {
    const table = tableOf(named("api", { path_separated_prefix: "/api" }), named("img", { path_separated_prefix: "/Img", case_sensitive: false }));
    for (const path of ["/api", "/api/", "/api/v1/x", "/api?x=1", "/api#top"]) expect(routed(table, request("h", path))).toBe("api");
    for (const path of ["/apix", "/ap", "/API", "/apix/y"]) expect(routed(table, request("h", path))).toBeUndefined();
    expect(routed(table, request("h", "/IMG/a.png"))).toBe("img");
    const problem = (value: string) => routeConfiguration.safeParse({ virtual_hosts: [{ name: "v", domains: ["*"], routes: [named("r", { path_separated_prefix: value })] }] }).error?.issues[0]?.message;
    for (const bad of ["/api/", "/a?b", "/a#b", ""]) expect(problem(bad)).toBe('must not contain "?" or "#" nor end with "/"');
    expect(problem("/api")).toBeUndefined();
  });

  test("safe_regex: a full match of the path without query", () => {
    const table = tableOf(named("user", { safe_regex: { regex: "/users/[0-9]+" } }));
    expect(routed(table, request("h", "/users/42"))).toBe("user");
    expect(routed(table, request("h", "/users/42?tab=1"))).toBe("user");
    expect(routed(table, request("h", "/users/42/posts"))).toBeUndefined();
    expect(routed(table, request("h", "/v1/users/42"))).toBeUndefined();
  });

  test("case_sensitive: false applies to prefix and path; regexes ignore it but may use (?i)", () => {
    const table = tableOf(
      named("prefix", { prefix: "/Api", case_sensitive: false }),
      named("path", { path: "/Login", case_sensitive: false }),
      named("regex", { safe_regex: { regex: "/static/.*" }, case_sensitive: false }),
      named("regex-i", { safe_regex: { regex: "(?i)/img/.*" } }),
    );
    expect(routed(table, request("h", "/API/x"))).toBe("prefix");
    expect(routed(table, request("h", "/login"))).toBe("path");
    expect(routed(table, request("h", "/static/a.css"))).toBe("regex");
    expect(routed(table, request("h", "/STATIC/a.css"))).toBeUndefined();
    expect(routed(table, request("h", "/IMG/a.png"))).toBe("regex-i");
  });

  test("case-sensitive by default", () => {
    const table = tableOf(named("api", { prefix: "/api" }), named("login", { path: "/login" }));
    expect(routed(table, request("h", "/API"))).toBeUndefined();
    expect(routed(table, request("h", "/Login"))).toBeUndefined();
  });
});

describe("header matching", () => {
  const withHeaders = (...headers: Json[]) => tableOf(named("r", { prefix: "/", headers }));
  const matches = (table: RouteTable, headers: Record<string, string>, method = "GET") => routed(table, request("h", "/", headers, method)) === "r";

  test.each<[string, Json, Record<string, string>, boolean]>([
    ["exact_match", { exact_match: "v" }, { "x-h": "v" }, true],
    ["exact_match is case-sensitive", { exact_match: "v" }, { "x-h": "V" }, false],
    ["prefix_match", { prefix_match: "ab" }, { "x-h": "abc" }, true],
    ["suffix_match", { suffix_match: "bc" }, { "x-h": "abc" }, true],
    ["contains_match", { contains_match: "b" }, { "x-h": "abc" }, true],
    ["contains_match misses", { contains_match: "z" }, { "x-h": "abc" }, false],
    ["safe_regex_match is a full match", { safe_regex_match: { regex: "[0-9]+" } }, { "x-h": "12a" }, false],
    ["safe_regex_match", { safe_regex_match: { regex: "[0-9]+" } }, { "x-h": "123" }, true],
    ["string_match exact ignore_case", { string_match: { exact: "Yes", ignore_case: true } }, { "x-h": "yES" }, true],
    ["string_match prefix ignore_case", { string_match: { prefix: "Bearer ", ignore_case: true } }, { "x-h": "bearer t" }, true],
    ["string_match suffix", { string_match: { suffix: ".js" } }, { "x-h": "a.JS" }, false],
    ["string_match contains ignore_case", { string_match: { contains: "MOBILE", ignore_case: true } }, { "x-h": "a Mobile b" }, true],
    ["string_match regex ignores ignore_case", { string_match: { safe_regex: { regex: "abc" }, ignore_case: true } }, { "x-h": "ABC" }, false],
    ["an empty exact_match matches any value", { exact_match: "" }, { "x-h": "anything" }, true],
    ["no specifier means present", {}, { "x-h": "" }, true],
    ["present_match: true", { present_match: true }, { "x-h": "" }, true],
    ["present_match: false on a present header", { present_match: false }, { "x-h": "v" }, false],
    ["invert_match", { exact_match: "v", invert_match: true }, { "x-h": "w" }, true],
    ["invert_match on a match", { exact_match: "v", invert_match: true }, { "x-h": "v" }, false],
    // A missing header: only presence checks can match it (Envoy's header_utility.cc).
    ["missing header, value matcher", { exact_match: "v" }, {}, false],
    ["missing header, inverted value matcher (Envoy: still no match)", { exact_match: "v", invert_match: true }, {}, false],
    ["missing header, present_match: false", { present_match: false }, {}, true],
    ["missing header, present_match: true", { present_match: true }, {}, false],
    ["missing header, inverted present_match: true", { present_match: true, invert_match: true }, {}, true],
    ["missing header, inverted present_match: false", { present_match: false, invert_match: true }, {}, false],
  ])("%s", (_, matcher, headers, expected) => {
    expect(matches(withHeaders({ name: "X-H", ...matcher }), headers)).toBe(expected);
  });

  test("several header values are matched as one joined value", () => {
    expect(matches(withHeaders({ name: "x-h", exact_match: "a,b" }), { "x-h": "a,b" })).toBe(true);
  });

  test("pseudo-headers such as :method can be matched", () => {
    const table = withHeaders({ name: ":method", exact_match: "POST" });
    expect(matches(table, {}, "POST")).toBe(true);
    expect(matches(table, {}, "GET")).toBe(false);
  });

  test("every header matcher must match, and a later route can still match", () => {
    const table = tableOf(
      named("both", { prefix: "/", headers: [{ name: "a", exact_match: "1" }, { name: "b", present_match: true }] }),
      named("fallback", { prefix: "/" }),
    );
    expect(routed(table, request("h", "/", { a: "1", b: "" }))).toBe("both");
    expect(routed(table, request("h", "/", { a: "1" }))).toBe("fallback");
    expect(routed(table, request("h", "/", { b: "x" }))).toBe("fallback");
  });
});

describe("query parameter matching", () => {
  const withQuery = (...query_parameters: Json[]) => tableOf(named("r", { prefix: "/", query_parameters }));
  const matches = (table: RouteTable, path: string) => routed(table, request("h", path)) === "r";

  test.each<[string, Json, string, boolean]>([
    ["exact", { string_match: { exact: "1" } }, "/?debug=1", true],
    ["exact misses", { string_match: { exact: "1" } }, "/?debug=2", false],
    ["the first value counts", { string_match: { exact: "1" } }, "/?debug=2&debug=1", false],
    ["missing parameter, value matcher", { string_match: { exact: "1" } }, "/?other=1", false],
    ["no query string", { string_match: { exact: "1" } }, "/", false],
    ["regex", { string_match: { safe_regex: { regex: "[0-9]+" } } }, "/?debug=42", true],
    ["prefix ignore_case", { string_match: { prefix: "ON", ignore_case: true } }, "/?debug=online", true],
    ["not URL-decoded", { string_match: { exact: "a b" } }, "/?debug=a%20b", false],
    ["a name without = has the empty value", { string_match: { exact: "" } }, "/?debug", true],
    ["present_match: true", { present_match: true }, "/?debug", true],
    ["present_match: true, absent", { present_match: true }, "/?x=1", false],
    ["present_match: false, absent", { present_match: false }, "/?x=1", true],
    ["present_match: false, present", { present_match: false }, "/?debug=0", false],
    ["no specifier means present", {}, "/?debug=0", true],
    ["names are case-sensitive", { present_match: true }, "/?DEBUG=1", false],
  ])("%s", (_, matcher, path, expected) => {
    expect(matches(withQuery({ name: "debug", ...matcher }), path)).toBe(expected);
  });

  test("every query parameter matcher must match", () => {
    const table = withQuery({ name: "a", present_match: true }, { name: "b", string_match: { exact: "2" } });
    expect(matches(table, "/?a&b=2")).toBe(true);
    expect(matches(table, "/?a&b=3")).toBe(false);
  });
});

describe("header mutations", () => {
  /** An ordered header list implementing the operations the mutations use. */
  class FakeHeaders implements MutableHeaders {
    constructor(public fields: [string, string][] = []) {}
    get(name: string) {
      return this.fields.find(([n]) => n === name)?.[1];
    }
    add(name: string, value: string) {
      this.fields.push([name, value]);
    }
    set(name: string, value: string) {
      const i = this.fields.findIndex(([n]) => n === name);
      if (i < 0) return this.add(name, value);
      this.fields[i] = [name, value];
      this.fields = this.fields.filter(([n], j) => n !== name || j <= i);
    }
    remove(name: string) {
      this.fields = this.fields.filter(([n]) => n !== name);
    }
  }

  /** The same mutation fields at route_config, virtual host and route level, tagged with the level's name. */
  function threeLevels(fields: (level: string) => Json, extra: Json = {}) {
    const config = routeConfig({
      ...fields("global"),
      ...extra,
      virtual_hosts: [{ name: "vh", domains: ["*"], ...fields("vhost"), routes: [{ match: { prefix: "/" }, direct_response: { status: 200 }, ...fields("route") }] }],
    });
    const match = new RouteTable(config).route(request("h"))!;
    return { config, match };
  }
  const add = (key: string, value: string, append_action?: string) => ({ header: { key, value }, ...(append_action ? { append_action } : {}) });

  test("appends run route, then virtual host, then route_config", () => {
    const { config, match } = threeLevels((level) => ({ request_headers_to_add: [add("x-level", level)] }));
    const headers = new FakeHeaders([["x-level", "client"]]);
    applyRequestHeaderMutations(headers, match, config, LITERALS_ONLY);
    expect(headers.fields).toEqual([
      ["x-level", "client"],
      ["x-level", "route"],
      ["x-level", "vhost"],
      ["x-level", "global"],
    ]);
  });

  test("overwrites: the least specific level wins by default (it is applied last)", () => {
    const { config, match } = threeLevels((level) => ({ response_headers_to_add: [add("x-level", level, "OVERWRITE_IF_EXISTS_OR_ADD")] }));
    const headers = new FakeHeaders([["x-level", "upstream"]]);
    applyResponseHeaderMutations(headers, match, config, LITERALS_ONLY, undefined);
    expect(headers.fields).toEqual([["x-level", "global"]]);
  });

  test("most_specific_header_mutations_wins reverses the order, so the route wins", () => {
    const { config, match } = threeLevels((level) => ({ response_headers_to_add: [add("x-level", level, "OVERWRITE_IF_EXISTS_OR_ADD")] }), {
      most_specific_header_mutations_wins: true,
    });
    const headers = new FakeHeaders();
    applyResponseHeaderMutations(headers, match, config, LITERALS_ONLY, undefined);
    expect(headers.fields).toEqual([["x-level", "route"]]);
  });

  test("%COMMAND% values are rendered from the stream; one with nothing to say omits its header unless keep_empty_value", () => {
    const config = routeConfig({
      virtual_hosts: [
        {
          name: "vh",
          domains: ["*"],
          routes: [
            {
              match: { prefix: "/" },
              direct_response: { status: 200 },
              request_headers_to_add: [
                add("x-client", "%REQ(x-a)% via %PROTOCOL% (100%%)"),
                add("x-missing", "%REQ(x-none)%"),
                { header: { key: "x-kept", value: "%REQ(x-none)%" }, keep_empty_value: true },
                add("x-literal", "50%%"),
              ],
              response_headers_to_add: [add("x-status", "%RESP(:STATUS)%/%RESPONSE_CODE%")],
            },
          ],
        },
      ],
    });
    const match = new RouteTable(config).route(request("h"))!;
    let asked = 0;
    const source: HeaderFormatterSource = {
      headerFormatterContext(response) {
        asked++;
        return {
          startWallClock: 0,
          durationMs: 0,
          requestHeader: (name) => (name === "x-a" ? "a" : undefined),
          responseHeader: (name) => (name === ":status" && response ? String(response.status) : undefined),
          responseTrailer: () => undefined,
          protocol: "HTTP/1.1",
          responseCode: 0,
          responseCodeDetails: undefined,
          responseFlags: [],
          bytesReceived: 0,
          bytesSent: 0,
          upstreamHost: undefined,
          upstreamCluster: undefined,
          downstreamRemoteAddress: undefined,
          downstreamLocalAddress: undefined,
          routeName: undefined,
        };
      },
    };
    const headers = new FakeHeaders();
    applyRequestHeaderMutations(headers, match, config, source);
    expect(headers.fields).toEqual([
      ["x-client", "a via HTTP/1.1 (100%)"],
      ["x-kept", ""],
      ["x-literal", "50%"],
    ]);
    // One context per level, however many values ask.
    expect(asked).toBe(1);
    const response = new FakeHeaders();
    applyResponseHeaderMutations(response, match, config, source, new ResponseHeaders(201));
    expect(response.fields).toEqual([["x-status", "201/0"]]);
  });

  test("ADD_IF_ABSENT: the first level to add it keeps it", () => {
    const { config, match } = threeLevels((level) => ({ request_headers_to_add: [add("x-level", level, "ADD_IF_ABSENT")] }));
    const headers = new FakeHeaders();
    applyRequestHeaderMutations(headers, match, config, LITERALS_ONLY);
    expect(headers.fields).toEqual([["x-level", "route"]]);
  });

  test("a later level removes what an earlier level added; within a level, removal comes before addition", () => {
    const config = routeConfig({
      request_headers_to_remove: ["x-route"],
      virtual_hosts: [
        {
          name: "vh",
          domains: ["*"],
          request_headers_to_remove: ["x-vhost"],
          request_headers_to_add: [add("x-vhost", "added")],
          routes: [{ match: { prefix: "/" }, direct_response: { status: 200 }, request_headers_to_add: [add("x-route", "added")] }],
        },
      ],
    });
    const match = new RouteTable(config).route(request("h"))!;
    const headers = new FakeHeaders([["x-vhost", "client"]]);
    applyRequestHeaderMutations(headers, match, config, LITERALS_ONLY);
    expect(headers.fields).toEqual([["x-vhost", "added"]]);
  });

  test("within a level: conditions see the headers as they were, overwrites apply before appends", () => {
    const config = routeConfig({
      virtual_hosts: [
        {
          name: "vh",
          domains: ["*"],
          routes: [
            {
              match: { prefix: "/" },
              direct_response: { status: 200 },
              response_headers_to_add: [
                add("x-a", "appended"),
                add("x-a", "overwritten", "OVERWRITE_IF_EXISTS_OR_ADD"),
                add("x-b", "added-if-absent", "ADD_IF_ABSENT"),
                add("x-b", "overwrite-if-exists", "OVERWRITE_IF_EXISTS"),
                add("x-c", "overwrite-if-exists", "OVERWRITE_IF_EXISTS"),
              ],
            },
          ],
        },
      ],
    });
    const match = new RouteTable(config).route(request("h"))!;
    const headers = new FakeHeaders([["x-c", "old"]]);
    applyResponseHeaderMutations(headers, match, config, LITERALS_ONLY, undefined);
    expect(headers.fields).toEqual([
      ["x-c", "overwrite-if-exists"],
      ["x-a", "overwritten"],
      ["x-a", "appended"],
      // x-b was absent when the level began, so OVERWRITE_IF_EXISTS skipped it.
      ["x-b", "added-if-absent"],
    ]);
  });

  test("an empty value is skipped unless keep_empty_value", () => {
    const config = routeConfig({
      virtual_hosts: [
        {
          name: "vh",
          domains: ["*"],
          routes: [
            {
              match: { prefix: "/" },
              direct_response: { status: 200 },
              request_headers_to_add: [{ header: { key: "x-skipped", value: "" } }, { header: { key: "x-kept" }, keep_empty_value: true }],
            },
          ],
        },
      ],
    });
    const match = new RouteTable(config).route(request("h"))!;
    const headers = new FakeHeaders();
    applyRequestHeaderMutations(headers, match, config, LITERALS_ONLY);
    expect(headers.fields).toEqual([["x-kept", ""]]);
  });

  test("request and response mutations are separate", () => {
    const { config, match } = threeLevels((level) => ({ response_headers_to_add: [add("x-resp", level)], request_headers_to_remove: ["x-req"] }));
    const headers = new FakeHeaders([["x-req", "1"]]);
    applyRequestHeaderMutations(headers, match, config, LITERALS_ONLY);
    expect(headers.fields).toEqual([]);
  });
});

describe("grpc and runtime_fraction", () => {
  test("grpc: {} matches content-type application/grpc and application/grpc+…, not grpc-web", () => {
    const table = tableOf(named("grpc", { prefix: "/", grpc: {} }), named("other", { prefix: "/" }));
    const withType = (type?: string) => request("h", "/svc/Method", type === undefined ? {} : { "content-type": type });
    expect(routed(table, withType("application/grpc"))).toBe("grpc");
    expect(routed(table, withType("application/grpc+proto"))).toBe("grpc");
    expect(routed(table, withType("application/grpc-web"))).toBe("other");
    expect(routed(table, withType("application/json"))).toBe("other");
    expect(routed(table, withType())).toBe("other");
  });

  test("runtime_fraction: default_value's share of requests, one draw per request shared by every route", () => {
    const draws = [0.05, 0.15, 0.25, 0.999, 0.0999];
    let next = 0;
    let drawn = 0;
    const random = {
      random: () => {
        drawn++;
        return draws[next]!;
      },
    };
    const config = routeConfig({
      virtual_hosts: [
        {
          name: "any",
          domains: ["*"],
          routes: [
            named("ten", { prefix: "/", runtime_fraction: { default_value: { numerator: 10 } } }),
            // 20%: with the same draw, it takes the requests from 10% to 20%.
            named("twenty", { prefix: "/", runtime_fraction: { default_value: { numerator: 2000, denominator: "TEN_THOUSAND" }, runtime_key: "k" } }),
            named("rest", { prefix: "/" }),
          ],
        },
      ],
    });
    const table = new RouteTable(config, defaultsOnly(random));
    const chosen: (string | undefined)[] = [];
    for (next = 0; next < draws.length; next++) chosen.push(routed(table, request("h")));
    expect(chosen).toEqual(["ten", "twenty", "rest", "rest", "ten"]);
    expect(drawn).toBe(draws.length);
    // No draw for a request no fraction route considers.
    drawn = 0;
    routed(tableOf(named("plain", { prefix: "/" })), request("h"));
    expect(drawn).toBe(0);
    expect(() => new RouteTable(config)).toThrow(/runtime_fraction needs a random source/);
  });

  test("a numerator over the denominator always matches; 0 never", () => {
    const random = { random: () => 0.999999 };
    const all = new RouteTable(routeConfig({ virtual_hosts: [{ name: "a", domains: ["*"], routes: [named("all", { prefix: "/", runtime_fraction: { default_value: { numerator: 150 } } })] }] }), defaultsOnly(random));
    expect(routed(all, request("h"))).toBe("all");
    const none = new RouteTable(routeConfig({ virtual_hosts: [{ name: "a", domains: ["*"], routes: [named("none", { prefix: "/", runtime_fraction: { default_value: {} } })] }] }), defaultsOnly({ random: () => 0 }));
    expect(routed(none, request("h"))).toBeUndefined();
  });

  test("runtime_key: the runtime's value overrides default_value, read per request (an integer is a percentage)", () => {
    const runtime = new RuntimeLoader({ random: () => 0.3 }, { layers: [{ kind: "admin", name: "admin" }] });
    const config = routeConfig({
      virtual_hosts: [
        {
          name: "a",
          domains: ["*"],
          routes: [named("canary", { prefix: "/", runtime_fraction: { default_value: { numerator: 10 }, runtime_key: "routing.canary" } }), named("rest", { prefix: "/" })],
        },
      ],
    });
    const table = new RouteTable(config, runtime);
    expect(routed(table, request("h"))).toBe("rest");
    runtime.mergeValues(new Map([["routing.canary", "50"]]));
    expect(routed(table, request("h"))).toBe("canary");
    runtime.mergeValues(new Map([["routing.canary", "{numerator: 2000, denominator: TEN_THOUSAND}"]]));
    expect(routed(table, request("h"))).toBe("rest");
    runtime.mergeValues(new Map([["routing.canary", ""]]));
    expect(routed(table, request("h"))).toBe("rest");
  });
});

describe("connect_matcher and dynamic_metadata", () => {
  test("connect_matcher matches CONNECT only; a CONNECT matches no path matcher but an empty prefix", () => {
    const table = tableOf(named("connect", { connect_matcher: {} }), named("slash", { prefix: "/" }), named("empty", { prefix: "" }));
    expect(routed(table, request("h:443", "h:443", {}, "CONNECT"))).toBe("connect");
    expect(routed(table, request("h", "/x"))).toBe("slash");
    const noConnect = tableOf(named("slash", { prefix: "/" }), named("empty", { prefix: "" }));
    expect(routed(noConnect, request("h:443", "h:443", {}, "CONNECT"))).toBe("empty");
  });

  test("dynamic_metadata: the value at the path in the filter's namespace, per ValueMatcher, inverted with invert", () => {
    const meta = (value: Json, extra: Json = {}) => ({ filter: "acme", path: [{ key: "user" }, { key: "tier" }], value, ...extra });
    const table = tableOf(
      named("gold", { prefix: "/", dynamic_metadata: [meta({ string_match: { exact: "gold" } })] }),
      named("score", { prefix: "/", dynamic_metadata: [{ filter: "acme", path: [{ key: "score" }], value: { double_match: { range: { start: 1, end: 10 } } } }] }),
      named("flag", { prefix: "/", dynamic_metadata: [{ filter: "acme", path: [{ key: "flag" }], value: { bool_match: true } }] }),
      named("not-present", { prefix: "/", dynamic_metadata: [meta({ present_match: true }, { invert: true })] }),
      named("rest", { prefix: "/" }),
    );
    const at = (metadata: Record<string, Record<string, unknown>> | undefined) => table.route(request("h"), metadata)?.route.name;
    expect(at({ acme: { user: { tier: "gold" } } })).toBe("gold");
    expect(at({ acme: { user: { tier: "silver" }, score: 1 } })).toBe("score");
    // [start, end): 10 is out.
    expect(at({ acme: { user: { tier: "silver" }, score: 10, flag: true } })).toBe("flag");
    expect(at({ acme: { user: { tier: "silver" }, flag: false } })).toBe("rest");
    // No metadata at all: only the inverted presence check matches.
    expect(at(undefined)).toBe("not-present");
  });

  test("dynamic_metadata present_match: any value found, a struct or a list too (Envoy's PresentMatcher: kind set); only own keys", () => {
    const table = tableOf(
      named("present", { prefix: "/", dynamic_metadata: [{ filter: "acme", path: [{ key: "user" }], value: { present_match: true } }] }),
      named("proto", { prefix: "/", dynamic_metadata: [{ filter: "__proto__", path: [{ key: "toString" }], value: { present_match: true } }] }),
      named("rest", { prefix: "/" }),
    );
    const at = (metadata: Record<string, Record<string, unknown>> | undefined) => table.route(request("h"), metadata)?.route.name;
    expect(at({ acme: { user: { tier: "gold" } } })).toBe("present");
    expect(at({ acme: { user: ["a"] } })).toBe("present");
    expect(at({ acme: { user: null } })).toBe("present");
    expect(at({ acme: { other: 1 } })).toBe("rest");
    expect(at({})).toBe("rest");
  });

  test("dynamic_metadata wants one value matcher; list_match wants one_of, or_match two matchers or more", () => {
    const parse = (value: Json) => routeConfiguration.safeParse({ virtual_hosts: [{ name: "v", domains: ["*"], routes: [named("r", { prefix: "/", dynamic_metadata: [{ filter: "a", path: [{ key: "k" }], value }] })] }] });
    const messages = (value: Json) => {
      const result = parse(value);
      return result.success ? [] : result.error.issues.map((i) => i.message);
    };
    expect(messages({ list_match: { one_of: { bool_match: true } } })).toEqual([]);
    expect(messages({ list_match: {} })).toEqual(["must set one_of"]);
    expect(messages({ or_match: { value_matchers: [{ bool_match: true }] } })).toHaveLength(1);
    expect(messages({ or_match: { value_matchers: [{ bool_match: true }, { null_match: {} }] } })).toEqual([]);
    expect(messages({})).toEqual(["must set one of null_match, double_match, string_match, bool_match, present_match, list_match, or_match"]);
    expect(messages({ null_match: {} })).toEqual([]);
  });

  test("dynamic_metadata list_match: a list one of whose elements matches (Envoy's ListMatcher); or_match: any of its matchers", () => {
    const table = tableOf(
      named("admin", { prefix: "/", dynamic_metadata: [{ filter: "jwt", path: [{ key: "payload" }, { key: "groups" }], value: { list_match: { one_of: { string_match: { exact: "admin" } } } } }] }),
      named("nested", { prefix: "/", dynamic_metadata: [{ filter: "jwt", path: [{ key: "payload" }, { key: "groups" }], value: { list_match: { one_of: { list_match: { one_of: { bool_match: true } } } } } }] }),
      named("either", { prefix: "/", dynamic_metadata: [{ filter: "jwt", path: [{ key: "payload" }, { key: "tier" }], value: { or_match: { value_matchers: [{ string_match: { exact: "gold" } }, { double_match: { exact: 3 } }] } } }] }),
      named("rest", { prefix: "/" }),
    );
    const at = (payload: Record<string, unknown>) => table.route(request("h"), { jwt: { payload } })?.route.name;
    expect(at({ groups: ["users", "admin"] })).toBe("admin");
    // A string is no list, even one equal to the element matched.
    expect(at({ groups: "admin" })).toBe("rest");
    expect(at({ groups: [] })).toBe("rest");
    expect(at({ groups: ["users", [false, true]] })).toBe("nested");
    expect(at({ groups: ["users"], tier: "gold" })).toBe("either");
    expect(at({ groups: ["users"], tier: 3 })).toBe("either");
    expect(at({ groups: ["users"], tier: "3" })).toBe("rest");
  });
});
