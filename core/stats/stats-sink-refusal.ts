import type { StatsSinkConfig } from "../config/bootstrap.ts";
import type { Runtime } from "../port.ts";

/** Why this runtime cannot run stats sink `i`, or undefined: a UDP sink needs the port's UDP sockets. */
export function statsSinkRefusal(config: StatsSinkConfig, i: number, runtime: Runtime): string | undefined {
  if (config.kind === "statsd_tcp" || runtime.udp !== undefined) return undefined;
  return `stats_sinks[${i}]: ${config.kind === "dog_statsd" ? "envoy.stat_sinks.dog_statsd" : "envoy.stat_sinks.statsd"} sends UDP datagrams, and polyvoy on ${runtime.name} has no UDP sockets`;
}
