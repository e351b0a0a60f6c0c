/**
 * The oauth2 filter's pieces on the memory runtime (its hmacSha256 is the port's): the
 * cookie HMAC as Envoy writes and checks it (filter.cc: encodeHmacBase64, the older
 * encodeHmacHexBase64 accepted), the expiry, the cookie parse, the URL encoding of the
 * redirect and its state, the token request's body and the token response's parse; and
 * the config's refusals.
 */
import { describe, expect, test } from "vitest";
import { createHmac } from "node:crypto";
import type { OAuth2FilterConfig } from "../../../../core/config/bootstrap.ts";
import { loadConfig } from "../../../../core/config/load.ts";
import { RequestHeaders } from "../../../../core/http/message.ts";
import { accessTokenRequest, parseTokenResponse, refreshTokenRequest } from "../../../../core/http/filters/oauth2/oauth2-client.ts";
import { cookiesAreValid, encodeHmacBase64, parseCookies, readOAuth2Cookies } from "../../../../core/http/filters/oauth2/oauth2-cookies.ts";
import { VerifiedCookies } from "../../../../core/http/filters/oauth2/verified-cookies.ts";
import { isAbsoluteHttpUrl, parseQueryString, percentDecode, replaceQueryString, urlEncodeQueryParameter } from "../../../../core/http/filters/oauth2/oauth2-url.ts";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";
import "../../../../core/config/regex-engine-static.ts";

const runtime = new MemoryRuntime({ seed: 1 });
const hmac = runtime.hmacSha256.bind(runtime);
const SECRET = new TextEncoder().encode("the-hmac-secret");
const NAMES = { bearerToken: "BearerToken", oauthHmac: "OauthHMAC", oauthExpires: "OauthExpires", idToken: "IdToken", refreshToken: "RefreshToken" };
const FIELDS = { host: "app.example:8443", expires: "2000000000", token: "tok", idToken: "idt", refreshToken: "" };
const nodeHmac = (text: string) => createHmac("sha256", "the-hmac-secret").update(text).digest();

function request(cookie: string, authority = FIELDS.host): RequestHeaders {
  const headers = new RequestHeaders();
  headers.authority = authority;
  headers.add("cookie", cookie);
  return headers;
}

