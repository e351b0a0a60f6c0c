/** Envoy bootstrap configs for black-box tests, as plain objects (written out as JSON). */

export interface TcpProxyOptions {
  listenPort: number;
  upstreamPorts: number[];
  idleTimeout?: string;
  connectTimeout?: string;
  bufferLimitBytes?: number;
  /** A file access log on the tcp_proxy: its path and text format. */
  accessLog?: { path: string; format: string };
}

/** envoy.access_loggers.file writing `format` (text_format_source) to `path`. */
export function fileAccessLog(path: string, format: string): object {
  return {
    name: "envoy.access_loggers.file",
    typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path, log_format: { text_format_source: { inline_string: format } } },
  };
}

export function tcpProxyConfig(options: TcpProxyOptions): object {
  return {
    static_resources: {
      listeners: [
        {
          name: "tcp",
          address: { socket_address: { address: "127.0.0.1", port_value: options.listenPort } },
          ...(options.bufferLimitBytes ? { per_connection_buffer_limit_bytes: options.bufferLimitBytes } : {}),
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.tcp_proxy",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                    stat_prefix: "tcp",
                    cluster: "upstream",
                    ...(options.idleTimeout ? { idle_timeout: options.idleTimeout } : {}),
                    ...(options.accessLog ? { access_log: [fileAccessLog(options.accessLog.path, options.accessLog.format)] } : {}),
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: "upstream",
          type: "STATIC",
          connect_timeout: options.connectTimeout ?? "1s",
          ...(options.bufferLimitBytes ? { per_connection_buffer_limit_bytes: options.bufferLimitBytes } : {}),
          load_assignment: {
            cluster_name: "upstream",
            endpoints: [
              {
                lb_endpoints: options.upstreamPorts.map((port) => ({
                  endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } },
                })),
              },
            ],
          },
        },
      ],
    },
  };
}

export interface HttpRoute {
  match: Record<string, unknown>;
  /** A cluster name, or a whole Envoy route action object. */
  cluster?: string;
  action?: Record<string, unknown>;
  name?: string;
}

export interface HttpProxyOptions {
  listenPort: number;
  /** cluster name → upstream ports on 127.0.0.1 */
  clusters: Record<string, number[]>;
  routes: HttpRoute[];
  domains?: string[];
  hcm?: Record<string, unknown>;
  clusterExtra?: Record<string, unknown>;
  listenerExtra?: Record<string, unknown>;
  virtualHosts?: Record<string, unknown>[];
}

/** An Envoy front-proxy config: one listener with http_connection_manager + router over STATIC clusters. */
export function httpProxyConfig(options: HttpProxyOptions): object {
  const routes = options.routes.map((route) => ({
    ...(route.name ? { name: route.name } : {}),
    match: route.match,
    ...(route.action ?? { route: { cluster: route.cluster } }),
  }));
  return {
    static_resources: {
      listeners: [
        {
          name: "http",
          address: { socket_address: { address: "127.0.0.1", port_value: options.listenPort } },
          ...options.listenerExtra,
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    stat_prefix: "ingress_http",
                    codec_type: "AUTO",
                    route_config: {
                      name: "local_route",
                      virtual_hosts: options.virtualHosts ?? [{ name: "backend", domains: options.domains ?? ["*"], routes }],
                    },
                    http_filters: [
                      {
                        name: "envoy.filters.http.router",
                        typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
                      },
                    ],
                    ...options.hcm,
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: Object.entries(options.clusters).map(([name, ports]) => ({
        name,
        type: "STATIC",
        connect_timeout: "1s",
        ...options.clusterExtra,
        load_assignment: {
          cluster_name: name,
          endpoints: [
            {
              lb_endpoints: ports.map((port) => ({
                endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } },
              })),
            },
          ],
        },
      })),
    },
  };
}

/**
 * HTTP/1 trailers pass a proxy only with enable_trailers on the side that speaks HTTP/1
 * (Envoy's codec drops them otherwise): the HCM's option for an HTTP/1 client, the
 * cluster's for an HTTP/1 upstream.
 */
export const HCM_WITH_TRAILERS = { http_protocol_options: { enable_trailers: true } } as const;
export const HTTP1_CLUSTER_WITH_TRAILERS = {
  typed_extension_protocol_options: {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      explicit_http_config: { http_protocol_options: { enable_trailers: true } },
    },
  },
} as const;
