/// <reference path="./fengari.d.ts" />
/**
 * One Lua code of the filter and the VM it runs in (Envoy's PerLuaCodeSetup over a
 * ThreadLocalState, source/extensions/filters/common/lua/lua.cc): the state is made, the
 * sandbox's libraries opened, the code's top level run once when the listener is built,
 * and envoy_on_request / envoy_on_response kept for the streams, each run as a coroutine.
 *
 * The VM is fengari (Lua 5.3 in JavaScript), imported only by this module, which the
 * filter registry loads only when a config names the Lua filter. Envoy opens LuaJIT's
 * standard libraries (luaL_openlibs); polyvoy opens base (without dofile and loadfile),
 * coroutine, table, string, math and utf8 — no io, os, debug or package library (the file
 * system, the process and the VM's internals stay out of a script's reach), a `package`
 * table with `loaded`, `preload` and `path`, and a require() of its own (lua-sources.ts).
 */
import fengari, { type LuaState } from "fengari";
import type { ServerContext } from "../../../server-context.ts";
import type { ResolvedModules } from "./lua-sources.ts";
import { latin1Encode } from "../../../util/latin1.ts";

export const { lua, lauxlib, lualib, to_luastring } = fengari;

/**
 * The most VM instructions one run of a script may take (the top level, or a coroutine
 * from one resume to its next yield): past it the run fails as a script error. Envoy has
 * no such limit (LuaJIT runs a `while true do end` for ever, on one worker thread of
 * many); here the VM runs on the proxy's only thread, which it would stop for good.
 */
export const INSTRUCTION_BUDGET = 10_000_000;
/** Instructions between two budget checks (the count hook's period). */
const HOOK_PERIOD = 1000;

const BUDGET_MESSAGE = `instruction budget exceeded (${INSTRUCTION_BUDGET} VM instructions in one run)`;

/** Lua, run in every new state: pcall, xpcall and coroutine.resume may not catch the budget's error. */
const SANDBOX_PRELUDE = `
local exceeded, message, max_string = ...
local raw_pcall, raw_xpcall, raw_resume, error, select = pcall, xpcall, coroutine.resume, error, select
local function check(ok, ...)
  if not ok and exceeded() then error(message, 0) end
  return ok, ...
end
pcall = function(...) return check(raw_pcall(...)) end
xpcall = function(...) return check(raw_xpcall(...)) end
coroutine.resume = function(...) return check(raw_resume(...)) end
-- One call of these makes a string of any size in one VM instruction, which the budget
-- does not see: their results are capped.
local rep, concat, tostring, type = string.rep, table.concat, tostring, type
string.rep = function(s, n, sep)
  local size = #tostring(s) + (sep ~= nil and #tostring(sep) or 0)
  if type(n) == "number" and n > 0 and size * n > max_string then
    error("string.rep: a result over " .. max_string .. " bytes", 2)
  end
  return rep(s, n, sep)
end
table.concat = function(t, sep, i, j)
  if type(t) == "table" then
    local from, to, size, gap = i or 1, j or #t, 0, sep ~= nil and #tostring(sep) or 0
    for k = from, to do
      local v = t[k]
      size = size + (type(v) == "string" and #v or 24) + gap
      if size > max_string then error("table.concat: a result over " .. max_string .. " bytes", 2) end
    end
  end
  return concat(t, sep, i, j)
end
`;

/** The largest string string.rep and table.concat make (16 MiB). */
const MAX_STRING_BYTES = 16 * 1024 * 1024;

/** A Lua error that reached the filter (Envoy's LuaException): its message. */
export class LuaScriptError extends Error {}

export class LuaCode {
  readonly L: LuaState;
  /** Registry references of envoy_on_request / envoy_on_response, undefined when the code has none. */
  readonly requestRef: number | undefined;
  readonly responseRef: number | undefined;
  /** Hook periods left in the current run. */
  private periodsLeft = INSTRUCTION_BUDGET / HOOK_PERIOD;
  /** The metatables of the wrappers (lua-objects.ts), by their kind's methods, as registry references. */
  readonly metatables = new Map<object, number>();

