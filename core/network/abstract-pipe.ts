import type { ClusterConfig, LocalityLbEndpointsConfig, SocketAddressConfig } from "../config/bootstrap.ts";
import { formatAddress } from "./address.ts";
import type { Runtime } from "../port.ts";

/**
 * Why `runtime` cannot bind or connect to `address`, a Unix socket in Linux's abstract
 * namespace (`@name`) as Envoy names it (PipeInstance: the name's own length), or
 * undefined when it can or the address is no such socket (Runtime.abstractPipeUnsupported).
 * A listener and a cluster's endpoint are refused with the same words.
 */
export function abstractPipeRefusal(runtime: Runtime, address: { readonly address: string; readonly pipe?: unknown }): string | undefined {
  const reason = address.pipe !== undefined && address.address.startsWith("@") ? runtime.abstractPipeUnsupported : undefined;
  return reason === undefined ? undefined : `an abstract Unix socket (${address.address}) is not supported on ${runtime.name}: ${reason}`;
}

/** The refusal of a listener named `name` on `address`, naming it (ActiveListener.start, `--mode validate`), or undefined. */
export function listenerAbstractRefusal(runtime: Runtime, name: string, address: SocketAddressConfig): string | undefined {
  const refusal = abstractPipeRefusal(runtime, address);
  return refusal === undefined ? undefined : `listener '${name}': ${refusal}`;
}

/** The admin's: the line a start that cannot bind it stops with (Server.start), or undefined. */
export function adminAbstractRefusal(runtime: Runtime, address: SocketAddressConfig): string | undefined {
  const refusal = listenerAbstractRefusal(runtime, "admin", address);
  return refusal === undefined ? undefined : `admin listener cannot bind to ${formatAddress(address)}: ${refusal}`;
}

/**
 * The refusal of the first endpoint of a cluster's load assignment `runtime` cannot connect
 * to, naming the cluster, or undefined: every connect to it would fail, so the cluster is
 * refused where it is taken — its start, a CDS update, `--mode validate` — as a listener on
 * one is. (An EDS update's endpoints: abstractEndpointRefusal, rejected without the name.)
 */
export function clusterAbstractRefusal(runtime: Runtime, config: ClusterConfig): string | undefined {
  const refusal = abstractEndpointRefusal(runtime, config.endpoints);
  return refusal === undefined ? undefined : `cluster '${config.name}': ${refusal}`;
}

/** The refusal (abstractPipeRefusal) of the first of `endpoints` (a load assignment's) `runtime` cannot connect to, or undefined. */
export function abstractEndpointRefusal(runtime: Runtime, endpoints: readonly LocalityLbEndpointsConfig[]): string | undefined {
  if (runtime.abstractPipeUnsupported === undefined) return undefined;
  for (const group of endpoints) {
    for (const endpoint of group.lbEndpoints) {
      const refusal = abstractPipeRefusal(runtime, endpoint.address);
      if (refusal !== undefined) return refusal;
    }
  }
  return undefined;
}
