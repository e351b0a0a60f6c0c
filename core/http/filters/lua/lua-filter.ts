/// <reference path="./fengari.d.ts" />
/**
 * Envoy's Lua HTTP filter (source/extensions/filters/http/lua/lua_filter.cc, wrappers.cc):
 * envoy_on_request runs on the request, envoy_on_response on the response, each as a
 * coroutine given a stream handle. A call that needs what has not arrived (body(),
 * a body chunk, trailers()) yields; the filter stops the stream and resumes the script
 * when it is there. respond() answers the request from the script. A script error is
 * logged ("script log: ..."), counted (`http.<stat_prefix>.lua.errors`) and the stream
 * goes on without the script.
 */
import type { LuaState } from "fengari";
import type { LuaConfig, LuaPerRouteConfig, LuaSource } from "../../../config/bootstrap.ts";
import type { ServerContext } from "../../../server-context.ts";
import type { Counter } from "../../../stats/counter.ts";
import type { ComponentLogger } from "../../../log.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
} from "../../filter.ts";
import type { HeaderMap } from "../../header-map.ts";
import type { StreamInfo } from "../../stream-info.ts";
import type { TlsSession } from "../../../port.ts";
import { RequestHeaders, ResponseHeaders } from "../../message.ts";
import type { BodyBuffer } from "../../body-buffer.ts";
import { EMPTY_BYTES } from "../../../util/bytes.ts";
import { latin1Decode, latin1Encode } from "../../../util/latin1.ts";
import { formatAddress } from "../../../network/address.ts";
import { encodeBase64 } from "../../../util/base64.ts";
import { filterStatsScope, type HttpFilterChainContext } from "../http-filter-registry.ts";
import { LuaCode, LuaScriptError, byteString, lauxlib, lua, popMessage, to_luastring } from "./lua-code.ts";
import { pushLuaObject, type LuaMethods } from "./lua-objects.ts";
import { headerValues, setPseudo } from "./lua-headers.ts";
import { luaPackagePath, readByteString, resolveModules } from "./lua-sources.ts";
import { AsyncClient, type AsyncRequest, type AsyncRequestCallbacks, type AsyncResponse } from "../../async-client.ts";
import { localAddress } from "../../conn-manager/proxy-headers.ts";
import { addAsyncClientHeaders, httpCallOptions, httpCallRequestHeaders, pushHttpCallResponse, upstreamFailureResponse } from "./lua-http-call.ts";
import { sanitizeStatsPrefix } from "../../../stats/sanitize-stats-name.ts";

/** The name Envoy's FilterConfig gives the default code (GLOBAL_SCRIPT_NAME). */
const GLOBAL_SCRIPT_NAME = "GLOBAL";

/** Envoy's LuaFilterStats. */
class LuaFilterStats {
  readonly errors: Counter;
  constructor(server: ServerContext, prefix: string) {
    this.errors = server.stats.counter(`${prefix}errors`);
  }
}

/** What the filter's streams share (Envoy's FilterConfig): the codes, each in its VM, and the stats. */
export class LuaFilterConfig {
  readonly defaultCode: LuaCode | undefined;
  readonly codes = new Map<string, LuaCode>();
  readonly stats: LuaFilterStats;
  readonly log: ComponentLogger;
  /** The filter runs in an upstream chain (a cluster's http_filters, the router's upstream_http_filters). */
  readonly isUpstream: boolean;
  /** httpCall()'s client, made at the first call. */
  private client: AsyncClient | undefined;

  constructor(
    readonly config: LuaConfig,
    readonly server: ServerContext,
    chain: HttpFilterChainContext,
    sources: ReadonlyMap<LuaSource, string>,
    modules: Awaited<ReturnType<typeof resolveModules>>,
  ) {
    this.log = server.log.component("lua");
    this.isUpstream = chain.upstream === true;
    const make = (source: LuaSource, name: string) => new LuaCode(sources.get(source)!, chunkName(source, name), modules, server, (line) => this.log.info(`script print: ${line}`));
    if (config.defaultSource !== undefined) this.defaultCode = make(config.defaultSource, GLOBAL_SCRIPT_NAME);
    for (const [name, source] of config.sourceCodes) this.codes.set(name, make(source, name));
    // Envoy (lua_filter.cc generateStats): `<hcm prefix>lua.<stat_prefix>`; upstream, the chain's
    // scope's (`cluster.<name>.lua.…`: the UpstreamLuaFilterConfig gets its owner's stats_prefix, envoyproxy/envoy#45987).
    // Made once the codes compiled: Envoy makes them first, but a rejected cluster's or listener's
    // scope dies with it and takes them along; polyvoy's store keeps what it made, so a code that
    // does not compile must leave no `lua.errors` behind.
    this.stats = new LuaFilterStats(server, sanitizeStatsPrefix(`${filterStatsScope(chain)}lua.${config.statPrefix === "" ? "" : `${config.statPrefix}.`}`));
  }

  get asyncClient(): AsyncClient {
    return (this.client ??= new AsyncClient(this.server));
  }
}

/** As Envoy's luaL_dostring names an inline code: by its text (Lua shows `[string "first line..."]`). */
function chunkName(source: LuaSource, _name: string): string {
  return "filename" in source ? `@${source.filename}` : source.code;
}

const CONFIGS = new WeakMap<LuaConfig, Promise<LuaFilterConfig> | LuaFilterConfig>();

/**
 * At listener build (the factory's `resolve`): read the codes' files and the modules they
 * require, then make the VMs and run each code's top level (a load error fails the build, as
 * Envoy's "script load error" fails the config).
 */
export function resolveLuaFilterConfig(config: LuaConfig, server: ServerContext, chain: HttpFilterChainContext): Promise<void> {
  let made = CONFIGS.get(config);
  if (made === undefined) {
    made = (async () => {
      const sources = new Map<LuaSource, string>();
      const all = [...(config.defaultSource !== undefined ? [config.defaultSource] : []), ...config.sourceCodes.values()];
      for (const source of all) sources.set(source, "filename" in source ? await readByteString(server, source.filename) : source.code);
      const modules = await resolveModules([...sources.values()], server);
      const filterConfig = new LuaFilterConfig(config, server, chain, sources, modules);
      CONFIGS.set(config, filterConfig);
      return filterConfig;
    })();
    made.catch(() => CONFIGS.delete(config));
    CONFIGS.set(config, made);
  }
  return Promise.resolve(made).then(() => {});
}

/** A route's own code (LuaPerRoute.source_code), made with its route table (the factory's preparePerRoute). */
const ROUTE_CODES = new WeakMap<LuaPerRouteConfig, LuaCode>();

