/** The RBAC engine (core/rbac/rbac-engine.ts) and CIDR ranges (core/network/cidr-range.ts): Envoy's matching rules. */
import { describe, expect, test } from "vitest";
import { rbacRules } from "../../../core/config/rbac-schema.ts";
import type { RbacRulesConfig } from "../../../core/config/bootstrap.ts";
import { RbacEngine, type RbacInput } from "../../../core/rbac/rbac-engine.ts";
import { RequestHeaders } from "../../../core/http/message.ts";
import type { TlsSession } from "../../../core/port.ts";

function rules(config: object): RbacRulesConfig {
  return rbacRules.parse(config);
}

function input(options: { path?: string; method?: string; headers?: Record<string, string>; peer?: string; remoteIp?: string; local?: string; localPort?: number; tls?: TlsSession; sni?: string; metadata?: Record<string, Record<string, unknown>>; route?: { metadata?: Record<string, Record<string, unknown>> } } = {}): RbacInput {
  const headers = new RequestHeaders();
  headers.method = options.method ?? "GET";
  headers.path = options.path ?? "/";
  headers.authority = "example.com";
  for (const [name, value] of Object.entries(options.headers ?? {})) headers.add(name, value);
  return {
    headers,
    directRemoteAddress: { address: options.peer ?? "10.0.0.1", port: 40000, family: 4 },
    connectionRemoteAddress: { address: options.peer ?? "10.0.0.1", port: 40000, family: 4 },
    remoteIp: options.remoteIp ?? "",
    localAddress: { address: options.local ?? "127.0.0.1", port: options.localPort ?? 10000, family: 4 },
    tls: options.tls,
    requestedServerName: options.sni ?? "",
    dynamicMetadata: options.metadata,
    route: options.route,
  };
}

const ANY = [{ any: true }];

