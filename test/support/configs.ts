/** Envoy bootstrap configs for black-box tests, as plain objects (written out as JSON). */

export interface TcpProxyOptions {
  listenPort: number;
  upstreamPorts: number[];
  idleTimeout?: string;
  connectTimeout?: string;
  bufferLimitBytes?: number;
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
