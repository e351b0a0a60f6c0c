/**
 * What this runtime cannot serve in a bootstrap, one line each, worded as serving refuses
 * it: the admin and static listeners on an abstract Unix socket where the runtime cannot
 * bind one (ActiveListener.start), static clusters whose endpoints it cannot reach, or
 * whose tcp_keepalive its sockets cannot set (ClusterManager, Cluster.initialize), UDP
 * stats sinks without UDP sockets (createStatsSinks).
 * `--mode validate` reports them all, so it never accepts a config serving refuses.
 */
import type { Bootstrap } from "./config/bootstrap.ts";
import { adminAbstractRefusal, clusterAbstractRefusal, listenerAbstractRefusal } from "./network/abstract-pipe.ts";
import type { Runtime } from "./port.ts";
import { clusterTcpKeepaliveRefusal } from "./upstream/tcp-keepalive.ts";
import { statsSinkRefusal } from "./stats/stats-sink-refusal.ts";

export function runtimeRefusals(bootstrap: Bootstrap, runtime: Runtime): string[] {
  const problems: (string | undefined)[] = [];
  if (bootstrap.admin !== undefined) problems.push(adminAbstractRefusal(runtime, bootstrap.admin.address));
  for (const listener of bootstrap.listeners) problems.push(listenerAbstractRefusal(runtime, listener.name, listener.address));
  for (const cluster of bootstrap.clusters) problems.push(clusterAbstractRefusal(runtime, cluster), clusterTcpKeepaliveRefusal(cluster, runtime));
  (bootstrap.statsSinks ?? []).forEach((sink, i) => problems.push(statsSinkRefusal(sink, i, runtime, bootstrap.node)));
  return problems.filter((p): p is string => p !== undefined);
}
