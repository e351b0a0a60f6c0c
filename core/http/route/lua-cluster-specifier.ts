/// <reference path="../filters/lua/fengari.d.ts" />
/**
 * Envoy's Lua cluster specifier (envoy.router.cluster_specifier_plugin.lua,
 * source/extensions/router/cluster_specifiers/lua/lua_cluster_specifier.{h,cc}): the code
 * runs in a VM of its own (the Lua filter's, lua-code.ts), its top level once when the route
 * table is built, and envoy_on_route(route_handle) for each request whose route uses it, as
 * a coroutine started and read at once (synchronously: the route is being resolved). Its
 * string (or number) result is the cluster; a Lua error, or any other result, is logged
 * ("script log: ..., use default cluster") and default_cluster is used instead. A cluster
 * that does not exist is the router's to answer (cluster_not_found_response_code, 503).
 *
 * route_handle has exactly Envoy's RouteHandleWrapper's methods: headers(), a read-only
 * view with get(name) (every value of the name joined with ",", as getAllOfHeaderAsString),
 * and getCluster(name), nil for an unknown cluster, else an object with numConnections(),
 * numRequests() and numPendingRequests() (its default and high priority circuit breakers'
 * counts). Any other method is a Lua error ("attempt to call a nil value"). The handle and
 * what it gave are dead once envoy_on_route returns (Envoy's LuaDeathRef).
 */
import type { LuaState } from "fengari";
import type { ServerContext } from "../../server-context.ts";
import type { ComponentLogger } from "../../log.ts";
import type { Cluster } from "../../upstream/cluster.ts";
import { latin1Encode } from "../../util/latin1.ts";
import type { RequestHeaders } from "../message.ts";
import { LuaCode, byteString, lauxlib, lua, popMessage } from "../filters/lua/lua-code.ts";
import { luaPackagePath } from "../filters/lua/lua-sources.ts";
import { pushLuaObject, type LuaMethods } from "../filters/lua/lua-objects.ts";
import { headerValues } from "../filters/lua/lua-headers.ts";
import type { ClusterSpecifierPlugin } from "./cluster-specifier.ts";

/** One run of envoy_on_route: what its wrappers belong to. */
class RouteRun {
  dead = false;
  /** The registry ref of headers()'s wrapper, made on the first call (Envoy's headers_wrapper_). */
  headersRef: number | undefined;
  constructor(
    readonly code: LuaCode,
    readonly headers: RequestHeaders,
    readonly server: ServerContext,
  ) {}
}

/** Envoy's HeaderMapWrapper of lua_cluster_specifier.h: get() only. */
const HEADERS_METHODS: LuaMethods<RequestHeaders, RouteRun> = {
  get(L, headers) {
    // checkStringOrError and LowerCaseString: any string (or number), no name check.
    const name = byteString(lauxlib.luaL_checkstring(L, 2)).toLowerCase();
    const values = headerValues(headers, name, true);
    if (values.length === 0) return 0;
    lua.lua_pushstring(L, latin1Encode(values.join(",")));
    return 1;
  },
};

/** Envoy's ClusterWrapper: the counts of both priorities' resource managers. */
const CLUSTER_METHODS: LuaMethods<Cluster, RouteRun> = {
  numConnections: (L, cluster) => pushCount(L, cluster.resources.connections.count + cluster.resourcesHigh.connections.count),
  numRequests: (L, cluster) => pushCount(L, cluster.resources.requests.count + cluster.resourcesHigh.requests.count),
  numPendingRequests: (L, cluster) => pushCount(L, cluster.resources.pendingRequests.count + cluster.resourcesHigh.pendingRequests.count),
};

function pushCount(L: LuaState, count: number): number {
  lua.lua_pushinteger(L, count);
  return 1;
}

/** Envoy's RouteHandleWrapper: headers() and getCluster(name). */
const ROUTE_HANDLE_METHODS: LuaMethods<RouteRun, RouteRun> = {
  headers(L, run) {
    // Envoy's RouteHandleWrapper::luaHeaders pushes its one headers_wrapper_ again: h:headers() == h:headers().
    if (run.headersRef !== undefined) {
      lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, run.headersRef);
      return 1;
    }
    pushLuaObject(run, L, "headers", HEADERS_METHODS, run.headers);
    lua.lua_pushvalue(L, -1);
    run.headersRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
    return 1;
  },
  getCluster(L, run) {
    const cluster = run.server.clusterManager.get(byteString(lauxlib.luaL_checkstring(L, 2)));
    if (cluster === undefined) return 0;
    pushLuaObject(run, L, "cluster", CLUSTER_METHODS, cluster);
    return 1;
  },
};

export class LuaClusterSpecifier implements ClusterSpecifierPlugin {
  private readonly code: LuaCode;
  private readonly functionRef: number;
  private readonly defaultCluster: string;
  private readonly log: ComponentLogger;

  constructor(
    config: { sourceCode: string; defaultCluster: string },
    private readonly server: ServerContext,
  ) {
    const log = (this.log = server.log.component("lua"));
    this.defaultCluster = config.defaultCluster;
    // Envoy's PerLuaCodeSetup takes no package paths: require() finds package.loaded and package.preload only.
    const noModules = { path: luaPackagePath(server), modules: new Map(), missing: new Map() };
    this.code = new LuaCode(config.sourceCode, config.sourceCode, noModules, server, (line) => log.info(`script print: ${line}`));
    const ref = this.code.globalRef("envoy_on_route");
    // Envoy's PerLuaCodeSetup, word for word.
    if (ref === undefined) throw new Error("envoy_on_route() function not found. Lua will not hook cluster specifier.");
    this.functionRef = ref;
  }

  /** Envoy's LuaClusterSpecifierPlugin::startLua. */
  cluster(headers: RequestHeaders): string {
    const L = this.code.L;
    const thread = lua.lua_newthread(L);
    const threadRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
    const run = new RouteRun(this.code, headers, this.server);
    try {
      lua.lua_rawgeti(thread, lua.LUA_REGISTRYINDEX, this.functionRef);
      pushLuaObject(run, thread, "route_handle", ROUTE_HANDLE_METHODS, run);
      this.code.startRun();
      const status = lua.lua_resume(thread, null, 1);
      // A yield is a start that returned (Coroutine::start): what it yielded is read as a result.
      if (status !== lua.LUA_OK && status !== lua.LUA_YIELD) {
        this.log.error(`script log: ${popMessage(thread)}, use default cluster`);
        return this.defaultCluster;
      }
      // coercibleStringOrError: a string, or a number as its string.
      const type = lua.lua_gettop(thread) > 0 ? lua.lua_type(thread, -1) : lua.LUA_TNIL;
      if (type !== lua.LUA_TSTRING && type !== lua.LUA_TNUMBER) {
        this.log.error("script log: return value is not string, use default cluster");
        return this.defaultCluster;
      }
      return byteString(lua.lua_tostring(thread, -1)!);
    } finally {
      run.dead = true;
      if (run.headersRef !== undefined) lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, run.headersRef);
      lauxlib.luaL_unref(L, lua.LUA_REGISTRYINDEX, threadRef);
    }
  }
}