/**
 * Envoy's FilterConfigPerRoute: the route's code in a VM of its own, its top level run now (a
 * load error fails the route table's build). Nothing is read from files here: its require()
 * finds package.loaded and package.preload only.
 */
export function prepareLuaPerRoute(config: LuaPerRouteConfig, server: ServerContext): void {
  if (config.sourceCode === undefined || ROUTE_CODES.has(config)) return;
  const log = server.log.component("lua");
  const noModules = { path: luaPackagePath(server), modules: new Map(), missing: new Map() };
  ROUTE_CODES.set(config, new LuaCode(config.sourceCode, config.sourceCode, noModules, server, (line) => log.info(`script print: ${line}`)));
}

export function luaFilterConfig(config: LuaConfig): LuaFilterConfig {
  const made = CONFIGS.get(config);
  if (made === undefined || made instanceof Promise) throw new Error("internal error: the Lua filter's config was not resolved before its listener was built");
  return made;
}

// ---- the stream handle ------------------------------------------------------------------

const enum State {
  Running,
  WaitForBody,
  WaitForBodyChunk,
  WaitForTrailers,
  /** Waiting for the response of a synchronous httpCall(). */
  HttpCall,
  Responded,
}

/** An asynchronous httpCall()'s callbacks: fire and forget (Envoy's NoopCallbacks). */
const NOOP_CALLBACKS: AsyncRequestCallbacks = { onSuccess() {}, onFailure() {} };

/** The bytes a body wrapper shows: the buffered body, or one chunk. */
interface BodyView {
  bytes(): Uint8Array;
  set(bytes: Uint8Array): void;
}

/** One direction's script run (Envoy's StreamHandleWrapper). */
class StreamHandle implements AsyncRequestCallbacks {
  state = State.Running;
  private sawBody = false;
  private bufferedBody = false;
  headersContinued = false;
  private finished = false;
  private readonly thread: LuaState;
  private readonly threadRef: number;
  trailers: HeaderMap | undefined;
  /** The synchronous httpCall() in flight, cancelled if the stream ends first (Envoy's onReset). */
  private httpRequest: AsyncRequest | undefined;
  private returnDuplicateHeaders = false;
  /** The async client answered within send() (Envoy's "immediate failure case"). */
  private immediateResponse: AsyncResponse | undefined;
  /** respond()'s reply, sent once the coroutine yielded. */
  private reply: { headers: ResponseHeaders; body: Uint8Array | undefined } | undefined;

  constructor(
    readonly filter: LuaFilter,
    readonly code: LuaCode,
    private readonly functionRef: number,
    readonly headers: RequestHeaders | ResponseHeaders,
    private endStream: boolean,
    readonly decoding: boolean,
  ) {
    const L = code.L;
    this.thread = lua.lua_newthread(L);
    this.threadRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
  }

  /** The stream is over (or its script failed): wrappers handed out for it no longer work. */
  dead = false;

  destroy(): void {
    this.dead = true;
    this.httpRequest?.cancel();
    this.httpRequest = undefined;
    lauxlib.luaL_unref(this.code.L, lua.LUA_REGISTRYINDEX, this.threadRef);
  }

