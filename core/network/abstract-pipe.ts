import type { LocalityLbEndpointsConfig } from "../config/bootstrap.ts";
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
