import type { Host } from "./host.ts";

/** A host and its share of the priority's weight (all shares add up to 1). */
export type NormalizedHostWeight = readonly [host: Host, weight: number];

/** One priority's consistent hashing structure (Envoy's HashingLoadBalancer: a ring or a Maglev table). */
export interface HashingLoadBalancer {
  chooseHost(hash: bigint, attempt: number): Host | undefined;
}
