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
import type { RouteMatch } from "./route-table.ts";

/** The header operations needed, by lowercase name (HeaderMap implements them). */
export interface MutableHeaders {
  get(name: string): string | undefined;
  add(name: string, value: string): void;
  /** Replace every field of `name` with one. */
  set(name: string, value: string): void;
  remove(name: string): void;
}

export function applyRequestHeaderMutations(headers: MutableHeaders, match: RouteMatch, routeConfig: RouteConfiguration): void {
  applyLevels(headers, match, routeConfig, requestRemovals, requestAdditions);
}

export function applyResponseHeaderMutations(headers: MutableHeaders, match: RouteMatch, routeConfig: RouteConfiguration): void {
  applyLevels(headers, match, routeConfig, responseRemovals, responseAdditions);
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
): void {
  const reversed = routeConfig.mostSpecificHeaderMutationsWins;
  const first: HeaderMutations = reversed ? routeConfig : match.route;
  const last: HeaderMutations = reversed ? match.route : routeConfig;
  apply(headers, remove(first), add(first));
  apply(headers, remove(match.virtualHost), add(match.virtualHost));
  apply(headers, remove(last), add(last));
}

/** One level's removals then additions (also the HTTP health checker's request_headers_to_add/_remove). */
export function applyHeaderValueOptions(headers: MutableHeaders, remove: readonly string[], add: readonly HeaderValueOption[]): void {
  apply(headers, remove, add);
}

function apply(headers: MutableHeaders, remove: readonly string[], add: readonly HeaderValueOption[]): void {
  // Most levels have nothing to do: nothing to allocate either.
  if (remove.length === 0 && add.length === 0) return;
  for (const name of remove) headers.remove(name);
  const overwrites: HeaderValueOption[] = [];
  const appends: HeaderValueOption[] = [];
  for (const option of add) {
    // Envoy drops an entry whose value is empty, unless keep_empty_value.
    if (option.value === "" && !option.keepEmptyValue) continue;
    const present = headers.get(option.key) !== undefined;
    switch (option.appendAction) {
      case "APPEND_IF_EXISTS_OR_ADD":
        appends.push(option);
        break;
      case "ADD_IF_ABSENT":
        if (!present) appends.push(option);
        break;
      case "OVERWRITE_IF_EXISTS":
        if (present) overwrites.push(option);
        break;
      case "OVERWRITE_IF_EXISTS_OR_ADD":
        overwrites.push(option);
        break;
    }
  }
  for (const option of overwrites) headers.set(option.key, option.value);
  for (const option of appends) headers.add(option.key, option.value);
}