describe("the HMAC cookie", () => {
  test("base64 of HMAC-SHA256 over host, expires, token, id token, refresh token joined by newlines", async () => {
    const expected = nodeHmac("app.example:8443\n2000000000\ntok\nidt\n").toString("base64");
    expect(await encodeHmacBase64(hmac, SECRET, FIELDS)).toBe(expected);
  });

  test("accepted in Envoy's base64 and in the older base64-of-hex; any other byte, the host or an expiry gone: refused", async () => {
    const mac = nodeHmac("app.example:8443\n2000000000\ntok\nidt\n");
    const cookie = (h: string, expires = "2000000000") => `OauthHMAC=${h}; OauthExpires=${expires}; BearerToken=tok; IdToken=idt`;
    const now = 1_900_000_000;
    const valid = (header: RequestHeaders, at = now) => cookiesAreValid(hmac, SECRET, readOAuth2Cookies(header, NAMES), at);
    expect(await valid(request(cookie(mac.toString("base64"))))).toBe(true);
    expect(await valid(request(cookie(Buffer.from(mac.toString("hex")).toString("base64"))))).toBe(true);
    expect(await valid(request(cookie(nodeHmac("app.example:8443\n2000000000\ntok2\nidt\n").toString("base64"))))).toBe(false);
    expect(await valid(request(cookie(mac.toString("base64")), "other.example"))).toBe(false);
    expect(await valid(request(cookie(mac.toString("base64"))), 2_000_000_000)).toBe(false);
    expect(await valid(request(`OauthExpires=2000000000; BearerToken=tok; IdToken=idt`))).toBe(false);
  });

  test("an OauthExpires longer than 20 digits (no uint64) is refused even with its HMAC", async () => {
    const expires = "1" + "0".repeat(20);
    const mac = nodeHmac(`app.example:8443\n${expires}\ntok\nidt\n`).toString("base64");
    const cookies = readOAuth2Cookies(request(`OauthHMAC=${mac}; OauthExpires=${expires}; BearerToken=tok; IdToken=idt`), NAMES);
    expect(await cookiesAreValid(hmac, SECRET, cookies, 1_900_000_000)).toBe(false);
    const twenty = "1" + "0".repeat(19);
    const mac20 = nodeHmac(`app.example:8443\n${twenty}\ntok\nidt\n`).toString("base64");
    const cookies20 = readOAuth2Cookies(request(`OauthHMAC=${mac20}; OauthExpires=${twenty}; BearerToken=tok; IdToken=idt`), NAMES);
    expect(await cookiesAreValid(hmac, SECRET, cookies20, 1_900_000_000)).toBe(true);
  });

  test("an HMAC that is not canonical base64, or differs in its last byte, is refused", async () => {
    const mac = nodeHmac("app.example:8443\n2000000000\ntok\nidt\n");
    const cookie = (h: string) => readOAuth2Cookies(request(`OauthHMAC=${h}; OauthExpires=2000000000; BearerToken=tok; IdToken=idt`), NAMES);
    const last = Buffer.from(mac);
    last[31] = last[31]! ^ 1;
    expect(await cookiesAreValid(hmac, SECRET, cookie(last.toString("base64")), 1_900_000_000)).toBe(false);
    expect(await cookiesAreValid(hmac, SECRET, cookie(mac.toString("base64").replace(/=$/, "")), 1_900_000_000)).toBe(false);
    expect(await cookiesAreValid(hmac, SECRET, cookie(mac.toString("base64")), 1_900_000_000)).toBe(true);
  });

  test("an empty hmac_secret signs as RFC 2104 says (WebCrypto refuses a zero-length key)", async () => {
    const empty = new Uint8Array(0);
    const expected = createHmac("sha256", "").update("app.example:8443\n2000000000\ntok\nidt\n").digest("base64");
    expect(await encodeHmacBase64(hmac, empty, FIELDS)).toBe(expected);
    const cookies = readOAuth2Cookies(request(`OauthHMAC=${expected}; OauthExpires=2000000000; BearerToken=tok; IdToken=idt`), NAMES);
    expect(await cookiesAreValid(hmac, empty, cookies, 1_900_000_000)).toBe(true);
  });
});

