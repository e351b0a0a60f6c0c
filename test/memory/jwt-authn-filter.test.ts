/**
 * The envoy.filters.http.jwt_authn filter (core/http/filters/jwt-authn/) in a proxy on the
 * memory runtime, with keys minted for each run through WebCrypto (none is committed):
 * Envoy's 401/403 texts and www-authenticate, providers, requirements, forwarding.
 */
import { afterEach, beforeAll, describe, expect, test } from "vitest";
import { Buffer } from "node:buffer";
import { webcrypto } from "node:crypto";
import { loadBootstrap } from "../../core/config/load.ts";
import { filterProxy, PROXY_PORT, type FilterProxy } from "./support/filter-proxy.ts";
import { MemoryHttpClient } from "./support/http-peers.ts";
import type { HttpMessage } from "./support/http-wire.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { startProxy } from "./support/proxy.ts";

const subtle = webcrypto.subtle;
const TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
const PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig";
/** The memory runtime's wall clock at start: 2026-01-01T00:00:00Z. */
const NOW = Date.UTC(2026, 0, 1) / 1000;

const b64url = (bytes: Uint8Array | string): string =>
  Buffer.from(bytes).toString("base64url");

interface Signer {
  jwk: Record<string, unknown>;
  sign(payload: object, header?: object): Promise<string>;
}

