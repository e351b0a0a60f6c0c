/// <reference path="./fengari.d.ts" />
/**
 * The Lua handle's httpCall() (Envoy's StreamHandleWrapper::luaHttpCall and makeHttpCall,
 * source/extensions/filters/http/lua/lua_filter.cc): its arguments read and checked in
 * Envoy's order with Envoy's messages, the request built for the async client
 * (core/http/async-client.ts), and the response handed back to the script as Envoy pushes
 * it — a table of the response's headers (`:status` first) and the body, nil when empty.
 */
import type { LuaState } from "fengari";
import type { AsyncResponse } from "../../async-client.ts";
import { RequestHeaders, ResponseHeaders } from "../../message.ts";
import { latin1Encode } from "../../../util/latin1.ts";
import { byteString, lauxlib, lua } from "./lua-code.ts";

/** httpCall(cluster, headers, body, timeout_ms, asynchronous) or httpCall(cluster, headers, body, {options}). */
export interface LuaHttpCallOptions {
  /** 0: no timeout (the router's meaning of a 0 route timeout). */
  timeoutMs: number;
  asynchronous: boolean;
  returnDuplicateHeaders: boolean;
  sendXff: boolean;
}

/** Envoy's AsyncFlagIndex and HttpCallOptionsIndex. */
const ASYNC_FLAG_INDEX = 6;
const OPTIONS_INDEX = 5;

/** The options of a call: the table form's keys, else timeout_ms and the asynchronous flag. */
export function httpCallOptions(L: LuaState): LuaHttpCallOptions {
  const options: LuaHttpCallOptions = { timeoutMs: 0, asynchronous: false, returnDuplicateHeaders: false, sendXff: true };
  if (lua.lua_type(L, OPTIONS_INDEX) === lua.LUA_TTABLE) {
    optionsFromTable(L, OPTIONS_INDEX, options);
    return options;
  }
  if (!lua.lua_isnone(L, ASYNC_FLAG_INDEX) && lua.lua_type(L, ASYNC_FLAG_INDEX) !== lua.LUA_TBOOLEAN) {
    lauxlib.luaL_error(L, "http call asynchronous flag must be 'true', 'false', or empty");
  }
  const timeout = lauxlib.luaL_checkinteger(L, OPTIONS_INDEX);
  if (timeout < 0) lauxlib.luaL_error(L, "http call timeout must be >= 0");
  options.timeoutMs = timeout;
  options.asynchronous = lua.lua_toboolean(L, ASYNC_FLAG_INDEX);
  return options;
}

/** Envoy's parseOptionsFromTable: string keys of its optionHandlers only, booleans by Lua truth. */
function optionsFromTable(L: LuaState, index: number, options: LuaHttpCallOptions): void {
  lua.lua_pushnil(L);
  while (lua.lua_next(L, index) !== 0) {
    if (lua.lua_type(L, -2) !== lua.LUA_TSTRING) lauxlib.luaL_error(L, "httpCall() options key must be a string");
    const key = byteString(lua.lua_tostring(L, -2)!);
    switch (key) {
      case "asynchronous":
        options.asynchronous = lua.lua_toboolean(L, -1);
        break;
      case "timeout_ms": {
        if (!lua.lua_isinteger(L, -1) && !(lua.lua_type(L, -1) === lua.LUA_TNUMBER && Number.isInteger(lua.lua_tonumber(L, -1)))) {
          lauxlib.luaL_error(L, "'timeout_ms' option must be an integer");
        }
        const timeout = lua.lua_tonumber(L, -1);
        if (timeout < 0) lauxlib.luaL_error(L, "http call timeout must be >= 0");
        options.timeoutMs = timeout;
        break;
      }
      // polyvoy's async client makes no span: there is no sampling decision to take.
      case "trace_sampled":
        break;
      case "return_duplicate_headers":
        options.returnDuplicateHeaders = lua.lua_toboolean(L, -1);
        break;
      case "send_xff":
        options.sendXff = lua.lua_toboolean(L, -1);
        break;
      default:
        lauxlib.luaL_error(L, '"%s" is not valid key for httpCall() options', latin1Encode(key));
    }
    lua.lua_pop(L, 1);
  }
}

