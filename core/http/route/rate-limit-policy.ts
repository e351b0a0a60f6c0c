/**
 * A route's and virtual host's `rate_limits` turned into descriptors for one request
 * (Envoy's RateLimitPolicyEntryImpl::populateDescriptors, source/common/router/
 * router_ratelimit.cc): each RateLimit of the filter's stage makes one descriptor from its
 * actions, in order; an action that cannot produce its entry (a missing header, a header
 * match that went the other way) drops that whole descriptor.
 */
import type { ForwardAction, RateLimitActionConfig, RateLimitPolicyConfig, VirtualHostConfig } from "../../config/bootstrap.ts";
import type { RequestHeaders } from "../message.ts";
import { CidrRange } from "../../network/cidr-range.ts";
import { compileHeaderMatcher, compileQueryParameterMatcher, parseQueryParameters, type HeaderSource } from "./header-matcher.ts";

/** One descriptor: its entries, key and value (envoy.extensions.common.ratelimit.v3.RateLimitDescriptor). */
export type RateLimitDescriptor = readonly (readonly [string, string])[];

/** What the actions read besides the request headers. */
export interface DescriptorContext {
  /** node.cluster (Envoy's local_service_cluster). */
  localServiceCluster: string;
  /** The route's cluster. */
  destinationCluster: string;
  /** The downstream client's IP (the HCM's trusted address: x-forwarded-for's when it uses it); "" when not IP. */
  remoteAddress: string;
}

type CompiledAction = (headers: RequestHeaders, context: DescriptorContext, out: [string, string][]) => boolean;

function compileAction(action: RateLimitActionConfig): CompiledAction {
  switch (action.type) {
    case "source_cluster":
      return (_h, context, out) => (out.push(["source_cluster", context.localServiceCluster]), true);
    case "destination_cluster":
      return (_h, context, out) => (out.push(["destination_cluster", context.destinationCluster]), true);
    case "request_headers": {
      const { headerName, descriptorKey, skipIfAbsent } = action;
      return (headers, _c, out) => {
        // Envoy takes the first field of the name.
        const value = headers.get(headerName);
        // Absent: with skip_if_absent the descriptor goes on without this entry, else it is dropped.
        if (value === undefined) return skipIfAbsent;
        out.push([descriptorKey, value]);
        return true;
      };
    }
    case "remote_address":
      return (_h, context, out) => {
        if (context.remoteAddress === "") return false;
        out.push(["remote_address", context.remoteAddress]);
        return true;
      };
    case "generic_key": {
      const entry: [string, string] = [action.descriptorKey, action.descriptorValue];
      return (_h, _c, out) => (out.push(entry), true);
    }
    case "header_value_match": {
      const matchers = action.headers.map(compileHeaderMatcher);
      const entry: [string, string] = [action.descriptorKey, action.descriptorValue];
      const expectMatch = action.expectMatch;
      return (headers, _c, out) => {
        const source: HeaderSource = headers;
        // Envoy's HeaderUtility::matchHeaders: all of them.
        if (matchers.every((m) => m(source)) !== expectMatch) return false;
        out.push(entry);
        return true;
      };
    }
    case "masked_remote_address": {
      // Envoy's MaskedRemoteAddressAction: the client's address masked to the prefix of its version, as a CIDR ("10.1.0.0/16").
      const { v4PrefixMaskLen, v6PrefixMaskLen } = action;
      return (_h, context, out) => {
        const address = context.remoteAddress;
        if (address === "") return false;
        const range = CidrRange.create(address, address.includes(":") ? v6PrefixMaskLen : v4PrefixMaskLen);
        if (range === undefined) return false;
        out.push(["masked_remote_address", range.toString()]);
        return true;
      };
    }
    case "query_parameters": {
      // Envoy's QueryParametersAction: the parameter's first value, percent-decoded; absent as request_headers.
      const { queryParameterName, descriptorKey, skipIfAbsent } = action;
      return (headers, _c, out) => {
        const value = parseQueryParameters(headers.path).get(queryParameterName);
        if (value === undefined) return skipIfAbsent;
        out.push([descriptorKey, percentDecode(value)]);
        return true;
      };
    }
    case "query_parameter_value_match": {
      // Envoy's QueryParameterValueMatchAction: every matcher (ConfigUtility::matchQueryParams), as expect_match says.
      const matchers = action.queryParameters.map(compileQueryParameterMatcher);
      const entry: [string, string] = [action.descriptorKey, action.descriptorValue];
      const expectMatch = action.expectMatch;
      return (headers, _c, out) => {
        const query = parseQueryParameters(headers.path);
        if (matchers.every((m) => m(query)) !== expectMatch) return false;
        out.push(entry);
        return true;
      };
    }
  }
}

