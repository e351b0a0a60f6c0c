import type { HashPolicyConfig } from "../config/bootstrap.ts";
import { compileRegex, type CompiledRegex } from "../config/regex.ts";
import type { SocketAddress } from "../port.ts";
import { byteStringBytes, xxHash64, xxHash64Text } from "../util/hash.ts";
import type { RequestHeaders } from "./message.ts";
import type { HeaderMap } from "./header-map.ts";

/** Who makes the cookie a cookie hash policy with a ttl asks for (the router: Set-Cookie on the response). */
export interface HashCookieSink {
  /** Record the Set-Cookie and return the cookie's value. */
  addDownstreamSetCookie(name: string, path: string, ttlSeconds: number, attributes: readonly { name: string; value: string }[]): string;
}

const MASK64 = 0xffff_ffff_ffff_ffffn;

/** Compiled regex_rewrite patterns (validated at config load). */
const rewrites = new Map<string, CompiledRegex>();

function rewrite(value: string, spec: { pattern: string; substitution: string }): string {
  let regex = rewrites.get(spec.pattern);
  if (!regex) {
    const result = compileRegex(spec.pattern);
    if (!result.ok) return value;
    regex = result.regex;
    rewrites.set(spec.pattern, regex);
  }
  return regex.replaceAll(value, spec.substitution);
}

/**
 * Envoy's Utility::parseCookieValue: the first `name=value` among the Cookie headers'
 * `;`-separated pairs (leading spaces skipped), surrounding double quotes removed; "" if absent.
 */
export function parseCookieValue(headers: HeaderMap, name: string): string {
  const n = headers.size;
  for (let i = 0; i < n; i++) {
    if (headers.nameAt(i) !== "cookie") continue;
    for (const pair of headers.valueAt(i).split(";")) {
      const equals = pair.indexOf("=");
      if (equals < 0) continue;
      let start = 0;
      while (start < pair.length && pair[start] === " ") start++;
      if (pair.slice(start, equals) !== name) continue;
      let value = pair.slice(equals + 1);
      if (value.length >= 2 && value[0] === '"' && value[value.length - 1] === '"') value = value.slice(1, -1);
      return value;
    }
  }
  return "";
}

/** Envoy's QueryParamsMulti::parseQueryString(...).getFirstValue(name): not percent-decoded. */
function firstQueryValue(path: string, name: string): string | undefined {
  const q = path.indexOf("?");
  if (q < 0) return undefined;
  let start = q + 1;
  while (start < path.length) {
    let end = path.indexOf("&", start);
    if (end < 0) end = path.length;
    const param = path.slice(start, end);
    const equals = param.indexOf("=");
    if ((equals < 0 ? param : param.slice(0, equals)) === name) return equals < 0 ? "" : param.slice(equals + 1);
    start = end + 1;
  }
  return undefined;
}

function evaluate(policy: HashPolicyConfig, headers: RequestHeaders, remote: SocketAddress | undefined, cookies: HashCookieSink): bigint | undefined {
  switch (policy.type) {
    case "header": {
      // Every value of the header, sorted (so order does not matter), hashed in a chain
      // (Envoy's HashUtil::xxHash64 over a span: each value seeds the next).
      let values: string[] | undefined;
      const n = headers.size;
      for (let i = 0; i < n; i++) if (headers.nameAt(i) === policy.headerName) (values ??= []).push(headers.valueAt(i));
      if (values === undefined) {
        // Pseudo-headers live beside the fields (:authority, :path, :method).
        const pseudo = policy.headerName.startsWith(":") ? headers.header(policy.headerName) : undefined;
        if (pseudo === undefined) return undefined;
        values = [pseudo];
      }
      if (policy.regexRewrite) values = values.map((v) => rewrite(v, policy.regexRewrite!));
      values.sort();
      let hash = 0n;
      for (const value of values) hash = xxHash64(byteStringBytes(value), hash);
      return hash;
    }
    case "cookie": {
      const value = parseCookieValue(headers, policy.name);
      if (value !== "") return xxHash64Text(value);
      if (policy.ttlSeconds === undefined) return undefined;
      return xxHash64Text(cookies.addDownstreamSetCookie(policy.name, policy.path, policy.ttlSeconds, policy.attributes));
    }
    case "source_ip":
      // A Unix socket peer has no IP: no hash (Envoy's SourceIpHashMethod: ip() is null).
      return remote && remote.family !== "unix" ? xxHash64Text(remote.address) : undefined;
    case "query_parameter": {
      const value = firstQueryValue(headers.path, policy.name);
      return value === undefined ? undefined : xxHash64Text(value);
    }
  }
}

/**
 * Envoy's HashPolicyImpl::generateHash (source/common/http/hash_policy.cc): each policy's
 * hash is combined into the result by rotating the result left one bit and xoring, so
 * duplicate rules do not cancel out; a terminal policy that produced a hash ends it.
 */
export function generateHash(policies: readonly HashPolicyConfig[], headers: RequestHeaders, remote: SocketAddress | undefined, cookies: HashCookieSink): bigint | undefined {
  let hash: bigint | undefined;
  for (const policy of policies) {
    const next = evaluate(policy, headers, remote, cookies);
    if (next !== undefined) {
      const old = hash === undefined ? 0n : ((hash << 1n) | (hash >> 63n)) & MASK64;
      hash = old ^ next;
    }
    if (policy.terminal && hash !== undefined) break;
  }
  return hash;
}

/** Envoy's Http::Utility::makeSetCookieValue: `name="value"; Max-Age=…; Path=…; attributes; HttpOnly`. */
export function makeSetCookieValue(name: string, value: string, path: string, maxAgeSeconds: number, attributes: readonly { name: string; value: string }[]): string {
  let cookie = `${name}="${value}"`;
  if (maxAgeSeconds !== 0) cookie += `; Max-Age=${maxAgeSeconds}`;
  if (path !== "") cookie += `; Path=${path}`;
  for (const attribute of attributes) cookie += attribute.value === "" ? `; ${attribute.name}` : `; ${attribute.name}=${attribute.value}`;
  return `${cookie}; HttpOnly`;
}
