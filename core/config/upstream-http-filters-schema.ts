/**
 * Upstream HTTP filter chains: a cluster's (the `http_filters` of its
 * envoy.extensions.upstreams.http.v3.HttpProtocolOptions) and the router's
 * (envoy.extensions.filters.http.router.v3.Router `upstream_http_filters`), run per upstream
 * attempt between the router and the upstream connection
 * (core/http/filters/upstream-filter-manager.ts).
 *
 * Both are processed as Envoy's FilterChainHelper::processFilters
 * (source/common/http/filter_chain_helper.h) with the upstream factories: each filter must
 * be one registered for upstream use (an UpstreamHttpFilterConfigFactory) and the terminal
 * envoy.filters.http.upstream_codec must be last (Config::Utility::validateTerminalFilters,
 * with the chain type "upstream http" for a cluster, "router upstream http" for the router:
 * router.cc FilterConfig). A cluster's non-empty list is first checked to end with the codec
 * named by its type URL (ClusterInfoImpl, source/common/upstream/upstream_impl.cc: "The codec
 * filter is the only valid terminal upstream HTTP filter, use '…'"). Each entry is an HCM
 * HttpFilter, with the same fields refused (disabled, is_optional, config_discovery: see
 * httpFilter).
 *
 * The HCM's filter table (http-connection-manager-schema.ts) makes both schemas with
 * upstreamHttpFilterSchemas and hands itself in: the router's config, in that table, holds
 * a list of filters itself, and the table cannot be imported from here without a cycle.
 */
import * as z from "./schema-kit/index.ts";
import { lazySchema } from "./lazy-schema.ts";
import { nonEmptyString, optionalString, strictObject } from "./shared-schemas.ts";
import { codeFilterRefusal } from "./user-filter-schema.ts";
import { missingExtension } from "./missing-extension.ts";
import type { HttpFilterConfig, UserHttpFilterConfig } from "./bootstrap.ts";

export const UPSTREAM_CODEC_NAME = "envoy.filters.http.upstream_codec";
// A literal: scripts/gen-envoy-wire.mjs reads type URLs from core/ to decode them from xDS.
export const UPSTREAM_CODEC_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec";
const UPSTREAM_CODEC_TYPE = UPSTREAM_CODEC_TYPE_URL.slice("type.googleapis.com/".length);

/**
 * polyvoy's HTTP filters that Envoy registers as UpstreamHttpFilterConfigFactory too
 * (source/extensions/extensions_metadata.yaml: category envoy.filters.http.upstream):
 * header_mutation (header_mutation/config.cc: UpstreamHeaderMutationFactoryConfig), buffer
 * (buffer/config.cc: UpstreamBufferFilterFactory), ext_proc (ext_proc/config.cc:
 * UpstreamExternalProcessingFilterConfig), lua (lua/config.cc: UpstreamLuaFilterConfig, the
 * same filter) and RBAC (its type URL is envoy.filters.http.upstream_rbac's upstream,
 * upstream_rbac/config.h: core/http/filters/upstream-rbac.ts). They run on an upstream attempt
 * with the downstream stream's info and route (per-route configs by their name, as
 * downstream); a local reply (ext_proc's immediate response, Lua's respond(), RBAC's 403) is
 * the downstream stream's — an async request's own answer (async-upstream-filters.ts) — and a
 * route-cache clear is a no-op upstream (Envoy's upstream filter manager's clearRouteCache
 * does nothing either). Every other type is refused with Envoy's own message: Envoy has no
 * upstream factory for it.
 */
export const UPSTREAM_HTTP_FILTER_TYPES: ReadonlySet<UserHttpFilterConfig["type"]> = new Set([
  "envoy.filters.http.header_mutation",
  "envoy.filters.http.buffer",
  "envoy.filters.http.ext_proc",
  "envoy.filters.http.lua",
  "envoy.filters.http.rbac",
]);

/** What the lists need of the HCM's filter table. */
export interface HttpFilterTable {
  /** Each filter type's own type URL (HTTP_FILTERS). */
  readonly typeUrls: Readonly<Record<UserHttpFilterConfig["type"], { readonly typeUrl: string }>>;
  /** An HCM HttpFilter entry, checked (httpFilter). */
  readonly httpFilter: z.ZodType<HttpFilterConfig>;
  /** The filter type a name and type URL select (httpFilterType). */
  readonly httpFilterType: (name: string, typeUrl: string | undefined) => UserHttpFilterConfig["type"] | undefined;
}

/** Which chain a list is: the name Envoy's terminal-filter messages give it. */
type ChainType = "upstream http" | "router upstream http";

/** What an element is before the list's checks: the codec (kept only to check its place), or a filter. */
type Element = { codec: true; name: string; typeUrl: string | undefined } | { codec: false; filter: HttpFilterConfig; typeUrl: string | undefined };

