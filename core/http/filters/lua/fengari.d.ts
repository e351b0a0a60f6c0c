/**
 * The part of fengari 0.1.5's API (a Lua 5.3 VM in JavaScript, CommonJS, no types of its own)
 * the Lua filter uses: the C API's names and meanings (https://www.lua.org/manual/5.3/manual.html#4),
 * Lua strings as Uint8Array ("luastring"), a lua_State as an opaque object.
 */
declare module "fengari" {
  export type LuaState = { readonly __luaState: unique symbol };
  export type LuaString = Uint8Array;
  export type LuaJsFunction = (L: LuaState) => number;
  export type LuaHook = (L: LuaState, ar: unknown) => void;
  export interface Lua {
    readonly LUA_OK: number;
    readonly LUA_YIELD: number;
    readonly LUA_ERRRUN: number;
    readonly LUA_REGISTRYINDEX: number;
    readonly LUA_MASKCOUNT: number;
    readonly LUA_MULTRET: number;
    readonly LUA_TNIL: number;
    readonly LUA_TBOOLEAN: number;
    readonly LUA_TNUMBER: number;
    readonly LUA_TSTRING: number;
    readonly LUA_TTABLE: number;
    readonly LUA_TFUNCTION: number;
    lua_newthread(L: LuaState): LuaState;
    lua_resume(L: LuaState, from: LuaState | null, nargs: number): number;
    lua_yield(L: LuaState, nresults: number): number;
    lua_sethook(L: LuaState, hook: LuaHook | null, mask: number, count: number): void;
    lua_atnativeerror(L: LuaState, handler: LuaJsFunction): void;
    lua_pcall(L: LuaState, nargs: number, nresults: number, errfunc: number): number;
    lua_call(L: LuaState, nargs: number, nresults: number): void;
    lua_gettop(L: LuaState): number;
    lua_settop(L: LuaState, index: number): void;
    lua_pop(L: LuaState, n: number): void;
    lua_type(L: LuaState, index: number): number;
    lua_typename(L: LuaState, type: number): LuaString;
    lua_isnoneornil(L: LuaState, index: number): boolean;
    lua_toboolean(L: LuaState, index: number): boolean;
    lua_tonumber(L: LuaState, index: number): number;
    lua_isinteger(L: LuaState, index: number): boolean;
    lua_isnone(L: LuaState, index: number): boolean;
    lua_tojsstring(L: LuaState, index: number): string;
    lua_tostring(L: LuaState, index: number): LuaString | null;
    lua_touserdata(L: LuaState, index: number): unknown;
    lua_pushnil(L: LuaState): void;
    lua_pushboolean(L: LuaState, b: boolean): void;
    lua_pushinteger(L: LuaState, n: number): void;
    lua_pushnumber(L: LuaState, n: number): void;
    lua_pushstring(L: LuaState, s: LuaString): LuaString;
    lua_pushliteral(L: LuaState, s: string): LuaString;
    lua_pushjsfunction(L: LuaState, f: LuaJsFunction): void;
    lua_pushcclosure(L: LuaState, f: LuaJsFunction, n: number): void;
    lua_pushlightuserdata(L: LuaState, p: unknown): void;
    lua_pushvalue(L: LuaState, index: number): void;
    lua_newtable(L: LuaState): void;
    lua_createtable(L: LuaState, narr: number, nrec: number): void;
    lua_setfield(L: LuaState, index: number, k: LuaString): void;
    lua_getfield(L: LuaState, index: number, k: LuaString): number;
    lua_rawgeti(L: LuaState, index: number, n: number): number;
    lua_rawseti(L: LuaState, index: number, n: number): void;
    lua_rawget(L: LuaState, index: number): number;
    lua_settable(L: LuaState, index: number): void;
    lua_setmetatable(L: LuaState, index: number): void;
    lua_getglobal(L: LuaState, name: LuaString): number;
    lua_setglobal(L: LuaState, name: LuaString): void;
    lua_next(L: LuaState, index: number): number;
    lua_upvalueindex(i: number): number;
    lua_insert(L: LuaState, index: number): void;
    lua_error(L: LuaState): number;
  }
  export interface Lauxlib {
    luaL_newstate(): LuaState;
    luaL_requiref(L: LuaState, modname: LuaString, openf: LuaJsFunction, glb: number): void;
    luaL_loadbuffer(L: LuaState, buff: LuaString, size: number | null, name: LuaString): number;
    luaL_ref(L: LuaState, t: number): number;
    luaL_unref(L: LuaState, t: number, ref: number): void;
    luaL_error(L: LuaState, message: string | LuaString, ...args: unknown[]): number;
    luaL_checkstring(L: LuaState, arg: number): LuaString;
    luaL_checklstring(L: LuaState, arg: number): LuaString;
    luaL_optlstring(L: LuaState, arg: number, def: LuaString | null): LuaString | null;
    luaL_checkinteger(L: LuaState, arg: number): number;
    luaL_optinteger(L: LuaState, arg: number, def: number): number;
    luaL_checktype(L: LuaState, arg: number, t: number): void;
    luaL_checkstack(L: LuaState, space: number, message: string | null): void;
    luaL_tolstring(L: LuaState, index: number): LuaString;
    luaL_traceback(L: LuaState, L1: LuaState, msg: LuaString | null, level: number): void;
  }
  export interface Lualib {
    luaopen_base: LuaJsFunction;
    luaopen_coroutine: LuaJsFunction;
    luaopen_table: LuaJsFunction;
    luaopen_string: LuaJsFunction;
    luaopen_math: LuaJsFunction;
    luaopen_utf8: LuaJsFunction;
  }
  const fengari: {
    lua: Lua;
    lauxlib: Lauxlib;
    lualib: Lualib;
    to_luastring(s: string, cache?: boolean): LuaString;
    to_jsstring(s: LuaString, from?: number, to?: number, replacement_char?: boolean): string;
  };
  export default fengari;
}