  constructor(
    code: string,
    chunkName: string,
    private readonly modules: ResolvedModules,
    private readonly server: Pick<ServerContext, "runtime">,
    print: (line: string) => void,
  ) {
    const L = (this.L = lauxlib.luaL_newstate());
    // A JavaScript exception inside a function the script calls (a bug of the filter's) is a
    // Lua error of that run, not an exception through the proxy.
    lua.lua_atnativeerror(L, (L) => {
      const e = lua.lua_touserdata(L, -1);
      lua.lua_pushliteral(L, `internal error: ${e instanceof Error ? e.message : String(e)}`);
      return 1;
    });
    for (const [name, open] of [
      ["_G", lualib.luaopen_base],
      ["coroutine", lualib.luaopen_coroutine],
      ["table", lualib.luaopen_table],
      ["string", lualib.luaopen_string],
      ["math", lualib.luaopen_math],
      ["utf8", lualib.luaopen_utf8],
    ] as const) {
      lauxlib.luaL_requiref(L, to_luastring(name), open, 1);
      lua.lua_pop(L, 1);
    }
    // Reading files is the proxy's to do (and asynchronous): no dofile, no loadfile.
    for (const name of ["dofile", "loadfile"]) {
      lua.lua_pushnil(L);
      lua.lua_setglobal(L, to_luastring(name));
    }
    this.installRandom();
    this.installPackage();
    // print: fengari's writes to process.stdout, which the core does not touch; a line of the log instead.
    lua.lua_pushjsfunction(L, (L) => {
      const n = lua.lua_gettop(L);
      const parts: string[] = [];
      for (let i = 1; i <= n; i++) {
        parts.push(byteString(lauxlib.luaL_tolstring(L, i)));
        lua.lua_pop(L, 1);
      }
      print(parts.join("\t"));
      return 0;
    });
    lua.lua_setglobal(L, to_luastring("print"));
    // Envoy's global for timestamp()'s format (lua_filter.cc: Timestamp::Resolution's values).
    lua.lua_newtable(L);
    lua.lua_pushinteger(L, 0);
    lua.lua_setfield(L, -2, to_luastring("MILLISECOND"));
    lua.lua_pushinteger(L, 1);
    lua.lua_setfield(L, -2, to_luastring("MICROSECOND"));
    lua.lua_setglobal(L, to_luastring("EnvoyTimestampResolution"));
    lua.lua_sethook(L, (L) => this.hook(L), lua.LUA_MASKCOUNT, HOOK_PERIOD);
    this.runChunk(SANDBOX_PRELUDE, "=sandbox", (L) => {
      lua.lua_pushjsfunction(L, (L) => {
        lua.lua_pushboolean(L, this.periodsLeft < 0);
        return 1;
      });
      lua.lua_pushliteral(L, BUDGET_MESSAGE);
      lua.lua_pushinteger(L, MAX_STRING_BYTES);
      return 3;
    });
    // Envoy: "script load error: ..." fails the config.
    try {
      this.runChunk(code, chunkName);
    } catch (e) {
      throw new Error(`script load error: ${(e as Error).message}`);
    }
    this.requestRef = this.globalRef("envoy_on_request");
    this.responseRef = this.globalRef("envoy_on_response");
  }

  /** Start a run's budget (before a call or a resume). */
  startRun(): void {
    this.periodsLeft = INSTRUCTION_BUDGET / HOOK_PERIOD;
  }

  private hook(L: LuaState): void {
    if (--this.periodsLeft < 0) lauxlib.luaL_error(L, BUDGET_MESSAGE);
  }

  /** Load and call a chunk on the main state; throws LuaScriptError with Lua's message. */
  private runChunk(code: string, chunkName: string, pushArgs?: (L: LuaState) => number): void {
    const L = this.L;
    const status = lauxlib.luaL_loadbuffer(L, latin1Encode(code), null, to_luastring(chunkName));
    if (status !== lua.LUA_OK) throw new LuaScriptError(popMessage(L));
    const nargs = pushArgs?.(L) ?? 0;
    this.startRun();
    if (lua.lua_pcall(L, nargs, 0, 0) !== lua.LUA_OK) throw new LuaScriptError(popMessage(L));
  }

  /** A registry reference of the global function `name`, undefined when the code defines none. */
  globalRef(name: string): number | undefined {
    const L = this.L;
    if (lua.lua_getglobal(L, to_luastring(name)) !== lua.LUA_TFUNCTION) {
      lua.lua_pop(L, 1);
      return undefined;
    }
    return lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
  }

  /** Lua's math.random from the port's generator (never the engine's own); randomseed cannot seed it. */
  private installRandom(): void {
    const L = this.L;
    const runtime = this.server.runtime;
    lua.lua_getglobal(L, to_luastring("math"));
    lua.lua_pushjsfunction(L, (L) => {
      const r = runtime.random();
      const n = lua.lua_gettop(L);
      if (n === 0) {
        lua.lua_pushnumber(L, r);
        return 1;
      }
      if (n > 2) return lauxlib.luaL_error(L, "wrong number of arguments");
      const low = n === 1 ? 1 : lauxlib.luaL_checkinteger(L, 1);
      const up = lauxlib.luaL_checkinteger(L, n === 1 ? 1 : 2);
      if (low > up) return lauxlib.luaL_error(L, "bad argument #%d to 'random' (interval is empty)", n);
      lua.lua_pushinteger(L, Math.floor(r * (up - low + 1)) + low);
      return 1;
    });
    lua.lua_setfield(L, -2, to_luastring("random"));
    lua.lua_pushjsfunction(L, () => 0);
    lua.lua_setfield(L, -2, to_luastring("randomseed"));
    lua.lua_pop(L, 1);
  }

