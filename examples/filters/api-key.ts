/**
 * A polyvoy HTTP filter: requests without one of the configured API keys are answered 401
 * here and never reach the upstream; the key is removed before the request goes on.
 *
 *   - name: api-key
 *     typed_config:
 *       "@type": type.googleapis.com/polyvoy.filters.http.script.v1.Script
 *       module: ./examples/filters/api-key.ts
 *       config: { header: x-api-key, keys: [secret-1, secret-2] }
 */
import type { HttpFilterDefinition } from "polyvoy";
import * as z from "zod";

const Config = z.strictObject({
  header: z.string().default("x-api-key"),
  keys: z.array(z.string().min(1)).min(1),
});

export default {
  // The parser may shape the config once, at start-up: here a Set for the lookups.
  config: Config.transform((c) => ({ header: c.header, keys: new Set(c.keys) })),
  create(config) {
    return {
      decodeHeaders(headers, _endStream, stream) {
        const key = headers.get(config.header);
        if (key === undefined || !config.keys.has(key)) {
          stream.sendLocalReply(401, "missing or unknown API key\n", {
            headers: { "www-authenticate": `ApiKey header="${config.header}"` },
            details: "api_key_denied",
          });
          return;
        }
        headers.remove(config.header);
      },
    };
  },
} satisfies HttpFilterDefinition<{ header: string; keys: Set<string> }>;