  start(): FilterHeadersStatus {
    const L = this.thread;
    lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, this.functionRef);
    pushObject(this, L, "handle", this);
    this.resume(1);
    const stop = this.state === State.WaitForBody || this.state === State.HttpCall || this.state === State.Responded;
    if (!stop) this.headersContinued = true;
    return stop ? FilterHeadersStatus.StopIteration : FilterHeadersStatus.Continue;
  }

  onData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    this.endStream = endStream;
    this.sawBody = true;
    if (this.state === State.WaitForBodyChunk) {
      const chunk = { data };
      const L = this.thread;
      pushObject(this, L, "buffer", {
        bytes: () => chunk.data,
        set: (bytes: Uint8Array) => {
          chunk.data = bytes;
          this.filter.replaceData(this.decoding, bytes);
        },
      } satisfies BodyView);
      this.state = State.Running;
      this.resume(1);
    } else if (this.state === State.WaitForBody && endStream) {
      this.filter.addData(this.decoding, data);
      if (this.filter.overBufferLimit(this.decoding)) return FilterDataStatus.StopIterationNoBuffer;
      this.state = State.Running;
      this.resume(this.pushBody(this.thread, false));
    } else if (this.state === State.WaitForTrailers && endStream) {
      this.state = State.Running;
      this.resume(0);
    }
    if (this.state === State.WaitForBody || this.state === State.HttpCall) return FilterDataStatus.StopIterationAndBuffer;
    if (this.state === State.Responded) return FilterDataStatus.StopIterationNoBuffer;
    this.headersContinued = true;
    return FilterDataStatus.Continue;
  }

  onTrailers(trailers: HeaderMap): FilterTrailersStatus {
    this.endStream = true;
    this.trailers = trailers;
    if (this.state === State.WaitForBodyChunk) {
      this.state = State.Running;
      this.resume(0);
    } else if (this.state === State.WaitForBody) {
      this.state = State.Running;
      this.resume(this.pushBody(this.thread, false));
    }
    if (this.state === State.WaitForTrailers) {
      this.state = State.Running;
      this.resume(this.pushTrailers(this.thread));
    }
    if (this.state === State.HttpCall || this.state === State.Responded) return FilterTrailersStatus.StopIteration;
    this.headersContinued = true;
    return FilterTrailersStatus.Continue;
  }

  /** Resume the coroutine with `nargs` values on its stack; a Lua error throws LuaScriptError. */
  private resume(nargs: number): void {
    if (this.finished) return;
    const L = this.thread;
    this.code.startRun();
    const status = lua.lua_resume(L, null, nargs);
    if (status === lua.LUA_OK) {
      this.finished = true;
      lua.lua_settop(L, 0);
    } else if (status === lua.LUA_YIELD) {
      lua.lua_settop(L, 0);
      if (this.state === State.Running) throw new LuaScriptError("script performed an unexpected yield");
    } else {
      this.finished = true;
      throw new LuaScriptError(popMessage(L));
    }
    if (this.reply !== undefined) {
      const reply = this.reply;
      this.reply = undefined;
      this.filter.sendReply(reply.headers, reply.body);
    }
  }

  // ---- the handle's methods (Lua calls them with the handle at index 1) ----

  luaHeaders(L: LuaState): number {
    pushObject(this, L, "headers", new HeadersView(this, this.headers, true));
    return 1;
  }

  luaBody(L: LuaState): number {
    let alwaysWrap = false;
    if (lua.lua_gettop(L) >= 2) {
      lauxlib.luaL_checktype(L, 2, lua.LUA_TBOOLEAN);
      alwaysWrap = lua.lua_toboolean(L, 2);
    }
    if (this.endStream) {
      if (!this.bufferedBody && this.sawBody) return lauxlib.luaL_error(L, "cannot call body() after body has been streamed");
      return this.pushBody(L, alwaysWrap);
    }
    if (this.sawBody) return lauxlib.luaL_error(L, "cannot call body() after body streaming has started");
    if (L !== this.thread) return nestedYield(L, "body()");
    this.state = State.WaitForBody;
    this.bufferedBody = true;
    return lua.lua_yield(L, 0);
  }

  luaBodyChunks(L: LuaState): number {
    if (this.sawBody) return lauxlib.luaL_error(L, "cannot call bodyChunks after body processing has begun");
    lua.lua_pushjsfunction(L, (L) => {
      if (this.endStream) return 0;
      if (L !== this.thread) return nestedYield(L, "bodyChunks()");
      this.state = State.WaitForBodyChunk;
      return lua.lua_yield(L, 0);
    });
    return 1;
  }

  luaTrailers(L: LuaState): number {
    if (this.trailers !== undefined) return this.pushTrailers(L);
    if (this.endStream) return 0;
    if (L !== this.thread) return nestedYield(L, "trailers()");
    this.state = State.WaitForTrailers;
    return lua.lua_yield(L, 0);
  }

  luaRespond(L: LuaState): number {
    if (!this.decoding) return lauxlib.luaL_error(L, "respond not currently supported in the response path");
    if (L !== this.thread) return nestedYield(L, "respond()");
    if (this.headersContinued) return lauxlib.luaL_error(L, "respond() cannot be called if headers have been continued");
    lauxlib.luaL_checktype(L, 2, lua.LUA_TTABLE);
    const rawBody = lauxlib.luaL_optlstring(L, 3, null);
    const fields = headersFromTable(L, 2);
    const status = fields.find(([name]) => name === ":status")?.[1];
    const code = status !== undefined && /^[0-9]+$/.test(status) ? Number(status) : NaN;
    if (!(code >= 200 && code < 600)) return lauxlib.luaL_error(L, ":status must be between 200-599");
    const headers = new ResponseHeaders(code);
    for (const [name, value] of fields) {
      if (name === ":status") continue;
      if (name.startsWith(":")) return lauxlib.luaL_error(L, "invalid pseudo-header '%s' in respond()", latin1Encode(name));
      headers.add(name, value);
    }
    if (rawBody !== null) headers.set("content-length", String(rawBody.length));
    this.reply = { headers, body: rawBody === null ? undefined : rawBody.slice() };
    this.state = State.Responded;
    return lua.lua_yield(L, 0);
  }

  /** Envoy's luaHttpCall → doHttpCall → makeHttpCall, in that order of checks. */
  luaHttpCall(L: LuaState): number {
    const options = httpCallOptions(L);
    const cluster = byteString(lauxlib.luaL_checkstring(L, 2));
    lauxlib.luaL_checktype(L, 3, lua.LUA_TTABLE);
    const body = lauxlib.luaL_optlstring(L, 4, null);
    const config = this.filter.config;
    if (config.server.clusterManager.get(cluster) === undefined) return lauxlib.luaL_error(L, "http call cluster invalid. Must be configured");
    const headers = httpCallRequestHeaders(L, headersFromTable(L, 3));
    addAsyncClientHeaders(headers, options.sendXff, localAddress(config.server.runtime));
    const bytes = body === null ? undefined : body.slice();
    const sendOptions = { timeoutMs: options.timeoutMs };
    if (options.asynchronous) {
      config.asyncClient.send(cluster, headers, bytes, NOOP_CALLBACKS, sendOptions);
      return 0;
    }
    if (L !== this.thread) return nestedYield(L, "httpCall()");
    this.immediateResponse = undefined;
    const request = config.asyncClient.send(cluster, headers, bytes, this, sendOptions);
    if (request === undefined) {
      // Answered within send(): the results go back to the script at once.
      pushHttpCallResponse(L, this.immediateResponse ?? upstreamFailureResponse(), options.returnDuplicateHeaders);
      this.immediateResponse = undefined;
      return 2;
    }
    this.httpRequest = request;
    this.returnDuplicateHeaders = options.returnDuplicateHeaders;
    this.state = State.HttpCall;
    return lua.lua_yield(L, 0);
  }

  onSuccess(_request: AsyncRequest, response: AsyncResponse): void {
    this.onHttpCallResponse(response);
  }

  /** Envoy's onFailure (a reset after the response began, a body over the limit): a 503 "upstream failure". */
  onFailure(): void {
    this.onHttpCallResponse(upstreamFailureResponse());
  }

  private onHttpCallResponse(response: AsyncResponse): void {
    this.httpRequest = undefined;
    // The stream ended (reset, local reply) while the call was out: nothing to resume.
    if (this.dead) return;
    if (this.state !== State.HttpCall) {
      this.immediateResponse = response;
      return;
    }
    this.state = State.Running;
    pushHttpCallResponse(this.thread, response, this.returnDuplicateHeaders);
    this.filter.resumeAfterHttpCall(this, () => this.resume(2));
  }

  /** Envoy's onSuccess after the resume: a script that ran to its end (or failed) lets the stream go on. */
  continuesAfterHttpCall(): boolean {
    if (this.state !== State.Running) return false;
    this.headersContinued = true;
    return true;
  }

  luaMetadata(L: LuaState): number {
    pushObject(this, L, "metadata", this.filter.routeMetadata());
    return 1;
  }

  luaStreamInfo(L: LuaState): number {
    pushObject(this, L, "streamInfo", this.filter);
    return 1;
  }

  luaLog(L: LuaState, level: "trace" | "debug" | "info" | "warn" | "error" | "critical"): number {
    const message = byteString(lauxlib.luaL_checkstring(L, 2));
    this.filter.scriptLog(level, message);
    return 0;
  }

  /** The buffered body as a wrapper (1), or nothing (0) when there is none and `alwaysWrap` is false. */
  private pushBody(L: LuaState, alwaysWrap: boolean): number {
    let buffer = this.filter.bufferedBody(this.decoding);
    if (buffer === undefined) {
      if (!alwaysWrap) return 0;
      this.filter.addData(this.decoding, EMPTY_BYTES, true);
      buffer = this.filter.bufferedBody(this.decoding);
    }
    const body: BodyBuffer | undefined = buffer;
    const headers = this.headers;
    pushObject(this, L, "buffer", {
      bytes: () => body?.toBytes() ?? EMPTY_BYTES,
      set: (bytes: Uint8Array) => {
        body?.replace(bytes);
        // Envoy's BufferWrapper::luaSetBytes: the length follows the new body.
        headers.set("content-length", String(bytes.length));
      },
    } satisfies BodyView);
    return 1;
  }

  private pushTrailers(L: LuaState): number {
    pushObject(this, L, "headers", new HeadersView(this, this.trailers!, false));
    return 1;
  }
}

