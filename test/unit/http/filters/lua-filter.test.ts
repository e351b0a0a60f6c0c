/**
 * The Lua HTTP filter (core/http/filters/lua/) on the memory runtime: Envoy's lua example
 * (require, a header added on the request, the response body's length on the response),
 * header edits, body(), respond(), a script error (the stream goes on, counted), per-route
 * LuaPerRoute, require() resolution and the instruction budget.
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap } from "../../../../core/config/load.ts";
import { Logger } from "../../../../core/log.ts";
import { Server } from "../../../../core/server.ts";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig, type HttpRoute } from "../../../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer, UpstreamConnection, type UpstreamHandler } from "../../../memory/support/http-peers.ts";
import type { HttpMessage } from "../../../memory/support/http-wire.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
/** httpCall()'s cluster "auth"; "down" has no one listening. */
const AUTH = 8081;
const DOWN = 8082;
const LUA = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua";
const LUA_PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute";

let runtime: MemoryRuntime;
let server: Server | undefined;
let upstream: MemoryHttpServer | undefined;
let auth: MemoryHttpServer | undefined;
let seen: HttpMessage[] = [];

afterEach(async () => {
  upstream?.close();
  upstream = undefined;
  auth?.close();
  auth = undefined;
  server = undefined;
  seen = [];
});

interface Setup {
  lua: Record<string, unknown>;
  routes?: HttpRoute[];
  handler?: UpstreamHandler;
  files?: Record<string, string>;
  env?: Record<string, string>;
  perConnectionBufferLimit?: number;
  /** The "auth" cluster's upstream, for httpCall(). */
  authHandler?: UpstreamHandler;
}

async function setup(options: Setup): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1, files: options.files, env: options.env });
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (req, res) => {
    seen.push(req);
    (options.handler ?? ((_req, res) => res.respond(200, "hello from upstream")))(req, res);
  });
  auth = await MemoryHttpServer.listen(runtime, AUTH, options.authHandler ?? ((_req, res) => res.respond(200, "")));
  const config = httpProxyConfig({
    listenPort: PROXY,
    clusters: { web: [UPSTREAM], auth: [AUTH], down: [DOWN], empty: [] },
    routes: options.routes ?? [{ match: { prefix: "/" }, cluster: "web" }],
    ...(options.perConnectionBufferLimit !== undefined ? { listenerExtra: { per_connection_buffer_limit_bytes: options.perConnectionBufferLimit } } : {}),
    hcm: {
      http_filters: [
        { name: "envoy.filters.http.lua", typed_config: { "@type": LUA, ...options.lua } },
        { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
      ],
    },
  });
  server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"));
  await server.start();
}

function stat(name: string): number {
  return (server!.stats.get(name) as { value: number } | undefined)?.value ?? 0;
}

function exchange(method: string, path: string, options: { headers?: Record<string, string>; body?: string } = {}): HttpMessage {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request(method, path, options);
  runtime.runUntilIdle();
  expect(client.responses).toHaveLength(1);
  client.socket.close();
  runtime.runUntilIdle();
  return client.responses[0]!;
}

const header = (message: HttpMessage, name: string) => message.headers.filter(([n]) => n === name).map(([, v]) => v);