/** %XX sequences as the bytes they name (latin1, as header values are); a malformed one stays (Envoy's PercentEncoding::decode). */
function percentDecode(value: string): string {
  if (!value.includes("%")) return value;
  return value.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** One RateLimit, compiled. */
class RateLimitPolicyEntry {
  readonly stage: number;
  private readonly actions: CompiledAction[];

  constructor(config: RateLimitPolicyConfig) {
    this.stage = config.stage;
    this.actions = config.actions.map(compileAction);
  }

  populateDescriptor(headers: RequestHeaders, context: DescriptorContext): RateLimitDescriptor | undefined {
    const entries: [string, string][] = [];
    for (const action of this.actions) if (!action(headers, context, entries)) return undefined;
    return entries.length === 0 ? undefined : entries;
  }
}

const COMPILED = new WeakMap<readonly RateLimitPolicyConfig[], RateLimitPolicyEntry[]>();

/** Append the descriptors of `policies` for `stage` to `out` (compiled once per config). */
export function populateDescriptors(policies: readonly RateLimitPolicyConfig[], stage: number, headers: RequestHeaders, context: DescriptorContext, out: RateLimitDescriptor[]): void {
  let entries = COMPILED.get(policies);
  if (entries === undefined) {
    entries = policies.map((p) => new RateLimitPolicyEntry(p));
    COMPILED.set(policies, entries);
  }
  for (const entry of entries) {
    // -1: a filter's own rate_limits (ratelimit-schema.ts ANY_STAGE), which apply at every stage.
    if (entry.stage !== stage && entry.stage !== -1) continue;
    const descriptor = entry.populateDescriptor(headers, context);
    if (descriptor !== undefined) out.push(descriptor);
  }
}

/** Envoy's VhRateLimitOptions: the virtual host's rate_limits only when the route has none (the default), as well, or never. */
export type VhRateLimits = "OVERRIDE" | "INCLUDE" | "IGNORE";

/**
 * The descriptors of a request routed to `action` in `virtualHost` (the filters'
 * populateRateLimitDescriptors): the route's rate_limits of `stage`, then the virtual
 * host's as `vhRateLimits` says — INCLUDE whatever it says when the route sets
 * include_vh_rate_limits (getVirtualHostRateLimitOption).
 */
export function routeDescriptors(
  action: ForwardAction,
  virtualHost: VirtualHostConfig,
  stage: number,
  vhRateLimits: VhRateLimits,
  headers: RequestHeaders,
  context: DescriptorContext,
): RateLimitDescriptor[] {
  const out: RateLimitDescriptor[] = [];
  if (action.rateLimits !== undefined) populateDescriptors(action.rateLimits, stage, headers, context, out);
  const vhost = virtualHost.rateLimits;
  const option = action.includeVhRateLimits === true ? "INCLUDE" : vhRateLimits;
  if (vhost !== undefined && (option === "INCLUDE" || (option === "OVERRIDE" && action.rateLimits === undefined))) populateDescriptors(vhost, stage, headers, context, out);
  return out;
}