/** Header maps as the script sees them (Envoy's HeaderMapWrapper): the head's with its pseudo-headers. */
class HeadersView {
  constructor(
    private readonly handle: StreamHandle,
    readonly map: HeaderMap,
    private readonly isHead: boolean,
  ) {}

  /** Envoy's checkModifiable: a head the stream already passed on is read-only. */
  checkModifiable(L: LuaState): void {
    if (this.isHead && this.handle.headersContinued) lauxlib.luaL_error(L, "header map can no longer be modified");
  }

  modified(): void {
    if (this.isHead) this.handle.filter.headersModified(this.handle.decoding);
  }

  get(name: string): string[] {
    return headerValues(this.map, name, this.isHead);
  }

  /** Every field, pseudo-headers first, as Envoy's map iterates. */
  entries(): [string, string][] {
    const entries: [string, string][] = [];
    const map = this.map;
    if (this.isHead) {
      if (map instanceof RequestHeaders) {
        entries.push([":authority", map.authority], [":path", map.path], [":method", map.method], [":scheme", map.scheme]);
      } else if (map instanceof ResponseHeaders) entries.push([":status", String(map.status)]);
    }
    for (let i = 0; i < map.size; i++) entries.push([map.nameAt(i), map.valueAt(i)]);
    return entries;
  }

  set(L: LuaState, name: string, value: string, add: boolean): void {
    const map = this.map;
    if (name.startsWith(":")) {
      if (!this.isHead || !setPseudo(map, name, value)) lauxlib.luaL_error(L, "invalid header name '%s'", latin1Encode(name));
      return;
    }
    if (add) map.add(name, value);
    else map.set(name, value);
  }

  remove(L: LuaState, name: string): void {
    if (name.startsWith(":")) {
      lauxlib.luaL_error(L, "cannot remove pseudo-header '%s'", latin1Encode(name));
      return;
    }
    this.map.remove(name);
  }
}