/**
 * The request from the headers table's fields: `:method`, `:path` and `:authority` are
 * required (Envoy checks Path(), Method() and Host()), `:scheme` may be given; other
 * fields are headers as they are.
 */
export function httpCallRequestHeaders(L: LuaState, fields: readonly (readonly [string, string])[]): RequestHeaders {
  const headers = new RequestHeaders();
  let method = false;
  let path = false;
  let authority = false;
  for (const [name, value] of fields) {
    switch (name) {
      case ":method":
        headers.method = value;
        method = true;
        break;
      case ":path":
        headers.path = value;
        path = true;
        break;
      case ":authority":
        headers.authority = value;
        authority = true;
        break;
      case ":scheme":
        headers.scheme = value;
        break;
      default:
        // Envoy's HTTP/1 codec writes no pseudo-header but :authority (as Host): an unknown one is dropped.
        if (!name.startsWith(":")) headers.add(name, value);
    }
  }
  if (!method || !path || !authority) lauxlib.luaL_error(L, "http call headers must include ':path', ':method', and ':authority'");
  return headers;
}

/**
 * Envoy's AsyncStreamImpl::sendHeaders: the request is marked internal, and with send_xff
 * (the default) the proxy's local address is appended to x-forwarded-for (Utility::appendXff).
 */
export function addAsyncClientHeaders(headers: RequestHeaders, sendXff: boolean, localAddress: string): void {
  headers.set("x-envoy-internal", "true");
  if (!sendXff) return;
  const xff = headers.getJoined("x-forwarded-for");
  headers.set("x-forwarded-for", xff ? `${xff}, ${localAddress}` : localAddress);
}

/** Envoy's onFailure: "Just fake a basic 503 response", body "upstream failure". */
export function upstreamFailureResponse(): AsyncResponse {
  return { headers: new ResponseHeaders(503), body: latin1Encode("upstream failure"), trailers: undefined, details: "" };
}

/**
 * Envoy's onSuccess: push the headers table and the body (nil when empty). Without
 * return_duplicate_headers a repeated name keeps its last value (each is set in turn);
 * with it, a repeated name's values are a list.
 */
export function pushHttpCallResponse(L: LuaState, response: AsyncResponse, returnDuplicateHeaders: boolean): void {
  const headers = response.headers;
  lua.lua_newtable(L);
  lua.lua_pushliteral(L, ":status");
  lua.lua_pushliteral(L, String(headers.status));
  lua.lua_settable(L, -3);
  if (returnDuplicateHeaders) {
    const byName = new Map<string, string[]>();
    for (let i = 0; i < headers.size; i++) {
      const name = headers.nameAt(i);
      const values = byName.get(name);
      if (values === undefined) byName.set(name, [headers.valueAt(i)]);
      else values.push(headers.valueAt(i));
    }
    for (const [name, values] of byName) {
      lua.lua_pushstring(L, latin1Encode(name));
      if (values.length === 1) lua.lua_pushstring(L, latin1Encode(values[0]!));
      else {
        lua.lua_createtable(L, values.length, 0);
        values.forEach((value, i) => {
          lua.lua_pushstring(L, latin1Encode(value));
          lua.lua_rawseti(L, -2, i + 1);
        });
      }
      lua.lua_settable(L, -3);
    }
  } else {
    for (let i = 0; i < headers.size; i++) {
      lua.lua_pushstring(L, latin1Encode(headers.nameAt(i)));
      lua.lua_pushstring(L, latin1Encode(headers.valueAt(i)));
      lua.lua_settable(L, -3);
    }
  }
  if (response.body.byteLength > 0) lua.lua_pushstring(L, response.body);
  else lua.lua_pushnil(L);
}
