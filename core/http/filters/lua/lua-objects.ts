/// <reference path="./fengari.d.ts" />
/**
 * JavaScript objects as Lua values (Envoy's BaseLuaObject and LuaDeathRef,
 * source/extensions/filters/common/lua/lua.h): a table holding the object, whose metatable's
 * __index has the methods of its kind. The Lua filter's handles (lua-filter.ts) and the Lua
 * cluster specifier's route handle (core/http/route/lua-cluster-specifier.ts) are made here.
 */
import type { LuaState } from "fengari";
import { lauxlib, lua, to_luastring, type LuaCode } from "./lua-code.ts";

/**
 * What a wrapper belongs to: the code whose VM made it, and whether the run it was made
 * for is over (a wrapper kept past it, in a global, is dead as Envoy's LuaDeathRef makes it).
 */
export interface LuaScope {
  readonly code: LuaCode;
  readonly dead: boolean;
}

/** The methods of a wrapper kind, Lua name → function of (L, the wrapped object, its scope). */
export type LuaMethods<T, S extends LuaScope> = Record<string, (L: LuaState, self: T, scope: S) => number>;

/** What a wrapper's slot [0] holds: the object, its kind's methods and name, and its scope. */
interface WrappedObject {
  readonly kind: string;
  readonly methods: object;
  readonly object: unknown;
  readonly scope: LuaScope;
}

/**
 * Push a wrapper of `object`: a table holding it (light userdata at [0]) whose metatable's
 * __index has `methods`. A method checks its `self` and finds the object there.
 */
export function pushLuaObject<T, S extends LuaScope>(scope: S, L: LuaState, kind: string, methods: LuaMethods<T, S>, object: T): void {
  lua.lua_createtable(L, 1, 0);
  lua.lua_pushlightuserdata(L, { kind, methods, object, scope } satisfies WrappedObject);
  lua.lua_rawseti(L, -2, 0);
  lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, metatable(scope.code, kind, methods as unknown as LuaMethods<never, LuaScope>));
  lua.lua_setmetatable(L, -2);
}

/** The metatable of a kind in `code`'s VM, made at its first wrapper. */
function metatable(code: LuaCode, kind: string, methods: LuaMethods<never, LuaScope>): number {
  let ref = code.metatables.get(methods);
  if (ref !== undefined) return ref;
  const L = code.L;
  lua.lua_newtable(L); // the metatable
  lua.lua_newtable(L); // its __index
  for (const [name, method] of Object.entries(methods)) {
    lua.lua_pushjsfunction(L, (L) => {
      if (lua.lua_type(L, 1) !== lua.LUA_TTABLE) return lauxlib.luaL_error(L, "%s: expected an object (call it with ':')", name);
      lua.lua_rawgeti(L, 1, 0);
      const self = lua.lua_touserdata(L, -1) as WrappedObject | undefined | null;
      lua.lua_pop(L, 1);
      if (self === undefined || self === null) return lauxlib.luaL_error(L, "%s: expected an object (call it with ':')", name);
      // rawset can move one wrapper's slot into another's table: the kinds must agree.
      if (self.methods !== methods) return lauxlib.luaL_error(L, "%s: expected a %s object", name, kind);
      // Envoy's LuaDeathRef: a handle kept past its run (in a global) is dead.
      if (self.scope.dead) return lauxlib.luaL_error(L, "object used outside of proper scope");
      return method(L, self.object as never, self.scope);
    });
    lua.lua_setfield(L, name.startsWith("__") ? -3 : -2, to_luastring(name));
  }
  lua.lua_setfield(L, -2, to_luastring("__index"));
  // The wrapped object is the proxy's: a script cannot see or replace the metatable.
  lua.lua_pushboolean(L, false);
  lua.lua_setfield(L, -2, to_luastring("__metatable"));
  lua.lua_pushjsfunction(L, (L) => {
    lauxlib.luaL_error(L, "%s objects are read-only", kind);
    return 0;
  });
  lua.lua_setfield(L, -2, to_luastring("__newindex"));
  ref = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
  code.metatables.set(methods, ref);
  return ref;
}
