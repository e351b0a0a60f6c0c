/**
 * Envoy's custom request/response headers (request_headers_to_add/_remove and
 * response_headers_to_add/_remove) at the route, virtual host and route_config levels.
 *
 * Order (source/common/router/config_impl.cc, getHeaderParsers): levels are applied
 * route first, then virtual host, then route_config, and "later evaluated header parser
 * wins", so by default the route_config level overrides the route level.
 * most_specific_header_mutations_wins reverses the order. Within a level
 * (source/common/router/header_parser.cc, evaluateHeaders): removals first, then
 * overwrites, then appends, each decided against the headers as the level found them.
 */
import type { HeaderMutations, HeaderValueOption, RouteConfiguration } from "../../config/bootstrap.ts";
import type { AccessLogContext } from "../../access-log/context.ts";
import { parseFormat, renderOmittingEmpty, type FormatPart } from "../../access-log/format.ts";
import type { ResponseHeaders } from "../message.ts";
import type { RouteMatch } from "./route-table.ts";


const UNSAFE_VALUE = /[\0\r\n]/;
/** The header operations needed, by lowercase name (HeaderMap implements them). */
export interface MutableHeaders {
  get(name: string): string | undefined;
  add(name: string, value: string): void;
  /** Replace every field of `name` with one. */
  set(name: string, value: string): void;
  remove(name: string): void;
}

/**
 * Where a value with %COMMAND% operators gets the stream's data: the stream (its
 * StreamInfo, request, connection), asked only when such a value is met.
 */
export interface HeaderFormatterSource {
  /** The stream as the access-log formatter sees it, with `response` as its response headers. */
  headerFormatterContext(response: ResponseHeaders | undefined): AccessLogContext;
}

export function applyRequestHeaderMutations(headers: MutableHeaders, match: RouteMatch, routeConfig: RouteConfiguration, source: HeaderFormatterSource): void {
  applyLevels(headers, match, routeConfig, requestRemovals, requestAdditions, source, undefined);
}

/** `response`: the response the headers are added to, for %RESP(…)% and the like (none for a local reply still being made). */
export function applyResponseHeaderMutations(
  headers: MutableHeaders,
  match: RouteMatch,
  routeConfig: RouteConfiguration,
  source: HeaderFormatterSource,
  response: ResponseHeaders | undefined,
): void {
  applyLevels(headers, match, routeConfig, responseRemovals, responseAdditions, source, response);
}

const requestRemovals = (level: HeaderMutations) => level.requestHeadersToRemove;
const requestAdditions = (level: HeaderMutations) => level.requestHeadersToAdd;
const responseRemovals = (level: HeaderMutations) => level.responseHeadersToRemove;
const responseAdditions = (level: HeaderMutations) => level.responseHeadersToAdd;

/**
 * Envoy's order: route, then virtual host, then route configuration, so the least
 * specific level's values win; most_specific_header_mutations_wins reverses it.
 * (No array of levels: this runs twice per request.)
 */
function applyLevels(
  headers: MutableHeaders,
  match: RouteMatch,
  routeConfig: RouteConfiguration,
  remove: (level: HeaderMutations) => string[],
  add: (level: HeaderMutations) => HeaderValueOption[],
  source: HeaderFormatterSource,
  response: ResponseHeaders | undefined,
): void {
  const reversed = routeConfig.mostSpecificHeaderMutationsWins;
  const first: HeaderMutations = reversed ? routeConfig : match.route;
  const last: HeaderMutations = reversed ? match.route : routeConfig;
  apply(headers, remove(first), add(first), source, response);
  apply(headers, remove(match.virtualHost), add(match.virtualHost), source, response);
  apply(headers, remove(last), add(last), source, response);
}

/** Compiled header value formats, by option (the config holds their text: it is plain data). */
const FORMATS = new WeakMap<HeaderValueOption, readonly FormatPart[]>();

function formatOf(option: HeaderValueOption): readonly FormatPart[] {
  let parts = FORMATS.get(option);
  if (parts === undefined) {
    // Validated at load (custom-headers-schema.ts).
    parts = parseFormat(option.value);
    FORMATS.set(option, parts);
  }
  return parts;
}

/**
 * The level's decisions, made against the headers as it found them, before any is
 * carried out: [key, value, key, value, …] for overwrites, then appends. Module-level and
 * reused: apply() runs synchronously and never re-enters.
 */
const OVERWRITES: string[] = [];
const APPENDS: string[] = [];

/**
 * One list of removals and additions outside a route: Envoy's HeaderParser on one level
 * (local_reply_config's mappers, the HTTP health checker's request headers).
 */
export function applyHeaderValueOptions(
  headers: MutableHeaders,
  remove: readonly string[],
  add: readonly HeaderValueOption[],
  source: HeaderFormatterSource,
  response: ResponseHeaders | undefined,
): void {
  apply(headers, remove, add, source, response);
}

function apply(headers: MutableHeaders, remove: readonly string[], add: readonly HeaderValueOption[], source: HeaderFormatterSource, response: ResponseHeaders | undefined): void {
  // Most levels have nothing to do.
  if (remove.length === 0 && add.length === 0) return;
  for (const name of remove) headers.remove(name);
  const overwrites = OVERWRITES;
  const appends = APPENDS;
  overwrites.length = appends.length = 0;
  let context: AccessLogContext | undefined;
  for (const option of add) {
    let value = option.value;
    if (option.formatted) {
      value = renderOmittingEmpty(formatOf(option), (context ??= source.headerFormatterContext(response)));
      // A command's output can carry what no header may (a JWT claim or a request header
      // through %DYNAMIC_METADATA(…)%/%REQ(…)% decoded from elsewhere): NUL, CR or LF would
      // end the field, or the message, early — such a value is dropped, not sent.
      if (UNSAFE_VALUE.test(value)) continue;
    }
    // Envoy drops an entry whose value is empty (a command that had nothing to say included), unless keep_empty_value.
    if (value === "" && !option.keepEmptyValue) continue;
    const present = headers.get(option.key) !== undefined;
    switch (option.appendAction) {
      case "APPEND_IF_EXISTS_OR_ADD":
        appends.push(option.key, value);
        break;
      case "ADD_IF_ABSENT":
        if (!present) appends.push(option.key, value);
        break;
      case "OVERWRITE_IF_EXISTS":
        if (present) overwrites.push(option.key, value);
        break;
      case "OVERWRITE_IF_EXISTS_OR_ADD":
        overwrites.push(option.key, value);
        break;
    }
  }
  for (let i = 0; i < overwrites.length; i += 2) headers.set(overwrites[i]!, overwrites[i + 1]!);
  for (let i = 0; i < appends.length; i += 2) headers.add(appends[i]!, appends[i + 1]!);
  overwrites.length = appends.length = 0;
}
