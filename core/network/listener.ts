import type { FilterChainConfig, ListenerConfig } from "../config/bootstrap.ts";
import { sharedSocketRefusal } from "../concurrency.ts";
import { listenerAbstractRefusal } from "./abstract-pipe.ts";
import type { Listener, Socket, SocketAddress, SocketHandler } from "../port.ts";
import type { Timer } from "../event/timers.ts";
import { ActiveTcpSocket, type ActiveTcpSocketOwner } from "./active-tcp-socket.ts";
import type { AccessLogger } from "../access-log/logger.ts";
import { ListenerAccessLogContext } from "./listener-access-log-context.ts";
import { FilterChainManager, type ConnectionSocketInfo } from "./filter-chain-manager.ts";
import { DEFAULT_LISTENER_FILTERS_TIMEOUT_MS, type ListenerFilterFactory } from "./listener-filters/listener-filter.ts";
import { createListenerFilterFactory } from "./listener-filters/listener-filter-registry.ts";

import type { ServerContext } from "../server-context.ts";
import type { ComponentLogger } from "../log.ts";
import { formatAddress, unmapIpv4 } from "./address.ts";
import { Connection, type ConnectionCallbacks, type ConnectionEvent } from "./connection.ts";
import { ListenerStats } from "./listener-stats.ts";
import type { ReadFilterFactory } from "./filter.ts";
import { NetworkFilterManager } from "./filter-manager.ts";
import { createReadFilterFactory, loadNetworkFilterFactories } from "./network-filter-registry.ts";
import type { SslSocketFactory } from "../tls/ssl-socket-factory.ts";
import { UdpProxyListener } from "../udp/udp-proxy.ts";

/** A filter chain as the listener runs it: its config and its network filters' factories. */
export class FilterChain {
  readonly filterFactories: ReadFilterFactory[];

  constructor(
    readonly config: FilterChainConfig,
    context: ServerContext,
  ) {
    this.filterFactories = config.filters.map((filter) => createReadFilterFactory(filter, context));
  }
}

/**
 * Import the modules of the filters `config`'s chains use that are not loaded yet (filters
 * registered lazily, core/extensions.ts); undefined when there is none. Awaited before the
 * listener is built, whose filter factories are made synchronously.
 */
export function loadListenerFilters(config: ListenerConfig, context: ServerContext): Promise<void> | undefined {
  const chains = config.defaultFilterChain !== undefined ? [...config.filterChains, config.defaultFilterChain] : config.filterChains;
  return loadNetworkFilterFactories(chains.flatMap((chain) => chain.filters), context);
}

/**
 * One configured listener (Envoy's `ActiveTcpListener`): binds its address, and for
 * each accepted socket runs the listener filters (ActiveTcpSocket), chooses a filter
 * chain by filter_chain_match (FilterChainManager), and builds the connection and the
 * chain's network filters (`newConnection`). Tracks its live connections so shutdown
 * can close them.
 */
export class ActiveListener implements ActiveTcpSocketOwner {
  readonly name: string;
  private listener: Listener | undefined;
  private readonly filterChains: FilterChainManager<FilterChain>;
  private readonly listenerFilterFactories: ListenerFilterFactory[];
  /** Each filter chain's TLS (its transport_socket), once built by prepareTransportSockets. */
  private readonly transportSocketFactories = new Map<FilterChainConfig, SslSocketFactory>();
  private readonly connections = new Set<Connection>();
  /** Sockets still in the listener filters. */
  private readonly pendingSockets = new Set<ActiveTcpSocket>();
  readonly stats: ListenerStats;
  /** access_log of this listener (empty: nothing to log, nothing to record). */
  private readonly accessLoggers: readonly AccessLogger[];
  /** envoy.resource_limits.listener.<name>.connection_limit */
  private readonly connectionLimitKey: string;
  /** Called once no connection (or socket in the listener filters) is left. */
  private allClosedWaiters: (() => void)[] = [];
  /**
   * Who the bound socket's accepted connections go to: this listener, or the one that
   * took its socket over (a listener updated in place, takeOver).
   */
  private acceptor: { target: ActiveListener } = { target: this };
  /** stop_accepting_connections holds the listener closed (resumed on the address it had). */
  private paused = false;
  /** stopListening was called: the listener never listens again. */
  private stopped = false;
  /** The address bound, kept to listen there again after a pause. */
  private lastAddress: SocketAddress | undefined;
  /**
   * In a worker process (--concurrency), every worker binds the same address and the
   * kernel (SO_REUSEPORT) or node:cluster spreads connections over them, as Envoy's
   * worker threads share each listener (Envoy's enable_reuse_port). The admin's own is
   * `exclusive`: each worker's admin is its own, on a port of its own.
   */
  private readonly shared: boolean;
  /** The conn_handler component's logger (memoised: a level change reaches it here too). */
  private readonly connLog: ComponentLogger;
  /** A UDP listener's proxy (config.udp): it binds, takes over, stops and drains in place of the TCP socket. */
  readonly udp: UdpProxyListener | undefined;

