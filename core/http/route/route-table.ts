/**
 * The route table of one HTTP connection manager: pure matching, no I/O. Built once per
 * listener from the validated route_config; `route()` runs per request.
 * Envoy's order: pick the virtual host by authority (virtual-host-selector.ts), then the
 * first of its routes, in config order, whose every condition matches.
 */
import { isGrpcContentType } from "../grpc-common.ts";
import type { FractionalPercent, RouteConfig, RouteConfiguration, RouteMatchConfig, VirtualHostConfig } from "../../config/bootstrap.ts";
import type { RuntimeSnapshot } from "../../runtime/runtime-loader.ts";
import { compileRegex } from "../../config/regex.ts";
import {
  compileHeaderMatcher,
  compileQueryParameterMatcher,
  parseQueryParameters,
  type HeaderSource,
  type QueryParameters,
} from "./header-matcher.ts";
import { VirtualHostSelector } from "./virtual-host-selector.ts";
import { compileMetadataMatcher, type MetadataByNamespace } from "./metadata-matcher.ts";

/**
 * What routing needs from a request. `header()` takes lowercase names and must answer
 * the pseudo-headers ":method", ":path", ":authority" and ":scheme" too; for a name given
 * several times it returns the values joined by "," (Envoy matches them as one value).
 */
export interface RouteRequest extends HeaderSource {
  /** The :authority (HTTP/1 Host), as received. */
  authority: string;
  /** The :path, query string included. */
  path: string;
  method: string;
}

/** The route chosen for a request, with its virtual host (for header mutations, logs and stats). */
export interface RouteMatch {
  readonly virtualHost: VirtualHostConfig;
  readonly route: RouteConfig;
}

/** Where runtime_fraction draws and reads its runtime_key (the server's layered runtime). */
export type RandomSource = Pick<RuntimeSnapshot, "random" | "fraction">;

/** One request as the matchers see it; the lowercased path, the query and the random draw are computed on demand. */
class MatchInput {
  private lowered: string | undefined;
  private parsed: QueryParameters | undefined;
  private drawn: number | undefined;

  /** The path without query string or fragment: Envoy matches prefix, path and safe_regex against it. */
  readonly path: string;

  constructor(
    readonly request: RouteRequest,
    private readonly randomSource: RandomSource | undefined,
    /** The stream's dynamic metadata, for dynamic_metadata matchers. */
    readonly dynamicMetadata: MetadataByNamespace,
  ) {
    // A CONNECT has no path to match (Envoy's HTTP/1 codec sets none; its authority-form
    // target is the Host): only connect_matcher, or an empty prefix, matches it.
    const path = request.method === "CONNECT" ? "" : request.path;
    this.path = path.slice(0, pathEnd(path));
  }

  /**
   * The request's one random draw, in [0, 1): Envoy draws once per stream and every
   * runtime_fraction route is decided by that same value, so routes with fractions of
   * 10% and 20% split requests 10/10/80, not independently.
   */
  get draw(): number {
    return (this.drawn ??= this.randomSource!.random());
  }

  /** Envoy's featureEnabled(runtime_key, default_value, random): random % denominator < numerator, over the runtime's fraction. */
  fractionEnabled(fraction: FractionalPercent): boolean {
    const f = this.randomSource!.fraction(fraction);
    return Math.floor(this.draw * f.denominator) < f.numerator;
  }

  get lowerPath(): string {
    return (this.lowered ??= this.path.toLowerCase());
  }

  get query(): QueryParameters {
    return (this.parsed ??= parseQueryParameters(this.request.path));
  }
}

/** Where the path part ends: at "?" or "#" (a loop: a regex literal is a new RegExp object per call). */
function pathEnd(path: string): number {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 63 || c === 35) return i;
  }
  return path.length;
}

type Predicate = (input: MatchInput) => boolean;

/**
 * Envoy's PathSeparatedPrefixRouteEntryImpl::matches (config_impl.cc): the path without its
 * query and fragment is the prefix, or starts with it and "/" follows (/api matches /api and
 * /api/x, not /apix).
 */
export function pathSeparatedPrefixMatches(path: string, prefix: string): boolean {
  return path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 0x2f);
}

/** prefix / path / safe_regex / connect_matcher. case_sensitive: false applies to prefix and path only (Envoy ignores it for regexes). */
function compilePathMatch(match: RouteMatchConfig): Predicate {
  // Envoy's ConnectRouteEntryImpl: CONNECT requests, whatever their authority.
  if (match.connect) return (input) => input.request.method === "CONNECT";
  if (match.safeRegex !== undefined) {
    const compiled = compileRegex(match.safeRegex);
    if (!compiled.ok) throw new Error(compiled.error); // the config loader already refused it
    const regex = compiled.regex;
    return (input) => regex.fullMatch(input.path);
  }
  const caseSensitive = match.caseSensitive;
  if (match.path !== undefined) {
    const path = caseSensitive ? match.path : match.path.toLowerCase();
    return caseSensitive ? (input) => input.path === path : (input) => input.lowerPath === path;
  }
  if (match.pathSeparatedPrefix !== undefined) {
    const p = caseSensitive ? match.pathSeparatedPrefix : match.pathSeparatedPrefix.toLowerCase();
    return caseSensitive ? (input) => pathSeparatedPrefixMatches(input.path, p) : (input) => pathSeparatedPrefixMatches(input.lowerPath, p);
  }
  const prefix = caseSensitive ? (match.prefix ?? "") : (match.prefix ?? "").toLowerCase();
  return caseSensitive ? (input) => input.path.startsWith(prefix) : (input) => input.lowerPath.startsWith(prefix);
}