async function signer(alg: "RS256" | "ES256", kid: string): Promise<Signer> {
  const params =
    alg === "RS256"
      ? { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }
      : { name: "ECDSA", namedCurve: "P-256" };
  const pair = (await subtle.generateKey(params, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const jwk = { ...(await subtle.exportKey("jwk", pair.publicKey)), kid, alg };
  return {
    jwk,
    async sign(payload, header = {}) {
      const input = `${b64url(JSON.stringify({ alg, typ: "JWT", kid, ...header }))}.${b64url(JSON.stringify(payload))}`;
      const how = alg === "RS256" ? { name: "RSASSA-PKCS1-v1_5" } : { name: "ECDSA", hash: "SHA-256" };
      const signature = new Uint8Array(await subtle.sign(how, pair.privateKey, new TextEncoder().encode(input)));
      return `${input}.${b64url(signature)}`;
    },
  };
}

let rsa: Signer;
let ec: Signer;
let stranger: Signer;
beforeAll(async () => {
  rsa = await signer("RS256", "rsa-1");
  ec = await signer("ES256", "ec-1");
  // Same kid as rsa's, another key: a forged token.
  stranger = await signer("RS256", "rsa-1");
});

const claims = (extra: object = {}) => ({ iss: "https://issuer.example", sub: "alice", aud: "api", exp: NOW + 600, ...extra });

function jwtFilter(overrides: Record<string, unknown> = {}, providerOverrides: Record<string, unknown> = {}) {
  return {
    name: "envoy.filters.http.jwt_authn",
    typed_config: {
      "@type": TYPE,
      providers: {
        main: {
          issuer: "https://issuer.example",
          audiences: ["api"],
          local_jwks: { inline_string: JSON.stringify({ keys: [rsa.jwk, ec.jwk] }) },
          forward_payload_header: "x-jwt-payload",
          ...providerOverrides,
        },
      },
      rules: [{ match: { prefix: "/open" } }, { match: { prefix: "/" }, requires: { provider_name: "main" } }],
      ...overrides,
    },
  };
}

let proxy: FilterProxy | undefined;

/**
 * A request, waiting for its response also across the host's real asynchronous work
 * (WebCrypto's verify runs off the event loop, where the memory runtime's settle does not look).
 */
async function send(method: string, path: string, options: { headers?: Record<string, string>; body?: string } = {}): Promise<HttpMessage> {
  const client = new MemoryHttpClient(proxy!.runtime, PROXY_PORT);
  client.request(method, path, options);
  for (let i = 0; i < 400 && client.responses.length === 0; i++) {
    await proxy!.runtime.settle();
    if (client.responses.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const response = client.responses[0];
  if (!response) throw new Error(`no response to ${method} ${path}`);
  return response;
}
afterEach(() => {
  proxy?.close();
  proxy = undefined;
});

const header = (headers: readonly [string, string][], name: string) => headers.find(([n]) => n === name)?.[1];

describe("jwt_authn filter", () => {
  test("RS256 and ES256 tokens signed with the JWKS's keys pass; the payload is forwarded and the token removed", async () => {
    proxy = await filterProxy([jwtFilter()]);
    for (const s of [rsa, ec]) {
      const token = await s.sign(claims());
      const response = await send("GET", "/api", { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(200);
      const seen = proxy.upstreamRequests.at(-1)!;
      expect(header(seen.headers, "authorization")).toBeUndefined();
      expect(header(seen.headers, "x-jwt-payload")).toBe(token.split(".")[1]);
    }
    expect(proxy.counter("http.ingress_http.jwt_authn.allowed")).toBe(2);
  });

  test("no token: 401 Jwt is missing, www-authenticate without error=", async () => {
    proxy = await filterProxy([jwtFilter()]);
    const response = await send("GET", "/api?x=1");
    expect(response.status).toBe(401);
    expect(response.text()).toBe("Jwt is missing");
    expect(header(response.headers, "www-authenticate")).toBe('Bearer realm="http://example.com/api?x=1"');
    expect(proxy.upstreamRequests).toHaveLength(0);
    expect(proxy.counter("http.ingress_http.jwt_authn.denied")).toBe(1);
  });

  test("a forged signature, an expired token, another issuer, another audience: Envoy's texts and codes", async () => {
    proxy = await filterProxy([jwtFilter()]);
    const cases: [Promise<string>, number, string][] = [
      [stranger.sign(claims()), 401, "Jwt verification fails"],
      [rsa.sign(claims({ exp: NOW - 3600 })), 401, "Jwt is expired"],
      [rsa.sign(claims({ nbf: NOW + 3600 })), 401, "Jwt not yet valid"],
      [rsa.sign(claims({ iss: "https://other.example" })), 401, "Jwt issuer is not configured"],
      [rsa.sign(claims({ aud: ["web"] })), 403, "Audiences in Jwt are not allowed"],
      [rsa.sign(claims(), { kid: "unknown" }), 401, "Jwks doesn't have key to match kid or alg from Jwt"],
      [Promise.resolve("not-a-jwt"), 401, "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"],
    ];
    for (const [token, status, body] of cases) {
      const response = await send("GET", "/api", { headers: { authorization: `Bearer ${await token}` } });
      expect([response.status, response.text()]).toEqual([status, body]);
      expect(header(response.headers, "www-authenticate")).toBe('Bearer realm="http://example.com/api", error="invalid_token"');
    }
    expect(proxy.upstreamRequests).toHaveLength(0);
  });

  test("within clock_skew_seconds (60 by default) an expired token still passes", async () => {
    proxy = await filterProxy([jwtFilter()]);
    const response = await send("GET", "/", { headers: { authorization: `Bearer ${await rsa.sign(claims({ exp: NOW - 30 }))}` } });
    expect(response.status).toBe(200);
  });

  test("a path no rule requires is not checked; forward keeps the token; from_headers / from_params", async () => {
    proxy = await filterProxy([jwtFilter({}, { forward: true, from_headers: [{ name: "x-token", value_prefix: "Tok " }], from_params: ["jwt"] })]);
    expect((await send("GET", "/open")).status).toBe(200);
    const token = await rsa.sign(claims());
    expect((await send("GET", "/api", { headers: { "x-token": `Tok ${token}` } })).status).toBe(200);
    expect(header(proxy.upstreamRequests.at(-1)!.headers, "x-token")).toBe(`Tok ${token}`);
    expect((await send("GET", `/api?jwt=${token}`)).status).toBe(200);
    // Not the default place any more.
    expect((await send("GET", "/api", { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
  });

  test("requires_any with allow_missing: no token passes, a bad one does not; requires_all needs every provider", async () => {
    const jwks = (s: Signer) => ({ inline_string: JSON.stringify({ keys: [s.jwk] }) });
    proxy = await filterProxy([
      {
        name: "envoy.filters.http.jwt_authn",
        typed_config: {
          "@type": TYPE,
          providers: {
            a: { issuer: "https://issuer.example", local_jwks: jwks(rsa) },
            b: { issuer: "https://issuer.example", local_jwks: jwks(ec), from_headers: [{ name: "x-b" }] },
          },
          rules: [
            { match: { prefix: "/any" }, requires: { requires_any: { requirements: [{ provider_name: "a" }, { allow_missing: {} }] } } },
            { match: { prefix: "/all" }, requires: { requires_all: { requirements: [{ provider_name: "a" }, { provider_name: "b" }] } } },
          ],
        },
      },
    ]);
    expect((await send("GET", "/any")).status).toBe(200);
    expect((await send("GET", "/any", { headers: { authorization: `Bearer ${await stranger.sign(claims())}` } })).status).toBe(401);
    const a = await rsa.sign(claims());
    const b = await ec.sign(claims());
    expect((await send("GET", "/all", { headers: { authorization: `Bearer ${a}` } })).status).toBe(401);
    expect((await send("GET", "/all", { headers: { authorization: `Bearer ${a}`, "x-b": b } })).status).toBe(200);
  });

  test("PerRouteConfig disabled skips the filter on that route", async () => {
    proxy = await filterProxy([jwtFilter()], {
      routes: [
        { match: { prefix: "/public" }, action: { route: { cluster: "backend" }, typed_per_filter_config: { "envoy.filters.http.jwt_authn": { "@type": PER_ROUTE, disabled: true } } } },
        { match: { prefix: "/" }, cluster: "backend" },
      ],
    });
    expect((await send("GET", "/public")).status).toBe(200);
    expect((await send("GET", "/private")).status).toBe(401);
  });

  test("claim_to_headers: string, number, bool, nested (a.b) claims; objects and arrays as base64 JSON; absent ones add nothing", async () => {
    const map = [
      ["x-sub", "sub"],
      ["x-n", "n"],
      ["x-f", "f"],
      ["x-neg", "neg"],
      ["x-admin", "admin"],
      ["x-tenant", "org.tenant.id"],
      ["x-roles", "roles"],
      ["x-org", "org.tenant"],
      ["x-none", "missing"],
      ["x-null", "nil"],
      ["x-deep-miss", "sub.x"],
    ].map(([header_name, claim_name]) => ({ header_name, claim_name }));
    proxy = await filterProxy([jwtFilter({}, { claim_to_headers: map })]);
    const token = await rsa.sign(claims({ n: 42, f: 1.5, neg: -3, admin: true, nil: null, roles: ["a", "b"], org: { tenant: { id: "t1" } } }));
    const response = await send("GET", "/api", { headers: { authorization: `Bearer ${token}`, "x-sub": "spoofed" } });
    expect(response.status).toBe(200);
    const seen = proxy.upstreamRequests.at(-1)!.headers;
    // The client's own x-sub was removed before verifying (Envoy's sanitizeHeaders): only the claim's.
    expect(seen.filter(([n]) => n === "x-sub").map(([, v]) => v)).toEqual(["alice"]);
    expect(header(seen, "x-n")).toBe("42");
    expect(header(seen, "x-f")).toBe("1.500000");
    expect(header(seen, "x-neg")).toBe("-3.000000");
    expect(header(seen, "x-admin")).toBe("true");
    expect(header(seen, "x-tenant")).toBe("t1");
    expect(header(seen, "x-roles")).toBe(Buffer.from('["a","b"]').toString("base64"));
    expect(header(seen, "x-org")).toBe(Buffer.from('{"id":"t1"}').toString("base64"));
    for (const absent of ["x-none", "x-null", "x-deep-miss"]) expect(header(seen, absent)).toBeUndefined();
    // A token that fails adds no claim header.
    expect((await send("GET", "/api", { headers: { authorization: `Bearer ${await stranger.sign(claims())}` } })).status).toBe(401);
  });

  test("claim_to_headers: a client cannot pass its own claim or payload header, with a token or without (allow_missing); a claim with CR/LF is not sent; a non-ASCII one goes as UTF-8", async () => {
    proxy = await filterProxy([
      jwtFilter(
        { rules: [{ match: { prefix: "/" }, requires: { allow_missing: {} } }] },
        { claim_to_headers: [{ header_name: "x-sub", claim_name: "sub" }, { header_name: "x-name", claim_name: "name" }], forward_payload_header: "x-jwt-payload" },
      ),
    ]);
    const forged = { "x-sub": "admin", "x-name": "root", "x-jwt-payload": "e30" };
    expect((await send("GET", "/api", { headers: forged })).status).toBe(200);
    let seen = proxy.upstreamRequests.at(-1)!.headers;
    expect(["x-sub", "x-name", "x-jwt-payload"].map((n) => header(seen, n))).toEqual([undefined, undefined, undefined]);
    const token = await rsa.sign(claims({ sub: "alice\r\nx-injected: 1", name: "Zoë" }));
    expect((await send("GET", "/api", { headers: { authorization: `Bearer ${token}`, ...forged } })).status).toBe(200);
    seen = proxy.upstreamRequests.at(-1)!.headers;
    expect([header(seen, "x-sub"), header(seen, "x-injected")]).toEqual([undefined, undefined]);
    expect(Buffer.from(header(seen, "x-name")!, "latin1").toString("utf8")).toBe("Zoë");
    expect(header(seen, "x-jwt-payload")).not.toBe("e30");
  });

  test("a header formatted from a claim (%DYNAMIC_METADATA(…)%) is dropped when the claim holds CR/LF, sent otherwise", async () => {
    proxy = await filterProxy([jwtFilter({}, { payload_in_metadata: "p" })], {
      virtualHosts: [
        {
          name: "backend",
          domains: ["*"],
          routes: [{ match: { prefix: "/" }, route: { cluster: "backend" } }],
          request_headers_to_add: [{ header: { key: "x-who", value: "%DYNAMIC_METADATA(envoy.filters.http.jwt_authn:p:sub)%" } }],
        },
      ],
    });
    const send1 = async (sub: string) => {
      const token = await rsa.sign(claims({ sub }));
      expect((await send("GET", "/api", { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      const seen = proxy!.upstreamRequests.at(-1)!.headers;
      return [header(seen, "x-who"), header(seen, "x-injected")];
    };
    expect(await send1("alice")).toEqual(["alice", undefined]);
    expect(await send1("alice\r\nx-injected: 1")).toEqual([undefined, undefined]);
  });

  test("payload_in_metadata / header_in_metadata: the verified JWT's payload and header in dynamic metadata, which access logs print", async () => {
    proxy = await filterProxy([jwtFilter({}, { payload_in_metadata: "jwt_payload", header_in_metadata: "jwt_header" })], {
      hcm: {
        access_log: [
          {
            name: "envoy.access_loggers.file",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
              path: "/dev/stdout",
              log_format: { text_format_source: { inline_string: "%DYNAMIC_METADATA(envoy.filters.http.jwt_authn:jwt_payload:sub)% %DYNAMIC_METADATA(envoy.filters.http.jwt_authn:jwt_header:kid)% %RESPONSE_CODE%\n" } },
            },
          },
        ],
      },
    });
    expect((await send("GET", "/api", { headers: { authorization: `Bearer ${await rsa.sign(claims())}` } })).status).toBe(200);
    expect((await send("GET", "/api", { headers: { authorization: `Bearer ${await stranger.sign(claims())}` } })).status).toBe(401);
    await proxy.runtime.settle(1000);
    expect(proxy.runtime.stdoutText).toBe("alice rsa-1 200\n- - 401\n");
  });

  test("rbac after jwt_authn: a principal's metadata matcher reads the verified payload (a list claim by list_match), as Envoy's MetadataMatcher", async () => {
    const rbac = {
      name: "envoy.filters.http.rbac",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
        rules: {
          action: "ALLOW",
          policies: {
            admins: {
              permissions: [{ any: true }],
              principals: [{ metadata: { filter: "envoy.filters.http.jwt_authn", path: [{ key: "payload" }, { key: "groups" }], value: { list_match: { one_of: { string_match: { exact: "admin" } } } } } }],
            },
          },
        },
      },
    };
    proxy = await filterProxy([jwtFilter({}, { payload_in_metadata: "payload" }), rbac]);
    const as = async (groups: unknown) => (await send("GET", "/api", { headers: { authorization: `Bearer ${await rsa.sign(claims({ groups }))}` } }));
    expect((await as(["users", "admin"])).status).toBe(200);
    const denied = await as(["users"]);
    expect([denied.status, denied.text()]).toEqual([403, "RBAC: access denied"]);
    // A string claim is no list.
    expect((await as("admin")).status).toBe(403);
    // No token on an open path: no payload, no match.
    expect((await send("GET", "/open")).status).toBe(403);
    expect(proxy.upstreamRequests).toHaveLength(1);
  });

  test("rules[].match.path_separated_prefix: /api and /api/… need a token, /apix does not", async () => {
    proxy = await filterProxy([jwtFilter({ rules: [{ match: { path_separated_prefix: "/api" }, requires: { provider_name: "main" } }] })]);
    expect((await send("GET", "/api")).status).toBe(401);
    expect((await send("GET", "/api/v1?x=1")).status).toBe(401);
    expect((await send("GET", "/apix")).status).toBe(200);
  });

  test("a request body waits while the token is verified, then goes on whole", async () => {
    proxy = await filterProxy([jwtFilter()]);
    const response = await send("POST", "/api", { headers: { authorization: `Bearer ${await rsa.sign(claims())}` }, body: "payload" });
    expect(response.status).toBe(200);
    expect(proxy.upstreamRequests[0]!.body).toBe("payload");
  });
});

describe("jwt_authn config", () => {
  const load = (filter: object) =>
    loadBootstrap(JSON.stringify(httpProxyConfig({ listenPort: 1, clusters: { backend: [2] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], hcm: { http_filters: [filter, { name: "envoy.filters.http.router" }] } })), "json");
  const AT = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config";

  test("remote_jwks fields Envoy's fetcher ignores are refused; a JWKS without usable keys, an unknown provider in a requirement are errors", () => {
    const remote = (extra: object) => jwtFilter({}, { local_jwks: undefined, remote_jwks: { http_uri: { uri: "https://x", cluster: "backend", timeout: "1s" }, ...extra } });
    expect(() => load(remote({}))).not.toThrow();
    // Provider names are the user's (a map key, kept as written); the fields inside are read in either case.
    const camel = jwtFilter({}, { local_jwks: undefined, remoteJwks: { httpUri: { uri: "https://x", cluster: "backend", timeout: "1s" } } }) as { typed_config: { providers: Record<string, unknown>; rules: unknown } };
    camel.typed_config.providers = { myProvider: camel.typed_config.providers["main"] };
    camel.typed_config.rules = [{ match: { prefix: "/" }, requires: { providerName: "myProvider" } }];
    expect(() => load(camel)).not.toThrow();
    expect(() => load(remote({ retry_policy: { retry_on: "5xx" } }))).toThrow(`${AT}.providers.main.remote_jwks.retry_policy: \`retry_on\` is an Envoy field that polyvoy does not support yet (Envoy's JWKS fetcher retries on 5xx,gateway-error,connect-failure,reset whatever retry_on says`);
    expect(() => load(remote({ retry_policy: { retry_back_off: { base_interval: "2s", max_interval: "1s" } } }))).toThrow(`${AT}.providers.main.remote_jwks.retry_policy.retry_back_off.max_interval: max_interval must be greater than or equal to the base_interval`);
    expect(() => load(jwtFilter({}, { local_jwks: undefined }))).toThrow(`${AT}.providers.main: must set exactly one of remote_jwks, local_jwks`);
    expect(() => load(jwtFilter({}, { remote_jwks: { http_uri: { uri: "https://x", cluster: "backend", timeout: "1s" } } }))).toThrow(`${AT}.providers.main: must set exactly one of remote_jwks, local_jwks`);
    expect(() => load(jwtFilter({}, { local_jwks: { inline_string: '{"keys":[{"kty":"RSA"}]}' } }))).toThrow(`${AT}.providers.main.local_jwks: Jwks doesn't have any valid public key`);
    expect(() => load(jwtFilter({}, { local_jwks: { inline_string: "{" } }))).toThrow(`${AT}.providers.main.local_jwks: Jwks is an invalid JSON`);
    expect(() => load(jwtFilter({ rules: [{ match: { prefix: "/" }, requires: { provider_name: "nope" } }] }))).toThrow(
      `${AT}.rules[0].requires.provider_name: Required provider ['nope'] is not configured.`,
    );
  });

  test("a runtime without verifySignature refuses jwt_authn when the listener starts", async () => {
    const runtime = new MemoryRuntime({ seed: 1 });
    Object.defineProperty(runtime, "verifySignature", { value: undefined });
    const config = httpProxyConfig({ listenPort: 10000, clusters: { backend: [8080] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], hcm: { http_filters: [jwtFilter(), { name: "envoy.filters.http.router" }] } });
    await expect(startProxy(runtime, config)).rejects.toThrow(/envoy\.filters\.http\.jwt_authn needs the runtime's verifySignature/);
  });
});
