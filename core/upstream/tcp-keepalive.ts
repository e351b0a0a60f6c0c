/**
 * A cluster's upstream_connection_options.tcp_keepalive on this runtime: every field the
 * config sets must be one the runtime's sockets can set (Runtime.tcpKeepalive), else the
 * cluster is refused when built, naming the runtime, rather than run with the kernel's
 * value in its place. An empty `tcp_keepalive: {}` (SO_KEEPALIVE alone) needs only the capability.
 */
import type { ClusterConfig } from "../config/bootstrap.ts";
import type { Runtime, TcpKeepaliveField, TcpKeepaliveOptions } from "../port.ts";

const FIELDS: readonly [TcpKeepaliveField, keyof TcpKeepaliveOptions][] = [
  ["keepalive_probes", "probes"],
  ["keepalive_time", "timeSec"],
  ["keepalive_interval", "intervalSec"],
];

/** Why `keepalive` cannot be applied on `runtime` (one line), or undefined when it can. */
export function tcpKeepaliveRefusal(keepalive: TcpKeepaliveOptions, runtime: Runtime): string | undefined {
  const capability = runtime.tcpKeepalive;
  if (capability === undefined) return `upstream_connection_options.tcp_keepalive is not supported on ${runtime.name}: its sockets cannot set SO_KEEPALIVE`;
  for (const [field, key] of FIELDS) {
    if (keepalive[key] === undefined) continue;
    const reason = capability.unsupported(field);
    if (reason !== undefined) return `upstream_connection_options.tcp_keepalive.${field} is not supported on ${runtime.name}: ${reason}`;
  }
  return undefined;
}

/**
 * The refusal for a cluster's config, naming the cluster, or undefined. Checked where a
 * cluster is taken — its start (Cluster.initialize), a CDS update (refused, so NACKed,
 * before it is built) and `--mode validate` — so none of them accepts what serving refuses.
 */
export function clusterTcpKeepaliveRefusal(config: ClusterConfig, runtime: Runtime): string | undefined {
  const keepalive = config.tcpKeepalive;
  const refusal = keepalive === undefined ? undefined : tcpKeepaliveRefusal(keepalive, runtime);
  return refusal === undefined ? undefined : `cluster '${config.name}': ${refusal}`;
}