// RFC 9110 §5.1 token characters, and a field value without CR, LF or NUL (RFC 9110 §5.5).
const HEADER_NAME = /^:?[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const HEADER_VALUE = /^[^\r\n\0]*$/;
/** RFC 9112 §4: reason-phrase = *( HTAB / SP / VCHAR / obs-text ), over the phrase's bytes. */
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

function checkHeaderName(L: LuaState, arg: number): string {
  const name = byteString(lauxlib.luaL_checkstring(L, arg)).toLowerCase();
  if (!HEADER_NAME.test(name)) lauxlib.luaL_error(L, "invalid header name '%s'", latin1Encode(name));
  return name;
}

function checkHeaderValue(L: LuaState, arg: number): string {
  const value = byteString(lauxlib.luaL_checkstring(L, arg));
  if (!HEADER_VALUE.test(value)) lauxlib.luaL_error(L, "invalid header value for '%s'", lua.lua_tostring(L, 2));
  return value;
}

/** A table of name → value or name → {values} (Envoy's buildHeadersFromTable). */
function headersFromTable(L: LuaState, index: number): [string, string][] {
  const fields: [string, string][] = [];
  lua.lua_pushnil(L);
  while (lua.lua_next(L, index) !== 0) {
    const top = lua.lua_gettop(L);
    const name = checkHeaderName(L, top - 1);
    if (lua.lua_type(L, top) === lua.LUA_TTABLE) {
      // In list order, as LuaJIT's lua_next walks a table's array part (fengari's may not).
      const values: [unknown, string][] = [];
      lua.lua_pushnil(L);
      while (lua.lua_next(L, top) !== 0) {
        const key = lua.lua_type(L, -2) === lua.LUA_TNUMBER ? lua.lua_tonumber(L, -2) : undefined;
        values.push([key, checkHeaderValue(L, lua.lua_gettop(L))]);
        lua.lua_pop(L, 1);
      }
      values.sort(([a], [b]) => (typeof a === "number" && typeof b === "number" ? a - b : 0));
      for (const [, value] of values) fields.push([name, value]);
    } else fields.push([name, checkHeaderValue(L, top)]);
    lua.lua_pop(L, 1);
  }
  return fields;
}

// ---- wrappers as Lua values -------------------------------------------------------------

/** The methods of each wrapper kind, Lua name → function of (L, the wrapped object, its stream's handle). */
type Methods<T> = LuaMethods<T, StreamHandle>;

/**
 * What Envoy's stream handle offers that polyvoy does not: each raises a Lua error naming
 * itself, not "attempt to call a nil value" (docs/configuration.md#lua lists them).
 */
const NOT_IMPLEMENTED = [
  "dynamicMetadata", "connectionStreamInfo", "importPublicKey", "verifySignature",
  "filterContext", "route", "upstreamHost", "virtualHost", "setUpstreamOverrideHost",
];

const HANDLE_METHODS: Methods<StreamHandle> = {
  headers: (L, h) => h.luaHeaders(L),
  body: (L, h) => h.luaBody(L),
  bodyChunks: (L, h) => h.luaBodyChunks(L),
  trailers: (L, h) => h.luaTrailers(L),
  respond: (L, h) => h.luaRespond(L),
  httpCall: (L, h) => h.luaHttpCall(L),
  connection(L, h) {
    pushObject(h, L, "connection", h.filter);
    return 1;
  },
  streamInfo: (L, h) => h.luaStreamInfo(L),
  metadata: (L, h) => h.luaMetadata(L),
  base64Escape(L) {
    lua.lua_pushliteral(L, encodeBase64(lauxlib.luaL_checklstring(L, 2)));
    return 1;
  },
  // Envoy's timestampString(): the whole milliseconds (default, MILLISECOND) or microseconds since the epoch, as a string.
  timestampString(L, h) {
    const unit = lauxlib.luaL_optlstring(L, 2, null);
    const resolution = unit === null ? "" : byteString(unit);
    const now = h.filter.wallClock();
    if (resolution === "" || resolution === "0") lua.lua_pushliteral(L, String(Math.floor(now)));
    else if (resolution === "1") lua.lua_pushliteral(L, String(Math.floor(now * 1000)));
    else return lauxlib.luaL_error(L, "timestamp format must be MILLISECOND or MICROSECOND.");
    return 1;
  },
  // Envoy's luaClearRouteCache: the route is matched again when next asked for. On the
  // response it is a no-op (lua_filter.cc's EncoderCallbacks::clearRouteCache): the route
  // that chose the upstream stays the stream's.
  clearRouteCache(_L, h) {
    if (h.decoding) h.filter.decoderCallbacks.clearRouteCache();
    return 0;
  },
  // Envoy's timestamp(): milliseconds since the epoch, from the port's clock; its one format
  // is EnvoyTimestampResolution.MILLISECOND (0, Timestamp::Resolution::Millisecond).
  timestamp(L, h) {
    if (!lua.lua_isnoneornil(L, 2) && byteString(lauxlib.luaL_checkstring(L, 2)) !== "0") return lauxlib.luaL_error(L, "timestamp format must be MILLISECOND.");
    // A float, as Envoy pushes it: fengari's integers are 32 bits.
    lua.lua_pushnumber(L, Math.floor(h.filter.wallClock()));
    return 1;
  },
  logTrace: (L, h) => h.luaLog(L, "trace"),
  logDebug: (L, h) => h.luaLog(L, "debug"),
  logInfo: (L, h) => h.luaLog(L, "info"),
  logWarn: (L, h) => h.luaLog(L, "warn"),
  logErr: (L, h) => h.luaLog(L, "error"),
  logCritical: (L, h) => h.luaLog(L, "critical"),
};
for (const name of NOT_IMPLEMENTED) HANDLE_METHODS[name] = (L) => lauxlib.luaL_error(L, "%s() is not implemented by polyvoy's Lua filter", name);

const HEADERS_METHODS: Methods<HeadersView> = {
  get(L, h) {
    const values = h.get(checkHeaderName(L, 2));
    if (values.length === 0) return 0;
    // Envoy's getAllOfHeaderAsString: repeated fields joined with ",".
    lua.lua_pushstring(L, latin1Encode(values.join(",")));
    return 1;
  },
  getAtIndex(L, h) {
    const values = h.get(checkHeaderName(L, 2));
    const i = lauxlib.luaL_checkinteger(L, 3);
    if (i < 0 || i >= values.length) return 0;
    lua.lua_pushstring(L, latin1Encode(values[i]!));
    return 1;
  },
  getNumValues(L, h) {
    lua.lua_pushinteger(L, h.get(checkHeaderName(L, 2)).length);
    return 1;
  },
  add(L, h) {
    h.checkModifiable(L);
    h.set(L, checkHeaderName(L, 2), checkHeaderValue(L, 3), true);
    h.modified();
    return 0;
  },
  replace(L, h) {
    h.checkModifiable(L);
    h.set(L, checkHeaderName(L, 2), checkHeaderValue(L, 3), false);
    h.modified();
    return 0;
  },
  remove(L, h) {
    h.checkModifiable(L);
    h.remove(L, checkHeaderName(L, 2));
    h.modified();
    return 0;
  },
  // Envoy's luaSetHttp1ReasonPhrase: response heads only (a request's or trailers' take nothing).
  setHttp1ReasonPhrase(L, h) {
    h.checkModifiable(L);
    const phrase = byteString(lauxlib.luaL_checklstring(L, 2));
    // Written into the status line as it is: only RFC 9112 §4's reason-phrase characters
    // (HTAB, SP, VCHAR, obs-text), so no CR/LF and no control bytes reach the client.
    if (!REASON_PHRASE.test(phrase)) return lauxlib.luaL_error(L, "invalid reason phrase");
    if (h.map instanceof ResponseHeaders) h.map.reasonPhrase = phrase;
    return 0;
  },
  // pairs(headers): a snapshot of the fields, as Envoy's iterator walks the map.
  __pairs(L, h) {
    const entries = h.entries();
    let i = 0;
    lua.lua_pushjsfunction(L, (L) => {
      const entry = entries[i++];
      if (entry === undefined) return 0;
      lua.lua_pushstring(L, latin1Encode(entry[0]));
      lua.lua_pushstring(L, latin1Encode(entry[1]));
      return 2;
    });
    return 1;
  },
};

const BUFFER_METHODS: Methods<BodyView> = {
  length(L, b) {
    lua.lua_pushinteger(L, b.bytes().length);
    return 1;
  },
  getBytes(L, b) {
    const bytes = b.bytes();
    const index = lauxlib.luaL_checkinteger(L, 2);
    const length = lauxlib.luaL_checkinteger(L, 3);
    if (index < 0 || length < 0) return lauxlib.luaL_error(L, "index/length must be >= 0");
    if (index + length > bytes.length) return lauxlib.luaL_error(L, "index/length must be <= buffer size");
    lua.lua_pushstring(L, bytes.slice(index, index + length));
    return 1;
  },
  setBytes(L, b) {
    b.set(lauxlib.luaL_checklstring(L, 2).slice());
    return 0;
  },
};

/** Route metadata (Envoy's MetadataMapWrapper): get(key) and pairs(), values as Lua values. */
const METADATA_METHODS: Methods<Record<string, unknown>> = {
  get(L, m) {
    const key = byteString(lauxlib.luaL_checkstring(L, 2));
    if (!Object.hasOwn(m, key)) return 0;
    pushJson(L, m[key]);
    return 1;
  },
  __pairs(L, m) {
    const entries = Object.entries(m);
    let i = 0;
    lua.lua_pushjsfunction(L, (L) => {
      const entry = entries[i++];
      if (entry === undefined) return 0;
      lua.lua_pushliteral(L, entry[0]);
      pushJson(L, entry[1]);
      return 2;
    });
    return 1;
  },
};

/** A metadata value (protobuf Struct as JSON) as a Lua value: tables for lists (from 1) and structs. */
function pushJson(L: LuaState, value: unknown): void {
  if (value === null || value === undefined) lua.lua_pushnil(L);
  else if (typeof value === "string") lua.lua_pushliteral(L, value);
  // A whole number as an integer where fengari's 32 bits hold it: tostring() then shows "5", as
  // LuaJIT's does for Envoy's doubles, not Lua 5.3's "5.0".
  else if (typeof value === "number") Number.isInteger(value) && Math.abs(value) < 2 ** 31 ? lua.lua_pushinteger(L, value) : lua.lua_pushnumber(L, value);
  else if (typeof value === "boolean") lua.lua_pushboolean(L, value);
  else if (Array.isArray(value)) {
    lauxlib.luaL_checkstack(L, 3, null);
    lua.lua_createtable(L, value.length, 0);
    value.forEach((item, i) => {
      pushJson(L, item);
      lua.lua_rawseti(L, -2, i + 1);
    });
  } else {
    lauxlib.luaL_checkstack(L, 3, null);
    lua.lua_newtable(L);
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      pushJson(L, item);
      lua.lua_setfield(L, -2, to_luastring(key));
    }
  }
}

