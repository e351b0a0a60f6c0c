import type { AccessLogger } from "../access-log/logger.ts";
import type { Timers } from "../event/timers.ts";
import type { InitManager } from "../init/init-manager.ts";
import type { Logger } from "../log.ts";
import { NULL_OVERLOAD_STATE, type OverloadState } from "../overload/overload-manager.ts";
import type { Runtime } from "../port.ts";
import type { RuntimeSnapshot } from "../runtime/runtime-loader.ts";
import type { ServerContext } from "../server-context.ts";
import type { StatsStore } from "../stats/stats-store.ts";
import type { Tracer } from "../trace/tracer.ts";
import type { ClusterManager } from "../upstream/cluster-manager.ts";

/**
 * The server as the admin listener and its connection manager see it: everything the
 * server's, except the overload manager, which is Envoy's null one — the admin is not
 * shed, so an overloaded proxy can still be looked at.
 */
export class AdminListenerContext implements ServerContext {
  readonly overload: OverloadState = NULL_OVERLOAD_STATE;

  constructor(private readonly server: ServerContext) {}

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
  accessLoggers(filterConfig: object): readonly AccessLogger[] {
    return this.server.accessLoggers(filterConfig);
  }
  drainClose(): boolean {
    return this.server.drainClose();
  }
  healthCheckFailed(): boolean {
    return this.server.healthCheckFailed();
  }
  get localClusterName(): string {
    return this.server.localClusterName;
  }
}
