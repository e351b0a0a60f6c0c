/**
 * envoy.filters.http.jwt_authn against the real proxy on every runtime: JWTs signed with
 * keys minted for this run (WebCrypto, nothing committed) are accepted, forged and
 * missing ones get Envoy's 401s — the signature checked by each runtime's own WebCrypto.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Buffer } from "node:buffer";
import { webcrypto } from "node:crypto";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const subtle = webcrypto.subtle;
const TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication";
const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64url");

async function keyPair(alg: "RS256" | "ES256"): Promise<{ jwk: object; sign(payload: object): Promise<string> }> {
  const params =
    alg === "RS256" ? { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" } : { name: "ECDSA", namedCurve: "P-256" };
  const pair = (await subtle.generateKey(params, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const kid = `${alg}-key`;
  return {
    jwk: { ...(await subtle.exportKey("jwk", pair.publicKey)), kid, alg },
    async sign(payload) {
      const input = `${b64url(JSON.stringify({ alg, kid }))}.${b64url(JSON.stringify(payload))}`;
      const how = alg === "RS256" ? { name: "RSASSA-PKCS1-v1_5" } : { name: "ECDSA", hash: "SHA-256" };
      return `${input}.${b64url(new Uint8Array(await subtle.sign(how, pair.privateKey, new TextEncoder().encode(input))))}`;
    },
  };
}

let rsa: Awaited<ReturnType<typeof keyPair>>;
let ec: Awaited<ReturnType<typeof keyPair>>;
let forger: Awaited<ReturnType<typeof keyPair>>;
beforeAll(async () => {
  [rsa, ec, forger] = await Promise.all([keyPair("RS256"), keyPair("ES256"), keyPair("RS256")]);
});

describe.each(RUNTIMES)("jwt_authn on %s", (runtime) => {
  let echo: HttpUpstream;
  let proxy: ProxyProcess;
  let base: string;

  beforeAll(async () => {
    echo = await httpUpstream((req, res) => {
      // What claim_to_headers added, echoed back in response headers.
      res.setHeader("x-seen-sub", String(req.headers["x-sub"] ?? "-"));
      res.setHeader("x-seen-roles", String(req.headers["x-roles"] ?? "-"));
      res.setHeader("x-seen-tenant", String(req.headers["x-tenant"] ?? "-"));
      res.end(String(req.headers["x-jwt-payload"] ?? ""));
    });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [echo.port] },
      routes: [{ match: { prefix: "/" }, cluster: "echo" }],
      hcm: {
        http_filters: [
          {
            name: "envoy.filters.http.jwt_authn",
            typed_config: {
              "@type": TYPE,
              providers: {
                main: {
                  issuer: "https://issuer.example",
                  local_jwks: { inline_string: JSON.stringify({ keys: [rsa.jwk, ec.jwk] }) },
                  forward_payload_header: "x-jwt-payload",
                  payload_in_metadata: "payload",
                  claim_to_headers: [
                    { header_name: "x-sub", claim_name: "sub" },
                    { header_name: "x-roles", claim_name: "roles" },
                    { header_name: "x-tenant", claim_name: "org.tenant" },
                  ],
                },
              },
              rules: [
                // An empty requirement allows all (Envoy's AllowAllVerifierImpl), alone or in requires_any.
                { match: { prefix: "/open" }, requires: {} },
                { match: { prefix: "/either" }, requires: { requires_any: { requirements: [{ provider_name: "main" }, {}] } } },
                // A rule's match is a RouteMatch (Envoy's jwt_authn matcher.cc): headers, query parameters, case_sensitive.
                { match: { prefix: "/api/", headers: [{ name: ":method", string_match: { exact: "OPTIONS" } }] }, requires: {} },
                { match: { prefix: "/q", query_parameters: [{ name: "public", string_match: { exact: "1" } }] }, requires: {} },
                { match: { path: "/CaseLess", case_sensitive: false }, requires: {} },
                { match: { prefix: "/" }, requires: { provider_name: "main" } },
              ],
            },
          },
          {
            // /admin only for a payload whose groups list holds "admin" (a metadata principal); the rest as before.
            name: "envoy.filters.http.rbac",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
              rules: {
                policies: {
                  admins: {
                    permissions: [{ url_path: { path: { prefix: "/admin" } } }],
                    principals: [{ metadata: { filter: "envoy.filters.http.jwt_authn", path: [{ key: "payload" }, { key: "groups" }], value: { list_match: { one_of: { string_match: { exact: "admin" } } } } } }],
                  },
                  rest: { permissions: [{ not_rule: { url_path: { path: { prefix: "/admin" } } } }], principals: [{ any: true }] },
                },
              },
            },
          },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    });
    proxy = await ProxyProcess.start(runtime, config);
  });

  afterAll(async () => {
    await proxy?.stop();
    await echo?.close();
  });

  const get = async (token?: string, path = "/private") => {
    const response = await request(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: response.statusCode, auth: response.headers["www-authenticate"], text: await response.body.text() };
  };

  test("RS256 and ES256 JWTs from the JWKS's keys pass (payload forwarded); forged and missing ones get 401", async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    for (const signer of [rsa, ec]) {
      const token = await signer.sign({ iss: "https://issuer.example", exp });
      expect(await get(token)).toEqual({ status: 200, auth: undefined, text: token.split(".")[1] });
    }
    const forged = await forger.sign({ iss: "https://issuer.example", exp });
    expect(await get(forged)).toEqual({ status: 401, auth: `Bearer realm="${base}/private", error="invalid_token"`, text: "Jwt verification fails" });
    expect(await get()).toEqual({ status: 401, auth: `Bearer realm="${base}/private"`, text: "Jwt is missing" });
    expect(await get(await rsa.sign({ iss: "https://issuer.example", exp: exp - 7200 }))).toMatchObject({ status: 401, text: "Jwt is expired" });
  });

  test("rbac after jwt_authn: a metadata principal (list_match on the payload's groups, payload_in_metadata) lets only admins into /admin", async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const as = async (groups: unknown) => get(await rsa.sign({ iss: "https://issuer.example", exp, groups }), "/admin");
    expect((await as(["users", "admin"])).status).toBe(200);
    expect(await as(["users"])).toEqual({ status: 403, auth: undefined, text: "RBAC: access denied" });
    expect((await as("admin")).status).toBe(403);
    expect((await get(await rsa.sign({ iss: "https://issuer.example", exp, groups: ["users"] }), "/private")).status).toBe(200);
  });

  test("an empty requirement (requires: {}) lets every request through, alone or as one of requires_any", async () => {
    const forged = await forger.sign({ iss: "https://issuer.example", exp: Math.floor(Date.now() / 1000) + 600 });
    expect(await get(undefined, "/open")).toMatchObject({ status: 200 });
    expect(await get(forged, "/open")).toMatchObject({ status: 200 });
    expect(await get(undefined, "/either")).toMatchObject({ status: 200 });
    expect(await get(forged, "/either")).toMatchObject({ status: 200 });
  });

  test("a rule's headers, query_parameters and case_sensitive decide whether it matches (OPTIONS /api/ and ?public=1 go through without a JWT)", async () => {
    const options = await request(`${base}/api/items`, { method: "OPTIONS" });
    await options.body.text();
    expect(options.statusCode).toBe(200);
    expect(await get(undefined, "/api/items")).toMatchObject({ status: 401, text: "Jwt is missing" });
    expect(await get(undefined, "/q?a=b&public=1")).toMatchObject({ status: 200 });
    expect(await get(undefined, "/q?public=0")).toMatchObject({ status: 401 });
    expect(await get(undefined, "/q")).toMatchObject({ status: 401 });
    expect(await get(undefined, "/caseless?x=1")).toMatchObject({ status: 200 });
    expect(await get(undefined, "/caseless/more")).toMatchObject({ status: 401 });
  });

  test("claim_to_headers: the verified token's claims reach the upstream as headers (a nested claim by its path, an array as base64 JSON)", async () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    const token = await rsa.sign({ iss: "https://issuer.example", exp, sub: "alice", roles: ["a", "b"], org: { tenant: "t1" } });
    const response = await request(`${base}/private`, { headers: { authorization: `Bearer ${token}` } });
    await response.body.text();
    expect(response.statusCode).toBe(200);
    expect(response.headers["x-seen-sub"]).toBe("alice");
    expect(response.headers["x-seen-roles"]).toBe(Buffer.from('["a","b"]').toString("base64"));
    expect(response.headers["x-seen-tenant"]).toBe("t1");
  });
});
