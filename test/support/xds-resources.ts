/**
 * xDS resources for the management-server e2e tests (xds-grpc, xds-delta): a listener
 * with RDS, a route configuration, an EDS cluster, its endpoints, the management server's
 * own static cluster, and the small helpers they share.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const HTTP_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

export async function namedUpstream(name: string): Promise<{ port: number; close: () => void }> {
  const server = http.createServer((_req, res) => res.end(name));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

export async function eventually<T>(probe: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch((err: unknown) => err as T);
    if (check(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The static cluster of the management server: HTTP/2, as gRPC needs (`http1`: for REST). */
export function xdsCluster(port: number, name = "xds_cluster", http1 = false): object {
  return {
    name,
    type: "STATIC",
    connect_timeout: "1s",
    ...(http1 ? {} : { typed_extension_protocol_options: { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": HTTP_OPTIONS, explicit_http_config: { http2_protocol_options: {} } } } }),
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] },
  };
}

export const grpcSource = (cluster: string, extra: object = {}, apiType = "GRPC") => ({
  api_config_source: { api_type: apiType, transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: cluster } }] },
  resource_api_version: "V3",
  ...extra,
});

export function listener(name: string, port: number, statPrefix: string, routeConfigName: string, source: object): Record<string, unknown> {
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HCM,
              stat_prefix: statPrefix,
              rds: { route_config_name: routeConfigName, config_source: source },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER } }],
            },
          },
        ],
      },
    ],
  };
}

export function route(name: string, body: string, status = 200): Record<string, unknown> {
  return {
    name,
    virtual_hosts: [
      {
        name: "all",
        domains: ["*"],
        routes: [
          { match: { prefix: "/direct" }, direct_response: { status, body: { inline_string: body } } },
          { match: { prefix: "/" }, route: { cluster: "backend" } },
        ],
      },
    ],
  };
}

export function edsCluster(name: string, source: object, connectTimeoutS = 1): Record<string, unknown> {
  return { name, type: "EDS", connect_timeout: { seconds: connectTimeoutS }, eds_cluster_config: { eds_config: source } };
}

export function endpoints(cluster: string, port: number): Record<string, unknown> {
  return { cluster_name: cluster, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }] };
}

/** A REST source polling `cluster` every `refreshDelay`. */
export const restSource = (cluster: string, refreshDelay = "1s", extra: object = {}) => ({
  api_config_source: { api_type: "REST", transport_api_version: "V3", cluster_names: [cluster], refresh_delay: refreshDelay },
  resource_api_version: "V3",
  ...extra,
});
