/** The shapes shared by subscriptions, the gRPC mux and their owners (subscription.ts makes them). */
import type { Logger } from "../../log.ts";
import type { Runtime } from "../../port.ts";
import type { AdsConfigSource, ApiConfigSource, NodeConfig } from "../bootstrap.ts";
import type { RawDiscoveryResponse } from "./raw-discovery-response.ts";

export interface Subscription {
  /** Resolves when the first update was applied, refused or timed out (the reason it was not applied, or undefined). */
  start(): Promise<string | undefined>;
  stop(): void;
  /** version_info of the last accepted update ("" before one). */
  readonly versionInfo: string;
  /** Wall-clock ms of the last accepted update (0 before one). */
  readonly lastUpdated: number;
  /** Wall-clock ms now (the port's). */
  clock(): number;
  /**
   * A management server's subscription: settles once start() put its watch on the stream
   * (or gave up), so an owner can hold its update's ACK until the subscriptions it started
   * are asked for (Envoy's CDS: the EDS request before the CDS ACK).
   */
  readonly subscribed?: Promise<void>;
}

/** What a gRPC mux calls for one watch (Envoy's SubscriptionCallbacks). */
export interface WatchCallbacks {
  /** The resources of the watch's type (those it names, for a named watch); throw to NACK. */
  onConfigUpdate(response: RawDiscoveryResponse): Promise<void>;
  /** The stream failed (Envoy's ConnectionFailure). */
  onConfigUpdateFailed(reason: string): void;
  /**
   * A response of the watch's type was refused before it reached the watches (a resource
   * that does not decode, of another type, a name twice): Envoy's onConfigUpdateFailed
   * (UpdateRejected), called on every watch of the type.
   */
  onConfigUpdateRejected?(reason: string): void;
}

export interface Watch {
  remove(): void;
}

/** A management server's stream (grpc-mux.ts), shared by every subscription of its source. */
export interface GrpcMuxLike {
  watch(typeUrl: string, resourceNames: readonly string[], callbacks: WatchCallbacks): Watch;
}

/** How a subscription reaches its gRPC mux: the server opens it (once per source and type, or ADS) and hands it over. */
export type OpenMux = (source: ApiConfigSource | AdsConfigSource, typeUrl: string) => Promise<GrpcMuxLike>;

/** A POST's answer: the status and the body (at most maxResponseBytes). */
export interface RestResponse {
  readonly status: number;
  readonly body: Uint8Array;
}

/** How a REST subscription sends (the server's, over its AsyncClient); rejects on a reset, a timeout or a body over the limit. */
/** `onCancel` receives what gives the request up (a stopped subscription must not leave its poll running: Envoy's RestApiFetcher cancels in its destructor). */
export type RestFetch = (clusterName: string, path: string, body: Uint8Array, timeoutMs: number, maxResponseBytes: number, onCancel?: (cancel: () => void) => void) => Promise<RestResponse>;

/** Everything a subscription needs besides its own name and callback. */
export interface SubscriptionContext {
  readonly runtime: Runtime;
  readonly log: Logger;
  /** Absent: only file sources (a config without a management server). */
  readonly openMux?: OpenMux | undefined;
  /** How a REST source polls (absent: no REST sources). */
  readonly restFetch?: RestFetch | undefined;
  /** The bootstrap's node, for REST requests (a gRPC mux has its own). */
  readonly node?: NodeConfig | undefined;
  /**
   * A cluster of static_resources that is not EDS (Envoy's ClusterManager primary
   * clusters): the only ones a management server's stream may use
   * (checkApiConfigSourceSubscriptionBackingCluster). Absent: not checked here.
   */
  readonly isPrimaryCluster?: ((name: string) => boolean) | undefined;
}