describe("the cache of verified cookies", () => {
  const NOW = 1_900_000_000;
  /** The port's HMAC, counted: a cache hit computes none. */
  function countingHmac() {
    const counted = { calls: 0, hmac: (key: Uint8Array, data: Uint8Array) => (counted.calls++, hmac(key, data)) };
    return counted;
  }
  const signed = (fields: typeof FIELDS, secret = "the-hmac-secret") =>
    createHmac("sha256", secret).update([fields.host, fields.expires, fields.token, fields.idToken, fields.refreshToken].join("\n")).digest("base64");
  const cookies = (fields = FIELDS, mac = signed(fields), authority = fields.host) =>
    readOAuth2Cookies(request(`OauthHMAC=${mac}; OauthExpires=${fields.expires}; BearerToken=${fields.token}; IdToken=${fields.idToken}`, authority), NAMES);

  test("the same cookies for the same host again: valid without a new HMAC", async () => {
    const cache = new VerifiedCookies();
    const counted = countingHmac();
    expect(await cache.verify(counted.hmac, SECRET, cookies(), NOW)).toBe(true);
    expect(await cache.verify(counted.hmac, SECRET, cookies(), NOW + 1)).toBe(true);
    expect(counted.calls).toBe(1);
  });

  test("as strict as a fresh check: another host, token or HMAC is checked (and refused), not served", async () => {
    const cache = new VerifiedCookies();
    const counted = countingHmac();
    expect(await cache.verify(counted.hmac, SECRET, cookies(), NOW)).toBe(true);
    expect(await cache.verify(counted.hmac, SECRET, cookies(FIELDS, signed(FIELDS), "other.example"), NOW)).toBe(false);
    expect(await cache.verify(counted.hmac, SECRET, cookies({ ...FIELDS, token: "tok2" }, signed(FIELDS)), NOW)).toBe(false);
    expect(await cache.verify(counted.hmac, SECRET, cookies(FIELDS, signed(FIELDS, "another-secret")), NOW)).toBe(false);
    expect(counted.calls).toBe(4);
  });

  test("a rotated hmac_secret drops every entry: cookies signed with the old one are refused", async () => {
    const cache = new VerifiedCookies();
    const counted = countingHmac();
    expect(await cache.verify(counted.hmac, SECRET, cookies(), NOW)).toBe(true);
    const rotated = new TextEncoder().encode("the-new-secret");
    expect(await cache.verify(counted.hmac, rotated, cookies(), NOW)).toBe(false);
    expect(counted.calls).toBe(2);
    // The same bytes delivered again (SDS re-sending the secret): the entries stay.
    expect(await cache.verify(counted.hmac, SECRET, cookies(), NOW)).toBe(true);
    expect(await cache.verify(counted.hmac, SECRET.slice(), cookies(), NOW)).toBe(true);
    expect(counted.calls).toBe(3);
  });

  test("an entry whose OauthExpires has passed is not served", async () => {
    const cache = new VerifiedCookies();
    const counted = countingHmac();
    expect(await cache.verify(counted.hmac, SECRET, cookies(), NOW)).toBe(true);
    expect(await cache.verify(counted.hmac, SECRET, cookies(), 2_000_000_000)).toBe(false);
    expect(counted.calls).toBe(2);
  });

  test("bounded: the least recently used entry goes first; an over-long tuple is not kept", async () => {
    const cache = new VerifiedCookies(2, 200);
    const counted = countingHmac();
    const a = { ...FIELDS, token: "a" };
    const b = { ...FIELDS, token: "b" };
    const c = { ...FIELDS, token: "c" };
    for (const fields of [a, b, a, c]) expect(await cache.verify(counted.hmac, SECRET, cookies(fields), NOW)).toBe(true);
    expect(cache.size).toBe(2);
    expect(counted.calls).toBe(3);
    // a (used after b) and c are kept; b was dropped.
    await cache.verify(counted.hmac, SECRET, cookies(a), NOW);
    await cache.verify(counted.hmac, SECRET, cookies(c), NOW);
    expect(counted.calls).toBe(3);
    await cache.verify(counted.hmac, SECRET, cookies(b), NOW);
    expect(counted.calls).toBe(4);
    const long = { ...FIELDS, token: "t".repeat(300) };
    await cache.verify(counted.hmac, SECRET, cookies(long), NOW);
    await cache.verify(counted.hmac, SECRET, cookies(long), NOW);
    expect(counted.calls).toBe(6);
    expect(cache.size).toBe(2);
  });
});

test("parseCookies: split at ';', leading spaces dropped, quotes removed, the first of a name wins", () => {
  const headers = request(' a=1;b="two" ; a=3');
  headers.add("cookie", "c=x=y");
  const cookies = parseCookies(headers, () => true);
  expect([...cookies]).toEqual([
    ["a", "1"],
    ["b", '"two" '],
    ["c", "x=y"],
  ]);
  expect(parseCookies(request('q="v"'), () => true).get("q")).toBe("v");
});

describe("URLs", () => {
  test("urlEncodeQueryParameter keeps only the unreserved characters; percentDecode undoes %XX only", () => {
    const url = "http://app.example/a b?x=1&y=ü";
    const encoded = urlEncodeQueryParameter(new TextEncoder().encode(url));
    expect(encoded).toBe("http%3A%2F%2Fapp.example%2Fa%20b%3Fx%3D1%26y%3D%C3%BC");
    expect(percentDecode("a%2Fb+c%zz%4")).toBe("a/b+c%zz%4");
  });

  test("the authorization query: the endpoint's own parameters kept, all in name order", () => {
    const query = parseQueryString("http://auth.example/authorize?prompt=login#frag");
    query.set("state", ["s"]);
    query.set("client_id", ["id"]);
    expect(replaceQueryString("http://auth.example/authorize?prompt=login#frag", query)).toBe("http://auth.example/authorize?client_id=id&prompt=login&state=s");
  });

  test("a state must be an absolute http(s) URL", () => {
    expect(isAbsoluteHttpUrl("https://app.example/x?y")).toBe(true);
    expect(isAbsoluteHttpUrl("/x")).toBe(false);
    expect(isAbsoluteHttpUrl("javascript:alert(1)")).toBe(false);
    // Control characters and space anywhere: refused (the state becomes a Location header).
    for (const bad of ["https://app.example/x\x01y", "https://app.example/\x7f", "https://app.example/a b", "https://app\x00.example/", "https://app.example/\x1b[0m"]) {
      expect(isAbsoluteHttpUrl(bad), JSON.stringify(bad)).toBe(false);
    }
  });
});

