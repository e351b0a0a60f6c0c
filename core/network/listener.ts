import type { ListenerConfig } from "../config/bootstrap.ts";
import type { Listener, Socket, SocketAddress } from "../port.ts";
import type { ServerContext } from "../server-context.ts";
import { formatAddress } from "./address.ts";
import { Connection, type ConnectionCallbacks, type ConnectionEvent } from "./connection.ts";
import { ListenerStats } from "./listener-stats.ts";
import type { ReadFilterFactory } from "./filter.ts";
import { NetworkFilterManager } from "./filter-manager.ts";
import { createReadFilterFactory } from "./network-filter-registry.ts";

/**
 * One configured listener (Envoy's `ActiveTcpListener`): binds its address, and for
 * each accepted socket builds a connection, its filter chain and the chain's filters.
 * Tracks its live connections so shutdown can close them.
 */
export class ActiveListener {
  readonly name: string;
  private listener: Listener | undefined;
  private readonly filterFactories: ReadFilterFactory[];
  private readonly connections = new Set<Connection>();
  private readonly stats: ListenerStats;
  private onAllClosed: (() => void) | undefined;

  constructor(
    readonly config: ListenerConfig,
    private readonly context: ServerContext,
  ) {
    this.name = config.name;
    this.stats = new ListenerStats(context.stats, config.address, config.statPrefix);
    // One filter chain until filter_chain_match is supported: the config loader
    // guarantees there is exactly one.
    this.filterFactories = config.filterChains[0]!.filters.map((filter) => createReadFilterFactory(filter, context));
  }

  /** The address it listens on, while it does. */
  get boundAddress(): SocketAddress | undefined {
    return this.listener?.address;
  }

  get activeConnections(): number {
    return this.connections.size;
  }

  async start(): Promise<void> {
    const { address, port } = this.config.address;
    this.listener = await this.context.runtime.listen({ address, port }, (socket) => this.onAccept(socket));
    this.context.log.info(`listener '${this.name}' listening on ${formatAddress(this.listener.address)}`);
  }

  private onAccept(socket: Socket): void {
    const connection = new Connection(socket, this.config.perConnectionBufferLimitBytes);
    connection.rememberAddresses();
    const tracer = this.context.tracer;
    if (tracer.on && tracer.admitConnection(this.name)) {
      connection.trace = tracer;
      const remote = connection.remoteAddress;
      tracer.record("accept", connection.id, -1, `${remote ? formatAddress(remote) : "?"} on ${this.name}`);
      tracer.record("filter_chain", connection.id, -1, this.config.filterChains[0]!.filters.map((f) => f.name).join(","));
    }
    this.connections.add(connection);
    this.stats.downstreamCxTotal.inc();
    this.stats.downstreamCxActive.inc();
    connection.addConnectionCallbacks(new ListenerConnection(this, connection, this.context.runtime.now()));
    if (this.context.log.enabled("debug")) {
      const remote = socket.remoteAddress;
      this.context.log.debug(`[C${connection.id}] new connection from ${remote ? formatAddress(remote) : "?"} on '${this.name}'`);
    }
    const filters = new NetworkFilterManager(connection);
    for (const factory of this.filterFactories) filters.addReadFilter(factory(connection));
    if (!filters.initializeReadFilters()) connection.close("FlushWrite");
  }

  /** @internal A connection accepted here closed. */
  onConnectionClosed(connection: Connection, openedAt: number): void {
    const stats = this.stats;
    stats.downstreamCxActive.dec();
    stats.downstreamCxDestroy.inc();
    stats.downstreamCxLengthMs.record(this.context.runtime.now() - openedAt);
    this.connections.delete(connection);
    if (this.connections.size === 0) this.onAllClosed?.();
  }

  /** Stop accepting new connections. */
  stopListening(): void {
    this.listener?.close();
    this.listener = undefined;
  }

  /** Close every live connection after flushing; resolves when all are gone. */
  closeConnections(): Promise<void> {
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onAllClosed = resolve;
      for (const connection of this.connections) connection.close("FlushWrite");
    });
  }
}

/**
 * The listener's watch on one accepted connection (its stats and its place in the
 * listener's set): a small object, not closures, as there is one per connection.
 */
class ListenerConnection implements ConnectionCallbacks {
  constructor(
    private readonly listener: ActiveListener,
    private readonly connection: Connection,
    private readonly openedAt: number,
  ) {}

  onEvent(event: ConnectionEvent): void {
    if (event !== "Connected") this.listener.onConnectionClosed(this.connection, this.openedAt);
  }

  onAboveWriteBufferHighWatermark(): void {}

  onBelowWriteBufferLowWatermark(): void {}
}
