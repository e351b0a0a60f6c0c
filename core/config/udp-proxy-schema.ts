/**
 * envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig (api/envoy/extensions/filters/udp/
 * udp_proxy/v3/udp_proxy.proto) and the UDP parts of a listener (udp_listener_config). What
 * polyvoy's UDP proxy (core/udp/udp-proxy.ts) does not do is refused by name, with why.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { lazySchema } from "./lazy-schema.ts";
import { nonEmptyString, optionalString, strictObject } from "./shared-schemas.ts";
import { isEmptyList, isFalse, unsupportedField } from "./unsupported-field.ts";
import { parseDurationMs } from "./duration.ts";

export const UDP_PROXY_NAME = "envoy.filters.udp_listener.udp_proxy";
export const UDP_PROXY_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig";

/** Envoy's UdpProxyFilterConfig: "idle_timeout … defaults to 1 minute". */
export const DEFAULT_UDP_IDLE_TIMEOUT_MS = 60_000;
/** Envoy's Network::DEFAULT_UDP_MAX_DATAGRAM_SIZE (source/common/network/utility.h). */
export const DEFAULT_UDP_MAX_DATAGRAM_SIZE = 1500;

/** What the UDP proxy runs on (core/udp/udp-proxy.ts). */
export interface UdpProxyConfig {
  statPrefix: string;
  cluster: string;
  /** idle_timeout in ms; 0: sessions never time out. */
  idleTimeoutMs: number;
  /** upstream_socket_config.max_rx_datagram_size: the largest reply read whole from an upstream. */
  upstreamMaxRxDatagramSize: number;
}

const duration = lazySchema(() =>
  z.unknown().transform((value, ctx) => {
    const result = parseDurationMs(value);
    if (result.ok) return result.ms;
    ctx.addIssue({ code: "custom", message: result.error });
    return z.NEVER;
  }));

/** A google.protobuf.UInt64Value, as a number, a decimal string, or `{ value }`. */
const maxRxDatagramSize = lazySchema(() =>
  z.union([z.number(), z.string().regex(/^\d+$/).transform(Number), strictObject({ value: z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]) }).transform((w) => w.value)])
    // udp_socket_config.proto: gt 0, lt 65536.
    .pipe(z.number().int().min(1).max(65535)));

/** envoy.config.core.v3.UdpSocketConfig */
export const udpSocketConfig = lazySchema(() =>
  strictObject({
    max_rx_datagram_size: maxRxDatagramSize.optional(),
    // GRO is the kernel coalescing datagrams into one read: no runtime's UDP API offers it.
    prefer_gro: unsupportedField("GRO (UDP_GRO): no runtime's UDP API offers it", isFalse),
  })
  .transform((c) => ({ maxRxDatagramSize: c.max_rx_datagram_size ?? DEFAULT_UDP_MAX_DATAGRAM_SIZE })));

/** envoy.config.listener.v3.UdpListenerConfig */
export const udpListenerConfig = lazySchema(() =>
  strictObject({
    downstream_socket_config: udpSocketConfig.optional(),
    quic_options: unsupportedField("QUIC (HTTP/3) listeners: polyvoy has no QUIC"),
    udp_packet_packet_writer_config: unsupportedField("a UDP packet writer extension (UDP GSO): no runtime's UDP API offers it"),
  })
  .transform((c) => ({ maxRxDatagramSize: c.downstream_socket_config?.maxRxDatagramSize ?? DEFAULT_UDP_MAX_DATAGRAM_SIZE })));

/** envoy.extensions.filters.udp.udp_proxy.v3.UdpProxyConfig */
export const udpProxyConfig = lazySchema(() =>
  strictObject({
    stat_prefix: nonEmptyString,
    cluster: optionalString,
    matcher: unsupportedField("choosing the cluster with a matcher: name one cluster in `cluster`"),
    idle_timeout: duration.default(DEFAULT_UDP_IDLE_TIMEOUT_MS),
    use_original_src_ip: unsupportedField("sending upstream from the downstream peer's address needs IP_TRANSPARENT, which no runtime's UDP API offers", isFalse),
    hash_policies: unsupportedField("hashing sessions to hosts (source_ip, key): sessions are spread by the cluster's lb_policy without a hash", isEmptyList),
    upstream_socket_config: udpSocketConfig.optional(),
    use_per_packet_load_balancing: unsupportedField("a host picked for each datagram: polyvoy picks one per session", isFalse),
    access_log: unsupportedField("UDP session access logs", isEmptyList),
    proxy_access_log: unsupportedField("UDP proxy access logs", isEmptyList),
    session_filters: unsupportedField("UDP session filters", isEmptyList),
    tunneling_config: unsupportedField("tunneling UDP over HTTP (CONNECT-UDP)"),
    access_log_options: unsupportedField("UDP session access logs"),
  })
  .superRefine((c, ctx) => {
    // The route_specifier oneof is required (udp_proxy.proto); a matcher is refused above.
    if (c.cluster === undefined && c.matcher === undefined) ctx.addIssue({ code: "custom", path: ["cluster"], message: "set cluster (UdpProxyConfig's route_specifier is required)" });
    if (c.cluster !== undefined && c.cluster.length === 0) ctx.addIssue({ code: "custom", path: ["cluster"], message: "cluster must not be empty" });
  })
  .transform((c): UdpProxyConfig => ({
    statPrefix: c.stat_prefix,
    cluster: c.cluster ?? "",
    idleTimeoutMs: c.idle_timeout,
    upstreamMaxRxDatagramSize: c.upstream_socket_config?.maxRxDatagramSize ?? DEFAULT_UDP_MAX_DATAGRAM_SIZE,
  })));

/** Whether a listener filter entry (name, "@type") is the UDP proxy. */
export function isUdpProxyFilter(name: string, typeUrl: string | undefined): boolean {
  return typeUrl !== undefined ? typeUrl === UDP_PROXY_TYPE_URL : name === UDP_PROXY_NAME || name === "envoy.filters.udp.udp_proxy";
}
