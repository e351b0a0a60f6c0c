import type { Bootstrap } from "./config/bootstrap.ts";
import type { Logger } from "./log.ts";
import type { Runtime } from "./port.ts";
import type { ServerContext } from "./server-context.ts";
import { formatAddress } from "./network/address.ts";
import { ActiveListener } from "./network/listener.ts";
import { ClusterManager } from "./upstream/cluster-manager.ts";
import { StatsStore } from "./stats/stats-store.ts";
import { AccessLogManager, type AccessLogger } from "./access-log/logger.ts";

const NO_LOGGERS: readonly AccessLogger[] = [];

/** How long shutdown waits for connections to flush and close before giving up. */
const SHUTDOWN_GRACE_MS = 5000;

/**
 * The proxy server built from a bootstrap (Envoy's `Server::InstanceImpl`): the
 * cluster manager and the listeners, started together and shut down together.
 */
export class Server implements ServerContext {
  readonly stats = new StatsStore();
  readonly clusterManager: ClusterManager;
  /** Built by start(), once the access log files they write to are open. */
  readonly listeners: ActiveListener[] = [];
  private readonly accessLogManager: AccessLogManager;
  /** Each filter config's access loggers (opened at startup, shared by its connections). */
  private readonly accessLogs = new Map<object, AccessLogger[]>();

  constructor(
    readonly runtime: Runtime,
    readonly bootstrap: Bootstrap,
    readonly log: Logger,
  ) {
    this.clusterManager = new ClusterManager(bootstrap.clusters, this.stats);
    this.clusterManager.context = this;
    this.accessLogManager = new AccessLogManager(runtime);
  }

  accessLoggers(filterConfig: object): readonly AccessLogger[] {
    return this.accessLogs.get(filterConfig) ?? NO_LOGGERS;
  }

  /**
   * Bind every listener. If one cannot bind, the ones already bound are closed and
   * the error names the listener and its address, as Envoy's startup does.
   */
  async start(): Promise<void> {
    await this.openAccessLogs();
    for (const config of this.bootstrap.listeners) this.listeners.push(new ActiveListener(config, this));
    for (const [i, listener] of this.listeners.entries()) {
      try {
        await listener.start();
      } catch (err) {
        for (const started of this.listeners.slice(0, i)) started.stopListening();
        const address = formatAddress(this.bootstrap.listeners[i]!.address);
        const reason = err && typeof err === "object" && "message" in err ? (err as { message: string }).message : String(err);
        const code = err && typeof err === "object" && "code" in err ? ` (${(err as { code: string }).code})` : "";
        throw new Error(`listener '${listener.name}' cannot bind to ${address}: ${reason}${code}`);
      }
    }
  }

  /**
   * Open every access log file before anything listens: a file that cannot be opened
   * is a startup error naming it, as in Envoy.
   */
  private async openAccessLogs(): Promise<void> {
    for (const [i, listener] of this.bootstrap.listeners.entries()) {
      for (const [f, filter] of (listener.filterChains[0]?.filters ?? []).entries()) {
        const configs = filter.config.accessLog;
        if (!configs?.length) continue;
        try {
          this.accessLogs.set(filter.config, await this.accessLogManager.createAccessLoggers(configs));
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          throw new Error(`static_resources.listeners[${i}].filter_chains[0].filters[${f}].typed_config.access_log: ${message}`);
        }
      }
    }
  }

  /** Stop accepting, close live connections after flushing, write out access logs; resolve when done (or after a grace period). */
  async shutdown(): Promise<void> {
    for (const listener of this.listeners) listener.stopListening();
    const closed = Promise.all(this.listeners.map((listener) => listener.closeConnections()));
    await this.within(SHUTDOWN_GRACE_MS, closed);
    // A stuck stdout reader must not hold the exit: the logs get a bounded time too.
    await this.within(SHUTDOWN_GRACE_MS, this.accessLogManager.close());
  }

  private async within(ms: number, work: Promise<unknown>): Promise<void> {
    let timer: unknown;
    const grace = new Promise<void>((resolve) => (timer = this.runtime.setTimeout(resolve, ms)));
    await Promise.race([work.catch(() => {}), grace]);
    this.runtime.clearTimeout(timer);
  }
}
