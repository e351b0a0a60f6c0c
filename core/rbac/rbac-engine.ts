/**
 * Envoy's RBAC engine (source/extensions/filters/common/rbac/engine_impl.cc and
 * matchers.cc), shared by the HTTP and network RBAC filters: policies compiled once per
 * config into predicates over what is known of a request or connection. A policy matches
 * when any of its permissions and any of its principals match; the first matching policy
 * by name is the effective one. ALLOW allows what some policy matches, DENY what none
 * matches, LOG allows everything and says whether a policy matched.
 */
import type { CidrRangeConfig, RbacPermission, RbacPrincipal, RbacRulesConfig, StringMatcherConfig } from "../config/bootstrap.ts";
import type { SocketAddress, TlsSession } from "../port.ts";
import { CidrRange, parseIp } from "../network/cidr-range.ts";
import { compileHeaderMatcher, compileStringMatch, type HeaderSource } from "../http/route/header-matcher.ts";
import { compileMetadataMatcher, type MetadataByNamespace } from "../http/route/metadata-matcher.ts";

/** What the matchers look at (Envoy's connection, headers and StreamInfo). */
export interface RbacInput {
  /** The request's headers; undefined for a connection (network filter): header and path rules never match it. */
  readonly headers: HeaderSource | undefined;
  /** The peer the socket is connected to, whatever a PROXY protocol header said (direct_remote_ip). */
  readonly directRemoteAddress: SocketAddress | undefined;
  /** The connection's remote address: a PROXY protocol header's client, else the peer (source_ip). */
  readonly connectionRemoteAddress: SocketAddress | undefined;
  /** The client as the HCM worked it out from x-forwarded-for (remote_ip); "" for the connection's remote address. */
  readonly remoteIp: string;
  /** The address the connection was accepted on (destination_ip, destination_port). */
  readonly localAddress: SocketAddress | undefined;
  /** The downstream TLS session (authenticated); undefined over plain TCP. */
  readonly tls: TlsSession | undefined;
  /** The SNI (requested_server_name): tls_inspector's, else the handshake's; "" for none. */
  readonly requestedServerName: string;
  /** The dynamic metadata (metadata): the stream's, or the connection's for the network filter. */
  readonly dynamicMetadata: MetadataByNamespace;
  /** The matched route (sourced_metadata ROUTE reads its metadata); undefined without one, and always for a connection. */
  readonly route: { readonly metadata?: MetadataByNamespace } | undefined;
}

type Matcher = (input: RbacInput) => boolean;

/** What one evaluation found: whether the engine allows it, and the effective policy's name ("" for none). */
export interface RbacDecision {
  readonly allowed: boolean;
  /** Whether it is logged (Envoy's access_log_hint): set only where the engine decides about logging (a LOG action). */
  readonly logHint: boolean | undefined;
  readonly effectivePolicyId: string;
}

interface CompiledPolicy {
  readonly matches: Matcher;
  /** The decision when this policy is the effective one: made once, so evaluating allocates nothing. */
  readonly decision: RbacDecision;
}

export class RbacEngine {
  private readonly policies: CompiledPolicy[];
  /** The decision when no policy matches. */
  private readonly noMatch: RbacDecision;

  constructor(readonly rules: RbacRulesConfig) {
    this.policies = rules.policies.map((policy) => {
      const permissions = policy.permissions.map(compilePermission);
      const principals = policy.principals.map(compilePrincipal);
      return { matches: (input: RbacInput) => anyOf(permissions, input) && anyOf(principals, input), decision: decide(rules.action, policy.name) };
    });
    this.noMatch = decide(rules.action, "");
  }


  /** Envoy's handleAction. */
  evaluate(input: RbacInput): RbacDecision {
    for (const policy of this.policies) if (policy.matches(input)) return policy.decision;
    return this.noMatch;
  }
}

/** Envoy's handleAction for an effective policy named `effectivePolicyId` ("" for none matched). */
function decide(action: RbacRulesConfig["action"], effectivePolicyId: string): RbacDecision {
  const matched = effectivePolicyId !== "";
  switch (action) {
    case "ALLOW":
      return Object.freeze({ allowed: matched, logHint: undefined, effectivePolicyId });
    case "DENY":
      return Object.freeze({ allowed: !matched, logHint: undefined, effectivePolicyId });
    case "LOG":
      return Object.freeze({ allowed: true, logHint: matched, effectivePolicyId });
  }
}

function anyOf(matchers: readonly Matcher[], input: RbacInput): boolean {
  for (const matches of matchers) if (matches(input)) return true;
  return false;
}

function allOf(matchers: readonly Matcher[], input: RbacInput): boolean {
  for (const matches of matchers) if (!matches(input)) return false;
  return true;
}