  /** `package` (loaded, preload, path) and Lua's `require` over the modules found at listener build. */
  private installPackage(): void {
    const L = this.L;
    lua.lua_newtable(L);
    lua.lua_newtable(L);
    lua.lua_setfield(L, -2, to_luastring("loaded"));
    lua.lua_newtable(L);
    lua.lua_setfield(L, -2, to_luastring("preload"));
    lua.lua_pushstring(L, latin1Encode(this.modules.path));
    lua.lua_setfield(L, -2, to_luastring("path"));
    lua.lua_setglobal(L, to_luastring("package"));
    lua.lua_pushjsfunction(L, (L) => this.luaRequire(L));
    lua.lua_setglobal(L, to_luastring("require"));
    // Lua 5.3's package.loaded holds the standard libraries too.
    for (const name of ["_G", "coroutine", "table", "string", "math", "utf8", "package"]) {
      lua.lua_getglobal(L, to_luastring("package"));
      lua.lua_getfield(L, -1, to_luastring("loaded"));
      lua.lua_getglobal(L, to_luastring(name));
      lua.lua_setfield(L, -2, to_luastring(name));
      lua.lua_pop(L, 2);
    }
  }

  /** Lua's `require name`: package.loaded, then package.preload, then a module the scan found (Lua 5.3's ll_require). */
  private luaRequire(L: LuaState): number {
    const nameBytes = lauxlib.luaL_checkstring(L, 1);
    const name = byteString(nameBytes);
    lua.lua_settop(L, 1);
    lua.lua_getglobal(L, to_luastring("package")); // 2
    lua.lua_getfield(L, 2, to_luastring("loaded")); // 3
    lua.lua_getfield(L, 3, nameBytes); // 4
    if (lua.lua_toboolean(L, 4)) return 1;
    lua.lua_pop(L, 1);
    let extra: string | undefined;
    if (lua.lua_getfield(L, 2, to_luastring("preload")) === lua.LUA_TTABLE && lua.lua_getfield(L, -1, nameBytes) === lua.LUA_TFUNCTION) {
      extra = ":preload:";
    } else {
      lua.lua_settop(L, 3);
      const module = this.modules.modules.get(name);
      if (module === undefined) {
        const tried = this.modules.missing.get(name);
        const why = tried !== undefined
          ? tried.map((file) => `\n\tno file '${file}'`).join("")
          : "\n\tpolyvoy reads modules when the listener is built: only a require of a literal name (require \"name\") in the code or its modules is found";
        return lauxlib.luaL_error(L, to_luastring(`module '%s' not found:${why}`), nameBytes);
      }
      if (lauxlib.luaL_loadbuffer(L, latin1Encode(module.code), null, to_luastring(`@${module.path}`)) !== lua.LUA_OK) {
        return lauxlib.luaL_error(L, to_luastring("error loading module '%s' from file '%s':\n\t%s"), nameBytes, latin1Encode(module.path), lua.lua_tostring(L, -1));
      }
      extra = module.path;
    }
    // The loader gets the name and where it came from (Lua 5.3); its result is package.loaded[name].
    lua.lua_pushvalue(L, 1);
    lua.lua_pushstring(L, latin1Encode(extra));
    lua.lua_call(L, 2, 1);
    if (!lua.lua_isnoneornil(L, -1)) lua.lua_setfield(L, 3, nameBytes);
    else lua.lua_pop(L, 1);
    if (lua.lua_getfield(L, 3, nameBytes) === lua.LUA_TNIL) {
      lua.lua_pushboolean(L, true);
      lua.lua_pushvalue(L, -1);
      lua.lua_setfield(L, 3, nameBytes);
    }
    return 1;
  }
}

/** The error value on top of L's stack as a message (popped). */
export function popMessage(L: LuaState): string {
  let message: string;
  const t = lua.lua_type(L, -1);
  if (t === lua.LUA_TSTRING || t === lua.LUA_TNUMBER) message = byteString(lua.lua_tostring(L, -1)!);
  else message = `(error object is a ${t === lua.LUA_TNIL ? "nil" : t === lua.LUA_TTABLE ? "table" : t === lua.LUA_TBOOLEAN ? "boolean" : "non-string"} value)`;
  lua.lua_pop(L, 1);
  return message;
}

/** Lua bytes as a byte string (one char per byte), the form header values and sources have here. */
export function byteString(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return out;
}
