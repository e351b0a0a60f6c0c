import type { AccessLogger } from "../access-log/logger.ts";
import type { Timers } from "../event/timers.ts";
import type { InitManager } from "../init/init-manager.ts";
import type { Logger } from "../log.ts";
import type { OverloadState } from "../overload/overload-manager.ts";
import type { Runtime } from "../port.ts";
import type { RuntimeSnapshot } from "../runtime/runtime-loader.ts";
import type { ServerContext } from "../server-context.ts";
import type { StatsStore } from "../stats/stats-store.ts";
import type { SecretManager } from "../tls/secret-manager.ts";
import type { Tracer } from "../trace/tracer.ts";
import type { XdsManager } from "../config/xds/xds-manager.ts";
import type { ClusterManager } from "../upstream/cluster-manager.ts";
import type { DrainCloseTarget, DrainManager } from "./drain-manager.ts";

/**
 * The server as one listener's filters see it (Envoy's PerListenerFactoryContextImpl):
 * everything the server's, with the listener's own drain beside the server's — a
 * listener removed or replaced at run time drains its connections while the others
 * serve on (Envoy's per-listener DrainManager, ListenerImpl::local_drain_manager_).
 */
export class ListenerFactoryContext implements ServerContext {
  /** What stops when the listener is gone (onListenerDestroyed). */
  private destroyCallbacks: (() => void)[] | undefined = [];

  constructor(
    protected readonly server: ServerContext,
    /** The listener's own drain (none: only the server's). */
    private readonly drain?: DrainManager,
    /** The listener's traffic_direction is INBOUND (`/drain_listeners?inboundonly` drains it). */
    private readonly inbound = false,
  ) {}

  get runtime(): Runtime {
    return this.server.runtime;
  }
  get timers(): Timers {
    return this.server.timers;
  }
  get log(): Logger {
    return this.server.log;
  }
  get clusterManager(): ClusterManager {
    return this.server.clusterManager;
  }
  get stats(): StatsStore {
    return this.server.stats;
  }
  get tracer(): Tracer {
    return this.server.tracer;
  }
  get initManager(): InitManager {
    return this.server.initManager;
  }
  get layeredRuntime(): RuntimeSnapshot {
    return this.server.layeredRuntime;
  }
  get overload(): OverloadState {
    return this.server.overload;
  }
  get secretManager(): SecretManager | undefined {
    return this.server.secretManager;
  }
  get xdsManager(): XdsManager | undefined {
    return this.server.xdsManager;
  }
  get localClusterName(): string {
    return this.server.localClusterName;
  }
  get localNodeId(): string {
    return this.server.localNodeId;
  }
  get localZone(): string {
    return this.server.localZone;
  }
  accessLoggers(filterConfig: object): readonly AccessLogger[] {
    return this.server.accessLoggers(filterConfig);
  }
  drainClose(): boolean {
    const server = this.inbound && this.server.drainCloseFor ? this.server.drainCloseFor(true) : this.server.drainClose();
    return server || (this.drain?.drainClose() ?? false);
  }
  addDrainCloseTarget(target: DrainCloseTarget): void {
    this.server.addDrainCloseTarget?.(target, this.inbound);
    this.drain?.add(target);
  }
  removeDrainCloseTarget(target: DrainCloseTarget): void {
    this.server.removeDrainCloseTarget?.(target, this.inbound);
    this.drain?.remove(target);
  }
  healthCheckFailed(): boolean {
    return this.server.healthCheckFailed();
  }
  onShutdown(flush: () => Promise<void>): () => void {
    return this.server.onShutdown?.(flush) ?? (() => {});
  }
  onListenerDestroyed(callback: () => void): void {
    if (this.destroyCallbacks === undefined) return callback();
    this.destroyCallbacks.push(callback);
  }
  /** The listener is gone: run what its filters registered (once). */
  destroy(): void {
    const callbacks = this.destroyCallbacks ?? [];
    this.destroyCallbacks = undefined;
    for (const callback of callbacks) callback();
  }
}