function tls(subject: string | undefined, sans: { type: "URI" | "DNS"; value: string }[] = [], serverName?: string): TlsSession {
  const peerCertificate = subject === undefined ? undefined : { subject, subjectAltNames: sans, sha256: "", spkiSha256: "", pem: "", chainPem: "" };
  return { version: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", alpn: undefined, serverName, peerCertificate, localUriSan: undefined, peerVerifyError: undefined, sessionReused: false } as TlsSession;
}

describe("metadata: Envoy's MetadataMatcher on the dynamic metadata (matchers.cc)", () => {
  const JWT = "envoy.filters.http.jwt_authn";
  const admins = { filter: JWT, path: [{ key: "payload" }, { key: "groups" }], value: { list_match: { one_of: { string_match: { exact: "admin" } } } } };
  test("a principal: the value at the path in the filter's namespace; nothing without metadata", () => {
    const engine = new RbacEngine(rules({ policies: { admins: { permissions: ANY, principals: [{ metadata: admins }] } } }));
    expect(engine.evaluate(input({ metadata: { [JWT]: { payload: { sub: "a", groups: ["users", "admin"] } } } })).allowed).toBe(true);
    expect(engine.evaluate(input({ metadata: { [JWT]: { payload: { sub: "b", groups: ["users"] } } } })).allowed).toBe(false);
    expect(engine.evaluate(input({ metadata: { other: { payload: { groups: ["admin"] } } } })).allowed).toBe(false);
    expect(engine.evaluate(input()).allowed).toBe(false);
  });
  test("a permission, and invert: DENY what lacks a verified payload", () => {
    const engine = new RbacEngine(rules({ action: "DENY", policies: { anonymous: { permissions: [{ metadata: { filter: JWT, path: [{ key: "payload" }], value: { present_match: true }, invert: true } }], principals: ANY } } }));
    expect(engine.evaluate(input()).allowed).toBe(false);
    expect(engine.evaluate(input({ metadata: { [JWT]: { payload: { sub: "a" } } } })).allowed).toBe(true);
  });
});

describe("sourced_metadata: a MetadataMatcher on the dynamic metadata (DYNAMIC) or the route's (ROUTE), matchers.cc", () => {
  const matcher = { filter: "acme", path: [{ key: "tier" }], value: { string_match: { exact: "gold" } } };
  const gold = { acme: { tier: "gold" } };
  test("DYNAMIC (the default) reads the dynamic metadata, as metadata does; not the route's", () => {
    for (const sourced of [{ metadata_matcher: matcher }, { metadata_matcher: matcher, metadata_source: "DYNAMIC" }]) {
      const engine = new RbacEngine(rules({ policies: { gold: { permissions: ANY, principals: [{ sourced_metadata: sourced }] } } }));
      expect(engine.evaluate(input({ metadata: gold })).allowed).toBe(true);
      expect(engine.evaluate(input({ route: { metadata: gold } })).allowed).toBe(false);
    }
  });
  test("ROUTE reads the matched route's metadata; without a route it never matches, even inverted", () => {
    const engine = new RbacEngine(rules({ policies: { gold: { permissions: [{ sourced_metadata: { metadata_matcher: matcher, metadata_source: "ROUTE" } }], principals: ANY } } }));
    expect(engine.evaluate(input({ route: { metadata: gold } })).allowed).toBe(true);
    expect(engine.evaluate(input({ route: { metadata: { acme: { tier: "silver" } } } })).allowed).toBe(false);
    expect(engine.evaluate(input({ metadata: gold })).allowed).toBe(false);
    const inverted = new RbacEngine(rules({ policies: { p: { permissions: ANY, principals: [{ sourced_metadata: { metadata_matcher: { ...matcher, invert: true }, metadata_source: "ROUTE" } }] } } }));
    // A route without metadata: the inverted matcher matches; no route at all: false (Envoy's info.route() check).
    expect(inverted.evaluate(input({ route: {} })).allowed).toBe(true);
    expect(inverted.evaluate(input()).allowed).toBe(false);
  });
});

describe("TLS: authenticated and requested_server_name (Envoy's matchers.cc)", () => {
  const principal = (authenticated: object) => new RbacEngine(rules({ policies: { p: { permissions: ANY, principals: [{ authenticated }] } } }));
  test("authenticated without principal_name: any TLS connection, with or without a peer certificate; never plain TCP", () => {
    expect(principal({}).evaluate(input({ tls: tls(undefined) })).allowed).toBe(true);
    expect(principal({}).evaluate(input({ tls: tls("CN=c") })).allowed).toBe(true);
    expect(principal({}).evaluate(input()).allowed).toBe(false);
  });
  test("principal_name: a URI SAN, then a DNS SAN, then the subject; nothing without TLS or certificate", () => {
    const spiffe = principal({ principal_name: { exact: "spiffe://cluster.local/ns/a/sa/b" } });
    expect(spiffe.evaluate(input({ tls: tls("CN=c", [{ type: "DNS", value: "x.example" }, { type: "URI", value: "spiffe://cluster.local/ns/a/sa/b" }]) })).allowed).toBe(true);
    expect(spiffe.evaluate(input({ tls: tls("CN=c", [{ type: "URI", value: "spiffe://cluster.local/ns/a/sa/other" }]) })).allowed).toBe(false);
    expect(spiffe.evaluate(input())).toMatchObject({ allowed: false });
    const dns = principal({ principal_name: { suffix: ".example" } });
    expect(dns.evaluate(input({ tls: tls("CN=c", [{ type: "DNS", value: "client.example" }]) })).allowed).toBe(true);
    const subject = principal({ principal_name: { exact: "CN=client1,O=Example" } });
    expect(subject.evaluate(input({ tls: tls("CN=client1,O=Example", [{ type: "DNS", value: "other" }]) })).allowed).toBe(true);
    expect(subject.evaluate(input({ tls: tls("CN=client2,O=Example") })).allowed).toBe(false);
    expect(subject.evaluate(input({ tls: tls(undefined) })).allowed).toBe(false);
  });
  test("requested_server_name matches the SNI; none is the empty string", () => {
    const engine = (matcher: object) => new RbacEngine(rules({ policies: { p: { permissions: [{ requested_server_name: matcher }], principals: ANY } } }));
    expect(engine({ exact: "api.example.com" }).evaluate(input({ sni: "api.example.com" })).allowed).toBe(true);
    expect(engine({ exact: "api.example.com" }).evaluate(input({ sni: "www.example.com" })).allowed).toBe(false);
    expect(engine({ exact: "" }).evaluate(input()).allowed).toBe(true);
  });
});

describe("addresses", () => {
  test("an IPv4-mapped peer address matches an IPv4 range; IPv6 ranges; families do not mix", () => {
    const engine = (prefix: string, len: number) => new RbacEngine(rules({ policies: { p: { permissions: ANY, principals: [{ direct_remote_ip: { address_prefix: prefix, prefix_len: len } }] } } }));
    expect(engine("10.1.0.0", 16).evaluate(input({ peer: "::ffff:10.1.2.3" })).allowed).toBe(true);
    expect(engine("10.1.0.0", 16).evaluate(input({ peer: "10.2.0.1" })).allowed).toBe(false);
    expect(engine("2001:db8::", 32).evaluate(input({ peer: "2001:db8:1::5" })).allowed).toBe(true);
    expect(engine("2001:db8::", 32).evaluate(input({ peer: "10.1.2.3" })).allowed).toBe(false);
    expect(engine("0.0.0.0", 0).evaluate(input({ peer: "203.0.113.9" })).allowed).toBe(true);
  });
});

describe("RbacEngine", () => {
  test("ALLOW: allowed only when a policy matches; the first matching policy by name is the effective one", () => {
    const engine = new RbacEngine(
      rules({
        action: "ALLOW",
        policies: {
          "z-admin": { permissions: [{ url_path: { path: { prefix: "/admin" } } }], principals: ANY },
          "a-admin-get": { permissions: [{ and_rules: { rules: [{ header: { name: ":method", string_match: { exact: "GET" } } }, { url_path: { path: { prefix: "/admin" } } }] } }], principals: ANY },
        },
      }),
    );
    expect(engine.evaluate(input({ path: "/admin/x?q=1" }))).toEqual({ allowed: true, logHint: undefined, effectivePolicyId: "a-admin-get" });
    expect(engine.evaluate(input({ path: "/admin/x", method: "POST" }))).toEqual({ allowed: true, logHint: undefined, effectivePolicyId: "z-admin" });
    expect(engine.evaluate(input({ path: "/public" }))).toEqual({ allowed: false, logHint: undefined, effectivePolicyId: "" });
  });

  test("DENY: denied when a policy matches; LOG: always allowed, the hint says whether one matched", () => {
    const policy = { blocked: { permissions: ANY, principals: [{ direct_remote_ip: { address_prefix: "192.0.2.0", prefix_len: 24 } }] } };
    const deny = new RbacEngine(rules({ action: "DENY", policies: policy }));
    expect(deny.evaluate(input({ peer: "192.0.2.55" })).allowed).toBe(false);
    expect(deny.evaluate(input({ peer: "198.51.100.1" })).allowed).toBe(true);
    const log = new RbacEngine(rules({ action: "LOG", policies: policy }));
    expect(log.evaluate(input({ peer: "192.0.2.55" }))).toEqual({ allowed: true, logHint: true, effectivePolicyId: "blocked" });
    expect(log.evaluate(input({ peer: "198.51.100.1" }))).toEqual({ allowed: true, logHint: false, effectivePolicyId: "" });
    // No policies: ALLOW allows nothing, DENY denies nothing.
    expect(new RbacEngine(rules({ action: "ALLOW" })).evaluate(input()).allowed).toBe(false);
    expect(new RbacEngine(rules({ action: "DENY" })).evaluate(input()).allowed).toBe(true);
  });

  test("a policy needs a matching permission and a matching principal; or/not compose", () => {
    const engine = new RbacEngine(
      rules({
        policies: {
          p: {
            permissions: [{ destination_port: 10000 }, { destination_port_range: { start: 8000, end: 8010 } }],
            principals: [{ or_ids: { ids: [{ header: { name: "x-user", string_match: { exact: "alice" } } }, { not_id: { any: true } }] } }],
          },
        },
      }),
    );
    expect(engine.evaluate(input({ headers: { "x-user": "alice" } })).allowed).toBe(true);
    expect(engine.evaluate(input({ headers: { "x-user": "bob" } })).allowed).toBe(false);
    expect(engine.evaluate(input({ headers: { "x-user": "alice" }, localPort: 8009 })).allowed).toBe(true);
    expect(engine.evaluate(input({ headers: { "x-user": "alice" }, localPort: 8010 })).allowed).toBe(false);
  });

  test("remote_ip is the x-forwarded-for client when the HCM found one, else the peer; source_ip and direct_remote_ip the peer; destination_ip the local address", () => {
    const engine = new RbacEngine(rules({ policies: { p: { permissions: [{ destination_ip: { address_prefix: "127.0.0.0", prefix_len: 8 } }], principals: [{ remote_ip: { address_prefix: "203.0.113.0", prefix_len: 24 } }] } } }));
    expect(engine.evaluate(input({ peer: "10.0.0.1", remoteIp: "203.0.113.7" })).allowed).toBe(true);
    expect(engine.evaluate(input({ peer: "203.0.113.7" })).allowed).toBe(true);
    expect(engine.evaluate(input({ peer: "203.0.113.7", remoteIp: "10.9.9.9" })).allowed).toBe(false);
    // An x-forwarded-for entry that is no address leaves the peer.
    expect(engine.evaluate(input({ peer: "203.0.113.7", remoteIp: "garbage" })).allowed).toBe(true);
    expect(engine.evaluate(input({ peer: "203.0.113.7", local: "10.0.0.5" })).allowed).toBe(false);
    const source = new RbacEngine(rules({ policies: { p: { permissions: ANY, principals: [{ source_ip: { address_prefix: "10.0.0.0", prefix_len: 8 } }] } } }));
    expect(source.evaluate(input({ peer: "10.0.0.1", remoteIp: "203.0.113.7" })).allowed).toBe(true);
  });

  test("header rules never match a connection without headers (the network filter)", () => {
    const engine = new RbacEngine(rules({ policies: { p: { permissions: [{ not_rule: { header: { name: "x-a", present_match: true } } }], principals: ANY } } }));
    expect(engine.evaluate({ ...input(), headers: undefined }).allowed).toBe(true);
    expect(engine.evaluate(input({ headers: { "x-a": "1" } })).allowed).toBe(false);
  });
});