/**
 * Every condition of a route: the path, then all header matchers, then all query
 * parameter matchers, then grpc and runtime_fraction (Envoy's RouteEntryImplBase::matchRoute
 * ANDs them all; the order only saves work).
 */
function compileRoute(match: RouteMatchConfig): Predicate {
  const path = compilePathMatch(match);
  const headers = match.headers.map(compileHeaderMatcher);
  const query = match.queryParameters.map(compileQueryParameterMatcher);
  const grpc = match.grpc === true;
  const fraction = match.runtimeFraction;
  const metadata = (match.dynamicMetadata ?? []).map(compileMetadataMatcher);
  // Plain loops: this runs per request, and a callback per call would be garbage per request.
  return (input) => {
    if (!path(input)) return false;
    for (let i = 0; i < headers.length; i++) if (!headers[i]!(input.request)) return false;
    for (let i = 0; i < query.length; i++) if (!query[i]!(input.query)) return false;
    if (grpc && !isGrpcRequest(input.request)) return false;
    if (fraction !== undefined && !input.fractionEnabled(fraction)) return false;
    for (let i = 0; i < metadata.length; i++) if (!metadata[i]!(input.dynamicMetadata)) return false;
    return true;
  };
}

/**
 * A RouteMatch outside the route table, as Envoy's jwt_authn rules use one (matcher.cc):
 * the path specifier, case_sensitive, headers and query_parameters. Its config must have no
 * runtime_fraction (there is no random source here) nor dynamic_metadata (no stream metadata).
 */
export function compileRequestMatch(match: RouteMatchConfig): (request: RouteRequest) => boolean {
  if (match.runtimeFraction !== undefined || (match.dynamicMetadata?.length ?? 0) > 0) throw new Error("compileRequestMatch: runtime_fraction and dynamic_metadata need the route table");
  const matches = compileRoute(match);
  return (request) => matches(new MatchInput(request, undefined, undefined));
}

/** Envoy's Grpc::Common::isGrpcRequestHeaders, on what the route table reads: a gRPC content-type. */
export function isGrpcRequest(request: HeaderSource): boolean {
  return isGrpcContentType(request.header("content-type"));
}

/**
 * A route whose cluster specifier plugin is Envoy's NullClusterSpecifierPlugin (an
 * is_optional plugin of an unknown type): its clusterEntry() is null, which
 * VirtualHostImpl::getRouteFromEntries takes as no match, going on to the next route.
 */
function usesNullPlugin(route: RouteConfig): boolean {
  return route.action.type === "route" && route.action.route.clusterSpecifierPlugin?.type === "null";
}

const NEVER: Predicate = () => false;

/** A compiled route: its conditions, and the match it yields (made once, not per request). */
interface CompiledRoute {
  matches: Predicate;
  match: RouteMatch;
}

export class RouteTable {
  private readonly hosts: VirtualHostSelector;
  private readonly routes = new Map<VirtualHostConfig, CompiledRoute[]>();

  /** `random`: where runtime_fraction draws; required when a route has one. */
  constructor(
    readonly config: RouteConfiguration,
    private readonly random?: RandomSource,
  ) {
    this.hosts = new VirtualHostSelector(config);
    for (const vhost of config.virtualHosts) {
      if (random === undefined && vhost.routes.some((r) => r.match.runtimeFraction !== undefined)) {
        throw new Error(`virtual host ${vhost.name}: a route with runtime_fraction needs a random source`);
      }
      this.routes.set(
        vhost,
        vhost.routes.map((route) => ({ matches: usesNullPlugin(route) ? NEVER : compileRoute(route.match), match: { virtualHost: vhost, route } })),
      );
    }
  }

  /** The virtual host serving `authority`, if any (Envoy answers 404 when there is none). */
  findVirtualHost(authority: string): VirtualHostConfig | undefined {
    return this.hosts.select(authority);
  }

  /**
   * The first matching route of the request's virtual host, or undefined (Envoy: 404,
   * response flag NR). `dynamicMetadata`: the stream's, for dynamic_metadata matchers.
   */
  route(request: RouteRequest, dynamicMetadata?: MetadataByNamespace): RouteMatch | undefined {
    const virtualHost = this.hosts.select(request.authority);
    if (virtualHost === undefined) return undefined;
    const input = new MatchInput(request, this.random, dynamicMetadata);
    for (const route of this.routes.get(virtualHost)!) {
      if (route.matches(input)) return route.match;
    }
    return undefined;
  }
}
