/**
 * The effective configuration the core runs from: Envoy's v3 bootstrap subset after
 * validation, with defaults applied and durations turned into milliseconds.
 * `load.ts` builds it from YAML/JSON; nothing else in the core reads raw config.
 */

export interface SocketAddressConfig {
  address: string;
  port: number;
}

export interface Bootstrap {
  node?: { id?: string; cluster?: string };
  admin?: { address: SocketAddressConfig };
  listeners: ListenerConfig[];
  clusters: ClusterConfig[];
}

export interface ListenerConfig {
  name: string;
  address: SocketAddressConfig;
  /** Envoy's per_connection_buffer_limit_bytes (default 1 MiB): the write-buffer high watermark. */
  perConnectionBufferLimitBytes: number;
  filterChains: FilterChainConfig[];
}

export interface FilterChainConfig {
  filters: NetworkFilterConfig[];
}

/** A network filter: `type` is the canonical extension name, e.g. "envoy.filters.network.tcp_proxy". */
export type NetworkFilterConfig = { name: string } & TcpProxyFilter;

export interface TcpProxyFilter {
  type: "envoy.filters.network.tcp_proxy";
  config: TcpProxyConfig;
}

export interface TcpProxyConfig {
  statPrefix: string;
  cluster: string;
  /** 0 disables; Envoy's default is 1 hour. */
  idleTimeoutMs: number;
}

export interface ClusterConfig {
  name: string;
  type: "STATIC";
  connectTimeoutMs: number;
  lbPolicy: "ROUND_ROBIN";
  perConnectionBufferLimitBytes: number;
  endpoints: SocketAddressConfig[];
}
