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
import type { HttpFilterDefinition, HttpFilterHandlers } from "polyvoy";
import * as z from "zod";

const Config = z.strictObject({ header: z.string().min(1), value: z.string() });
const PerRoute = z.strictObject({ value: z.string() });

type AddHeaderConfig = z.infer<typeof Config>;
type AddHeaderPerRoute = z.infer<typeof PerRoute>;

/**
 * The callbacks keep no per-stream state (each gets the stream), so one object per config
 * serves every stream: `create`, called for each stream, hands out the same one.
 */
const handlers = new WeakMap<AddHeaderConfig, HttpFilterHandlers<AddHeaderPerRoute>>();

export default {
  config: Config,
  perRouteConfig: PerRoute,
  create(config) {
    let made = handlers.get(config);
    if (made === undefined) {
      made = {
        decodeHeaders(headers, _endStream, stream) {
          headers.set(config.header, stream.perRouteConfig?.value ?? config.value);
        },
        encodeHeaders(headers) {
          headers.set(`${config.header}-added`, "true");
        },
      };
      handlers.set(config, made);
    }
    return made;
  },
} satisfies HttpFilterDefinition<AddHeaderConfig, AddHeaderPerRoute>;