/** Why `type` is refused in an upstream chain: Envoy's refusal. */
function notUpstream(type: UserHttpFilterConfig["type"], name: string, typeUrl: string | undefined, table: HttpFilterTable): string {
  // Config::Utility::getAndCheckFactory on the upstream registry (source/common/config/utility.h).
  const envoyType = (typeUrl ?? table.typeUrls[type].typeUrl).replace(/^.*\//, "");
  return `Didn't find a registered implementation for '${name}' with type URL: '${envoyType}' (Envoy runs ${type} downstream only)`;
}

/**
 * Envoy's validateTerminalFilters over the list (the codec is the one terminal upstream
 * filter), its text exactly (source/common/config/utility.cc): "Error: " first, a period
 * last, and for the router's list the reminder that it must end with the codec.
 */
function checkTerminalFilters(elements: readonly Element[], chainType: ChainType, ctx: z.RefinementCtx): void {
  const last = elements.length - 1;
  elements.forEach((element: Element | undefined, i) => {
    // An element refused on its own has its own issue, and no place to check.
    if (element === undefined) return;
    if (element.codec && i !== last) {
      ctx.addIssue({ code: "custom", message: `Error: terminal filter named ${element.name} of type ${UPSTREAM_CODEC_NAME} must be the last filter in a ${chainType} filter chain.`, path: [i] });
    } else if (!element.codec && i === last) {
      const extra = chainType === "router upstream http" ? " When upstream_http_filters are specified, they must explicitly end with an UpstreamCodec filter." : "";
      ctx.addIssue({ code: "custom", message: `Error: non-terminal filter named ${element.filter.name} of type ${element.filter.type} is the last filter in a ${chainType} filter chain.${extra}`, path: [i] });
    }
  });
}

/** The filters before the codec (the codec is the attempt's own connection). */
function filtersOf(elements: readonly Element[]): HttpFilterConfig[] {
  const filters: HttpFilterConfig[] = [];
  for (const element of elements) if (element !== undefined && !element.codec) filters.push(element.filter);
  return filters;
}

/**
 * The two lists' schemas over the HCM's filter table, which `table` gives when a list is
 * first checked: `cluster` (a cluster's HttpProtocolOptions http_filters) and `router` (the
 * router's upstream_http_filters).
 */
export function upstreamHttpFilterSchemas(table: () => HttpFilterTable) {
  const upstreamHttpFilter = lazySchema(() =>
    strictObject({
      name: nonEmptyString,
      typed_config: z.looseObject({ "@type": optionalString }).optional(),
    })
    .transform((filter, ctx): Element => {
      const typeUrl = filter.typed_config?.["@type"];
      if (typeUrl === UPSTREAM_CODEC_TYPE_URL || (typeUrl === undefined && filter.name === UPSTREAM_CODEC_NAME)) {
        // UpstreamCodec has no fields.
        const { "@type": _type, ...fields } = filter.typed_config ?? {};
        for (const field of Object.keys(fields)) ctx.addIssue({ code: "custom", message: `unknown field "${field}": envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec has no fields`, path: ["typed_config", field] });
        return { codec: true, name: filter.name, typeUrl };
      }
      const type = table().httpFilterType(filter.name, typeUrl);
      if (type === undefined) {
        // Wasm, Go, dynamic modules (the sandboxes wasm-cc, http-filter-cc), or one polyvoy does not have at all.
        const code = /^([^:]+): (polyvoy does not run [^(;]+)[;(]/.exec(codeFilterRefusal(filter.name, typeUrl) ?? "");
        const message = code !== null ? `${code[1]!}: ${code[2]!.trim()}, downstream or upstream` : missingExtension("http", filter.name, typeUrl, Object.keys(table().typeUrls));
        ctx.addIssue({ code: "custom", message });
        return z.NEVER;
      }
      if (!UPSTREAM_HTTP_FILTER_TYPES.has(type)) {
        ctx.addIssue({ code: "custom", message: notUpstream(type, filter.name, typeUrl, table()) });
        return z.NEVER;
      }
      const parsed = table().httpFilter.safeParse(filter, { reportInput: true });
      if (!parsed.success) {
        for (const issue of parsed.error.issues) ctx.addIssue({ ...issue });
        return z.NEVER;
      }
      return { codec: false, filter: parsed.data, typeUrl };
    }));

  /**
   * A cluster's list, checked as Envoy's ClusterInfoImpl; its value is the filters before the
   * codec: undefined when the list is empty (or unset), an empty array when it is only the
   * codec. The difference matters: a cluster with a list of its own, even only the codec, is
   * the attempt's chain, and the router's upstream_http_filters then never run
   * (ClusterInfoImpl::createFilterChain answers has_configured_http_filters_).
   */
  const cluster = lazySchema(() =>
    z.array(upstreamHttpFilter)
    .superRefine((elements, ctx) => {
      if (elements.length === 0) return;
      const last = elements.length - 1;
      if (elements[last]?.typeUrl !== UPSTREAM_CODEC_TYPE_URL) {
        ctx.addIssue({ code: "custom", message: `The codec filter is the only valid terminal upstream HTTP filter, use '${UPSTREAM_CODEC_TYPE}'`, path: [last] });
        return;
      }
      checkTerminalFilters(elements, "upstream http", ctx);
    })
    .transform((elements): readonly HttpFilterConfig[] | undefined => (elements.length === 0 ? undefined : filtersOf(elements))));

  /**
   * The router's upstream_http_filters, checked as its FilterConfig processes them (router.cc:
   * processFilters(…, "router upstream http", …), no type-URL check of the last one); its value
   * is the filters before the codec, undefined when there are none (an empty list, or only the
   * codec, runs no filter: the attempt writes to its connection).
   */
  const router = lazySchema(() =>
    z.array(upstreamHttpFilter)
    .superRefine((elements, ctx) => checkTerminalFilters(elements, "router upstream http", ctx))
    .transform((elements): readonly HttpFilterConfig[] | undefined => {
      const filters = filtersOf(elements);
      return filters.length === 0 ? undefined : filters;
    }));
  return { cluster, router };
}
