import type { FilterChainConfig, ListenerConfig } from "../config/bootstrap.ts";
import type { Listener, Socket, SocketAddress, SocketHandler } from "../port.ts";
import type { ServerContext } from "../server-context.ts";
import { formatAddress } from "./address.ts";
import { Connection, type ConnectionCallbacks, type ConnectionEvent } from "./connection.ts";
import { ListenerStats } from "./listener-stats.ts";
import type { ReadFilterFactory } from "./filter.ts";
import { NetworkFilterManager } from "./filter-manager.ts";
import { createReadFilterFactory } from "./network-filter-registry.ts";
import { SslSocketFactory } from "../tls/ssl-socket-factory.ts";

/**
 * One configured listener (Envoy's `ActiveTcpListener`): binds its address, and for
 * each accepted socket builds a connection, its filter chain and the chain's filters.
 * Tracks its live connections so shutdown can close them.
 */
export class ActiveListener {
  readonly name: string;
  private listener: Listener | undefined;
  private readonly filterFactories: ReadFilterFactory[];
  /** Each filter chain's TLS (its transport_socket), once built by prepareTransportSockets. */
  private readonly transportSocketFactories = new Map<FilterChainConfig, SslSocketFactory>();
  private readonly connections = new Set<Connection>();
  private readonly stats: ListenerStats;
  private onAllClosed: (() => void) | undefined;
  /** stop_accepting_connections holds the listener closed (resumed on the address it had). */
  private paused = false;
  /** stopListening was called: the listener never listens again. */
  private stopped = false;
  /** The address bound, kept to listen there again after a pause. */
  private lastAddress: SocketAddress | undefined;

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

  /**
   * Build the filter chain's transport socket (TLS contexts, from files read through the
   * port), before the listener binds. Rejects naming the field when the config cannot be
   * served on this runtime (a bad key, a setting its TLS cannot honour).
   */
  async prepareTransportSockets(): Promise<void> {
    // Envoy's listener-wide `listener.<address>.ssl.*` scope, shared by its chains.
    const scope = this.context.stats.scope(`${this.stats.prefix}ssl.`);
    for (const [i, chain] of this.config.filterChains.entries()) {
      if (!chain.transportSocket) continue;
      try {
        this.transportSocketFactories.set(chain, await SslSocketFactory.create(this.context.runtime, chain.transportSocket, scope));
      } catch (err) {
        throw new Error(`filter_chains[${i}].transport_socket: ${describe(err)}`);
      }
    }
  }

  async start(): Promise<void> {
    const { address, port } = this.config.address;
    this.listener = await this.context.runtime.listen({ address, port }, (socket) => this.onAccept(socket));
    this.lastAddress = this.listener.address;
    this.context.log.info(`listener '${this.name}' listening on ${formatAddress(this.listener.address)}`);
  }

  /**
   * envoy.overload_actions.stop_accepting_connections: stop accepting while it is
   * saturated. Envoy stops polling its listening socket, so new connections wait in the
   * kernel's backlog; the port has no such pause, so the listener closes, and new
   * connections are refused until it listens again on the same address.
   */
  pauseAccepting(): void {
    if (this.paused || this.stopped) return;
    this.paused = true;
    this.listener?.close();
    this.listener = undefined;
    this.context.log.info(`listener '${this.name}' stopped accepting connections (overload)`);
  }

  resumeAccepting(): void {
    if (!this.paused) return;
    this.paused = false;
    const bound = this.lastAddress;
    if (this.stopped || bound === undefined || this.listener !== undefined) return;
    this.context.runtime.listen({ address: bound.address, port: bound.port }, (socket) => this.onAccept(socket)).then(
      (listener) => {
        // Paused again, or stopped, while binding: the new socket goes at once.
        if (this.paused || this.stopped) return listener.close();
        this.listener = listener;
        this.context.log.info(`listener '${this.name}' accepting connections again`);
      },
      (err: unknown) => this.context.log.error(`listener '${this.name}' cannot listen again on ${formatAddress(bound)}: ${describe(err)}`),
    );
  }

  private onAccept(socket: Socket): void {
    // The overload manager's proactive global connection limit, then
    // reject_incoming_connections' fraction, as Envoy's TcpListenerImpl::onSocketEvent
    // checks them before a connection is made: the socket is closed at once.
    const overload = this.context.overload;
    const counted = this.config.ignoreGlobalConnLimit !== true;
    if (counted && !overload.tryAllocateDownstreamConnection()) {
      this.stats.downstreamGlobalCxOverflow.inc();
      return closeAtOnce(socket);
    }
    const rejectFraction = overload.rejectIncomingConnections.value;
    if (rejectFraction > 0 && (rejectFraction >= 1 || this.context.runtime.random() < rejectFraction)) {
      if (counted) overload.releaseDownstreamConnection();
      this.stats.downstreamCxOverloadReject.inc();
      return closeAtOnce(socket);
    }
    // One filter chain until filter_chain_match: chosen as the socket is accepted, with no
    // bytes peeked (listener filters, when they come, pass what they read).
    socket = this.applyTransportSocket(this.config.filterChains[0]!, socket, undefined);
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

  /**
   * The hook between choosing a filter chain and running its network filters: a chain
   * with a transport socket (TLS) gets the accepted socket upgraded through the port's
   * TLS capability, handing it `peeked` — bytes listener filters already read (a TLS
   * inspector's ClientHello) — so the handshake sees every byte. The filters then see
   * plaintext only.
   */
  private applyTransportSocket(chain: FilterChainConfig, socket: Socket, peeked: Uint8Array | undefined): Socket {
    const factory = this.transportSocketFactories.get(chain);
    return factory ? factory.accept(socket, peeked) : socket;
  }

  /** @internal A connection accepted here closed. */
  onConnectionClosed(connection: Connection, openedAt: number): void {
    const stats = this.stats;
    stats.downstreamCxActive.dec();
    stats.downstreamCxDestroy.inc();
    stats.downstreamCxLengthMs.record(this.context.runtime.now() - openedAt);
    this.connections.delete(connection);
    if (this.config.ignoreGlobalConnLimit !== true) this.context.overload.releaseDownstreamConnection();
    if (this.connections.size === 0) this.onAllClosed?.();
  }

  /** Stop accepting new connections. */
  stopListening(): void {
    this.stopped = true;
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

/** Handles the events of a socket refused at accept: there is nothing to do with them. */
const REFUSED_SOCKET: SocketHandler = {
  onConnect() {},
  onData() {},
  onEnd() {},
  onDrain() {},
  onClose() {},
};

/** Close a socket refused at accept, before anything is read from or written to it. */
function closeAtOnce(socket: Socket): void {
  socket.setHandler(REFUSED_SOCKET);
  socket.close();
}

function describe(err: unknown): string {
  return err && typeof err === "object" && "message" in err ? String((err as { message: unknown }).message) : String(err);
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
