import type { HttpFilterConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import type { StreamDecoderFilter } from "../filter.ts";
import { RouterFilter } from "./router.ts";

/** Build one stream's decoder filters from the HCM's http_filters, in order (Envoy's filter chain factory). */
export function createDecoderFilters(configs: readonly HttpFilterConfig[], server: ServerContext): StreamDecoderFilter[] {
  return configs.map((config) => {
    switch (config.type) {
      case "envoy.filters.http.router":
        return new RouterFilter(server);
    }
  });
}