const STREAM_INFO_METHODS: Methods<LuaFilter> = {
  routeName(L, f) {
    lua.lua_pushliteral(L, f.routeName() ?? "");
    return 1;
  },
  requestedServerName(L, f) {
    lua.lua_pushliteral(L, f.decoderCallbacks.downstreamTls?.serverName ?? "");
    return 1;
  },
  protocol(L, f) {
    lua.lua_pushliteral(L, f.protocol());
    return 1;
  },
  downstreamDirectRemoteAddress(L, f) {
    const address = f.decoderCallbacks.downstreamRemoteAddress;
    if (address === undefined) return 0;
    lua.lua_pushliteral(L, formatAddress(address));
    return 1;
  },
  downstreamLocalAddress(L, f) {
    const address = f.decoderCallbacks.downstreamLocalAddress;
    if (address === undefined) return 0;
    lua.lua_pushliteral(L, formatAddress(address));
    return 1;
  },
  // Envoy's remoteAddress(): the client x-forwarded-for named (trusted hops), with port 0
  // as Envoy's getLastAddressFromXFF makes it, else the connection's peer.
  downstreamRemoteAddress(L, f) {
    const fromXff = f.decoderCallbacks.streamInfo.downstreamRemoteIp;
    if (fromXff !== "") {
      lua.lua_pushliteral(L, formatAddress({ address: fromXff, port: 0, family: fromXff.includes(":") ? 6 : 4 }));
      return 1;
    }
    const address = f.decoderCallbacks.downstreamRemoteAddress;
    if (address === undefined) return 0;
    lua.lua_pushliteral(L, formatAddress(address));
    return 1;
  },
  dynamicMetadata(L, f, scope) {
    pushObject(scope, L, "dynamicMetadata", f.decoderCallbacks.streamInfo);
    return 1;
  },
  downstreamSslConnection: (L, f, scope) => pushSsl(L, f, scope),
};
for (const name of ["filterState"]) {
  STREAM_INFO_METHODS[name] = (L) => lauxlib.luaL_error(L, "streamInfo():%s() is not implemented by polyvoy's Lua filter", name);
}

/** The downstream TLS session as Envoy's SslConnectionWrapper, or nil over plain TCP. */
function pushSsl(L: LuaState, f: LuaFilter, scope: StreamHandle): number {
  const tls = f.decoderCallbacks.downstreamTls;
  if (tls === undefined) lua.lua_pushnil(L);
  else pushObject(scope, L, "ssl", tls);
  return 1;
}

/** handle:connection() (Envoy's ConnectionWrapper): ssl() only. */
const CONNECTION_METHODS: Methods<LuaFilter> = {
  ssl: (L, f, scope) => pushSsl(L, f, scope),
};

function pushStringList(L: LuaState, values: readonly string[]): number {
  lua.lua_createtable(L, values.length, 0);
  values.forEach((value, i) => {
    lua.lua_pushliteral(L, value);
    lua.lua_rawseti(L, -2, i + 1);
  });
  return 1;
}

const peerSans = (tls: TlsSession, type: "URI" | "DNS") => (tls.peerCertificate?.subjectAltNames ?? []).filter((san) => san.type === type).map((san) => san.value);

/** Envoy's SslConnectionWrapper, for what polyvoy's TLS session tells. */
const SSL_METHODS: Methods<TlsSession> = {
  peerCertificatePresented(L, tls) {
    lua.lua_pushboolean(L, tls.peerCertificate !== undefined);
    return 1;
  },
  uriSanPeerCertificate: (L, tls) => pushStringList(L, peerSans(tls, "URI")),
  dnsSansPeerCertificate: (L, tls) => pushStringList(L, peerSans(tls, "DNS")),
  sha256PeerCertificateDigest(L, tls) {
    lua.lua_pushliteral(L, tls.peerCertificate?.sha256 ?? "");
    return 1;
  },
  subjectPeerCertificate(L, tls) {
    lua.lua_pushliteral(L, tls.peerCertificate?.subject ?? "");
    return 1;
  },
  tlsVersion(L, tls) {
    lua.lua_pushliteral(L, tls.version);
    return 1;
  },
  ciphersuiteString(L, tls) {
    lua.lua_pushliteral(L, tls.cipher);
    return 1;
  },
};
for (const name of [
  "peerCertificateValidated", "uriSanLocalCertificate", "serialNumberPeerCertificate", "issuerPeerCertificate", "parsedSubjectPeerCertificate",
  "subjectLocalCertificate", "urlEncodedPemEncodedPeerCertificate", "urlEncodedPemEncodedPeerCertificateChain", "dnsSansLocalCertificate",
  "oidsPeerCertificate", "oidsLocalCertificate", "validFromPeerCertificate", "expirationPeerCertificate", "sessionId", "ciphersuiteId",
]) {
  SSL_METHODS[name] = (L) => lauxlib.luaL_error(L, "ssl():%s() is not implemented by polyvoy's Lua filter", name);
}

/** streamInfo():dynamicMetadata() (Envoy's DynamicMetadataMapWrapper): get(filterName), set(filterName, key, value), pairs(). */
const DYNAMIC_METADATA_METHODS: Methods<StreamInfo> = {
  get(L, info) {
    const fields = info.dynamicMetadata?.[byteString(lauxlib.luaL_checkstring(L, 2))];
    if (fields === undefined) return 0;
    pushJson(L, fields);
    return 1;
  },
  set(L, info) {
    const namespace = byteString(lauxlib.luaL_checkstring(L, 2));
    const key = lua.lua_tojsstring(L, (lauxlib.luaL_checkstring(L, 3), 3));
    lua.lua_settop(L, 4);
    if (ITERATING.has(info)) return lauxlib.luaL_error(L, "dynamic metadata map cannot be modified while iterating");
    // Envoy's setDynamicMetadata merges: the key replaces its old value, the others stay.
    info.setDynamicMetadata(namespace, { [key]: loadValue(L, 0, { values: 0 }) });
    return 0;
  },
  __pairs(L, info) {
    const entries = Object.entries(info.dynamicMetadata ?? {});
    let i = 0;
    ITERATING.add(info);
    lua.lua_pushjsfunction(L, (L) => {
      const entry = entries[i++];
      if (entry === undefined) {
        ITERATING.delete(info);
        return 0;
      }
      lua.lua_pushliteral(L, entry[0]);
      pushJson(L, entry[1]);
      return 2;
    });
    return 1;
  },
};

