import type { InitManager } from "./init/init-manager.ts";
import type { Logger } from "./log.ts";
import type { Dispatcher } from "./event/dispatcher.ts";
import type { StatsStore } from "./stats/stats-store.ts";
import type { Tracer } from "./trace/tracer.ts";
import type { AccessLogger } from "./access-log/logger.ts";
import type { ClusterManager } from "./upstream/cluster-manager.ts";
import type { OverloadState } from "./overload/overload-manager.ts";
import type { RuntimeSnapshot } from "./runtime/runtime-loader.ts";
import type { SecretManager } from "./tls/secret-manager.ts";
import type { XdsManager } from "./config/xds/xds-manager.ts";
import type { DrainCloseTarget } from "./network/drain-manager.ts";

/** What filters and listeners may use of the server (Envoy's `Server::Configuration::FactoryContext`). */
export interface ServerContext extends Dispatcher {
  readonly log: Logger;
  readonly clusterManager: ClusterManager;
  readonly stats: StatsStore;
  /** The request-lifecycle trace (off unless started from the admin interface). */
  readonly tracer: Tracer;
  /** The access loggers configured on a filter (its `access_log`), opened at startup. */
  accessLoggers(filterConfig: object): readonly AccessLogger[];
  /**
   * Envoy's `DrainDecision::drainClose()`: true while the server drains (the admin's
   * /healthcheck/fail, or /drain_listeners?graceful): HTTP/1 responses then carry
   * `connection: close` and their connection closes after them.
   */
  drainClose(): boolean;
  /**
   * Envoy's `DrainDecision::addOnDrainCloseCb`: a connection manager asks to be told when
   * its listener or the server starts draining, so an idle connection closes gracefully
   * too (absent: nothing tells it).
   */
  addDrainCloseTarget?(target: DrainCloseTarget, inbound?: boolean): void;
  removeDrainCloseTarget?(target: DrainCloseTarget, inbound?: boolean): void;
  /**
   * drainClose() for a listener of a traffic direction: `/drain_listeners?inboundonly`
   * drains only the listeners whose traffic_direction is INBOUND (absent: drainClose()).
   */
  drainCloseFor?(inbound: boolean): boolean;
  /** Envoy's `healthCheckFailed()`: the admin's /healthcheck/fail is in effect (the health_check filter answers 503). */
  healthCheckFailed(): boolean;
  /** The local node's cluster, `node.cluster` (Envoy's LocalInfo::clusterName); "" when unset. */
  readonly localClusterName: string;
  /** The local node's id, `node.id` (LocalInfo::nodeName): the node_id tag of every span; "" when unset. */
  readonly localNodeId: string;
  /** The local node's zone, `node.locality.zone` (LocalInfo::zoneName): the zone tag of every span; "" when unset. */
  readonly localZone: string;
  /** The overload manager's action states and global connection count (core/overload/). */
  readonly overload: OverloadState;
  /**
   * Envoy's runtime (`layered_runtime`, core/runtime/): the values its layers give runtime
   * keys, over the configured defaults. Named apart from `runtime`, the port.
   */
  readonly layeredRuntime: RuntimeSnapshot;
  /** Secrets by name (static_resources.secrets, SDS files) for TLS contexts; absent: none can be named. */
  readonly secretManager?: SecretManager;
  /** The xDS subscriptions (RDS, EDS, …): stopped at shutdown, listed by /config_dump; absent in tests that need none. */
  readonly xdsManager?: XdsManager;
  /** Work the listeners wait for before they bind (Envoy's init manager). */
  readonly initManager: InitManager;
  /**
   * Run `callback` once the listener whose filters were built with this context is gone
   * (drained after a removal or an update, or never started): what its filter configs
   * keep running — an RDS subscription, jwt_authn's JWKS refetch timer — stops with it, as
   * Envoy's go with the destroyed filter config. Absent (the server's own context): never.
   */
  onListenerDestroyed?(callback: () => void): void;
  /**
   * Run `flush` when the server shuts down, once its connections are closed (their streams'
   * spans finished) and before the stats' final flush: what a tracer holds goes out then, as
   * Envoy's Datadog tracer flushes when it is destroyed. The server waits for it up to its
   * grace period. Returns what removes it (the listener gone first).
   */
  onShutdown?(flush: () => Promise<void>): () => void;
}
