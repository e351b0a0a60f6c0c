/**
 * What checking the start-up config (one listener, one direct_response route, the router)
 * builds: zod schemas are most of the check's CPU on a small config (docs/performance.md,
 * "Start-up: the config check builds fewer schemas and reads the tree once"). A field schema built for a field the config
 * does not set, a shared one rebuilt per field, or a message's schema built for its
 * defaults shows here. 245 when written (398 before shared-schemas.ts and the HCM's
 * protocol-option defaults); the bound leaves room for a few new fields.
 */
import { expect, test } from "vitest";
import * as z from "../../../core/config/schema-kit/index.ts";
import { loadConfig } from "../../../core/config/load.ts";
import { releaseSchemas } from "../../../core/config/lazy-schema.ts";

const STARTUP_CONFIG = {
  static_resources: {
    listeners: [
      {
        name: "l",
        address: { socket_address: { address: "127.0.0.1", port_value: 10000 } },
        filter_chains: [
          {
            filters: [
              {
                name: "envoy.filters.network.http_connection_manager",
                typed_config: {
                  "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                  stat_prefix: "startup",
                  route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "ok" } } }] }] },
                  http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                },
              },
            ],
          },
        ],
      },
    ],
  },
};

test("checking the start-up config builds at most 270 zod schemas", () => {
  releaseSchemas();
  const zodConfig = z.config();
  const before = zodConfig.postProcessor;
  let built = 0;
  // The schema kit calls it with every schema it constructs (schema-kit/schemas.ts).
  zodConfig.postProcessor = () => void built++;
  try {
    expect("bootstrap" in loadConfig(JSON.stringify(STARTUP_CONFIG), "json")).toBe(true);
  } finally {
    zodConfig.postProcessor = before;
    releaseSchemas();
  }
  expect(built).toBeGreaterThan(0);
  expect(built).toBeLessThanOrEqual(270);
});