/**
 * Stream infos whose dynamic metadata a pairs() loop walks: set() is refused until it ends,
 * as Envoy's DynamicMetadataMapWrapper::luaSet ("cannot be modified while iterating").
 */
const ITERATING = new WeakSet<StreamInfo>();

/** Tables nested deeper than this in a dynamic metadata value are refused (a table holding itself would not end). */
const MAX_METADATA_DEPTH = 64;

/**
 * The values one set() may create: a table shared by many keys is copied at each, so a
 * few lines of Lua (t = {a = t, b = t}, twenty times) would otherwise build millions.
 */
const MAX_METADATA_VALUES = 10_000;

interface LoadBudget {
  values: number;
}

/** Envoy's MetadataMapHelper::loadValue: the Lua value on top of the stack as a protobuf Value (JSON). */
function loadValue(L: LuaState, depth: number, budget: LoadBudget): unknown {
  if (++budget.values > MAX_METADATA_VALUES) return lauxlib.luaL_error(L, "dynamicMetadata: a value of more than %d values", MAX_METADATA_VALUES);
  const type = lua.lua_type(L, -1);
  switch (type) {
    case lua.LUA_TNIL:
      return null;
    case lua.LUA_TNUMBER:
      return lua.lua_tonumber(L, -1);
    case lua.LUA_TBOOLEAN:
      return lua.lua_toboolean(L, -1);
    case lua.LUA_TSTRING:
      return lua.lua_tojsstring(L, -1);
    case lua.LUA_TTABLE:
      if (depth >= MAX_METADATA_DEPTH) return lauxlib.luaL_error(L, "dynamicMetadata: tables nested deeper than %d", MAX_METADATA_DEPTH);
      return loadTable(L, depth + 1, budget);
  }
  return lauxlib.luaL_error(L, "unexpected type '%s' in dynamicMetadata", lua.lua_typename(L, type));
}

/**
 * A table whose keys are all whole numbers from 1, dense enough (the largest at most twice
 * their count: the holes become nulls), is a list; else a struct of string keys, where a
 * number key is Envoy's "only string keys" error.
 */
function loadTable(L: LuaState, depth: number, budget: LoadBudget): unknown {
  // Each level holds a key and a value on the stack: a JavaScript function must make room itself.
  lauxlib.luaL_checkstack(L, 4, null);
  let max = 0;
  let count = 0;
  let list = true;
  lua.lua_pushnil(L);
  while (lua.lua_next(L, -2) !== 0) {
    const k = lua.lua_type(L, -2) === lua.LUA_TNUMBER ? lua.lua_tonumber(L, -2) : NaN;
    lua.lua_pop(L, 1);
    if (!(Number.isInteger(k) && k >= 1)) {
      list = false;
      lua.lua_pop(L, 1);
      break;
    }
    max = Math.max(max, k);
    count++;
  }
  if (list && max > 0 && max <= 2 * count) {
    const values: unknown[] = [];
    for (let i = 1; i <= max; i++) {
      lua.lua_rawgeti(L, -1, i);
      values.push(loadValue(L, depth, budget));
      lua.lua_pop(L, 1);
    }
    return values;
  }
  const fields: Record<string, unknown> = {};
  lua.lua_pushnil(L);
  while (lua.lua_next(L, -2) !== 0) {
    const keyType = lua.lua_type(L, -2);
    if (keyType !== lua.LUA_TSTRING) lauxlib.luaL_error(L, "unexpected type %s in table key (only string keys are supported)", lua.lua_typename(L, keyType));
    fields[lua.lua_tojsstring(L, -2)] = loadValue(L, depth, budget);
    lua.lua_pop(L, 1);
  }
  return fields;
}

const KINDS: Record<string, Methods<never>> = {
  connection: CONNECTION_METHODS as Methods<never>,
  ssl: SSL_METHODS as Methods<never>,
  dynamicMetadata: DYNAMIC_METADATA_METHODS as Methods<never>,
  handle: HANDLE_METHODS as Methods<never>,
  headers: HEADERS_METHODS as Methods<never>,
  buffer: BUFFER_METHODS as Methods<never>,
  streamInfo: STREAM_INFO_METHODS as Methods<never>,
  metadata: METADATA_METHODS as Methods<never>,
};

/** Push a wrapper of one of the filter's kinds (lua-objects.ts). */
function pushObject(scope: StreamHandle, L: LuaState, kind: string, object: unknown): void {
  pushLuaObject(scope, L, kind, KINDS[kind]!, object as never);
}

// ---- the filter -------------------------------------------------------------------------

/** Envoy's lua_filter.cc Filter: a dual filter, envoy_on_request on the way in, envoy_on_response on the way out. */
export class LuaFilter implements StreamFilter {
  decoderCallbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private encoderCallbacks: EncoderFilterCallbacks | undefined;
  private request: StreamHandle | undefined;
  private response: StreamHandle | undefined;

