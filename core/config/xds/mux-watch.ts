/**
 * What the state-of-the-world mux (grpc-mux.ts, Envoy's GrpcMuxImpl) and the incremental
 * one (delta-grpc-mux.ts, NewGrpcMuxImpl) keep alike per type URL: the watches (a watch
 * naming no resource is the wildcard), the last accepted version, the queue that applies
 * the type's updates one at a time, and a new watch's first update from what the mux
 * already holds. Requests, ACK/NACK and the resources held are each mux's own.
 */
import type { RawDiscoveryResponse } from "./raw-discovery-response.ts";
import type { Watch, WatchCallbacks } from "./subscription-types.ts";

export const EDS_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

/** One type URL's watches, as both muxes keep them. */
export interface WatchedType {
  readonly typeUrl: string;
  readonly watches: Set<MuxWatch<WatchedType>>;
  /** The last accepted version_info (delta: system_version_info); "" before one. */
  versionInfo: string;
  /**
   * Its updates, applied one at a time in order (a watch's held resources, then the
   * responses). Applying does not wait for warming (clusters, listeners), so this only
   * orders the watches' callbacks (a CDS update waits for its EDS answer).
   */
  queue: Promise<void>;
}

/** A mux, as its watches see it. */
interface WatchOwner<S extends WatchedType> {
  removeWatch(watch: MuxWatch<S>): void;
}

export class MuxWatch<S extends WatchedType> implements Watch {
  constructor(
    private readonly mux: WatchOwner<S>,
    readonly state: S,
    readonly names: readonly string[],
    readonly callbacks: WatchCallbacks,
  ) {}

  remove(): void {
    this.mux.removeWatch(this);
  }
}

/** The names `state`'s watches want, and whether one wants all. */
export function wantedNames(state: WatchedType): { names: Set<string>; wildcard: boolean } {
  const names = new Set<string>();
  let wildcard = false;
  for (const watch of state.watches) {
    if (watch.names.length === 0) wildcard = true;
    for (const name of watch.names) names.add(name);
  }
  return { names, wildcard };
}

/**
 * A new watch gets what the mux already holds of its names (`held`): a server need not
 * send a resource again (state of the world: a replaced EDS cluster asks for the same
 * name; delta: a resource is sent once per stream). Read once the responses being
 * applied are done: one applying now was handed to the watches there were when it
 * began, and this watch was not among them. Refused or not, the subscription logs and
 * counts it; the server's next push follows.
 */
export function queueHeldUpdate<S extends WatchedType>(watch: MuxWatch<S>, held: (name: string) => Record<string, unknown> | undefined): void {
  const state = watch.state;
  state.queue = state.queue
    .then(() => {
      const resources = watch.names.flatMap((name) => held(name) ?? []);
      if (resources.length === 0 || !state.watches.has(watch)) return undefined;
      const update: RawDiscoveryResponse = { versionInfo: state.versionInfo, resources };
      return watch.callbacks.onConfigUpdate(update);
    })
    .catch(() => undefined);
}

/** A resource's name: ClusterLoadAssignment's is cluster_name, the others' name. */
export function resourceName(typeUrl: string, resource: Record<string, unknown>): string {
  const name = typeUrl === EDS_TYPE ? resource["cluster_name"] : resource["name"];
  return typeof name === "string" ? name : "";
}