describe("the Lua filter", () => {
  test("Envoy's lua example: a required module's header on the request, the body's length on the response", async () => {
    await setup({
      lua: {
        inline_code: [
          'local mylibrary = require("lib.mylibrary")',
          "function envoy_on_request(request_handle)",
          '  request_handle:headers():add("foo", mylibrary.foobar())',
          "end",
          "function envoy_on_response(response_handle)",
          "  body_size = response_handle:body():length()",
          '  response_handle:headers():add("response-body-size", tostring(body_size))',
          "end",
        ].join("\n"),
      },
      files: { "/usr/local/share/lua/5.1/lib/mylibrary.lua": "M = {}\nfunction M.foobar()\n  return \"bar\"\nend\nreturn M\n" },
    });
    const response = exchange("GET", "/");
    expect(response.status).toBe(200);
    expect(response.text()).toBe("hello from upstream");
    expect(header(response, "response-body-size")).toEqual(["19"]);
    expect(header(seen[0]!, "foo")).toEqual(["bar"]);
  });

  test("LUA_PATH is package.path (its ;; the default), searched at listener build", async () => {
    await setup({
      lua: { inline_code: 'local m = require "x.y"\nfunction envoy_on_request(h) h:headers():add("p", package.path) h:headers():add("v", m) end' },
      files: { "/opt/lua/x/y.lua": 'return "found"' },
      env: { LUA_PATH: "/opt/lua/?.lua;;" },
    });
    exchange("GET", "/");
    expect(header(seen[0]!, "v")).toEqual(["found"]);
    expect(header(seen[0]!, "p")[0]).toMatch(/^\/opt\/lua\/\?\.lua;\.\/\?\.lua;/);
  });

  test("a module not found fails the listener's build with the files tried", async () => {
    await expect(setup({ lua: { inline_code: 'require("nope")' } })).rejects.toThrow(/script load error: .*module 'nope' not found:[\s\S]*no file '\/usr\/local\/share\/lua\/5\.1\/nope\.lua'/);
  });

  test("a require the scan could not see is a script error that says why", async () => {
    await setup({ lua: { inline_code: 'function envoy_on_request(h) local n = "lib" .. ".x" require(n) end' } });
    const response = exchange("GET", "/");
    expect(response.status).toBe(200);
    expect(stat("http.ingress_http.lua.errors")).toBe(1);
    expect(runtime.logText).toMatch(/script log: .*module 'lib.x' not found:\s+polyvoy reads modules when the listener is built/);
  });

  test("headers: get, getNumValues, getAtIndex, replace, remove, pairs, pseudo-headers", async () => {
    await setup({
      lua: {
        inline_code: `function envoy_on_request(h)
          local headers = h:headers()
          local seen = {}
          for k, v in pairs(headers) do seen[#seen + 1] = k .. "=" .. v end
          headers:add("x-pairs", table.concat(seen, ";"))
          headers:add("x-count", tostring(headers:getNumValues("x-multi")))
          headers:add("x-second", headers:getAtIndex("x-multi", 1))
          headers:add("x-joined", headers:get("x-multi"))
          headers:replace("x-replace", "new")
          headers:remove("x-remove")
          headers:replace(":path", "/rewritten" .. headers:get(":path"))
          headers:add("x-method", headers:get(":method"))
        end`,
      },
    });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.socket.write(new TextEncoder().encode("GET /p HTTP/1.1\r\nhost: h\r\nx-multi: a\r\nx-multi: b\r\nx-replace: old\r\nx-remove: gone\r\n\r\n"));
    runtime.runUntilIdle();
    expect(client.responses[0]!.status).toBe(200);
    const req = seen[0]!;
    expect(req.path).toBe("/rewritten/p");
    expect(header(req, "x-count")).toEqual(["2"]);
    expect(header(req, "x-second")).toEqual(["b"]);
    expect(header(req, "x-joined")).toEqual(["a,b"]);
    expect(header(req, "x-replace")).toEqual(["new"]);
    expect(header(req, "x-remove")).toEqual([]);
    expect(header(req, "x-method")).toEqual(["GET"]);
    expect(header(req, "x-pairs")[0]).toMatch(/^:authority=h;:path=\/p;:method=GET;:scheme=http;.*x-multi=a;x-multi=b/);
  });

  test("body() buffers the request: length, getBytes and setBytes (content-length follows)", async () => {
    await setup({
      lua: {
        inline_code: `function envoy_on_request(h)
          local body = h:body()
          h:headers():add("x-len", tostring(body:length()))
          h:headers():add("x-first", body:getBytes(0, 5))
          body:setBytes("replaced")
        end`,
      },
    });
    exchange("POST", "/", { body: "hello world" });
    const req = seen[0]!;
    expect(header(req, "x-len")).toEqual(["11"]);
    expect(header(req, "x-first")).toEqual(["hello"]);
    expect(new TextDecoder().decode(req.body)).toBe("replaced");
    expect(header(req, "content-length")).toEqual(["8"]);
  });

  test("body() over the buffer limit: 413 on the request, 500 on the response (the filter manager's replies)", async () => {
    await setup({ lua: { inline_code: "function envoy_on_request(h) h:body() end" }, perConnectionBufferLimit: 4 });
    expect(exchange("POST", "/", { body: "more than four" }).status).toBe(413);
    await setup({ lua: { inline_code: "function envoy_on_response(h) h:body() end" }, perConnectionBufferLimit: 4 });
    expect(exchange("GET", "/").status).toBe(500);
  });

  test("respond() answers from the script: status, headers, body; the upstream sees nothing", async () => {
    await setup({ lua: { inline_code: 'function envoy_on_request(h) h:respond({[":status"] = "403", ["x-why"] = "lua"}, "nope") error("not reached") end' } });
    const response = exchange("GET", "/");
    expect(response.status).toBe(403);
    expect(response.text()).toBe("nope");
    expect(header(response, "x-why")).toEqual(["lua"]);
    expect(seen).toHaveLength(0);
    expect(stat("http.ingress_http.lua.errors")).toBe(0);
  });

  test("respond() after body() on a request with a body: the reply's own body reaches the client", async () => {
    await setup({ lua: { inline_code: 'function envoy_on_request(h) local b = h:body() h:respond({[":status"] = "403"}, "no: " .. b:length()) end' } });
    const response = exchange("POST", "/", { body: "hello world" });
    expect([response.status, response.text(), header(response, "content-length")]).toEqual([403, "no: 11", ["6"]]);
    expect(seen).toHaveLength(0);
  });

  test("a script error is logged and counted; the stream goes on without the script", async () => {
    await setup({ lua: { inline_code: 'function envoy_on_request(h) h:headers():add("x-before", "1") error("boom") end\nfunction envoy_on_response(h) h:headers():add("x-resp", "1") end', stat_prefix: "mine" } });
    const response = exchange("GET", "/");
    expect(response.status).toBe(200);
    // Envoy's scriptError drops the request's script; the response's runs as usual.
    expect(header(response, "x-resp")).toEqual(["1"]);
    expect(header(seen[0]!, "x-before")).toEqual(["1"]);
    expect(stat("http.ingress_http.lua.mine.errors")).toBe(1);
    expect(runtime.logText).toMatch(/script log: \[string "function envoy_on_request\(h\) h:headers\(\):add\(\.\.\."\]:1: boom/);
  });

  test("a script that never ends is stopped by the instruction budget, even under pcall", async () => {
    await setup({ lua: { inline_code: "function envoy_on_request(h) while true do pcall(function() while true do end end) end end" } });
    const response = exchange("GET", "/");
    expect(response.status).toBe(200);
    expect(stat("http.ingress_http.lua.errors")).toBe(1);
    expect(runtime.logText).toMatch(/instruction budget exceeded/);
  });

  test("string.rep and table.concat cannot make a string over 16 MiB in one call (one VM instruction the budget does not see)", async () => {
    await setup({
      lua: {
        inline_code: `function envoy_on_request(h)
          local ok1, e1 = pcall(string.rep, "x", 1e9)
          local ok2, e2 = pcall(function() return ("ab"):rep(1e8) end)
          local t = {} for i = 1, 20 do t[i] = ("y"):rep(1024 * 1024) end
          local ok3, e3 = pcall(table.concat, t)
          h:headers():add("x-caps", tostring(ok1) .. " " .. tostring(ok2) .. " " .. tostring(ok3) .. " " .. #("z"):rep(10, ","))
          h:headers():add("x-why", e1)
        end`,
      },
    });
    exchange("GET", "/");
    expect(header(seen[0]!, "x-caps")).toEqual(["false false false 19"]);
    expect(header(seen[0]!, "x-why")[0]).toMatch(/string\.rep: a result over 16777216 bytes/);
  });

  test("a handle kept in a global is dead in the next stream (Envoy: object used outside of proper scope); a wrapper's slot moved into another kind's is refused", async () => {
    await setup({
      lua: {
        inline_code: `function envoy_on_request(h)
          if saved then
            local ok, e = pcall(function() return saved:headers():get(":path") end)
            h:headers():add("x-old", tostring(ok) .. ": " .. tostring(e))
          end
          saved = h
          local md = h:metadata()
          rawset(md, 0, rawget(h:headers(), 0))
          local ok2, e2 = pcall(function() return md:get("x") end)
          h:headers():add("x-confused", tostring(ok2) .. ": " .. tostring(e2))
        end`,
      },
    });
    exchange("GET", "/first");
    exchange("GET", "/second");
    expect(header(seen[1]!, "x-old")[0]).toMatch(/^false: .*object used outside of proper scope/);
    expect(header(seen[0]!, "x-confused")[0]).toMatch(/^false: .*expected a metadata object/);
  });

  test("LuaPerRoute: disabled, a named source_code, or a route's own source_code", async () => {
    await setup({
      lua: {
        inline_code: 'function envoy_on_request(h) h:headers():add("x-code", "global") end',
        source_codes: { other: { inline_string: 'function envoy_on_request(h) h:headers():add("x-code", "other") end' } },
      },
      routes: [
        { match: { prefix: "/off" }, action: { route: { cluster: "web" }, typed_per_filter_config: { "envoy.filters.http.lua": { "@type": LUA_PER_ROUTE, disabled: true } } } },
        { match: { prefix: "/other" }, action: { route: { cluster: "web" }, typed_per_filter_config: { "envoy.filters.http.lua": { "@type": LUA_PER_ROUTE, name: "other" } } } },
        {
          match: { prefix: "/own" },
          action: {
            route: { cluster: "web" },
            typed_per_filter_config: { "envoy.filters.http.lua": { "@type": LUA_PER_ROUTE, source_code: { inline_string: 'function envoy_on_request(h) h:headers():add("x-code", "route") end' } } },
          },
        },
        { match: { prefix: "/" }, cluster: "web" },
      ],
    });
    exchange("GET", "/off");
    exchange("GET", "/other");
    exchange("GET", "/own");
    exchange("GET", "/x");
    expect(seen.map((req) => header(req, "x-code"))).toEqual([[], ["other"], ["route"], ["global"]]);
  });

  test("a call of Envoy's API that polyvoy lacks is a script error naming it", async () => {
    await setup({ lua: { inline_code: 'function envoy_on_request(h) h:verifySignature("sha256", "k", "s", 1, "d", 1) end' } });
    expect(exchange("GET", "/").status).toBe(200);
    expect(runtime.logText).toMatch(/script log: .*verifySignature\(\) is not implemented by polyvoy's Lua filter/);
  });

  test("no io, os, debug; math.random from the port", async () => {
    const code = 'function envoy_on_request(h) local r = {} for i = 1, 12 do r[i] = math.random(1, 1000000) end h:headers():add("x-libs", type(io) .. type(os) .. type(debug) .. type(dofile) .. type(string.format)) h:headers():add("x-r", table.concat(r, ",")) end';
    await setup({ lua: { inline_code: code } });
    exchange("GET", "/");
    expect(header(seen[0]!, "x-libs")).toEqual(["nilnilnilnilfunction"]);
    const first = header(seen[0]!, "x-r")[0];
    // The memory runtime's seeded random: the same twelve numbers in a second proxy of the
    // same seed (fengari's own math.random, Math.random's, would differ).
    upstream?.close();
    seen = [];
    await setup({ lua: { inline_code: code } });
    exchange("GET", "/");
    expect(header(seen[0]!, "x-r")[0]).toBe(first);
  });

  test("metadata() (the route's, under the filter's name), base64Escape, timestamp, streamInfo():routeName()", async () => {
    await setup({
      lua: {
        inline_code: `function envoy_on_request(h)
          local m = h:metadata()
          h:headers():add("x-meta", m:get("team") .. "/" .. tostring(m:get("limits").rps) .. "/" .. tostring((m:get("absent"))))
          local keys = {}
          for k, _ in pairs(m) do keys[#keys + 1] = k end
          table.sort(keys)
          h:headers():add("x-keys", table.concat(keys, ","))
          h:headers():add("x-b64", h:base64Escape("lua\0!"))
          h:headers():add("x-ts", string.format("%.0f", h:timestamp(EnvoyTimestampResolution.MILLISECOND)))
          h:headers():add("x-route", h:streamInfo():routeName())
        end`,
      },
      routes: [{ name: "main", match: { prefix: "/" }, action: { route: { cluster: "web" }, metadata: { filter_metadata: { "envoy.filters.http.lua": { team: "edge", limits: { rps: 5 } } } } } }],
    });
    exchange("GET", "/");
    const req = seen[0]!;
    expect(runtime.logText).toBe("");
    expect(header(req, "x-meta")).toEqual(["edge/5/nil"]);
    expect(header(req, "x-keys")).toEqual(["limits,team"]);
    expect(header(req, "x-b64")).toEqual(["bHVhACE="]);
    // The port's clock (the memory runtime's virtual one), read while the request passed.
    expect(Number(header(req, "x-ts")[0])).toBeLessThanOrEqual(runtime.wallClock());
    expect(Number(header(req, "x-ts")[0])).toBeGreaterThanOrEqual(Date.UTC(2026, 0, 1));
    expect(header(req, "x-route")).toEqual(["main"]);
  });

  test("a load error fails the listener's build, a route's own code's too", async () => {
    await expect(setup({ lua: { inline_code: "function (" } })).rejects.toThrow(/script load error/);
    const own = { "envoy.filters.http.lua": { "@type": LUA_PER_ROUTE, source_code: { inline_string: "error('at load')" } } };
    await expect(setup({ lua: { inline_code: "x = 1" }, routes: [{ match: { prefix: "/" }, action: { route: { cluster: "web" }, typed_per_filter_config: own } }] })).rejects.toThrow(/script load error: .*at load/);
  });
});

describe("the Lua filter's httpCall()", () => {
  const AUTH_CALL = `local headers, body = h:httpCall("auth", {[":method"] = "POST", [":path"] = "/check", [":authority"] = "auth.local", ["x-token"] = {"a", "b"}}, "payload", 5000)`;

  test("a synchronous call: the script waits, then reads the response's headers table and body", async () => {
    await setup({
      lua: {
        inline_code: `function envoy_on_request(h)
          ${AUTH_CALL}
          h:headers():add("x-auth-status", headers[":status"])
          h:headers():add("x-auth-user", headers["x-user"])
          h:headers():add("x-auth-body", body)
        end`,
      },
      authHandler: (_req, res) => res.respond(200, "allowed", { "x-user": "alice" }),
    });
    const response = exchange("GET", "/");
    expect(response.status).toBe(200);
    const call = auth!.requests[0]!;
    expect([call.method, call.path, header(call, "host"), new TextDecoder().decode(call.body), header(call, "content-length")]).toEqual(["POST", "/check", ["auth.local"], "payload", ["7"]]);
    expect(header(call, "x-token")).toEqual(["a", "b"]);
    // Envoy's async client marks the request internal and appends its own address to x-forwarded-for.
    expect(header(call, "x-envoy-internal")).toEqual(["true"]);
    expect(header(call, "x-forwarded-for")).toHaveLength(1);
    const req = seen[0]!;
    expect([header(req, "x-auth-status"), header(req, "x-auth-user"), header(req, "x-auth-body")]).toEqual([["200"], ["alice"], ["allowed"]]);
    expect(stat("http.ingress_http.lua.errors")).toBe(0);
  });

  test("the table form: return_duplicate_headers gives a list for a repeated name, else the last value; send_xff = false; an empty body is nil", async () => {
    const code = (dup: boolean) => `function envoy_on_request(h)
      local headers, body = h:httpCall("auth", {[":method"] = "GET", [":path"] = "/", [":authority"] = "a"}, nil, {timeout_ms = 1000, return_duplicate_headers = ${dup}, send_xff = false, trace_sampled = true})
      local v = headers["x-dup"]
      h:headers():add("x-dup", type(v) == "table" and table.concat(v, "|") or v)
      h:headers():add("x-body", tostring(body))
    end`;
    const authHandler = (_req: HttpMessage, res: { writeRaw(s: string): void; finish(): void }) => {
      res.writeRaw("HTTP/1.1 200 OK\r\nx-dup: one\r\nx-dup: two\r\ncontent-length: 0\r\n\r\n");
      res.finish();
    };
    await setup({ lua: { inline_code: code(true) }, authHandler });
    exchange("GET", "/");
    expect(header(seen[0]!, "x-dup")).toEqual(["one|two"]);
    expect(header(seen[0]!, "x-body")).toEqual(["nil"]);
    expect(header(auth!.requests[0]!, "x-forwarded-for")).toEqual([]);
    upstream?.close();
    auth?.close();
    seen = [];
    await setup({ lua: { inline_code: code(false) }, authHandler });
    exchange("GET", "/");
    expect(header(seen[0]!, "x-dup")).toEqual(["two"]);
  });

  test("Envoy's errors: unknown cluster, missing pseudo-headers, a bad asynchronous flag, a bad options key, a negative timeout", async () => {
    const cases: [string, RegExp][] = [
      ['h:httpCall("nope", {[":method"] = "GET", [":path"] = "/", [":authority"] = "a"}, nil, 10)', /http call cluster invalid\. Must be configured/],
      ['h:httpCall("auth", {[":method"] = "GET", [":path"] = "/"}, nil, 10)', /http call headers must include ':path', ':method', and ':authority'/],
      ['h:httpCall("auth", {[":method"] = "GET", [":path"] = "/", [":authority"] = "a"}, nil, 10, "yes")', /http call asynchronous flag must be 'true', 'false', or empty/],
      ['h:httpCall("auth", {[":method"] = "GET", [":path"] = "/", [":authority"] = "a"}, nil, {timeout = 10})', /"timeout" is not valid key for httpCall\(\) options/],
      ['h:httpCall("auth", {[":method"] = "GET", [":path"] = "/", [":authority"] = "a"}, nil, -1)', /http call timeout must be >= 0/],
    ];
    for (const [call, message] of cases) {
      await setup({ lua: { inline_code: `function envoy_on_request(h) ${call} end` } });
      expect(exchange("GET", "/").status).toBe(200);
      expect(runtime.logText).toMatch(message);
      expect(auth!.requests).toHaveLength(0);
      upstream?.close();
      auth?.close();
    }
  });

  test("failures come back as responses: 503 upstream failure (a reset mid-response), the router's 503 (connection refused, no host), 504 (timeout)", async () => {
    await setup({
      lua: {
        inline_code: `function envoy_on_request(h)
          local path = h:headers():get(":path")
          local cluster = path == "/down" and "down" or path == "/empty" and "empty" or "auth"
          local timeout = path == "/slow" and 50 or 0
          local headers, body = h:httpCall(cluster, {[":method"] = "GET", [":path"] = path, [":authority"] = "a"}, nil, timeout)
          h:headers():add("x-call", headers[":status"] .. " " .. tostring(body))
        end`,
      },
      authHandler: (req, res) => {
        if (req.path === "/slow") return;
        res.writeHead(200, {});
        res.write("partial");
        res.reset();
      },
    });
    exchange("GET", "/reset");
    exchange("GET", "/down");
    exchange("GET", "/slow");
    // No host: the client answers within send(), and the script gets it without waiting.
    exchange("GET", "/empty");
    expect(seen.map((req) => header(req, "x-call")[0])).toEqual([
      "503 upstream failure",
      expect.stringMatching(/^503 upstream connect error or disconnect\/reset before headers\. reset reason: /),
      "504 upstream request timeout",
      "503 no healthy upstream",
    ]);
  });

  test("asynchronous: the script goes on at once; the call is still sent", async () => {
    await setup({
      lua: { inline_code: `function envoy_on_request(h) local r = h:httpCall("auth", {[":method"] = "GET", [":path"] = "/log", [":authority"] = "a"}, "x", 0, true) h:headers():add("x-r", tostring(r)) end` },
      authHandler: () => {},
    });
    exchange("GET", "/");
    expect(header(seen[0]!, "x-r")).toEqual(["nil"]);
    expect(auth!.requests.map((r) => r.path)).toEqual(["/log"]);
  });

  test("respond() after the call; a request body that came during the call reaches the upstream after it", async () => {
    await setup({
      lua: {
        inline_code: `function envoy_on_request(h)
          local headers = h:httpCall("auth", {[":method"] = "GET", [":path"] = h:headers():get(":path"), [":authority"] = "a"}, nil, 1000)
          if headers[":status"] ~= "200" then h:respond({[":status"] = "403"}, "denied by " .. headers[":status"]) end
          h:headers():add("x-allowed", "yes")
        end`,
      },
      authHandler: (req, res) => res.respond(req.path === "/ok" ? 200 : 401),
    });
    const denied = exchange("POST", "/no", { body: "data" });
    expect([denied.status, denied.text()]).toEqual([403, "denied by 401"]);
    expect(seen).toHaveLength(0);
    const allowed = exchange("POST", "/ok", { body: "data" });
    expect(allowed.status).toBe(200);
    expect([header(seen[0]!, "x-allowed"), new TextDecoder().decode(seen[0]!.body)]).toEqual([["yes"], "data"]);
  });

  test("the async client frames the call alone: the script's host, transfer-encoding, content-length and connection-named fields are dropped, te only as trailers", async () => {
    const raw: string[] = [];
    const onData = UpstreamConnection.prototype.onData;
    UpstreamConnection.prototype.onData = function (this: UpstreamConnection, data: Uint8Array) {
      if (this.server === auth) raw.push(String.fromCharCode(...data));
      return onData.call(this, data);
    };
    try {
      await setup({
        lua: {
          inline_code: `function envoy_on_request(h)
            local smuggled = "0\\r\\n\\r\\nGET /smuggled HTTP/1.1\\r\\nhost: x\\r\\n\\r\\n"
            local hd = h:httpCall("auth", {[":method"] = "POST", [":path"] = "/c", [":authority"] = "auth.local", ["host"] = "evil.local",
              ["transfer-encoding"] = "chunked", ["content-length"] = "3", ["connection"] = "close, x-secret", ["x-secret"] = "s",
              ["keep-alive"] = "timeout=5", ["upgrade"] = "websocket", ["te"] = "gzip, trailers", ["x-kept"] = "yes"}, smuggled, 1000)
            h:headers():add("x-st", hd[":status"])
          end`,
        },
        authHandler: (_req, res) => res.respond(200, "ok"),
      });
      expect(exchange("GET", "/").status).toBe(200);
    } finally {
      UpstreamConnection.prototype.onData = onData;
    }
    expect(header(seen[0]!, "x-st")).toEqual(["200"]);
    expect(auth!.requests.map((r) => r.path)).toEqual(["/c"]);
    const [head, body] = raw.join("").split("\r\n\r\n", 2) as [string, string];
    const names = head.split("\r\n").slice(1).map((line) => line.slice(0, line.indexOf(":")).toLowerCase());
    expect(names.filter((n) => n === "host")).toHaveLength(1);
    expect(head).toMatch(/\r\nhost: auth\.local(\r\n|$)/i);
    for (const gone of ["transfer-encoding", "connection", "x-secret", "keep-alive", "upgrade"]) expect(names).not.toContain(gone);
    expect(head).toMatch(/\r\nte: trailers(\r\n|$)/i);
    expect(head).toMatch(/\r\nx-kept: yes(\r\n|$)/i);
    const smuggled = "0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n";
    expect(names.filter((n) => n === "content-length")).toHaveLength(1);
    expect(head).toMatch(new RegExp(`\r\ncontent-length: ${smuggled.length}(\r\n|$)`, "i"));
    expect(body.startsWith("0")).toBe(true);
  });

  test("a call that waits, made from the script's own coroutine, is a Lua error; the script goes on", async () => {
    await setup({
      lua: {
        inline_code: `function envoy_on_request(h)
          local errors = {}
          for _, call in ipairs({
            function() h:httpCall("auth", {[":method"] = "GET", [":path"] = "/a", [":authority"] = "a"}, nil, 0) end,
            function() h:body() end,
            function() h:trailers() end,
            function() h:respond({[":status"] = "403"}) end,
          }) do
            local co = coroutine.wrap(function() local ok, e = pcall(call) errors[#errors + 1] = tostring(e) end)
            co()
          end
          h:headers():add("x-errors", table.concat(errors, "|"))
        end`,
      },
    });
    const response = exchange("POST", "/", { body: "abc" });
    expect(response.status).toBe(200);
    expect(auth!.requests).toHaveLength(0);
    const errors = header(seen[0]!, "x-errors")[0]!.split("|");
    expect(errors).toHaveLength(4);
    for (const [i, what] of ["httpCall()", "body()", "trailers()", "respond()"].entries()) expect(errors[i]).toMatch(`${what} cannot be called from a nested coroutine`);
    expect(stat("http.ingress_http.lua.errors")).toBe(0);
  });

  test("on the response path too; a call still in flight when the client goes away is cancelled", async () => {
    await setup({
      lua: { inline_code: `function envoy_on_response(h) local headers = h:httpCall("auth", {[":method"] = "GET", [":path"] = "/r", [":authority"] = "a"}, nil, 1000) h:headers():add("x-r", headers[":status"]) end` },
      authHandler: (_req, res) => res.respond(204),
    });
    const response = exchange("GET", "/");
    expect([response.status, header(response, "x-r")]).toEqual([200, ["204"]]);
    upstream?.close();
    auth?.close();
    seen = [];

    await setup({ lua: { inline_code: `function envoy_on_request(h) h:httpCall("auth", {[":method"] = "GET", [":path"] = "/hang", [":authority"] = "a"}, nil, 0) end` }, authHandler: () => {} });
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    // Not runUntilIdle: the stream's idle timeout (5 min) would end it.
    runtime.advance(1000);
    expect(auth!.requests).toHaveLength(1);
    const connection = [...auth!.connections][0]!;
    expect(connection.closed).toBe(false);
    client.socket.close();
    runtime.advance(1000);
    // The stream ended: the call's upstream stream was reset (its connection closed).
    expect(connection.closed).toBe(true);
    expect(seen).toHaveLength(0);
  });
});

describe("the Lua filter's stream info, connection and utilities", () => {
  test("streamInfo():dynamicMetadata(): set merges a key into a namespace, get and pairs read it back on the response; Envoy's type errors", async () => {
    await setup({
      lua: {
        inline_code: `function envoy_on_request(h)
          local md = h:streamInfo():dynamicMetadata()
          md:set("envoy.filters.http.lua", "request.info", {auth = "token", list = {1, "two", true}, nested = {deep = {x = 1.5}}})
          md:set("envoy.filters.http.lua", "other", "kept")
          md:set("envoy.filters.http.lua", "other", "replaced")
          local ok, e = pcall(function() md:set("ns", "k", function() end) end)
          h:headers():add("x-set-fn", tostring(e))
          ok, e = pcall(function() md:set("ns", "k", {[true] = 1}) end)
          h:headers():add("x-set-key", tostring(e))
          h:headers():add("x-remote", h:streamInfo():downstreamRemoteAddress())
          h:headers():add("x-ssl", tostring(h:connection():ssl()) .. " " .. tostring(h:streamInfo():downstreamSslConnection()))
        end
        function envoy_on_response(h)
          local md = h:streamInfo():dynamicMetadata()
          local info = md:get("envoy.filters.http.lua")["request.info"]
          h:headers():add("x-md", info.auth .. " " .. info.list[2] .. " " .. tostring(info.list[3]) .. " " .. info.nested.deep.x .. " " .. md:get("envoy.filters.http.lua").other .. " " .. tostring((md:get("absent"))))
          local names = {}
          for name, fields in pairs(md) do names[#names + 1] = name .. ":" .. type(fields) end
          h:headers():add("x-names", table.concat(names, ","))
        end`,
      },
    });
    const response = exchange("GET", "/");
    expect(runtime.logText).toBe("");
    expect(header(response, "x-md")).toEqual(["token two true 1.5 replaced nil"]);
    expect(header(response, "x-names")).toEqual(["envoy.filters.http.lua:table"]);
    const req = seen[0]!;
    expect(header(req, "x-set-fn")[0]).toMatch(/unexpected type 'function' in dynamicMetadata/);
    expect(header(req, "x-set-key")[0]).toMatch(/unexpected type boolean in table key \(only string keys are supported\)/);
    expect(header(req, "x-remote")[0]).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(header(req, "x-ssl")).toEqual(["nil nil"]);
  });

  test("a table that holds itself is refused, not followed for ever", async () => {
    await setup({ lua: { inline_code: 'function envoy_on_request(h) local t = {} t.self = t h:streamInfo():dynamicMetadata():set("ns", "k", t) end' } });
    expect(exchange("GET", "/").status).toBe(200);
    expect(runtime.logText).toMatch(/dynamicMetadata: tables nested deeper than 64/);
  });

  test("dynamicMetadata():set is bounded: a sparse list is Envoy's key error, a shared sub-table copied too often is refused; set() inside pairs() is refused", async () => {
    await setup({
      lua: {
        inline_code: `function envoy_on_request(h)
          local md = h:streamInfo():dynamicMetadata()
          local out = {}
          local ok, e = pcall(function() md:set("ns", "sparse", {[3000000] = true}) end)
          out[#out + 1] = tostring(e)
          local t = 1
          for i = 1, 20 do t = {a = t, b = t} end
          ok, e = pcall(function() md:set("ns", "dag", t) end)
          out[#out + 1] = tostring(e)
          md:set("ns", "holes", {1, nil, 3})
          for name in pairs(md) do
            ok, e = pcall(function() md:set("ns", "during", 1) end)
            out[#out + 1] = tostring(e)
          end
          md:set("ns", "after", 1)
          out[#out + 1] = tostring(#md:get("ns").holes) .. " " .. tostring(md:get("ns").after)
          h:headers():add("x-out", table.concat(out, "|"))
        end`,
      },
    });
    expect(exchange("GET", "/").status).toBe(200);
    expect(runtime.logText).toBe("");
    const out = header(seen[0]!, "x-out")[0]!.split("|");
    expect(out[0]).toMatch(/unexpected type number in table key \(only string keys are supported\)/);
    expect(out[1]).toMatch(/dynamicMetadata: a value of more than 10000 values/);
    expect(out[2]).toMatch(/dynamic metadata map cannot be modified while iterating/);
    expect(out[3]).toBe("3 1");
  });

  test("setHttp1ReasonPhrase refuses what RFC 9112's reason-phrase lacks: CR/LF, control bytes, DEL", async () => {
    await setup({
      lua: {
        inline_code: `function envoy_on_response(h)
          local out = {}
          for _, phrase in ipairs({"OK\\r\\nset-cookie: a=b", "A\\1B", "C\\27[31m", "D\\127"}) do
            local ok, e = pcall(function() h:headers():setHttp1ReasonPhrase(phrase) end)
            out[#out + 1] = tostring(e)
          end
          h:headers():setHttp1ReasonPhrase("Fine\\tand \\200dandy")
          h:headers():add("x-out", table.concat(out, "|"))
        end`,
      },
    });
    const response = exchange("GET", "/");
    expect(response.startLine).toBe("HTTP/1.1 200 Fine\tand \xc8dandy");
    expect(header(response, "set-cookie")).toEqual([]);
    const out = header(response, "x-out")[0]!.split("|");
    expect(out).toHaveLength(4);
    for (const e of out) expect(e).toMatch(/invalid reason phrase/);
  });

  test("httpCall(): an unknown pseudo-header is dropped, as Envoy's HTTP/1 codec does", async () => {
    await setup({
      lua: { inline_code: `function envoy_on_request(h) local hd = h:httpCall("auth", {[":method"] = "GET", [":path"] = "/p", [":authority"] = "a", [":protocol"] = "x", ["x-k"] = "v"}, nil, 1000) h:headers():add("x-st", hd[":status"]) end` },
    });
    expect(exchange("GET", "/").status).toBe(200);
    expect(header(seen[0]!, "x-st")).toEqual(["200"]);
    expect(auth!.requests.map((r) => [r.path, header(r, "x-k")])).toEqual([["/p", ["v"]]]);
  });

  test("timestampString (milliseconds, microseconds), clearRouteCache(), setHttp1ReasonPhrase on the response", async () => {
    await setup({
      lua: {
        clear_route_cache: false,
        inline_code: `function envoy_on_request(h)
          h:headers():add("x-ms", h:timestampString())
          h:headers():add("x-ms0", h:timestampString(EnvoyTimestampResolution.MILLISECOND))
          h:headers():add("x-us", h:timestampString(EnvoyTimestampResolution.MICROSECOND))
          local ok, e = pcall(function() return h:timestampString(7) end)
          h:headers():add("x-bad", tostring(e))
          if h:headers():get(":path") == "/move" then
            h:headers():replace(":path", "/moved")
            if h:headers():get("x-clear") then h:clearRouteCache() end
          end
        end
        function envoy_on_response(h) h:headers():setHttp1ReasonPhrase("Fine Indeed") end`,
      },
      routes: [
        { match: { prefix: "/moved" }, cluster: "auth" },
        { match: { prefix: "/" }, cluster: "web" },
      ],
      authHandler: (_req, res) => res.respond(200, "from auth"),
    });
    const response = exchange("GET", "/");
    expect(response.startLine).toBe("HTTP/1.1 200 Fine Indeed");
    const req = seen[0]!;
    const ms = Number(header(req, "x-ms")[0]);
    expect(header(req, "x-ms")[0]).toMatch(/^\d{13}$/);
    expect(Number(header(req, "x-ms0")[0])).toBe(ms);
    expect(header(req, "x-us")[0]).toMatch(/^\d{16}$/);
    expect(Math.floor(Number(header(req, "x-us")[0]) / 1000)).toBe(ms);
    expect(header(req, "x-bad")[0]).toMatch(/timestamp format must be MILLISECOND or MICROSECOND\./);
    // clear_route_cache false: the changed :path keeps the route, unless the script clears it.
    expect(exchange("GET", "/move").text()).toBe("hello from upstream");
    expect(exchange("GET", "/move", { headers: { "x-clear": "1" } }).text()).toBe("from auth");
  });

  test("clearRouteCache() on the response is a no-op, as Envoy's encoder callbacks'", async () => {
    await setup({
      lua: {
        clear_route_cache: false,
        inline_code: `function envoy_on_request(h) h:headers():replace(":path", "/moved") end
        function envoy_on_response(h)
          local before = h:streamInfo():routeName()
          h:clearRouteCache()
          h:headers():add("x-route", before .. " -> " .. h:streamInfo():routeName())
        end`,
      },
      routes: [
        { match: { prefix: "/moved" }, cluster: "auth", name: "auth-route" },
        { match: { prefix: "/" }, cluster: "web", name: "web-route" },
      ],
    });
    const response = exchange("GET", "/");
    expect([response.text(), header(response, "x-route")]).toEqual(["hello from upstream", ["web-route -> web-route"]]);
  });
});

