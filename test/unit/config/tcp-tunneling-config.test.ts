/**
 * tcp_proxy's tunneling_config as the loader reads it (Envoy's TcpProxy.TunnelingConfig):
 * what it becomes, and each field polyvoy refuses, by name with why.
 */
import { describe, expect, test } from "vitest";
import { loadConfig } from "../../../core/config/load.ts";
import type { TcpProxyConfig } from "../../../core/config/bootstrap.ts";

type Json = Record<string, any>;
const TUNNEL = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.tunneling_config";

function config(tunneling: Json): Json {
  return {
    static_resources: {
      listeners: [
        {
          name: "tcp",
          address: { socket_address: { address: "127.0.0.1", port_value: 10001 } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.tcp_proxy",
                  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix: "tcp", cluster: "backend", tunneling_config: tunneling },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: "backend",
          connect_timeout: "1s",
          load_assignment: { cluster_name: "backend", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 8080 } } } }] }] },
        },
      ],
    },
  };
}

function load(tunneling: Json): { problems: readonly string[]; tcp?: TcpProxyConfig } {
  const result = loadConfig(JSON.stringify(config(tunneling)), "json");
  if ("problems" in result) return { problems: result.problems };
  const filter = result.bootstrap.listeners[0]!.filterChains[0]!.filters[0]!;
  return { problems: [], tcp: (filter as { config: TcpProxyConfig }).config };
}

describe("tcp_proxy tunneling_config", () => {
  test("CONNECT to a literal hostname, with headers_to_add", () => {
    const { problems, tcp } = load({ hostname: "backend.test:443", headers_to_add: [{ header: { key: "x-port", value: "%DOWNSTREAM_LOCAL_PORT%" } }] });
    expect(problems).toEqual([]);
    expect(tcp!.tunneling).toEqual({
      hostname: "backend.test:443",
      usePost: false,
      postPath: "/",
      headersToAdd: [{ key: "x-port", value: "%DOWNSTREAM_LOCAL_PORT%", formatted: true, appendAction: "APPEND_IF_EXISTS_OR_ADD", keepEmptyValue: false }],
    });
  });

  test("a hostname with formatters is marked for rendering per connection; POST with its path", () => {
    const { problems, tcp } = load({ hostname: "%REQUESTED_SERVER_NAME%:%DOWNSTREAM_LOCAL_PORT%", use_post: true, post_path: "/tunnel" });
    expect(problems).toEqual([]);
    expect(tcp!.tunneling).toMatchObject({ hostnameFormatted: true, usePost: true, postPath: "/tunnel" });
  });

  test.each<[string, Json, string]>([
    ["no hostname", {}, `${TUNNEL}.hostname`],
    ["post_path without use_post (Envoy refuses it)", { hostname: "h:1", post_path: "/x" }, `${TUNNEL}.post_path: Can't set a post path when POST method isn't used`],
    ["a post_path that is no path", { hostname: "h:1", use_post: true, post_path: "x y" }, `${TUNNEL}.post_path: must be a path starting with '/'`],
    ["a hostname with a space", { hostname: "a b:1" }, `${TUNNEL}.hostname: must not contain whitespace`],
    ["an unknown formatter in the hostname", { hostname: "%NOT_A_COMMAND%:1" }, `${TUNNEL}.hostname: `],
    ["propagate_response_headers", { hostname: "h:1", propagate_response_headers: true }, `${TUNNEL}: \`propagate_response_headers\` is an Envoy field that polyvoy does not support yet (polyvoy keeps no filter state`],
    ["propagate_response_trailers", { hostname: "h:1", propagate_response_trailers: true }, `${TUNNEL}: \`propagate_response_trailers\` is an Envoy field that polyvoy does not support yet (polyvoy keeps no filter state`],
    ["request_id_extension", { hostname: "h:1", request_id_extension: { typed_config: {} } }, `${TUNNEL}: \`request_id_extension\` is an Envoy field that polyvoy does not support yet`],
    ["a hostname with a control byte", { hostname: "a\u000bb:1" }, `${TUNNEL}.hostname: must be visible ASCII`],
    ["a hostname with a non-ASCII byte", { hostname: "bücher.test:1" }, `${TUNNEL}.hostname: must be visible ASCII`],
    ["content-length in headers_to_add (it would cut the tunnel's bytes short)", { hostname: "h:1", use_post: true, headers_to_add: [{ header: { key: "content-length", value: "4" } }] }, `${TUNNEL}.headers_to_add[0].header.key: content-length frames the tunnel's request`],
    ["transfer-encoding in headers_to_add", { hostname: "h:1", headers_to_add: [{ header: { key: "Transfer-Encoding", value: "chunked" } }] }, `${TUNNEL}.headers_to_add[0].header.key: `],
    ["connection in headers_to_add", { hostname: "h:1", headers_to_add: [{ header: { key: "connection", value: "close" } }] }, `${TUNNEL}.headers_to_add[0].header.key: connection frames`],
    ["a host header in headers_to_add", { hostname: "h:1", headers_to_add: [{ header: { key: "host", value: "x" } }] }, `${TUNNEL}.headers_to_add[0].header.key`],
  ])("refused: %s", (_name, tunneling, line) => {
    const { problems } = load(tunneling);
    expect(problems.length).toBe(1);
    expect(problems[0]).toContain(line);
  });

  test("a literal hostname is its text with %% read as %, as the formatter renders it", () => {
    const { problems, tcp } = load({ hostname: "a%%b.test:1" });
    expect(problems).toEqual([]);
    expect(tcp!.tunneling).toMatchObject({ hostname: "a%b.test:1" });
    expect(tcp!.tunneling!.hostnameFormatted).toBeUndefined();
  });

  test("propagate_response_headers: false is its default, accepted", () => {
    expect(load({ hostname: "h:1", propagate_response_headers: false, propagate_response_trailers: false }).problems).toEqual([]);
  });
});
