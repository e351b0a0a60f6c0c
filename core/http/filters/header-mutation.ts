/**
 * Envoy's header_mutation HTTP filter (source/extensions/filters/http/header_mutation/
 * header_mutation.cc): the filter's request mutations on the way in and response
 * mutations on the way out, then those of every level's HeaderMutationPerRoute —
 * route, virtual host, route configuration (so the least specific has the last word),
 * or the reverse with most_specific_header_mutations_wins. Each mutation removes a
 * header or adds one by its append_action, in order.
 */
import type { HeaderMutationConfig, HeaderMutationRule, HeaderMutationRules, HeaderValueOption, RouteConfiguration } from "../../config/bootstrap.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
} from "../filter.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import { applyHeaderValueOptions, type HeaderFormatterSource, type MutableHeaders } from "../route/custom-headers.ts";
import type { RouteMatch } from "../route/route-table.ts";
import { PerConfig } from "../../util/per-config.ts";

const NO_REMOVALS: readonly string[] = [];

/** A rule ready to run: a header name to remove, or one HeaderValueOption to add (a list of one, as custom-headers.ts takes). */
type CompiledRule = string | readonly HeaderValueOption[];

const COMPILED = new WeakMap<readonly HeaderMutationRule[], readonly CompiledRule[]>();

function compiled(rules: readonly HeaderMutationRule[]): readonly CompiledRule[] {
  let out = COMPILED.get(rules);
  if (out === undefined) {
    out = rules.map((rule) => ("remove" in rule ? rule.remove : [rule.append]));
    COMPILED.set(rules, out);
  }
  return out;
}

/**
 * Envoy's HeaderMutations::evaluateHeaders, one rule after another; an addition goes
 * through custom-headers.ts for its append_action, keep_empty_value and %…% formatting.
 */
function mutate(headers: MutableHeaders, rules: readonly HeaderMutationRule[], source: HeaderFormatterSource, response: ResponseHeaders | undefined): void {
  if (rules.length === 0) return;
  const list = compiled(rules);
  for (let i = 0; i < list.length; i++) {
    const rule = list[i]!;
    if (typeof rule === "string") headers.remove(rule);
    else applyHeaderValueOptions(headers, NO_REMOVALS, rule, source, response);
  }
}

/** The per-route mutations of a route's levels in the order they run (a route's list is computed once). */
export class HeaderMutationFilterConfig {
  private readonly perRoute = new WeakMap<object, readonly HeaderMutationRules[]>();

  constructor(
    readonly config: HeaderMutationConfig,
    /** The filter's name in http_filters: the key of its typed_per_filter_config. */
    private readonly name: string,
  ) {}

  routeMutations(match: RouteMatch | undefined, routeConfig: RouteConfiguration): readonly HeaderMutationRules[] {
    if (match === undefined) return NONE;
    let list = this.perRoute.get(match.route);
    if (list === undefined) {
      const found: HeaderMutationRules[] = [];
      // Most specific first: the route, its virtual host, the route configuration.
      for (const level of [match.route, match.virtualHost, routeConfig]) {
        const rules = level.typedPerFilterConfig?.get(this.name) as HeaderMutationRules | undefined;
        if (rules !== undefined) found.push(rules);
      }
      if (this.config.mostSpecificHeaderMutationsWins) found.reverse();
      list = found.length === 0 ? NONE : found;
      this.perRoute.set(match.route, list);
    }
    return list;
  }
}

const NONE: readonly HeaderMutationRules[] = [];
const CONFIGS = new PerConfig((config: HeaderMutationConfig, name: string) => new HeaderMutationFilterConfig(config, name));

export function headerMutationFilterConfig(config: HeaderMutationConfig, name: string): HeaderMutationFilterConfig {
  return CONFIGS.get(config, name);
}

export class HeaderMutationFilter implements StreamFilter {
  private callbacks: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;

  constructor(private readonly config: HeaderMutationFilterConfig) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.callbacks = callbacks;
  }

  setEncoderFilterCallbacks(_callbacks: EncoderFilterCallbacks): void {}

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    const callbacks = this.callbacks;
    mutate(headers, this.config.config.mutations.request, callbacks, undefined);
    const levels = this.config.routeMutations(callbacks.route, callbacks.routeConfig);
    for (let i = 0; i < levels.length; i++) mutate(headers, levels[i]!.request, callbacks, undefined);
    return FilterHeadersStatus.Continue;
  }

  decodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  decodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  encodeHeaders(headers: ResponseHeaders, _endStream: boolean): FilterHeadersStatus {
    const callbacks = this.callbacks;
    mutate(headers, this.config.config.mutations.response, callbacks, headers);
    const levels = this.config.routeMutations(callbacks.route, callbacks.routeConfig);
    for (let i = 0; i < levels.length; i++) mutate(headers, levels[i]!.response, callbacks, headers);
    return FilterHeadersStatus.Continue;
  }

  encodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  encodeTrailers(): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  onDestroy(): void {}
}
