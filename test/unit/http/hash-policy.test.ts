import { describe, expect, test } from "vitest";
import type { HashPolicyConfig } from "../../../core/config/bootstrap.ts";
import { generateHash, makeSetCookieValue, parseCookieValue, type HashCookieSink } from "../../../core/http/hash-policy.ts";
import { RequestHeaders } from "../../../core/http/message.ts";
import { byteStringBytes, xxHash64, xxHash64Text } from "../../../core/util/hash.ts";

function request(path: string, fields: [string, string][] = []): RequestHeaders {
  const headers = new RequestHeaders();
  headers.path = path;
  for (const [name, value] of fields) headers.add(name, value);
  return headers;
}

const NO_COOKIES: HashCookieSink = {
  addDownstreamSetCookie: () => {
    throw new Error("no cookie expected");
  },
};

const REMOTE = { address: "192.0.2.7", port: 5555, family: 4 as const };
const header = (headerName: string, terminal = false): HashPolicyConfig => ({ type: "header", headerName, terminal });
const rotl1 = (h: bigint) => ((h << 1n) | (h >> 63n)) & 0xffff_ffff_ffff_ffffn;

describe("hash_policy (Envoy's HashPolicyImpl::generateHash)", () => {
  test("header: xxHash64 of the value; the same value, the same hash; absent: no hash", () => {
    const policies = [header("x-user")];
    const a = generateHash(policies, request("/", [["x-user", "alice"]]), REMOTE, NO_COOKIES);
    expect(a).toBe(xxHash64Text("alice"));
    expect(generateHash(policies, request("/other", [["x-user", "alice"]]), REMOTE, NO_COOKIES)).toBe(a);
    expect(generateHash(policies, request("/", [["x-user", "bob"]]), REMOTE, NO_COOKIES)).not.toBe(a);
    expect(generateHash(policies, request("/"), REMOTE, NO_COOKIES)).toBeUndefined();
  });

  test("a repeated header: values sorted, then chained — order does not matter", () => {
    const policies = [header("x-k")];
    const expected = xxHash64(byteStringBytes("foo"), xxHash64Text("bar"));
    expect(generateHash(policies, request("/", [["x-k", "foo"], ["x-k", "bar"]]), REMOTE, NO_COOKIES)).toBe(expected);
    expect(generateHash(policies, request("/", [["x-k", "bar"], ["x-k", "foo"]]), REMOTE, NO_COOKIES)).toBe(expected);
  });

  test("several policies combine by rotate-left-1 and xor; a terminal one that hashed stops there", () => {
    const headers = request("/?u=7", [["x-a", "1"], ["x-b", "2"]]);
    const a = xxHash64Text("1");
    const b = xxHash64Text("2");
    expect(generateHash([header("x-a"), header("x-b")], headers, REMOTE, NO_COOKIES)).toBe(rotl1(a) ^ b);
    // Duplicates do not cancel out.
    expect(generateHash([header("x-a"), header("x-a")], headers, REMOTE, NO_COOKIES)).toBe(rotl1(a) ^ a);
    expect(generateHash([header("x-a", true), header("x-b")], headers, REMOTE, NO_COOKIES)).toBe(a);
    // A terminal policy that produced nothing does not stop the others.
    expect(generateHash([header("x-missing", true), header("x-b")], headers, REMOTE, NO_COOKIES)).toBe(b);
  });

  test("source_ip hashes the client's IP without its port", () => {
    expect(generateHash([{ type: "source_ip", terminal: false }], request("/"), REMOTE, NO_COOKIES)).toBe(xxHash64Text("192.0.2.7"));
    expect(generateHash([{ type: "source_ip", terminal: false }], request("/"), undefined, NO_COOKIES)).toBeUndefined();
    // A Unix socket (pipe) peer has no IP: no hash, as Envoy's SourceIpHashMethod.
    expect(generateHash([{ type: "source_ip", terminal: false }], request("/"), { address: "/run/front.sock", port: 0, family: "unix" }, NO_COOKIES)).toBeUndefined();
  });

  test("query_parameter: the first value, not decoded", () => {
    const policy: HashPolicyConfig[] = [{ type: "query_parameter", name: "u", terminal: false }];
    expect(generateHash(policy, request("/p?a=1&u=x%20y&u=2"), REMOTE, NO_COOKIES)).toBe(xxHash64Text("x%20y"));
    expect(generateHash(policy, request("/p?u"), REMOTE, NO_COOKIES)).toBe(xxHash64Text(""));
    expect(generateHash(policy, request("/p?a=1"), REMOTE, NO_COOKIES)).toBeUndefined();
  });

  test("cookie: the request's cookie; without one and with a ttl, a new cookie is asked for", () => {
    const policy: HashPolicyConfig[] = [{ type: "cookie", name: "sticky", path: "/", ttlSeconds: 60, attributes: [], terminal: false }];
    expect(generateHash(policy, request("/", [["cookie", 'a=1; sticky="abc"']]), REMOTE, NO_COOKIES)).toBe(xxHash64Text("abc"));
    const asked: string[] = [];
    const sink: HashCookieSink = {
      addDownstreamSetCookie: (name, path, ttl) => {
        asked.push(`${name} ${path} ${ttl}`);
        return "0123456789abcdef";
      },
    };
    expect(generateHash(policy, request("/"), REMOTE, sink)).toBe(xxHash64Text("0123456789abcdef"));
    expect(asked).toEqual(["sticky / 60"]);
    // No ttl: no cookie is made, no hash.
    expect(generateHash([{ type: "cookie", name: "sticky", path: "", attributes: [], terminal: false }], request("/"), REMOTE, NO_COOKIES)).toBeUndefined();
  });

  test("parseCookieValue and makeSetCookieValue as Envoy's utilities", () => {
    expect(parseCookieValue(request("/", [["cookie", "x=1"], ["cookie", " a=2;b=3"]]), "a")).toBe("2");
    expect(parseCookieValue(request("/", [["cookie", "noequals; b=3"]]), "b")).toBe("3");
    expect(makeSetCookieValue("sticky", "00ff", "/", 3600, [{ name: "SameSite", value: "Lax" }, { name: "Secure", value: "" }])).toBe(
      'sticky="00ff"; Max-Age=3600; Path=/; SameSite=Lax; Secure; HttpOnly',
    );
    expect(makeSetCookieValue("s", "v", "", 0, [])).toBe('s="v"; HttpOnly');
  });
});
