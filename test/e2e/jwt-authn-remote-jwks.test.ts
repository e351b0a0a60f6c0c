/**
 * jwt_authn's remote_jwks against the real proxy on every runtime: the keys are served
 * by a node:http JWKS server (the proxy fetches them through a cluster), JWTs are signed
 * at test time with node:crypto's WebCrypto. Shows the fetch on demand and its cache,
 * requests waiting for one fetch, async_fetch before the listener binds, and a failing
 * JWKS server retried, then answered with Envoy's 401 "Jwks remote fetch is failed".
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
const ISSUER = "https://issuer.example";
const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64url");

let jwks: string;
let sign: (payload: object) => Promise<string>;
let forge: (payload: object) => Promise<string>;

async function rsaSigner(kid: string): Promise<{ jwk: object; sign(payload: object): Promise<string> }> {
  const params = { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };
  const pair = (await subtle.generateKey(params, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  return {
    jwk: { ...(await subtle.exportKey("jwk", pair.publicKey)), kid, alg: "RS256" },
    async sign(payload) {
      const input = `${b64url(JSON.stringify({ alg: "RS256", kid }))}.${b64url(JSON.stringify(payload))}`;
      return `${input}.${b64url(new Uint8Array(await subtle.sign({ name: "RSASSA-PKCS1-v1_5" }, pair.privateKey, new TextEncoder().encode(input))))}`;
    },
  };
}

beforeAll(async () => {
  const [good, forger] = await Promise.all([rsaSigner("k1"), rsaSigner("k1")]);
  jwks = JSON.stringify({ keys: [good.jwk] });
  sign = good.sign;
  forge = forger.sign;
});

const provider = (path: string, extra: object = {}) => ({
  issuer: ISSUER,
  remote_jwks: { http_uri: { uri: `http://jwks.example${path}`, cluster: "jwks", timeout: "5s" }, ...extra },
});

describe.each(RUNTIMES)("jwt_authn remote_jwks on %s", (runtime) => {
  let echo: HttpUpstream;
  let jwksServer: HttpUpstream;
  let proxy: ProxyProcess;
  let base: string;
  let adminPort: number;
  const fetches = (path: string) => jwksServer.requests.filter((r) => r.url === path).length;

  beforeAll(async () => {
    echo = await httpUpstream((_req, res) => res.end("upstream"));
    jwksServer = await httpUpstream((req, res) => {
      if (req.url === "/broken") {
        res.statusCode = 503;
        res.end("down");
        return;
      }
      // /slow answers late, so that requests pile up waiting for it.
      const delay = req.url === "/slow" ? 400 : 0;
      setTimeout(() => {
        res.setHeader("content-type", "application/json");
        res.end(jwks);
      }, delay);
    });
    const port = await freePort();
    adminPort = await freePort();
    base = `http://127.0.0.1:${port}`;
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { echo: [echo.port], jwks: [jwksServer.port] },
      routes: [{ match: { prefix: "/" }, cluster: "echo" }],
      hcm: {
        http_filters: [
          {
            name: "envoy.filters.http.jwt_authn",
            typed_config: {
              "@type": TYPE,
              providers: {
                ondemand: provider("/jwks", { cache_duration: "300s" }),
                slow: provider("/slow"),
                broken: provider("/broken", { retry_policy: { num_retries: 2, retry_back_off: { base_interval: "0.01s", max_interval: "0.05s" } } }),
                early: provider("/early", { async_fetch: {} }),
              },
              rules: ["ondemand", "slow", "broken", "early"].map((name) => ({ match: { prefix: `/${name}` }, requires: { provider_name: name } })),
            },
          },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    });
    proxy = await ProxyProcess.start(runtime, { admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } }, ...config });
  });

  afterAll(async () => {
    await proxy?.stop();
    await echo?.close();
    await jwksServer?.close();
  });

  const get = async (path: string, token: string) => {
    const response = await request(base + path, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.statusCode, auth: response.headers["www-authenticate"], text: await response.body.text() };
  };
  const stat = async (name: string) => {
    const text = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=${name}`)).body.text();
    return Number(/: (\d+)/.exec(text)?.[1]);
  };
  const exp = () => Math.floor(Date.now() / 1000) + 600;

  test("async_fetch: the keys were fetched before the listener bound, and serve without another fetch", async () => {
    expect(fetches("/early")).toBe(1);
    expect(await get("/early", await sign({ iss: ISSUER, exp: exp() }))).toMatchObject({ status: 200, text: "upstream" });
    expect(fetches("/early")).toBe(1);
  });

  test("on demand: the first request fetches the keys through the cluster, later ones use the cache; forged JWTs are refused", async () => {
    expect(fetches("/jwks")).toBe(0);
    expect(await get("/ondemand", await sign({ iss: ISSUER, exp: exp() }))).toMatchObject({ status: 200, text: "upstream" });
    expect(await get("/ondemand", await sign({ iss: ISSUER, exp: exp() }))).toMatchObject({ status: 200 });
    expect(await get("/ondemand", await forge({ iss: ISSUER, exp: exp() }))).toMatchObject({ status: 401, text: "Jwt verification fails" });
    expect(fetches("/jwks")).toBe(1);
    const fetch = jwksServer.requests.find((r) => r.url === "/jwks")!;
    expect(fetch.method).toBe("GET");
    expect(fetch.headers.host).toBe("jwks.example");
  });

  test("requests that arrive before the keys wait for one fetch", async () => {
    const token = await sign({ iss: ISSUER, exp: exp() });
    const results = await Promise.all(Array.from({ length: 5 }, () => get("/slow", token)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(fetches("/slow")).toBe(1);
  });

  test("a failing JWKS server is retried, then the request gets 401 Jwks remote fetch is failed, counted", async () => {
    const before = await stat("jwt_authn.jwks_fetch_failed");
    const result = await get("/broken", await sign({ iss: ISSUER, exp: exp() }));
    expect(result).toEqual({ status: 401, auth: `Bearer realm="${base}/broken", error="invalid_token"`, text: "Jwks remote fetch is failed" });
    expect(fetches("/broken")).toBe(3);
    expect(await stat("jwt_authn.jwks_fetch_failed")).toBe(before + 1);
    // /early, /jwks, /slow.
    expect(await stat("jwt_authn.jwks_fetch_success")).toBe(3);
  });
});
