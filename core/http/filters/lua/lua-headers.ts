/**
 * Header maps as Lua scripts read them (Envoy's HeaderMapWrapper, whose map holds a head's
 * pseudo-headers as fields): the Lua filter's headers() (lua-filter.ts) and the Lua cluster
 * specifier's route_handle:headers() (core/http/route/lua-cluster-specifier.ts).
 */
import type { HeaderMap } from "../../header-map.ts";
import { RequestHeaders, ResponseHeaders } from "../../message.ts";

/**
 * The values of `name` (lowercase) in `map`, in order: a head's pseudo-header has its one
 * value; trailers have no pseudo-headers.
 */
export function headerValues(map: HeaderMap, name: string, isHead: boolean): string[] {
  if (isHead && name.startsWith(":")) {
    const value = pseudo(map, name);
    return value === undefined ? [] : [value];
  }
  const values: string[] = [];
  for (let i = 0; i < map.size; i++) if (map.nameAt(i) === name) values.push(map.valueAt(i));
  return values;
}

/** A head's pseudo-header, undefined when the head has no such one. */
function pseudo(map: HeaderMap, name: string): string | undefined {
  if (map instanceof RequestHeaders) {
    switch (name) {
      case ":method": return map.method;
      case ":path": return map.path;
      case ":authority": return map.authority;
      case ":scheme": return map.scheme;
    }
  } else if (map instanceof ResponseHeaders && name === ":status") return String(map.status);
  return undefined;
}

/** Set a head's pseudo-header; false when the head has no such one (or :status is not a status). */
export function setPseudo(map: HeaderMap, name: string, value: string): boolean {
  if (map instanceof RequestHeaders) {
    switch (name) {
      case ":method": map.method = value; return true;
      case ":path": map.path = value; return true;
      case ":authority": map.authority = value; return true;
      case ":scheme": map.scheme = value; return true;
    }
  } else if (map instanceof ResponseHeaders && name === ":status" && /^[1-9][0-9]{2}$/.test(value)) {
    map.status = Number(value);
    return true;
  }
  return false;
}