  constructor(
    readonly config: ListenerConfig,
    private readonly context: ServerContext,
    options: { exclusive?: boolean } = {},
  ) {
    this.shared = options.exclusive !== true && context.runtime.workers?.worker !== undefined;
    this.connLog = context.log.component("conn_handler");
    this.name = config.name;
    this.connectionLimitKey = `envoy.resource_limits.listener.${config.name}.connection_limit`;
    this.stats = new ListenerStats(context.stats, config.address, config.statPrefix);
    const chains = config.filterChains.map((chain) => ({ name: chain.name ?? "", match: chain.match, chain: new FilterChain(chain, context) }));
    const fallback = config.defaultFilterChain && new FilterChain(config.defaultFilterChain, context);
    // The config loader made the same check (listenerSchema): this cannot throw here.
    this.filterChains = new FilterChainManager(formatAddress(config.address), chains, fallback);
    this.listenerFilterFactories = (config.listenerFilters ?? []).map((filter) => createListenerFilterFactory(filter, context.stats));
    this.accessLoggers = context.accessLoggers(config);
    this.udp = config.udp !== undefined ? new UdpProxyListener(config.name, config.udp, context, this.stats.prefix) : undefined;
  }

  /**
   * Another worker process serves it: a pipe listener, or a UDP one that workers cannot
   * share, on a worker other than 0 (start below, udp-proxy.ts). This worker holds its
   * config (updates, duplicate paths) but adds it to no socket.
   */
  get servedElsewhere(): boolean {
    return this.leftToWorkerZero;
  }
  private leftToWorkerZero = false;

  /** The address it listens on, while it does. */
  get boundAddress(): SocketAddress | undefined {
    return this.udp !== undefined ? this.udp.boundAddress : this.listener?.address;
  }

  /** Connections, or a UDP listener's sessions. */
  get activeConnections(): number {
    return this.udp !== undefined ? this.udp.activeSessions : this.connections.size;
  }

  /**
   * Build the filter chain's transport socket (TLS contexts, from files read through the
   * port), before the listener binds. Rejects naming the field when the config cannot be
   * served on this runtime (a bad key, a setting its TLS cannot honour). Secrets from a
   * management server are not waited for here: every chain's are asked for at once and
   * their first updates (or initial_fetch_timeout) are the listener's init targets, which
   * the listener manager awaits outside its queue (Envoy's listener warming). The
   * factories release their secrets when the listener is gone (its context's destroy).
   */
  async prepareTransportSockets(): Promise<void> {
    // Envoy's listener-wide `listener.<address>.ssl.*` scope, shared by its chains.
    const scope = this.context.stats.scope(`${this.stats.prefix}ssl.`);
    const factoryScope = this.context.stats.scope(`${this.stats.prefix}server_ssl_socket_factory.`);
    const chains: [FilterChainConfig, string][] = this.config.filterChains.map((chain, i) => [chain, `filter_chains[${i}]`]);
    if (this.config.defaultFilterChain) chains.push([this.config.defaultFilterChain, "default_filter_chain"]);
    const tlsChains = chains.filter(([chain]) => chain.transportSocket !== undefined);
    if (tlsChains.length === 0) return;
    // TLS's code loads only when a listener or cluster has a transport socket. Its failure
    // to load is no config error: said apart from one.
    const { SslSocketFactory } = await import("../tls/ssl-socket-factory.ts").catch((err: unknown) => {
      throw new Error(`${tlsChains[0]![1]}.transport_socket: cannot load the TLS code: ${describe(err)}`);
    });
    const built = await Promise.allSettled(
      tlsChains.map(([chain, at]) =>
        SslSocketFactory.createWarming(this.context.runtime, chain.transportSocket!, scope, false, this.context.secretManager, factoryScope).then(
          (factory) => {
            this.transportSocketFactories.set(chain, factory);
            return factory;
          },
          (err: unknown) => Promise.reject(new Error(`${at}.transport_socket: ${describe(err)}`)),
        ),
      ),
    );
    // Gone with the listener (drained, replaced while warming, or never built).
    this.context.onListenerDestroyed?.(() => {
      for (const factory of this.transportSocketFactories.values()) factory.close();
    });
    const failed = built.find((result): result is PromiseRejectedResult => result.status === "rejected");
    if (failed) throw failed.reason;
    for (const factory of this.transportSocketFactories.values()) for (const target of factory.initTargets) this.context.initManager.add(target.name, target.ready);
  }