  constructor(
    readonly config: LuaFilterConfig,
    /** Its name in http_filters: the route metadata's namespace it reads first (metadata()). */
    private readonly name: string,
  ) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoderCallbacks = callbacks;
  }

  setEncoderFilterCallbacks(callbacks: EncoderFilterCallbacks): void {
    this.encoderCallbacks = callbacks;
  }

  /** The code this stream runs (Envoy's Filter::getPerLuaCodeSetup): the route's choice, else the default. */
  private code(): LuaCode | undefined {
    const perRoute = this.decoderCallbacks.mostSpecificPerFilterConfig<LuaPerRouteConfig>();
    if (perRoute === undefined) return this.config.defaultCode;
    if (perRoute.disabled) return undefined;
    if (perRoute.sourceCode !== undefined) return ROUTE_CODES.get(perRoute) ?? this.lateRouteCode(perRoute);
    return perRoute.name !== undefined ? this.config.codes.get(perRoute.name) : undefined;
  }

  /**
   * A route's source_code under a name none of the HCM's filters has — an upstream Lua
   * filter's (a cluster's http_filters, the router's upstream_http_filters) — was not made
   * with the route table: made at its first use instead (Envoy makes every LuaPerRoute with
   * the route table, whichever chain reads it). A load error is then this stream's script
   * error (logged, counted), and the stream goes on without a script.
   */
  private lateRouteCode(perRoute: LuaPerRouteConfig): LuaCode | undefined {
    try {
      prepareLuaPerRoute(perRoute, this.config.server);
      return ROUTE_CODES.get(perRoute);
    } catch (err) {
      this.config.log.error(`script log: ${err instanceof Error ? err.message : String(err)}`);
      this.config.stats.errors.inc();
      return undefined;
    }
  }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    const code = this.code();
    if (code?.requestRef === undefined) return FilterHeadersStatus.Continue;
    const handle = (this.request = new StreamHandle(this, code, code.requestRef, headers, endStream, true));
    return this.guard(FilterHeadersStatus.Continue, () => handle.start());
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    const handle = this.request;
    if (handle === undefined) return FilterDataStatus.Continue;
    return this.guard(FilterDataStatus.Continue, () => handle.onData(data, endStream));
  }

  decodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    const handle = this.request;
    if (handle === undefined) return FilterTrailersStatus.Continue;
    return this.guard(FilterTrailersStatus.Continue, () => handle.onTrailers(trailers));
  }

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus {
    const code = this.code();
    if (code?.responseRef === undefined) return FilterHeadersStatus.Continue;
    const handle = (this.response = new StreamHandle(this, code, code.responseRef, headers, endStream, false));
    return this.guard(FilterHeadersStatus.Continue, () => handle.start());
  }

  encodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    const handle = this.response;
    if (handle === undefined) return FilterDataStatus.Continue;
    return this.guard(FilterDataStatus.Continue, () => handle.onData(data, endStream));
  }

  encodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    const handle = this.response;
    if (handle === undefined) return FilterTrailersStatus.Continue;
    return this.guard(FilterTrailersStatus.Continue, () => handle.onTrailers(trailers));
  }

  onDestroy(): void {
    this.request?.destroy();
    this.response?.destroy();
    this.request = this.response = undefined;
  }

  /** Run a step of a script; a script error gives `fallback` (the stream goes on, Envoy's scriptError). */
  private guard<S>(fallback: S, step: () => S): S {
    try {
      return step();
    } catch (e) {
      if (!(e instanceof LuaScriptError)) throw e;
      this.scriptError(e.message);
      return fallback;
    }
  }

  /** Envoy's Filter::scriptError: counted, logged, and both directions' scripts dropped. */
  private scriptError(message: string): void {
    this.config.stats.errors.inc();
    this.scriptLog("error", message);
    this.onDestroy();
  }

  /** A synchronous httpCall's response resumed the script (Envoy's onSuccess): the stream goes on unless the script waits again. */
  resumeAfterHttpCall(handle: StreamHandle, resume: () => void): void {
    this.guard(undefined, resume);
    if (!handle.continuesAfterHttpCall()) return;
    if (handle.decoding) this.decoderCallbacks.continueDecoding();
    else this.encoderCallbacks?.continueEncoding();
  }

  scriptLog(level: "trace" | "debug" | "info" | "warn" | "error" | "critical", message: string): void {
    const log = this.config.log;
    const line = `script log: ${message}`;
    if (level === "critical") log.error(line);
    else log[level](line);
  }

  // ---- what the handles ask of the stream ----

  headersModified(decoding: boolean): void {
    // Envoy (clear_route_cache): request header changes may change the route.
    if (decoding && this.config.config.clearRouteCache) this.decoderCallbacks.clearRouteCache();
  }

  addData(decoding: boolean, data: Uint8Array, force = false): void {
    if (decoding) {
      this.decoderCallbacks.addDecodedData(data, false);
      if (!force) this.decoderCallbacks.replaceDecodedData(EMPTY_BYTES);
    } else {
      this.encoderCallbacks!.addEncodedData(data, false);
      if (!force) this.encoderCallbacks!.replaceEncodedData(EMPTY_BYTES);
    }
  }

  replaceData(decoding: boolean, data: Uint8Array): void {
    if (decoding) this.decoderCallbacks.replaceDecodedData(data);
    else this.encoderCallbacks!.replaceEncodedData(data);
  }

  bufferedBody(decoding: boolean): BodyBuffer | undefined {
    return decoding ? this.decoderCallbacks.decodingBuffer() : this.encoderCallbacks!.encodingBuffer();
  }

  /** The last chunk took the buffer over the stream's limit: the filter manager answered (413 / 500). */
  overBufferLimit(decoding: boolean): boolean {
    const limit = this.decoderCallbacks.decoderBufferLimit;
    return limit > 0 && (this.bufferedBody(decoding)?.length ?? 0) > limit;
  }

  /** respond(): Envoy's DecoderCallbacks::respond, response code details lua_response. */
  sendReply(headers: ResponseHeaders, body: Uint8Array | undefined): void {
    const callbacks = this.decoderCallbacks;
    if (this.config.isUpstream) {
      // Envoy's DecoderCallbacks::respond is sendLocalReply (lua_filter.cc, since
      // envoyproxy/envoy#21310); upstream that is UpstreamRequestFilterManagerCallbacks::
      // sendLocalReply, the downstream stream's local reply (AsyncStreamImpl's for an async
      // request): never the upstream's answer — no retry, no upstream_rq_<code>, no host or
      // outlier-detection charge. The script's headers are added to the reply's (modify_headers).
      const extra = headers.entries().filter(([name]) => name !== ":status");
      const text = body === undefined ? "" : latin1Decode(body, 0, body.byteLength);
      callbacks.sendLocalReply(headers.status, text, "lua_response", undefined, extra);
      return;
    }
    callbacks.streamInfo.responseCodeDetails = "lua_response";
    callbacks.encodeHeaders(headers, body === undefined);
    if (body !== undefined && this.request !== undefined) callbacks.encodeData(body, true);
  }

  /** The route's metadata for this filter: under its name, else envoy.filters.http.lua (Envoy's getMetadata). */
  routeMetadata(): Record<string, unknown> {
    const metadata = this.decoderCallbacks.route?.route.metadata;
    return metadata?.[this.name] ?? metadata?.["envoy.filters.http.lua"] ?? {};
  }

  /** StreamInfoWrapper::luaRouteName: the stream info's route name, as last set; it does not route a cleared cache again. */
  routeName(): string | undefined {
    return this.decoderCallbacks.streamInfo.routeName || undefined;
  }

  wallClock(): number {
    return this.config.server.runtime.wallClock();
  }

  protocol(): string {
    // Envoy's Http::Utility::getProtocolString.
    const protocol = this.decoderCallbacks.requestHeaders.protocol;
    return protocol === "HTTP/2.0" ? "HTTP/2" : protocol;
  }
}

export { LuaScriptError };

/**
 * A call that waits on the stream yields the coroutine that made it; from a script's own
 * coroutine (coroutine.wrap) that would suspend the wrong one — the filter's would run on
 * believing it waited, and the inner one resume later on a stream that may be gone.
 * lua_filter.cc only ever resumes its own coroutine (Filters::Common::Lua::Coroutine);
 * refused here with a Lua error the script can pcall.
 */
function nestedYield(L: LuaState, what: string): number {
  return lauxlib.luaL_error(L, `${what} cannot be called from a nested coroutine`);
}