describe("the token request and its answer", () => {
  const config = { clientId: "my id", authType: "URL_ENCODED_BODY" } as OAuth2FilterConfig;

  test("URL_ENCODED_BODY: the client's id and secret percent-encoded in the body; BASIC_AUTH: in Authorization", () => {
    const secret = new TextEncoder().encode("s&cr t");
    expect(accessTokenRequest(config, "c0de", secret, "https://app/cb")).toEqual({
      body: "grant_type=authorization_code&code=c0de&client_id=my%20id&client_secret=s%26cr%20t&redirect_uri=https%3A%2F%2Fapp%2Fcb",
    });
    expect(accessTokenRequest({ ...config, authType: "BASIC_AUTH" }, "c0de", secret, "https://app/cb")).toEqual({
      body: "grant_type=authorization_code&code=c0de&redirect_uri=https%3A%2F%2Fapp%2Fcb",
      authorization: `Basic ${Buffer.from("my id:s&cr t").toString("base64")}`,
    });
  });

  test("the refresh request (RFC 6749 §6): the refresh token percent-encoded, the client as for the code", () => {
    const secret = new TextEncoder().encode("s&cr t");
    expect(refreshTokenRequest(config, "r/1", secret)).toEqual({ body: "grant_type=refresh_token&refresh_token=r%2F1&client_id=my%20id&client_secret=s%26cr%20t" });
    expect(refreshTokenRequest({ ...config, authType: "BASIC_AUTH" }, "r/1", secret)).toEqual({
      body: "grant_type=refresh_token&refresh_token=r%2F1",
      authorization: `Basic ${Buffer.from("my id:s&cr t").toString("base64")}`,
    });
  });

  test("the answer: access_token required; expires_in a number or a decimal string, else the default; 0 fails", () => {
    expect(parseTokenResponse('{"access_token":"a","expires_in":"30","scope":"x"}', 600)).toEqual({ accessToken: "a", idToken: "", refreshToken: "", expiresIn: 30 });
    expect(parseTokenResponse('{"access_token":"a","id_token":"i","refresh_token":"r"}', 600)).toEqual({ accessToken: "a", idToken: "i", refreshToken: "r", expiresIn: 600 });
    expect(parseTokenResponse('{"access_token":"a"}', 0)).toBeTypeOf("string");
    expect(parseTokenResponse('{"id_token":"i","expires_in":5}', 0)).toBeTypeOf("string");
    expect(parseTokenResponse('{"access_token":5}', 600)).toBeTypeOf("string");
    expect(parseTokenResponse("not json", 600)).toBeTypeOf("string");
  });

  test("a token outside RFC 6265's cookie-octets is a failure: it would inject headers or cookie attributes", () => {
    for (const token of ["t\r\nx-injected: yes", "t; Domain=evil.example", "a b", 'q"', "a,b", "a\\b", "caf\u00e9"]) {
      for (const name of ["access_token", "id_token", "refresh_token"]) {
        const body = { access_token: "a", [name]: token, expires_in: 60 };
        expect(parseTokenResponse(JSON.stringify(body), 600), `${name}=${JSON.stringify(token)}`).toBeTypeOf("string");
      }
    }
    expect(parseTokenResponse('{"access_token":"eyJ.a-b_c~d/e+f=","expires_in":60}', 600)).toMatchObject({ accessToken: "eyJ.a-b_c~d/e+f=" });
  });

  test("expires_in above 2^53-1 is refused (no Max-Age=1e+21, no uint64 overflow)", () => {
    expect(parseTokenResponse('{"access_token":"a","expires_in":1e21}', 600)).toBeTypeOf("string");
    expect(parseTokenResponse('{"access_token":"a","expires_in":"18446744073709551616"}', 600)).toBeTypeOf("string");
    expect(parseTokenResponse('{"access_token":"a","expires_in":9007199254740992}', 600)).toBeTypeOf("string");
    expect(parseTokenResponse('{"access_token":"a","expires_in":9007199254740991}', 600)).toMatchObject({ expiresIn: 9007199254740991 });
  });
});

