/**
 * Cluster specifier plugins (core/http/route/cluster-specifier-plugin.ts) and Envoy's Lua
 * cluster specifier (core/http/route/lua-cluster-specifier.ts) on the memory runtime: the
 * cluster envoy_on_route returns serves the request; a Lua error or a result that is not a
 * string gives default_cluster; a cluster that does not exist is the router's 503 (or the
 * route's cluster_not_found_response_code); named plugins of cluster_specifier_plugins; an
 * is_optional plugin of an unknown type makes its routes never match (Envoy's
 * NullClusterSpecifierPlugin); route_handle has exactly Envoy's methods.
 */
import { afterEach, describe, expect, test } from "vitest";
import { loadBootstrap, loadConfig } from "../../../../core/config/load.ts";
import { Logger } from "../../../../core/log.ts";
import { Server } from "../../../../core/server.ts";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig, type HttpRoute } from "../../../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "../../../memory/support/http-peers.ts";
import type { HttpMessage } from "../../../memory/support/http-wire.ts";

const PROXY = 10000;
const PORTS = { web: 8080, api: 8081 } as const;
const LUA_CONFIG = "type.googleapis.com/envoy.extensions.router.cluster_specifiers.lua.v3.LuaConfig";

let runtime: MemoryRuntime;
let server: Server | undefined;
let upstreams: MemoryHttpServer[] = [];

afterEach(() => {
  for (const upstream of upstreams) upstream.close();
  upstreams = [];
  server = undefined;
});

/** A ClusterSpecifierPlugin of the Lua cluster specifier. */
function luaPlugin(code: string, defaultCluster?: string, name = "envoy.router.cluster_specifier_plugin.lua"): Record<string, unknown> {
  return { extension: { name, typed_config: { "@type": LUA_CONFIG, source_code: { inline_string: code }, ...(defaultCluster !== undefined ? { default_cluster: defaultCluster } : {}) } } };
}

/** A route forwarding by `route` (a RouteAction). */
const routeWith = (route: Record<string, unknown>, prefix = "/"): HttpRoute => ({ match: { prefix }, action: { route } });

