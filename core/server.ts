import type { Bootstrap } from "./config/bootstrap.ts";
import type { Logger } from "./log.ts";
import type { Runtime } from "./port.ts";
import type { ServerContext } from "./server-context.ts";
import { formatAddress } from "./network/address.ts";
import { ActiveListener } from "./network/listener.ts";
import { ClusterManager } from "./upstream/cluster-manager.ts";

/** How long shutdown waits for connections to flush and close before giving up. */
const SHUTDOWN_GRACE_MS = 5000;

/**
 * The proxy server built from a bootstrap (Envoy's `Server::InstanceImpl`): the
 * cluster manager and the listeners, started together and shut down together.
 */
export class Server implements ServerContext {
  readonly clusterManager: ClusterManager;
  readonly listeners: ActiveListener[];

  constructor(
    readonly runtime: Runtime,
    readonly bootstrap: Bootstrap,
    readonly log: Logger,
  ) {
    this.clusterManager = new ClusterManager(bootstrap.clusters);
    this.clusterManager.context = this;
    this.listeners = bootstrap.listeners.map((config) => new ActiveListener(config, this));
  }

  /**
   * Bind every listener. If one cannot bind, the ones already bound are closed and
   * the error names the listener and its address, as Envoy's startup does.
   */
  async start(): Promise<void> {
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

  /** Stop accepting, close live connections after flushing, resolve when done (or after a grace period). */
  async shutdown(): Promise<void> {
    for (const listener of this.listeners) listener.stopListening();
    const closed = Promise.all(this.listeners.map((listener) => listener.closeConnections()));
    let timer: unknown;
    const grace = new Promise<void>((resolve) => (timer = this.runtime.setTimeout(resolve, SHUTDOWN_GRACE_MS)));
    await Promise.race([closed, grace]);
    this.runtime.clearTimeout(timer);
  }
}
