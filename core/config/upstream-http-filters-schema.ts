/**
 * A cluster's upstream HTTP filters: the `http_filters` of its
 * envoy.extensions.upstreams.http.v3.HttpProtocolOptions, run per upstream attempt between
 * the router and the upstream connection (core/http/filters/upstream-filter-manager.ts).
 *
 * Validated as Envoy's ClusterInfoImpl (source/common/upstream/upstream_impl.cc): a
 * non-empty list must end with envoy.filters.http.upstream_codec, named by its type URL
 * ("The codec filter is the only valid terminal upstream HTTP filter, use '…'"), the codec
 * may be nowhere else (Config::Utility::validateTerminalFilters with the chain type
 * "upstream http"), and each other filter must be one registered for upstream use
 * (an UpstreamHttpFilterConfigFactory). Each entry is an HCM HttpFilter, with the same
 * fields refused (disabled, is_optional, config_discovery: see httpFilter).
 */
import * as z from "./schema-kit/index.ts";
import { lazySchema } from "./lazy-schema.ts";
import { nonEmptyString, optionalString, strictObject } from "./shared-schemas.ts";
import { HTTP_FILTERS, httpFilter, httpFilterType } from "./http-connection-manager-schema.ts";
import { codeFilterRefusal } from "./user-filter-schema.ts";
import { missingExtension } from "./missing-extension.ts";
import type { HttpFilterConfig, UserHttpFilterConfig } from "./bootstrap.ts";

export const UPSTREAM_CODEC_NAME = "envoy.filters.http.upstream_codec";
// A literal: scripts/gen-envoy-wire.mjs reads type URLs from core/ to decode them from xDS.
export const UPSTREAM_CODEC_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec";
const UPSTREAM_CODEC_TYPE = UPSTREAM_CODEC_TYPE_URL.slice("type.googleapis.com/".length);

/**
 * polyvoy's HTTP filters that Envoy registers as UpstreamHttpFilterConfigFactory too
 * (header_mutation/config.cc: UpstreamHeaderMutationFactoryConfig; buffer/config.cc:
 * UpstreamBufferFilterFactory) and that run unchanged on an upstream attempt. Any other
 * filter is refused by name here.
 */
export const UPSTREAM_HTTP_FILTER_TYPES: ReadonlySet<UserHttpFilterConfig["type"]> = new Set([
  "envoy.filters.http.header_mutation",
  "envoy.filters.http.buffer",
]);

/** What an element is before the list's checks: the codec (kept only to check its place), or a filter. */
type Element = { codec: true; name: string; typeUrl: string | undefined } | { codec: false; filter: HttpFilterConfig; typeUrl: string | undefined };

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
    const type = httpFilterType(filter.name, typeUrl);
    if (type === undefined) {
      // Wasm, Go, dynamic modules (the sandboxes wasm-cc, http-filter-cc), or one polyvoy does not have at all.
      const code = /^([^:]+): (polyvoy does not run [^(;]+)[;(]/.exec(codeFilterRefusal(filter.name, typeUrl) ?? "");
      const message = code !== null ? `${code[1]!}: ${code[2]!.trim()}, downstream or upstream` : missingExtension("http", filter.name, typeUrl, Object.keys(HTTP_FILTERS));
      ctx.addIssue({ code: "custom", message });
      return z.NEVER;
    }
    if (!UPSTREAM_HTTP_FILTER_TYPES.has(type)) {
      const message = `${type} is not one of polyvoy's upstream HTTP filters (a cluster's http_filters take ${[...UPSTREAM_HTTP_FILTER_TYPES].join(", ")} and end with ${UPSTREAM_CODEC_NAME})`;
      ctx.addIssue({ code: "custom", message });
      return z.NEVER;
    }
    const parsed = httpFilter.safeParse(filter, { reportInput: true });
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue });
      return z.NEVER;
    }
    return { codec: false, filter: parsed.data, typeUrl };
  }));

/**
 * The list, checked as Envoy's; its value is the filters before the codec (the codec is the
 * attempt's own connection), undefined when there are none, so that a cluster with only the
 * codec (or no list) runs no chain at all.
 */
export const upstreamHttpFilters = lazySchema(() =>
  z.array(upstreamHttpFilter)
  .superRefine((elements, ctx) => {
    if (elements.length === 0) return;
    const last = elements.length - 1;
    if (elements[last]!.typeUrl !== UPSTREAM_CODEC_TYPE_URL) {
      ctx.addIssue({ code: "custom", message: `The codec filter is the only valid terminal upstream HTTP filter, use '${UPSTREAM_CODEC_TYPE}'`, path: [last] });
      return;
    }
    elements.forEach((element, i) => {
      if (element.codec && i !== last) {
        ctx.addIssue({ code: "custom", message: `terminal filter named ${element.name} of type ${UPSTREAM_CODEC_NAME} must be the last filter in a upstream http filter chain`, path: [i] });
      }
    });
  })
  .transform((elements): readonly HttpFilterConfig[] | undefined => {
    const filters: HttpFilterConfig[] = [];
    for (const element of elements) if (!element.codec) filters.push(element.filter);
    return filters.length === 0 ? undefined : filters;
  }));
