import { parseIp } from "../network/cidr-range.ts";

/**
 * An authority's host and port (Envoy's Http::Utility::parseAuthority, source/common/http/utility.cc):
 * `name:port`, `[v6]:port`, or no port. `host` is the authority's text without the port
 * (the cache key's part); `hostToResolve` drops the brackets only when what they hold is
 * an IP address — `[internal.corp]` is resolved as written (and fails), never as
 * `internal.corp`, so a bracketed name cannot slip past a virtual host or RBAC rule on
 * the name. Anything after `]` other than `:port` stays part of the host.
 */
export function parseAuthority(authority: string): { host: string; port: number | undefined; hostToResolve: string; isIpAddress: boolean } {
  const { host, port } = splitPort(authority);
  const inside = host.length >= 2 && host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const isIpAddress = parseIp(inside) !== undefined;
  return { host, port, hostToResolve: isIpAddress ? inside : host, isIpAddress };
}

function splitPort(authority: string): { host: string; port: number | undefined } {
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    const rest = close > 0 ? authority.slice(close + 1) : "";
    const port = /^:[0-9]{1,5}$/.test(rest) ? Number(rest.slice(1)) : undefined;
    if (port === undefined || port > 65535) return { host: authority, port: undefined };
    return { host: authority.slice(0, close + 1), port };
  }
  const colon = authority.lastIndexOf(":");
  // A bare IPv6 literal has several colons: no port in it.
  if (colon < 0 || authority.indexOf(":") !== colon) return { host: authority, port: undefined };
  const text = authority.slice(colon + 1);
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : undefined;
  if (port === undefined || port > 65535) return { host: authority, port: undefined };
  return { host: authority.slice(0, colon), port };
}
