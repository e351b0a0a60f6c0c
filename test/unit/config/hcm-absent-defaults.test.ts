/**
 * The HTTP connection manager's common_http_protocol_options, http_protocol_options and
 * http2_protocol_options, when absent, stand for their messages' defaults without their
 * schemas being built (http-connection-manager-schema.ts): an HCM without them must load
 * exactly as one that gives each as {} (parsed by the schemas), or the written defaults
 * have drifted from the schemas'.
 */
import { expect, test } from "vitest";
import * as z from "../../../core/config/schema-kit/index.ts";
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

/** The protocol options' schemas zod constructs while the HCM's config is checked. */
function protocolOptionSchemasBuilt(hcmExtra: Record<string, unknown>): string[] {
  releaseSchemas();
  const built: string[] = [];
  const zodConfig = z.config();
  const before = zodConfig.postProcessor;
  // The schema kit calls it with every schema it constructs (schema-kit/schemas.ts); the protocol options'
  // fields are the only ones named so in an HCM.
  zodConfig.postProcessor = (schema) => {
    const shape = (schema._zod.def as { shape?: Record<string, unknown> }).shape;
    for (const key of ["idle_timeout", "accept_http_10", "hpack_table_size"]) if (shape && key in shape) built.push(key);
  };
  try {
    expect("bootstrap" in loadConfig(config(hcmExtra), "json")).toBe(true);
  } finally {
    zodConfig.postProcessor = before;
    releaseSchemas();
  }
  return built;
}

test("an HCM without protocol options builds none of their schemas", () => {
  // The hook sees them when they are given (else zod no longer calls it and the check below proves nothing).
  expect(protocolOptionSchemasBuilt({ common_http_protocol_options: {}, http_protocol_options: {}, http2_protocol_options: {} }).sort()).toEqual(["accept_http_10", "hpack_table_size", "idle_timeout"]);
  expect(protocolOptionSchemasBuilt({})).toEqual([]);
});
