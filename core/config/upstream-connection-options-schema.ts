/**
 * envoy.config.cluster.v3.UpstreamConnectionOptions: tcp_keepalive (SO_KEEPALIVE on the
 * cluster's upstream connections, Envoy's ClusterInfoImpl building socket options from it
 * in upstream_impl.cc, buildBaseSocketOptions). What a runtime cannot set is refused when
 * the cluster is built on it (core/upstream/tcp-keepalive.ts); the rest by name here.
 */
import { strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import { uint32 } from "./proto-schema.ts";
import { isFalse, unsupportedField } from "./unsupported-field.ts";
import type { TcpKeepaliveOptions } from "../port.ts";

/** Linux's bounds (tcp(7)): TCP_KEEPIDLE and TCP_KEEPINTVL 1..32767 s, TCP_KEEPCNT 1..127; outside them setsockopt fails (EINVAL). */
const seconds = uint32.refine((n) => n >= 1 && n <= 32767, { message: "must be 1 to 32767 seconds (Linux's TCP_KEEPIDLE / TCP_KEEPINTVL range)" });
const probes = uint32.refine((n) => n >= 1 && n <= 127, { message: "must be 1 to 127 (Linux's TCP_KEEPCNT range)" });

/** envoy.config.core.v3.TcpKeepalive: each field unset leaves the kernel's value. */
const tcpKeepalive = lazySchema(() =>
  strictObject({
    keepalive_probes: probes.optional(),
    keepalive_time: seconds.optional(),
    keepalive_interval: seconds.optional(),
  }).transform((k): TcpKeepaliveOptions => ({
    ...(k.keepalive_probes !== undefined && { probes: k.keepalive_probes }),
    ...(k.keepalive_time !== undefined && { timeSec: k.keepalive_time }),
    ...(k.keepalive_interval !== undefined && { intervalSec: k.keepalive_interval }),
  })));

export const upstreamConnectionOptions = lazySchema(() =>
  strictObject({
    tcp_keepalive: tcpKeepalive.optional(),
    set_local_interface_name_on_upstream_connections: unsupportedField("the upstream connection's local interface name (SO_BINDTODEVICE lookups) is not recorded", isFalse),
    happy_eyeballs_config: unsupportedField("Happy Eyeballs: a host is one address, connected to directly"),
  }));