  /** The filter chains' TLS contexts (the admin's /certs). */
  get tlsContexts(): readonly SslSocketFactory[] {
    return [...this.transportSocketFactories.values()];
  }

  async start(): Promise<void> {
    const { address, port } = this.config.address;
    if (this.config.reusePortBothSet) this.context.log.warn(`both enable_reuse_port and reuse_port set on listener '${this.name}', preferring enable_reuse_port.`);
    // enable_reuse_port: false across workers is one socket they all accept from (Envoy
    // duplicates the first worker's socket for the others: ListenSocketFactoryImpl), which
    // only a runtime whose workers can share a socket offers. One process has one socket
    // whatever the field says.
    const refusal = this.shared && this.config.reusePort === false ? sharedSocketRefusal(this.context.runtime) : undefined;
    if (refusal !== undefined) throw new Error(refusal);
    if (this.udp !== undefined) {
      if (!(await this.udp.start(this.config.address, this.shared))) {
        this.leftToWorkerZero = true;
        return;
      }
      const bound = this.udp.boundAddress;
      if (bound !== undefined) this.context.log.info(`listener '${this.name}' listening on ${formatAddress(bound)} (UDP)`);
      return;
    }
    const acceptor = this.acceptor;
    const pipe = this.config.address.pipe;
    const abstractRefusal = listenerAbstractRefusal(this.context.runtime, this.name, this.config.address);
    if (abstractRefusal !== undefined) throw new Error(abstractRefusal);
    // Worker processes each binding one path would unlink each other's socket (Envoy's
    // worker threads share one listening socket, ListenSocketFactoryImpl, which processes
    // cannot: a Unix socket has no SO_REUSEPORT). Worker 0 binds the path and serves it
    // alone, as a UDP listener that cannot be shared (udp-proxy.ts); the others leave it.
    if (pipe && this.shared) {
      const worker = this.context.runtime.workers?.worker;
      if (worker !== undefined && worker.index !== 0) {
        this.context.log.info(`listener '${this.name}': a pipe listener is served by worker 0 alone (worker processes cannot share one Unix socket)`);
        this.leftToWorkerZero = true;
        return;
      }
    }
    this.listener = await this.context.runtime.listen(pipe ? { address, port, pipe } : { address, port, shared: this.shared }, (socket) => acceptor.target.onAccept(socket));
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
    // A UDP listener accepts no connections (Envoy's overload actions act on TCP accepts).
    if (this.paused || this.stopped || this.udp !== undefined) return;
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
    const acceptor = this.acceptor;
    const pipe = this.config.address.pipe;
    this.context.runtime.listen(pipe ? { address: bound.address, port: 0, pipe } : { address: bound.address, port: bound.port, shared: this.shared }, (socket) => acceptor.target.onAccept(socket)).then(
      (listener) => {
        // Paused again, or stopped, while binding: the new socket goes at once.
        if (this.paused || this.stopped) return listener.close();
        this.listener = listener;
        this.context.log.info(`listener '${this.name}' accepting connections again`);
      },
      (err: unknown) => this.context.log.error(`listener '${this.name}' cannot listen again on ${formatAddress(bound)}: ${describe(err)}`),
    );
  }

