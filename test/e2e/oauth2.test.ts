/**
 * The oauth2 filter against the real proxy on every runtime, as Envoy's single-page-app
 * example uses it: a node:http "hub" is the token endpoint, a second node:http server the
 * upstream, and undici plays the browser through the flow — unauthenticated → 302 to the
 * authorization endpoint; the callback with a code → the token request the hub sees,
 * cookies set, 302 back; the cookies → the upstream gets Authorization: Bearer; a forged
 * HMAC → redirected again; signout. Secrets: the token secret from an SDS file, the HMAC
 * secret a static generic_secret.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHmac } from "node:crypto";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { ProxyProcess, RUNTIMES, runToExit, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.oauth2.v3.OAuth2";
const HMAC_SECRET = "hmac-secret-for-tests";
const CLIENT_SECRET = "client secret&1";

describe.each(RUNTIMES)("oauth2 on %s", (runtime) => {
  let upstream: HttpUpstream;
  let hub: HttpUpstream;
  let proxy: ProxyProcess;
  let base: string;
  let host: string;
  let adminPort: number;
  let dir: string;
  let tokenFile: string;
  const secretFile = (secret: string) =>
    [
      "resources:",
      '- "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
      "  name: token",
      "  generic_secret:",
      "    secret:",
      `      inline_string: "${secret}"`,
      "",
    ].join("\n");

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "polyvoy-oauth2-"));
    tokenFile = join(dir, "token-secret.yml");
    writeFileSync(tokenFile, secretFile(CLIENT_SECRET));
    upstream = await httpUpstream();
    hub = await httpUpstream((req, res) => {
      res.setHeader("content-type", "application/json");
      if (req.body.toString().startsWith("grant_type=refresh_token&refresh_token=good-refresh&")) {
        res.end(JSON.stringify({ access_token: "refreshed-token", expires_in: 120, refresh_token: "new-refresh" }));
        return;
      }
      // Answers a hostile or broken token endpoint could give: tokens that would inject headers
      // or cookie attributes, an expires_in no Max-Age can carry.
      const evil: Record<string, object> = {
        "code=crlf&": { access_token: "t\r\nx-injected: yes" },
        "code=semicolon&": { access_token: "t; Domain=evil.example" },
        "code=huge&": { access_token: "t", expires_in: 1e21 },
        "refresh_token=crlf-refresh&": { access_token: "t\r\nx-injected: yes", expires_in: 60 },
      };
      for (const [marker, answer] of Object.entries(evil)) {
        if (req.body.toString().includes(marker)) {
          res.end(JSON.stringify(answer));
          return;
        }
      }
      if (req.body.toString().includes("code=bad") || req.body.toString().includes("grant_type=refresh_token")) {
        res.statusCode = 400;
        res.end('{"error":"invalid_grant"}');
        return;
      }
      res.end(JSON.stringify({ access_token: "the-access-token", token_type: "bearer", id_token: "the-id-token" }));
    });
    const port = await freePort();
    adminPort = await freePort();
    host = `127.0.0.1:${port}`;
    base = `http://${host}`;
    const config = httpProxyConfig({
      listenPort: port,
      clusters: { ui: [upstream.port], hub: [hub.port] },
      routes: [{ match: { prefix: "/" }, cluster: "ui" }],
      hcm: {
        http_filters: [
          {
            name: "envoy.filters.http.oauth2",
            typed_config: {
              "@type": TYPE,
              config: {
                token_endpoint: { cluster: "hub", uri: "http://myhub:7000/authenticate", timeout: "3s" },
                default_expires_in: "600s",
                authorization_endpoint: "http://localhost:11902/authorize",
                redirect_uri: "%REQ(x-forwarded-proto)%://%REQ(:authority)%/authorize",
                forward_bearer_token: true,
                pass_through_matcher: [{ name: ":path", string_match: { prefix: "/public" } }],
                deny_redirect_matcher: [{ name: "x-requested-with", string_match: { exact: "XMLHttpRequest" } }],
                redirect_path_matcher: { path: { prefix: "/authorize" } },
                signout_path: { path: { exact: "/logout" } },
                credentials: {
                  client_id: "0123456789",
                  token_secret: { name: "token", sds_config: { path_config_source: { path: tokenFile } } },
                  hmac_secret: { name: "hmac" },
                },
                auth_scopes: ["user:email"],
                use_refresh_token: true,
                default_refresh_token_expires_in: "3600s",
              },
            },
          },
          { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
        ],
      },
    });
    const bootstrap = {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
      ...config,
    } as unknown as Record<string, unknown> & { static_resources: Record<string, unknown> };
    bootstrap.static_resources.secrets = [{ name: "hmac", generic_secret: { secret: { inline_string: HMAC_SECRET } } }];
    proxy = await ProxyProcess.start(runtime, bootstrap);
  });

  afterAll(async () => {
    await proxy?.stop();
    await upstream?.close();
    await hub?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const response = await request(base + path, { headers });
    const text = await response.body.text();
    const setCookie = response.headers["set-cookie"];
    return { status: response.statusCode, location: response.headers.location as string | undefined, cookies: (Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) as string[], text };
  };
  const stat = async (name: string) => {
    const text = await (await request(`http://127.0.0.1:${adminPort}/stats?filter=${name}$`)).body.text();
    return Number(/: (\d+)/.exec(text)?.[1]);
  };

  test("unauthenticated: 302 to the authorization endpoint with Envoy's query; state is the original URL", async () => {
    const before = await stat("http.ingress_http.oauth_unauthorized_rq");
    const r = await get("/app/page?x=1");
    expect(r.status).toBe(302);
    const state = encodeURIComponent(`http://${host}/app/page?x=1`);
    const redirectUri = encodeURIComponent(`http://${host}/authorize`);
    expect(r.location).toBe(`http://localhost:11902/authorize?client_id=0123456789&redirect_uri=${redirectUri}&response_type=code&scope=user%3Aemail&state=${state}`);
    expect(upstream.requests).toHaveLength(0);
    expect(await stat("http.ingress_http.oauth_unauthorized_rq")).toBe(before + 1);
  });

  test("the callback: the code is exchanged at the token endpoint, cookies set, 302 back", async () => {
    const state = encodeURIComponent(`http://${host}/app/page?x=1`);
    const r = await get(`/authorize?code=the-code&state=${state}`);
    expect(r.status).toBe(302);
    expect(r.location).toBe(`http://${host}/app/page?x=1`);
    const tokenRequest = hub.requests.at(-1)!;
    expect(tokenRequest.method).toBe("POST");
    expect(tokenRequest.url).toBe("/authenticate");
    expect(tokenRequest.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(tokenRequest.headers.host).toBe("myhub:7000");
    expect(tokenRequest.body.toString()).toBe(
      `grant_type=authorization_code&code=the-code&client_id=0123456789&client_secret=client%20secret%261&redirect_uri=${encodeURIComponent(`http://${host}/authorize`)}`,
    );
    const byName = new Map(r.cookies.map((c) => [c.slice(0, c.indexOf("=")), c]));
    const expires = /^OauthExpires=(\d+);path=\/;Max-Age=600;secure;HttpOnly$/.exec(byName.get("OauthExpires")!)?.[1];
    expect(Number(expires)).toBeGreaterThan(Date.now() / 1000 + 590);
    expect(byName.get("BearerToken")).toBe("BearerToken=the-access-token;path=/;Max-Age=600;secure;HttpOnly");
    expect(byName.get("IdToken")).toBe("IdToken=the-id-token;path=/;Max-Age=600;secure;HttpOnly");
    // Envoy's HMAC: base64 of HMAC-SHA256(hmac_secret, host \n expires \n token \n id_token \n refresh_token).
    const hmac = createHmac("sha256", HMAC_SECRET).update(`${host}\n${expires}\nthe-access-token\nthe-id-token\n`).digest("base64");
    expect(byName.get("OauthHMAC")).toBe(`OauthHMAC=${hmac};path=/;Max-Age=600;secure;HttpOnly`);
  });

  test("the token secret's SDS file is watched: a new secret is sent from then on", async () => {
    writeFileSync(`${tokenFile}.tmp`, secretFile("rotated"));
    renameSync(`${tokenFile}.tmp`, tokenFile);
    const state = encodeURIComponent(`http://${host}/`);
    let body = "";
    for (let i = 0; i < 50 && !body.includes("client_secret=rotated&"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect((await get(`/authorize?code=c${i}&state=${state}`)).status).toBe(302);
      body = hub.requests.at(-1)!.body.toString();
    }
    expect(body).toContain("client_secret=rotated&");
  });

  const cookieHeader = (expires: number, token: string, hmac?: string) =>
    `OauthHMAC=${hmac ?? createHmac("sha256", HMAC_SECRET).update(`${host}\n${expires}\n${token}\n\n`).digest("base64")}; OauthExpires=${expires}; BearerToken=${token}`;

  test("with the cookies: the upstream gets Authorization: Bearer (the client's own is dropped)", async () => {
    const expires = Math.floor(Date.now() / 1000) + 300;
    const r = await get("/app/data", { cookie: cookieHeader(expires, "tok-1"), authorization: "Basic c3B5" });
    expect(r.status).toBe(200);
    expect(upstream.requests.at(-1)!.headers.authorization).toBe("Bearer tok-1");
  });

  test("a forged HMAC or an expired cookie is redirected again", async () => {
    const expires = Math.floor(Date.now() / 1000) + 300;
    const forged = createHmac("sha256", "not-the-secret").update(`${host}\n${expires}\ntok-1\n\n`).digest("base64");
    expect((await get("/app/data", { cookie: cookieHeader(expires, "tok-1", forged) })).status).toBe(302);
    expect((await get("/app/data", { cookie: cookieHeader(Math.floor(Date.now() / 1000) - 5, "tok-1") })).status).toBe(302);
    // The HMAC binds the token: another token under the same HMAC fails.
    const good = cookieHeader(expires, "tok-1").replace("BearerToken=tok-1", "BearerToken=tok-2");
    expect((await get("/app/data", { cookie: good })).status).toBe(302);
  });

  test("use_refresh_token: an expired session with a refresh token is renewed, the request goes on with the new token and cookies", async () => {
    const expired = Math.floor(Date.now() / 1000) - 5;
    const before = await stat("http.ingress_http.oauth_refreshtoken_success");
    const r = await get("/app/data", { cookie: `${cookieHeader(expired, "old-token")}; RefreshToken=good-refresh; theme=dark` });
    expect(r.status).toBe(200);
    // The client secret is the SDS file's (rotated by the test above when it ran).
    expect(hub.requests.at(-1)!.body.toString()).toMatch(/^grant_type=refresh_token&refresh_token=good-refresh&client_id=0123456789&client_secret=(rotated|client%20secret%261)$/);
    const seen = upstream.requests.at(-1)!;
    expect(seen.headers.authorization).toBe("Bearer refreshed-token");
    expect(seen.headers.cookie).toContain("BearerToken=refreshed-token");
    expect(seen.headers.cookie).toContain("theme=dark");
    const byName = new Map(r.cookies.map((c) => [c.slice(0, c.indexOf("=")), c]));
    expect(byName.get("BearerToken")).toBe("BearerToken=refreshed-token;path=/;Max-Age=120;secure;HttpOnly");
    expect(byName.get("RefreshToken")).toBe("RefreshToken=new-refresh;path=/;Max-Age=3600;secure;HttpOnly");
    expect(await stat("http.ingress_http.oauth_refreshtoken_success")).toBe(before + 1);
    // A refresh the token endpoint refuses: back to the login redirect, counted.
    const failures = await stat("http.ingress_http.oauth_refreshtoken_failure");
    expect((await get("/app/data", { cookie: `${cookieHeader(expired, "old-token")}; RefreshToken=bad` })).status).toBe(302);
    expect(await stat("http.ingress_http.oauth_refreshtoken_failure")).toBe(failures + 1);
  });

  test("deny_redirect_matcher: 401 instead of the redirect; a failed token request: 401", async () => {
    const before = await stat("http.ingress_http.oauth_failure");
    const denied = await get("/app/data", { "x-requested-with": "XMLHttpRequest" });
    expect(denied).toMatchObject({ status: 401, text: "OAuth flow failed." });
    const state = encodeURIComponent(`http://${host}/`);
    expect((await get(`/authorize?code=bad&state=${state}`)).status).toBe(401);
    expect((await get(`/authorize?state=${state}`)).status).toBe(401);
    expect(await stat("http.ingress_http.oauth_failure")).toBe(before + 3);
  });

  test("a token response whose tokens would inject headers or cookie attributes, or whose expires_in is huge: 401, nothing set", async () => {
    const state = encodeURIComponent(`http://${host}/`);
    for (const code of ["crlf", "semicolon", "huge"]) {
      const r = await get(`/authorize?code=${code}&state=${state}`);
      expect(r).toMatchObject({ status: 401, text: "OAuth flow failed.", cookies: [] });
    }
    // In the refresh flow such a token is a refused refresh: back to the login, the upstream not reached.
    const failures = await stat("http.ingress_http.oauth_refreshtoken_failure");
    const seen = upstream.requests.length;
    const expired = Math.floor(Date.now() / 1000) - 5;
    const r = await get("/app/data", { cookie: `${cookieHeader(expired, "old-token")}; RefreshToken=crlf-refresh` });
    expect(r.status).toBe(302);
    expect(r.cookies.join("\n")).not.toContain("x-injected");
    expect(upstream.requests.length).toBe(seen);
    expect(await stat("http.ingress_http.oauth_refreshtoken_failure")).toBe(failures + 1);
  });

  test("pass_through_matcher: through untouched, counted", async () => {
    const before = await stat("http.ingress_http.oauth_passthrough");
    const r = await get("/public/x", { authorization: "Basic c3B5" });
    expect(r.status).toBe(200);
    expect(upstream.requests.at(-1)!.headers.authorization).toBe("Basic c3B5");
    expect(await stat("http.ingress_http.oauth_passthrough")).toBe(before + 1);
  });

  test("signout: the cookies deleted, 302 to /", async () => {
    const r = await get("/logout");
    expect(r.status).toBe(302);
    expect(r.location).toBe(`http://${host}/`);
    expect(r.cookies).toEqual([
      "OauthHMAC=deleted; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT",
      "BearerToken=deleted; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT",
      "IdToken=deleted; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT",
      "RefreshToken=deleted; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT",
    ]);
  });

  test("Envoy's single-page-app example validates (--mode validate)", async () => {
    const file = "test/fixtures/envoy-examples/single-page-app/envoy.yml";
    const exited = await runToExit(runtime, ["--mode", "validate", "-c", file], 60_000);
    expect(exited).toMatchObject({ code: 0 });
    expect(exited.stdout).toBe(`configuration '${file}' OK\n`);
  });
});