/** Matchers both kinds have; undefined for the kind's own ones. */
function compileCommon<T extends RbacPermission | RbacPrincipal>(rule: T, compile: (rule: T) => Matcher): Matcher | undefined {
  switch (rule.type) {
    case "any":
      return () => true;
    case "and": {
      const rules = (rule.rules as T[]).map(compile);
      return (input) => allOf(rules, input);
    }
    case "or": {
      const rules = (rule.rules as T[]).map(compile);
      return (input) => anyOf(rules, input);
    }
    case "not": {
      const inner = compile(rule.rule as T);
      return (input) => !inner(input);
    }
    case "header": {
      const matches = compileHeaderMatcher(rule.header);
      return (input) => input.headers !== undefined && matches(input.headers);
    }
    case "metadata": {
      // Envoy's MetadataMatcher (filters/common/rbac/matchers.cc): info.dynamicMetadata(), what
      // the filters before this one set (jwt_authn's payload_in_metadata, header_to_metadata, …).
      const matches = compileMetadataMatcher(rule.matcher);
      return (input) => matches(input.dynamicMetadata);
    }
    case "route_metadata": {
      // matchers.cc MetadataMatcher::matches, MetadataSource::ROUTE: the route's metadata, and
      // false when there is no route ("we can't match its metadata").
      const matches = compileMetadataMatcher(rule.matcher);
      return (input) => input.route !== undefined && matches(input.route.metadata);
    }
    case "url_path": {
      const matches = compileStringMatch(rule.path);
      return (input) => {
        const path = input.headers?.header(":path");
        return path !== undefined && matches(withoutQueryAndFragment(path));
      };
    }
    default:
      return undefined;
  }
}

function compilePermission(rule: RbacPermission): Matcher {
  const common = compileCommon(rule, compilePermission);
  if (common !== undefined) return common;
  switch (rule.type) {
    case "destination_ip": {
      const range = cidr(rule.cidr);
      return (input) => inRange(range, input.localAddress);
    }
    case "destination_port": {
      const port = rule.port;
      return (input) => input.localAddress?.port === port;
    }
    case "destination_port_range": {
      const { start, end } = rule;
      return (input) => input.localAddress !== undefined && input.localAddress.port >= start && input.localAddress.port < end;
    }
    case "requested_server_name": {
      const matches = compileStringMatch(rule.name);
      return (input) => matches(input.requestedServerName);
    }
    default:
      throw new Error(`RBAC permission ${rule.type} has no matcher`); // the schema admits no other
  }
}

function compilePrincipal(rule: RbacPrincipal): Matcher {
  const common = compileCommon(rule, compilePrincipal);
  if (common !== undefined) return common;
  switch (rule.type) {
    // Envoy's IPMatcher types (matchers.cc): direct_remote_ip is DownstreamDirectRemote,
    // source_ip ConnectionRemote (the address a proxy_protocol listener filter restored).
    case "direct_remote_ip": {
      const range = cidr(rule.cidr);
      return (input) => inRange(range, input.directRemoteAddress);
    }
    case "source_ip": {
      const range = cidr(rule.cidr);
      return (input) => inRange(range, input.connectionRemoteAddress);
    }
    case "remote_ip": {
      const range = cidr(rule.cidr);
      return (input) => {
        // An x-forwarded-for entry that is no address leaves the connection's remote address (Envoy's getLastAddressFromXFF).
        const bytes = input.remoteIp !== "" ? ipBytes(input.remoteIp) : undefined;
        if (bytes !== undefined) return range.contains(bytes);
        return inRange(range, input.connectionRemoteAddress);
      };
    }
    case "authenticated":
      return authenticatedMatcher(rule.principalName);
    default:
      throw new Error(`RBAC principal ${rule.type} has no matcher`); // the schema admits no other
  }
}

/**
 * Envoy's AuthenticatedMatcher (source/extensions/filters/common/rbac/matchers.cc): only a
 * TLS connection matches; without principal_name any does, else the name must match one
 * of the peer certificate's URI SANs, then DNS SANs, then its subject (RFC 2253 form).
 */
function authenticatedMatcher(principalName: StringMatcherConfig | undefined): Matcher {
  if (principalName === undefined) return (input) => input.tls !== undefined;
  const matches = compileStringMatch(principalName);
  return (input) => {
    if (input.tls === undefined) return false;
    const cert = input.tls.peerCertificate;
    const sans = cert?.subjectAltNames ?? [];
    for (const san of sans) if (san.type === "URI" && matches(san.value)) return true;
    for (const san of sans) if (san.type === "DNS" && matches(san.value)) return true;
    return matches(cert?.subject ?? "");
  };
}

function cidr(config: CidrRangeConfig): CidrRange {
  const range = CidrRange.create(config.addressPrefix, config.prefixLen);
  if (range === undefined) throw new Error(`bad CIDR range ${config.addressPrefix}/${config.prefixLen}`); // the schema refused it already
  return range;
}

/**
 * An address's bytes. An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack
 * socket reports for an IPv4 peer) is taken as the IPv4 address it carries, so that an
 * IPv4 range matches the peer whichever way the runtime's socket was opened.
 */
function ipBytes(text: string): Uint8Array | undefined {
  const bytes = parseIp(text);
  if (bytes === undefined || bytes.length !== 16) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes;
  return bytes[10] === 0xff && bytes[11] === 0xff ? bytes.subarray(12) : bytes;
}

function inRange(range: CidrRange, address: SocketAddress | undefined): boolean {
  if (address === undefined) return false;
  const bytes = ipBytes(address.address);
  return bytes !== undefined && range.contains(bytes);
}

/** Envoy's PathUtil::removeQueryAndFragment. */
function withoutQueryAndFragment(path: string): string {
  let end = path.length;
  const query = path.indexOf("?");
  if (query >= 0) end = query;
  const fragment = path.indexOf("#");
  if (fragment >= 0 && fragment < end) end = fragment;
  return end === path.length ? path : path.slice(0, end);
}
