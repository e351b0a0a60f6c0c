import type { HttpFilterConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import type { StreamDecoderFilter } from "../filter.ts";
import { RouterFilter } from "./router.ts";
import { AdminFilter } from "../../admin/admin-filter.ts";

/** Build one stream's decoder filters from the HCM's http_filters, in order (Envoy's filter chain factory). */
export function createDecoderFilters(configs: readonly HttpFilterConfig[], server: ServerContext): StreamDecoderFilter[] {
  // A loop, not map(): this runs per request, and map's callback would be garbage each time.
  const filters = new Array<StreamDecoderFilter>(configs.length);
  for (let i = 0; i < configs.length; i++) filters[i] = createDecoderFilter(configs[i]!, server);
  return filters;
}

function createDecoderFilter(config: HttpFilterConfig, server: ServerContext): StreamDecoderFilter {
  switch (config.type) {
    case "envoy.filters.http.router":
      return new RouterFilter(server);
    // Internal: the admin listener's only filter (never from a config file).
    case "polyvoy.internal.admin":
      return new AdminFilter(config.config.handler);
  }
}
