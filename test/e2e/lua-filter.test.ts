/**
 * The Lua HTTP filter (core/http/filters/lua/) through a real proxy on every runtime:
 * Envoy's lua example (test/fixtures/envoy-examples/lua/envoy.yaml) served unchanged but for
 * where things are, its library found along LUA_PATH as the sandbox's docker-compose mounts it
 * under /usr/local/share/lua/5.1/lib/, checked as its verify.sh does ("Foo: bar" in what the
 * echo service saw); and a config of our own: a request body rewritten, respond(), a script
 * error counted in /stats with the request still served; httpCall() to a second node:http
 * upstream, its answer deciding the request's fate.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as http from "node:http";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";
import { adminStats } from "../support/admin-stats.ts";
import { freePort } from "../support/net-helpers.ts";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { localize, type Localized } from "../support/envoy-examples.ts";
import { httpProxyConfig } from "../support/configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function send(port: number, path: string, options: { method?: string; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: { host: `localhost:${port}` }, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    request.on("error", reject);
    request.end(options.body);
  });
}

// The example's lib/mylibrary.lua (envoyproxy/examples lua/), as the sandbox mounts it.
const MYLIBRARY = 'M = {}\n\nfunction M.foobar()\n    return "bar"\nend\n\nreturn M\n';

const LUA = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua";

describe.each(RUNTIMES)("the Lua filter on %s", (runtime) => {
  let upstream: HttpUpstream;
  let luaDir: string;
  beforeAll(async () => {
    // The echo service: the request it got, as JSON.
    upstream = await httpUpstream();
    luaDir = mkdtempSync(join(tmpdir(), "polyvoy-lua-"));
    mkdirSync(join(luaDir, "lib"));
    writeFileSync(join(luaDir, "lib/mylibrary.lua"), MYLIBRARY);
  });
  afterAll(async () => {
    await upstream?.close();
    rmSync(luaDir, { recursive: true, force: true });
  });

  describe("Envoy's lua example", () => {
    let at: Localized;
    let proxy: ProxyProcess;
    beforeAll(async () => {
      at = await localize("lua/envoy.yaml", { web_service: upstream.port });
      proxy = await ProxyProcess.start(runtime, at.config, undefined, [], { LUA_PATH: `${luaDir}/?.lua;;` });
    });
    afterAll(async () => {
      await proxy?.stop();
    });

    test("verify.sh: the echo service saw foo: bar (mylibrary.foobar()); the response says its body's size", async () => {
      const reply = await send(at.port(8000), "/");
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body).headers.foo).toBe("bar");
      expect(reply.headers["response-body-size"]).toBe(String(Buffer.byteLength(reply.body)));
    });
  });

  describe("a request body rewritten, respond(), a script error", () => {
    let proxy: ProxyProcess;
    let port: number;
    let admin: number;
    beforeAll(async () => {
      port = await freePort();
      admin = await freePort();
      while (admin === port) admin = await freePort();
      const config = httpProxyConfig({
        listenPort: port,
        clusters: { web: [upstream.port] },
        routes: [{ match: { prefix: "/" }, cluster: "web" }],
        hcm: {
          http_filters: [
            {
              name: "envoy.filters.http.lua",
              typed_config: {
                "@type": LUA,
                inline_code: [
                  "function envoy_on_request(handle)",
                  "  local path = handle:headers():get(':path')",
                  "  if path == '/deny' then handle:respond({[':status'] = '403', ['x-denied-by'] = 'lua'}, 'denied') end",
                  "  if path == '/error' then error('on purpose') end",
                  "  if handle:headers():get(':method') == 'POST' then",
                  "    local body = handle:body()",
                  "    body:setBytes(string.upper(body:getBytes(0, body:length())))",
                  "  end",
                  "end",
                ].join("\n"),
              },
            },
            { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
          ],
        },
      }) as Record<string, unknown>;
      config.admin = { address: { socket_address: { address: "127.0.0.1", port_value: admin } } };
      proxy = await ProxyProcess.start(runtime, config);
    });
    afterAll(async () => {
      await proxy?.stop();
    });

    test("a POST's body upper-cased by the script reaches the upstream with its new length", async () => {
      const before = upstream.requests.length;
      const reply = await send(port, "/post", { method: "POST", body: "hello lua" });
      expect(reply.status).toBe(200);
      const seen = upstream.requests[before]!;
      expect(seen.body.toString()).toBe("HELLO LUA");
      expect(seen.headers["content-length"]).toBe("9");
    });

    test("respond() answers without the upstream", async () => {
      const before = upstream.requests.length;
      const reply = await send(port, "/deny");
      expect([reply.status, reply.body, reply.headers["x-denied-by"]]).toEqual([403, "denied", "lua"]);
      expect(upstream.requests.length).toBe(before);
    });

    test("a script error: the request is served, http.ingress_http.lua.errors counts it", async () => {
      const reply = await send(port, "/error");
      expect(reply.status).toBe(200);
      expect((await adminStats(admin)).get("http.ingress_http.lua.errors")).toBe(1);
    });
  });

  describe("httpCall()", () => {
    let authUpstream: HttpUpstream;
    let proxy: ProxyProcess;
    let port: number;
    beforeAll(async () => {
      // The service the script asks: 200 with a user and a repeated field for /check, 401 otherwise.
      authUpstream = await httpUpstream((req, res) => {
        if (req.url !== "/check") {
          res.statusCode = 401;
          res.end("nope");
          return;
        }
        res.setHeader("x-user", "alice");
        res.setHeader("x-dup", ["one", "two"]);
        res.end(`allowed:${req.body.toString()}`);
      });
      port = await freePort();
      const config = httpProxyConfig({
        listenPort: port,
        clusters: { web: [upstream.port], auth: [authUpstream.port] },
        routes: [{ match: { prefix: "/" }, cluster: "web" }],
        hcm: {
          http_filters: [
            {
              name: "envoy.filters.http.lua",
              typed_config: {
                "@type": LUA,
                inline_code: [
                  "function envoy_on_request(handle)",
                  "  local path = handle:headers():get(':path')",
                  "  local headers, body = handle:httpCall('auth', {[':method'] = 'POST', [':path'] = path == '/allowed' and '/check' or '/other', [':authority'] = 'auth', ['x-token'] = 't'}, 'ping', {timeout_ms = 5000, return_duplicate_headers = true})",
                  "  if headers[':status'] ~= '200' then handle:respond({[':status'] = '403'}, 'denied: ' .. headers[':status'] .. ' ' .. tostring(body)) end",
                  "  handle:headers():add('x-auth-user', headers['x-user'])",
                  "  handle:headers():add('x-auth-dup', table.concat(headers['x-dup'], '|'))",
                  "  handle:headers():add('x-auth-body', body)",
                  "end",
                ].join("\n"),
              },
            },
            { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
          ],
        },
      }) as Record<string, unknown>;
      proxy = await ProxyProcess.start(runtime, config);
    });
    afterAll(async () => {
      await proxy?.stop();
      await authUpstream?.close();
    });

    test("the script waits for the call and passes on what it answered: headers (a repeated one as a list) and body", async () => {
      const before = authUpstream.requests.length;
      const reply = await send(port, "/allowed");
      expect(reply.status).toBe(200);
      const echoed = JSON.parse(reply.body).headers;
      expect([echoed["x-auth-user"], echoed["x-auth-dup"], echoed["x-auth-body"]]).toEqual(["alice", "one|two", "allowed:ping"]);
      const call = authUpstream.requests[before]!;
      expect([call.method, call.url, call.headers.host, call.headers["x-token"], call.body.toString()]).toEqual(["POST", "/check", "auth", "t", "ping"]);
      expect(call.headers["x-envoy-internal"]).toBe("true");
      expect(call.headers["x-forwarded-for"]).toMatch(/^[0-9.]+$/);
    });

    test("a refusal from the called service: respond() answers without the upstream", async () => {
      const before = upstream.requests.length;
      const reply = await send(port, "/other", { method: "POST", body: "data" });
      expect([reply.status, reply.body]).toEqual([403, "denied: 401 nope"]);
      expect(upstream.requests.length).toBe(before);
    });
  });
});
