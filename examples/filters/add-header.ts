/**
 * A polyvoy HTTP filter: adds a header, named and valued in the config, to every request
 * (and says so on the response). A route can give another value (ScriptPerRoute).
 *
 *   http_filters:
 *   - name: add-header
 *     typed_config:
 *       "@type": type.googleapis.com/polyvoy.filters.http.script.v1.Script
 *       module: ./examples/filters/add-header.ts
 *       config: { header: x-hello, value: world }
 *   - name: envoy.filters.http.router
 *     typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
 */
import type { HttpFilterDefinition } from "polyvoy";
import * as z from "zod";

const Config = z.strictObject({ header: z.string().min(1), value: z.string() });
const PerRoute = z.strictObject({ value: z.string() });

export default {
  config: Config,
  perRouteConfig: PerRoute,
  // One object serves every stream: it keeps no per-stream state.
  create(config) {
    return {
      decodeHeaders(headers, _endStream, stream) {
        headers.set(config.header, stream.perRouteConfig?.value ?? config.value);
      },
      encodeHeaders(headers) {
        headers.set(`${config.header}-added`, "true");
      },
    };
  },
} satisfies HttpFilterDefinition<z.infer<typeof Config>, z.infer<typeof PerRoute>>;