function proxyConfig(routes: HttpRoute[], plugins?: Record<string, unknown>[], luaFilter?: string): object {
  const hcm = luaFilter === undefined ? undefined : {
    http_filters: [
      { name: "envoy.filters.http.lua", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", default_source_code: { inline_string: luaFilter } } },
      { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
    ],
  };
  const config = httpProxyConfig({ listenPort: PROXY, clusters: { web: [PORTS.web], api: [PORTS.api] }, routes, ...(hcm && { hcm }) }) as { static_resources: { listeners: { filter_chains: { filters: { typed_config: { route_config: Record<string, unknown> } }[] }[] }[] } };
  if (plugins !== undefined) config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.route_config.cluster_specifier_plugins = plugins;
  return config;
}

async function setup(routes: HttpRoute[], plugins?: Record<string, unknown>[], luaFilter?: string): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  for (const [name, port] of Object.entries(PORTS)) upstreams.push(await MemoryHttpServer.listen(runtime, port, (_req, res) => res.respond(200, `from ${name}`)));
  server = new Server(runtime, loadBootstrap(JSON.stringify(proxyConfig(routes, plugins, luaFilter)), "json"), new Logger(runtime, "warn"));
  await server.start();
}

function get(path: string, headers: Record<string, string> = {}): HttpMessage {
  const client = new MemoryHttpClient(runtime, PROXY);
  client.request("GET", path, { headers });
  runtime.runUntilIdle();
  expect(client.responses).toHaveLength(1);
  client.socket.close();
  runtime.runUntilIdle();
  return client.responses[0]!;
}

const served = (response: HttpMessage) => [response.status, response.text()];

/** The sandbox's code (examples/lua-cluster-specifier/envoy.yaml), with api in place of fake_cluster where asked. */
const SANDBOX = (fake: string) => `function envoy_on_route(route_handle)
  local header_value = route_handle:headers():get("header_key")
  if header_value == "fake" then
    return "${fake}"
  end
  return "web"
end
`;

describe("the Lua cluster specifier", () => {
  test("envoy_on_route's cluster serves the request, chosen by a request header", async () => {
    await setup([routeWith({ inline_cluster_specifier_plugin: luaPlugin(SANDBOX("api"), "web") })]);
    expect(served(get("/"))).toEqual([200, "from web"]);
    expect(served(get("/", { header_key: "fake" }))).toEqual([200, "from api"]);
  });

  test("a cluster that does not exist: the router's 503, no body (or the route's cluster_not_found_response_code)", async () => {
    await setup([
      routeWith({ inline_cluster_specifier_plugin: luaPlugin(SANDBOX("fake_cluster"), "web"), cluster_not_found_response_code: "NOT_FOUND" }, "/404"),
      routeWith({ inline_cluster_specifier_plugin: luaPlugin(SANDBOX("fake_cluster"), "web") }),
    ]);
    expect(served(get("/", { header_key: "fake" }))).toEqual([503, ""]);
    expect(served(get("/404", { header_key: "fake" }))).toEqual([404, ""]);
    expect(served(get("/"))).toEqual([200, "from web"]);
  });

  test("a Lua error, a result that is not a string, no result: default_cluster, logged as Envoy logs it", async () => {
    const code = `function envoy_on_route(h)
      local path = h:headers():get(":path")
      if path == "/error" then error("on purpose") end
      if path == "/table" then return {} end
      if path == "/nil" then return end
      if path == "/number" then return 42 end
      return "web"
    end`;
    await setup([routeWith({ inline_cluster_specifier_plugin: luaPlugin(code, "api") })]);
    expect(served(get("/"))).toEqual([200, "from web"]);
    expect(served(get("/error"))).toEqual([200, "from api"]);
    expect(runtime.logText).toMatch(/script log: \[string "function envoy_on_route\(h\)\.\.\."\]:3: on purpose, use default cluster/);
    expect(served(get("/table"))).toEqual([200, "from api"]);
    expect(served(get("/nil"))).toEqual([200, "from api"]);
    expect(runtime.logText).toContain("script log: return value is not string, use default cluster");
    // A number is coerced, as coercibleStringOrError does: cluster "42", which does not exist.
    expect(served(get("/number"))).toEqual([503, ""]);
  });

  test("route_handle: headers() read-only with get() only (values joined with ','); getCluster(); nothing else", async () => {
    const code = `function envoy_on_route(h)
      local path = h:headers():get(":path")
      if path == "/joined" then
        if h:headers():get("X-Multi") == "a,b" then return "api" end
        return "web"
      end
      if path == "/add" then h:headers():add("x", "y") end
      if path == "/log" then h:logInfo("hi") end
      if path == "/cluster" then
        local c = h:getCluster("web")
        if h:getCluster("nope") == nil and c:numConnections() == 0 and c:numRequests() == 0 and c:numPendingRequests() == 0 then return "api" end
        return "web"
      end
      return "web"
    end`;
    await setup([routeWith({ inline_cluster_specifier_plugin: luaPlugin(code, "web") })]);
    // Two fields of one name (the keys differ in case only), looked up by any case.
    expect(served(get("/joined", { "x-multi": "a", "X-MULTI": "b" }))).toEqual([200, "from api"]);
    expect(served(get("/add"))).toEqual([200, "from web"]);
    expect(runtime.logText).toMatch(/script log: .*attempt to call a nil value \(method 'add'\), use default cluster/);
    expect(served(get("/log"))).toEqual([200, "from web"]);
    expect(runtime.logText).toMatch(/script log: .*attempt to call a nil value \(method 'logInfo'\), use default cluster/);
    expect(served(get("/cluster"))).toEqual([200, "from api"]);
  });

  test("a handle kept past envoy_on_route is dead", async () => {
    const code = `local kept
    function envoy_on_route(h)
      if kept ~= nil then
        local ok, err = pcall(function() return kept:headers() end)
        if not ok and string.find(err, "object used outside of proper scope", 1, true) then return "api" end
      end
      kept = h
      return "web"
    end`;
    await setup([routeWith({ inline_cluster_specifier_plugin: luaPlugin(code, "web") })]);
    expect(served(get("/"))).toEqual([200, "from web"]);
    expect(served(get("/"))).toEqual([200, "from api"]);
  });

  test("named plugins: cluster_specifier_plugins entries, by extension name, shared by the routes naming them", async () => {
    const counting = `local n = 0
    function envoy_on_route(h) n = n + 1; if n % 2 == 0 then return "api" end return "web" end`;
    await setup(
      [routeWith({ cluster_specifier_plugin: "alternate" }, "/a"), routeWith({ cluster_specifier_plugin: "alternate" }, "/b"), routeWith({ cluster_specifier_plugin: "always-api" })],
      [luaPlugin(counting, "web", "alternate"), luaPlugin('function envoy_on_route() return "api" end', "", "always-api")],
    );
    // One VM for both routes: the count goes on across them.
    expect(served(get("/a"))).toEqual([200, "from web"]);
    expect(served(get("/b"))).toEqual([200, "from api"]);
    expect(served(get("/a"))).toEqual([200, "from web"]);
    expect(served(get("/other"))).toEqual([200, "from api"]);
  });

  test("an is_optional plugin of an unknown type: its routes never match (Envoy's NullClusterSpecifierPlugin), matching goes on", async () => {
    const unknown = { extension: { name: "my.plugin", typed_config: { "@type": "type.googleapis.com/example.Unknown" } }, is_optional: true };
    await setup([routeWith({ inline_cluster_specifier_plugin: unknown }, "/x"), routeWith({ cluster_specifier_plugin: "my.plugin" }, "/y"), { match: { prefix: "/" }, cluster: "api" }], [unknown]);
    expect(served(get("/x"))).toEqual([200, "from api"]);
    expect(served(get("/y"))).toEqual([200, "from api"]);
  });

  test("h:headers() is one wrapper per run (Envoy's headers_wrapper_): h:headers() == h:headers()", async () => {
    await setup([routeWith({ inline_cluster_specifier_plugin: luaPlugin('function envoy_on_route(h) if h:headers() == h:headers() then return "api" end return "web" end', "web") })]);
    expect(served(get("/"))).toEqual([200, "from api"]);
    // And a new one for the next run (the first is dead with its run).
    expect(served(get("/"))).toEqual([200, "from api"]);
  });

  test("an endless envoy_on_route is stopped by the instruction budget: default_cluster", async () => {
    await setup([routeWith({ inline_cluster_specifier_plugin: luaPlugin('function envoy_on_route(h) while true do end end', "api") })]);
    expect(served(get("/"))).toEqual([200, "from api"]);
    expect(runtime.logText).toMatch(/script log: .*, use default cluster/);
  });

  test("every cluster_specifier_plugins entry is built, one no route names too (Envoy's ConfigImpl)", async () => {
    const used = luaPlugin('function envoy_on_route() return "api" end', "", "used");
    const route = routeWith({ cluster_specifier_plugin: "used" });
    await expect(setup([route], [used, luaPlugin("this is not lua(((", "web", "unused")])).rejects.toThrow(/script load error/);
    await expect(setup([route], [used, luaPlugin("x = 1", "web", "unused")])).rejects.toThrow("envoy_on_route() function not found. Lua will not hook cluster specifier.");
  });

  test("a name given twice: the first serves the routes, the second is built too (a broken one fails), a warning", async () => {
    const first = luaPlugin('function envoy_on_route() return "api" end', "", "p");
    await setup([routeWith({ cluster_specifier_plugin: "p" })], [first, luaPlugin('function envoy_on_route() return "web" end', "", "p")]);
    expect(served(get("/"))).toEqual([200, "from api"]);
    expect(runtime.logText).toContain("cluster_specifier_plugins has more than one entry named 'p': routes use the first");
    await expect(setup([routeWith({ cluster_specifier_plugin: "p" })], [first, luaPlugin("x = 1", "web", "p")])).rejects.toThrow("envoy_on_route() function not found");
  });

  test("clearRouteCache only marks the route stale: the specifier runs once more, when the route is next read, on the headers then", async () => {
    // Counts its runs; with x-to: api, "api" only on its second run.
    const counting = `local n = 0
    function envoy_on_route(h)
      n = n + 1
      if h:headers():get("x-to") == "api" and n == 2 then return "api" end
      return "web"
    end`;
    const filter = `function envoy_on_request(h)
      for i = 1, 5 do h:clearRouteCache() end
      h:headers():replace("x-to", "api")
    end`;
    await setup([routeWith({ inline_cluster_specifier_plugin: luaPlugin(counting, "web") })], undefined, filter);
    // Envoy's: one run at routing, one when the router reads the route (not 6; and x-to is seen).
    expect(served(get("/"))).toEqual([200, "from api"]);
  });

  test("Lua's streamInfo():routeName() leaves a cleared route stale (Envoy's reads stream info's route): a header set after it is routed on", async () => {
    // Its second run errs: a reader that routed again would show in the log.
    const counting = `local n = 0
    function envoy_on_route(h)
      n = n + 1
      if n == 2 and h:headers():get("x-to") ~= "api" then error("routed again too early") end
      if h:headers():get("x-to") == "api" then return "api" end
      return "web"
    end`;
    const reading = `function envoy_on_request(h)
      h:clearRouteCache()
      h:logWarn("route " .. tostring(h:streamInfo():routeName()))
      h:headers():replace("x-to", "api")
    end`;
    await setup([routeWith({ inline_cluster_specifier_plugin: luaPlugin(counting, "web") })], undefined, reading);
    expect(served(get("/"))).toEqual([200, "from api"]);
    expect(runtime.logText).not.toContain("routed again too early");
  });

  test("the route table's build fails on a load error or a code without envoy_on_route, as Envoy's config load", async () => {
    await expect(setup([routeWith({ inline_cluster_specifier_plugin: luaPlugin("function (", "web") })])).rejects.toThrow(/script load error/);
    await expect(setup([routeWith({ inline_cluster_specifier_plugin: luaPlugin("x = 1", "web") })])).rejects.toThrow("envoy_on_route() function not found. Lua will not hook cluster specifier.");
  });
});

describe("cluster specifier plugin configs", () => {
  const problems = (routes: HttpRoute[], plugins?: Record<string, unknown>[]) => {
    const result = loadConfig(JSON.stringify(proxyConfig(routes, plugins)), "json");
    return "problems" in result ? result.problems : [];
  };
  const ROUTE = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config";

  test("Envoy's sandbox config validates", () => {
    expect(problems([routeWith({ inline_cluster_specifier_plugin: luaPlugin(SANDBOX("fake_cluster"), "web") })])).toEqual([]);
  });

  test("an unknown plugin name, a duplicate name, a non-optional unknown type, another Envoy cluster specifier, no source_code", () => {
    expect(problems([routeWith({ cluster_specifier_plugin: "nope" })])).toEqual([`${ROUTE}.virtual_hosts[0].routes[0].route.cluster_specifier_plugin: Unknown cluster specifier plugin name: nope is used in the route`]);
    // A name given twice is Envoy's too (the first wins): accepted.
    const plugin = luaPlugin('function envoy_on_route() return "web" end', "", "p");
    expect(problems([routeWith({ cluster_specifier_plugin: "p" })], [plugin, plugin])).toEqual([]);
    const unknown = { extension: { name: "my.plugin", typed_config: { "@type": "type.googleapis.com/example.Unknown" } } };
    expect(problems([routeWith({ inline_cluster_specifier_plugin: unknown })])[0]).toMatch(/route\.inline_cluster_specifier_plugin\.extension\.typed_config\.@type: Didn't find a registered implementation for 'my\.plugin' with type URL: 'example\.Unknown'/);
    const matcher = { extension: { name: "m", typed_config: { "@type": "type.googleapis.com/envoy.extensions.router.cluster_specifiers.matcher.v3.MatcherClusterSpecifier" } }, is_optional: true };
    expect(problems([routeWith({ inline_cluster_specifier_plugin: matcher })])[0]).toMatch(/type\.googleapis\.com\/envoy\.extensions\.router\.cluster_specifiers\.matcher\.v3\.MatcherClusterSpecifier is an Envoy cluster specifier plugin that polyvoy does not support yet/);
    for (const type of ["priority_group.v3.PriorityGroupClusterSpecifier", "weighted_priority.v3.WeightedPriorityClusterSpecifier", "dynamic_modules.v3.DynamicModuleClusterSpecifier"]) {
      const other = { extension: { name: "o", typed_config: { "@type": `type.googleapis.com/envoy.extensions.router.cluster_specifiers.${type}` } }, is_optional: true };
      expect(problems([routeWith({ inline_cluster_specifier_plugin: other })])[0]).toContain(`${type} is an Envoy cluster specifier plugin that polyvoy does not support yet`);
    }
    // An envoy.* type Envoy has no factory for either: its null plugin when optional, Envoy's error when not.
    const fake = (optional: boolean) => ({ extension: { name: "f", typed_config: { "@type": "type.googleapis.com/envoy.extensions.router.cluster_specifiers.fake.v3.Fake" } }, is_optional: optional });
    expect(problems([routeWith({ inline_cluster_specifier_plugin: fake(true) })])).toEqual([]);
    expect(problems([routeWith({ inline_cluster_specifier_plugin: fake(false) })])[0]).toMatch(/Didn't find a registered implementation for 'f' with type URL: 'envoy\.extensions\.router\.cluster_specifiers\.fake\.v3\.Fake'/);
    const noCode = { extension: { name: "l", typed_config: { "@type": LUA_CONFIG, default_cluster: "web" } } };
    expect(problems([routeWith({ inline_cluster_specifier_plugin: noCode })])[0]).toMatch(/inline_cluster_specifier_plugin\.extension\.typed_config\.source_code/);
  });

  test("only one cluster specifier per route action", () => {
    expect(problems([routeWith({ cluster: "web", cluster_specifier_plugin: "p" })], [luaPlugin('function envoy_on_route() return "web" end', "", "p")])[0]).toMatch(/must set only one of cluster, cluster_header, weighted_clusters, cluster_specifier_plugin, inline_cluster_specifier_plugin/);
  });
});