  /**
   * Take over `previous`'s bound socket (a listener updated in place, Envoy's in-place
   * filter chain update): connections it accepts from now on are this listener's, on its
   * filter chains; those `previous` has keep running on its own until they end or it drains.
   */
  takeOver(previous: ActiveListener): void {
    if (this.udp !== undefined && previous.udp !== undefined) {
      this.udp.takeOver(previous.udp);
      previous.stopped = true;
      return;
    }
    this.listener = previous.listener;
    this.lastAddress = previous.lastAddress;
    this.paused = previous.paused;
    this.acceptor = previous.acceptor;
    this.acceptor.target = this;
    previous.listener = undefined;
    previous.stopped = true;
  }

  /** Resolves once no connection is left (at once if none). */
  whenClosed(): Promise<void> {
    if (this.udp !== undefined) return this.udp.whenClosed();
    if (this.connections.size === 0 && this.pendingSockets.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.allClosedWaiters.push(resolve));
  }

  private onAllClosed(): void {
    const waiters = this.allClosedWaiters;
    if (waiters.length === 0) return;
    this.allClosedWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** @internal The bound socket accepted a connection. */
  onAccept(socket: Socket): void {
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
    // The listener's own limit, a runtime key only (Envoy's ListenerImpl cx_limit_runtime_key_,
    // checked in ActiveTcpListener::onAcceptWorker): no limit unless a layer sets it.
    if (this.connections.size + this.pendingSockets.size >= this.context.layeredRuntime.getInteger(this.connectionLimitKey, Infinity)) {
      if (counted) overload.releaseDownstreamConnection();
      this.stats.downstreamCxOverflow.inc();
      return closeAtOnce(socket);
    }
    if (this.listenerFilterFactories.length === 0) return this.newConnection(socket, acceptedSocketInfo(socket), undefined);
    const pending = new ActiveTcpSocket(
      this,
      socket,
      this.listenerFilterFactories.map((make) => make()),
      this.config.listenerFiltersTimeoutMs ?? DEFAULT_LISTENER_FILTERS_TIMEOUT_MS,
      this.config.continueOnListenerFiltersTimeout === true,
    );
    this.pendingSockets.add(pending);
    if (this.accessLoggers.length > 0) pending.acceptedWallClock = this.context.runtime.wallClock();
    pending.start();
  }

  /**
   * The accepted socket is through the listener filters: choose its filter chain and
   * run it (Envoy's ActiveTcpListener::newConnection). `info` is what the filters found
   * (addresses a PROXY header restored, SNI, ALPN, transport protocol); `peeked` the
   * bytes they read, which the chain's first read gets — or, on a chain with a transport
   * socket, the TLS handshake (applyTransportSocket).
   */
  newConnection(socket: Socket, info: ConnectionSocketInfo, peeked: Uint8Array | undefined): void {
    const pending = info instanceof ActiveTcpSocket ? info : undefined;
    if (pending) this.pendingSockets.delete(pending);
    const chain = this.filterChains.findFilterChain(info);
    if (chain === undefined) {
      this.stats.noFilterChainMatch.inc();
      // Envoy's ActiveStreamListenerBase::newConnection: ENVOY_LOG(debug, …) (conn_handler).
      if (this.connLog.debugOn) {
        const remote = info.remoteAddress;
        this.connLog.debug(`closing connection from ${remote ? formatAddress(remote) : "?"}: no matching filter chain found`);
      }
      this.releaseGlobalConnection();
      // Envoy's stream info gets NR (no route found) for a connection no chain takes.
      if (this.accessLoggers.length > 0) this.logSocket(info, NO_ROUTE_FOUND);
      closeAtOnce(socket);
      if (this.connections.size === 0 && this.pendingSockets.size === 0) this.onAllClosed();
      return;
    }
    if (chain.config.transportSocket !== undefined) {
      socket = this.applyTransportSocket(chain.config, socket, peeked);
      peeked = undefined;
    }
    const connection = new Connection(socket, this.config.perConnectionBufferLimitBytes);
    connection.rememberAddresses();
    if (pending?.addressesRestored) connection.restoreAddresses(pending.localAddressRestored ? pending.localAddress : undefined, pending.remoteAddress);
    connection.requestedServerName = info.requestedServerName;
    connection.ja3Hash = info.ja3Hash ?? "";
    const tracer = this.context.tracer;
    if (tracer.on && tracer.admitConnection(this.name)) {
      connection.trace = tracer;
      const remote = connection.remoteAddress;
      tracer.record("accept", connection.id, -1, `${remote ? formatAddress(remote) : "?"} on ${this.name}`);
      tracer.record("filter_chain", connection.id, -1, chain.config.filters.map((f) => f.name).join(","));
    }
    this.connections.add(connection);
    this.stats.downstreamCxTotal.inc();
    this.stats.downstreamCxActive.inc();
    const watch = new ListenerConnection(this, connection, pending?.acceptedAt ?? this.context.runtime.now());
    if (this.accessLoggers.length > 0) watch.startWallClock = pending?.acceptedWallClock ?? this.context.runtime.wallClock();
    connection.addConnectionCallbacks(watch);
    // Envoy's ActiveStreamListenerBase::newConnection arms the chain's
    // transport_socket_connect_timeout on the server connection; its Connected event (the
    // TLS handshake done: SocketHandler.onConnect) or a close disarms it
    // (connection_impl.cc, ServerConnectionImpl::raiseEvent). A chain without a transport
    // socket is connected at once there: nothing to arm.
    const handshakeTimeout = chain.config.transportSocketConnectTimeoutMs;
    if (handshakeTimeout !== undefined && chain.config.transportSocket !== undefined) watch.armTransportSocketConnectTimeout(handshakeTimeout);
    // Envoy's ActiveStreamListenerBase::newConnection: ENVOY_CONN_LOG(debug, "new connection from {}") (conn_handler).
    const log = this.connLog;
    if (log.debugOn) {
      const remote = connection.remoteAddress;
      log.debug(`[C${connection.id}] new connection from ${remote ? formatAddress(remote) : "?"} on '${this.name}'`);
    }
    const filters = new NetworkFilterManager(connection);
    for (const factory of chain.filterFactories) filters.addReadFilter(factory(connection));
    if (!filters.initializeReadFilters()) connection.close("FlushWrite");
    else if (peeked !== undefined && !connection.isClosed) connection.onData(peeked);
  }

  /** @internal ActiveTcpSocketOwner: a socket closed in the listener filters. */
  onSocketGone(socket: ActiveTcpSocket): void {
    this.pendingSockets.delete(socket);
    if (this.accessLoggers.length > 0) this.logSocket(socket, NO_FLAGS);
    this.releaseGlobalConnection();
    if (this.connections.size === 0 && this.pendingSockets.size === 0) this.onAllClosed();
  }

  /** @internal ActiveTcpSocketOwner */
  createTimer(target: { onTimer(): void }): Timer {
    return this.context.timers.create(target);
  }

  /** @internal ActiveTcpSocketOwner */
  now(): number {
    return this.context.runtime.now();
  }

  private releaseGlobalConnection(): void {
    if (this.config.ignoreGlobalConnLimit !== true) this.context.overload.releaseDownstreamConnection();
  }

  /** A line in the listener's access logs for a socket that never became a connection. */
  private logSocket(info: ConnectionSocketInfo, flags: readonly string[]): void {
    const pending = info instanceof ActiveTcpSocket ? info : undefined;
    const now = this.context.runtime.now();
    const wallClock = pending?.acceptedWallClock ?? this.context.runtime.wallClock();
    const duration = pending ? now - pending.acceptedAt : 0;
    const context = new ListenerAccessLogContext(wallClock, duration, pending?.bytesRead ?? 0, 0, flags, info.remoteAddress, info.localAddress, info.directRemoteAddress, undefined);
    for (const logger of this.accessLoggers) logger.log(context);
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
  onConnectionClosed(connection: Connection, openedAt: number, startWallClock: number): void {
    if (this.accessLoggers.length > 0) {
      const context = new ListenerAccessLogContext(
        startWallClock,
        this.context.runtime.now() - openedAt,
        connection.bytesReceived,
        connection.bytesSent,
        NO_FLAGS,
        connection.remoteAddress,
        connection.localAddress,
        connection.directRemoteAddress,
        connection.id,
      );
      context.connectionTerminationDetails = connection.terminationDetails;
      context.dynamicMetadata = connection.dynamicMetadata;
      for (const logger of this.accessLoggers) logger.log(context);
    }
    const stats = this.stats;
    stats.downstreamCxActive.dec();
    stats.downstreamCxDestroy.inc();
    stats.downstreamCxLengthMs.record(this.context.runtime.now() - openedAt);
    this.connections.delete(connection);
    this.releaseGlobalConnection();
    if (this.connections.size === 0 && this.pendingSockets.size === 0) this.onAllClosed();
  }

  /** Stop accepting new connections. */
  stopListening(): void {
    this.stopped = true;
    this.udp?.stopListening();
    this.listener?.close();
    this.listener = undefined;
  }

  /** Close every live connection after flushing; resolves when all are gone. */
  closeConnections(): Promise<void> {
    if (this.udp !== undefined) return this.udp.closeSessions();
    const closed = this.whenClosed();
    for (const pending of [...this.pendingSockets]) pending.close();
    for (const connection of [...this.connections]) connection.close("FlushWrite");
    return closed;
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

/** An accepted socket that no listener filter looked at: its own addresses, raw_buffer. */
function acceptedSocketInfo(socket: Socket): ConnectionSocketInfo {
  // A dual-stack listener's IPv4 client is an IPv4 address here too, as on the connection.
  const remoteAddress = unmapIpv4(socket.remoteAddress);
  return {
    localAddress: unmapIpv4(socket.localAddress),
    remoteAddress,
    directRemoteAddress: remoteAddress,
    requestedServerName: "",
    detectedTransportProtocol: "raw_buffer",
    requestedApplicationProtocols: NO_PROTOCOLS,
  };
}

const NO_PROTOCOLS: readonly string[] = [];
const NO_FLAGS: readonly string[] = [];
const NO_ROUTE_FOUND: readonly string[] = ["NR"];

function describe(err: unknown): string {
  return err && typeof err === "object" && "message" in err ? String((err as { message: unknown }).message) : String(err);
}

/**
 * The listener's watch on one accepted connection (its stats and its place in the
 * listener's set): a small object, not closures, as there is one per connection.
 */
class ListenerConnection implements ConnectionCallbacks {
  /** Set when the listener has access logs. */
  startWallClock = 0;
  /** The chain's transport_socket_connect_timeout, while the TLS handshake is not done. */
  private handshakeTimer: Timer | undefined;

  constructor(
    private readonly listener: ActiveListener,
    private readonly connection: Connection,
    private readonly openedAt: number,
  ) {}

  armTransportSocketConnectTimeout(ms: number): void {
    this.handshakeTimer = this.listener.createTimer(this);
    this.handshakeTimer.enable(ms);
  }

  /**
   * The handshake was not done in time: Envoy's ServerConnectionImpl::
   * onTransportSocketConnectTimeout counts downstream_cx_transport_socket_connect_timeout
   * and closes without flushing (closeConnectionImmediately). Nothing can be flushed
   * before a handshake, and a TLS socket's graceful close would wait for the handshake
   * (the adapters' close): the socket is reset.
   */
  onTimer(): void {
    this.handshakeTimer = undefined;
    if (this.connection.isClosed) return;
    this.listener.stats.downstreamCxTransportSocketConnectTimeout.inc();
    this.connection.close("Abort");
  }

  onEvent(event: ConnectionEvent): void {
    if (this.handshakeTimer !== undefined) {
      this.handshakeTimer.disable();
      this.handshakeTimer = undefined;
    }
    if (event !== "Connected") this.listener.onConnectionClosed(this.connection, this.openedAt, this.startWallClock);
  }

  onAboveWriteBufferHighWatermark(): void {}

  onBelowWriteBufferLowWatermark(): void {}
}