describe("config", () => {
  const bootstrap = (config: object, secrets: object[] = []) =>
    JSON.stringify({
      static_resources: {
        secrets,
        clusters: [{ name: "hub", load_assignment: { cluster_name: "hub", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 1 } } } }] }] } }],
        listeners: [
          {
            address: { socket_address: { address: "127.0.0.1", port_value: 1 } },
            filter_chains: [
              {
                filters: [
                  {
                    name: "envoy.filters.network.http_connection_manager",
                    typed_config: {
                      "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                      stat_prefix: "in",
                      route_config: { virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: "hub" } }] }] },
                      http_filters: [
                        { name: "envoy.filters.http.oauth2", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.oauth2.v3.OAuth2", config } },
                        { name: "envoy.filters.http.router" },
                      ],
                    },
                  },
                ],
              },
            ],
          },
        ],
      },
    });
  const base = {
    token_endpoint: { cluster: "hub", uri: "http://hub/token", timeout: "3s" },
    authorization_endpoint: "http://hub/authorize",
    redirect_uri: "%REQ(:authority)%/callback",
    redirect_path_matcher: { path: { exact: "/callback" } },
    signout_path: { path: { exact: "/signout" } },
    credentials: { client_id: "id", token_secret: { name: "t" }, hmac_secret: { name: "h" } },
  };
  const secrets = [
    { name: "t", generic_secret: { secret: { inline_string: "x" } } },
    { name: "h", generic_secret: { secret: { inline_bytes: "eHl6" } } },
  ];
  const problems = (config: object, s: object[] = secrets) => {
    const result = loadConfig(bootstrap(config, s), "json");
    return "problems" in result ? result.problems : [];
  };
  const AT = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.config";

  test("a config with static generic secrets loads; use_refresh_token as a bool or a BoolValue", () => {
    expect(problems(base)).toEqual([]);
    expect(problems({ ...base, use_refresh_token: { value: true }, default_refresh_token_expires_in: "60s" })).toEqual([]);
    expect(problems({ ...base, use_refresh_token: "yes" })[0]).toContain(`${AT}.use_refresh_token`);
  });

  test("refused, one line each: an unknown cluster, a missing static secret, contradicting options, a bad cookie name, an unknown field", () => {
    expect(problems({ ...base, token_endpoint: { ...base.token_endpoint, cluster: "nope" } })).toEqual([
      `${AT}.token_endpoint.cluster: OAuth2 filter: unknown cluster 'nope' in config. Please specify which cluster to direct OAuth requests to.`,
    ]);
    expect(problems(base, [secrets[0]!])).toEqual([`${AT}.credentials.hmac_secret.name: invalid HMAC secret configuration: Unknown static secret: h`]);
    expect(problems({ ...base, forward_bearer_token: true, preserve_authorization_header: true })[0]).toContain(`${AT}.preserve_authorization_header: invalid combination of forward_bearer_token and preserve_authorization_header`);
    expect(problems({ ...base, credentials: { ...base.credentials, cookie_names: { bearer_token: "a b" } } })[0]).toContain(`${AT}.credentials.cookie_names.bearer_token`);
    expect(problems({ ...base, retry_policy: {} })[0]).toContain("retry_policy");
    expect(problems({ ...base, redirect_uri: "%BOGUS%" })[0]).toContain(`${AT}.redirect_uri`);
  });
});
