/**
 * The HTTP connection manager's common_http_protocol_options, http_protocol_options and
 * http2_protocol_options, when absent, stand for their messages' defaults without their
 * schemas being built (http-connection-manager-schema.ts): an HCM without them must load
 * exactly as one that gives each as {} (parsed by the schemas), or the written defaults
 * have drifted from the schemas'.
 */
import { expect, test } from "vitest";
import * as z from "zod";
import { loadConfig } from "../../../core/config/load.ts";
import { releaseSchemas } from "../../../core/config/lazy-schema.ts";

function config(hcmExtra: Record<string, unknown>): string {
  return JSON.stringify({
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
                    stat_prefix: "s",
                    route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }] }] },
                    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
                    ...hcmExtra,
                  },
                },
              ],
            },
          ],
        },
      ],
    },
  });
}

test("absent protocol options load as the same options given as {}", () => {
  const absent = loadConfig(config({}), "json");
  const empty = loadConfig(config({ common_http_protocol_options: {}, http_protocol_options: {}, http2_protocol_options: {} }), "json");
  if (!("bootstrap" in absent) || !("bootstrap" in empty)) throw new Error(JSON.stringify([absent, empty]));
  expect(absent.bootstrap).toEqual(empty.bootstrap);
});

test("an HCM without protocol options builds none of their schemas", () => {
  releaseSchemas();
  const built: string[] = [];
  const global = globalThis as { __zod_globalConfig?: { postProcessor?: (schema: z.ZodType) => void } };
  const zodConfig = global.__zod_globalConfig!;
  const before = zodConfig.postProcessor;
  // zod calls it with every schema it constructs (v4/core/core.js); the protocol options'
  // fields are the only ones named so in an HCM.
  zodConfig.postProcessor = (schema) => {
    const shape = (schema._zod.def as { shape?: Record<string, unknown> }).shape;
    for (const key of ["idle_timeout", "accept_http_10", "hpack_table_size"]) if (shape && key in shape) built.push(key);
  };
  try {
    expect("bootstrap" in loadConfig(config({}), "json")).toBe(true);
  } finally {
    zodConfig.postProcessor = before;
    releaseSchemas();
  }
  expect(built).toEqual([]);
});
