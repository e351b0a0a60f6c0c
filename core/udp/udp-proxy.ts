import type { UdpListenerConfig } from "../config/bootstrap.ts";
import type { ServerContext } from "../server-context.ts";
import type { DatagramSocket, PortError, SocketAddress } from "../port.ts";
import type { Timer, TimerTarget } from "../event/timers.ts";
import type { Counter } from "../stats/counter.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { StatsStore } from "../stats/stats-store.ts";
import type { Cluster } from "../upstream/cluster.ts";
import type { Host } from "../upstream/host.ts";
import { formatAddress } from "../network/address.ts";

/**
 * Envoy's udp_proxy stats, `udp.<stat_prefix>.*` (source/extensions/filters/udp/udp_proxy/
 * udp_proxy_filter.h, ALL_UDP_PROXY_STATS).
 */
export class UdpProxyStats {
  readonly downstreamSessNoRoute: Counter;
  readonly downstreamSessRxBytes: Counter;
  readonly downstreamSessRxDatagrams: Counter;
  readonly downstreamSessRxErrors: Counter;
  readonly downstreamSessTotal: Counter;
  readonly downstreamSessTxBytes: Counter;
  readonly downstreamSessTxDatagrams: Counter;
  readonly downstreamSessTxErrors: Counter;
  readonly idleTimeout: Counter;
  readonly downstreamSessActive: Gauge;

  constructor(store: StatsStore, statPrefix: string) {
    const scope = store.scope(`udp.${statPrefix}.`);
    this.downstreamSessNoRoute = scope.counter("downstream_sess_no_route");
    this.downstreamSessRxBytes = scope.counter("downstream_sess_rx_bytes");
    this.downstreamSessRxDatagrams = scope.counter("downstream_sess_rx_datagrams");
    this.downstreamSessRxErrors = scope.counter("downstream_sess_rx_errors");
    this.downstreamSessTotal = scope.counter("downstream_sess_total");
    this.downstreamSessTxBytes = scope.counter("downstream_sess_tx_bytes");
    this.downstreamSessTxDatagrams = scope.counter("downstream_sess_tx_datagrams");
    this.downstreamSessTxErrors = scope.counter("downstream_sess_tx_errors");
    this.idleTimeout = scope.counter("idle_timeout");
    this.downstreamSessActive = scope.gauge("downstream_sess_active");
  }
}

/** The cluster's `cluster.<name>.udp.*` (udp_proxy_filter.h, ALL_UDP_PROXY_UPSTREAM_STATS). */
class ClusterUdpStats {
  readonly sessRxDatagrams: Counter;
  readonly sessRxDatagramsDropped: Counter;
  readonly sessRxErrors: Counter;
  readonly sessTxDatagrams: Counter;
  readonly sessTxErrors: Counter;

  constructor(store: StatsStore, cluster: string) {
    const scope = store.scope(`cluster.${cluster}.udp.`);
    this.sessRxDatagrams = scope.counter("sess_rx_datagrams");
    this.sessRxDatagramsDropped = scope.counter("sess_rx_datagrams_dropped");
    this.sessRxErrors = scope.counter("sess_rx_errors");
    this.sessTxDatagrams = scope.counter("sess_tx_datagrams");
    this.sessTxErrors = scope.counter("sess_tx_errors");
  }
}

const clusterUdpStats = new WeakMap<Cluster, ClusterUdpStats>();

/**
 * Datagrams a session holds while its upstream socket binds (a bind is asynchronous through
 * the port; Envoy's is not): more are dropped, counted as the cluster's udp.sess_tx_errors.
 */
const MAX_DATAGRAMS_WHILE_BINDING = 64;

/**
 * A cluster's sessions by host, with the one subscription to its host updates (Envoy's
 * udp_proxy_filter.cc ClusterInfo: host_to_sessions_ and member_update_cb_handle_).
 */
interface ClusterSessions {
  readonly byHost: Map<Host, Set<UdpSession>>;
  readonly unsubscribe: () => void;
}

/** The listener's socket, shared by a listener and the one that took it over (an update in place). */
interface DownstreamSocket {
  socket: DatagramSocket | undefined;
  /** Whose sessions new datagrams go to. */
  target: UdpProxyListener;
}

/**
 * A UDP listener running Envoy's `envoy.filters.udp_listener.udp_proxy`
 * (udp_proxy_filter.cc): a session per downstream peer address, each with its own upstream
 * socket to the host the cluster's load balancer picked when the session began; replies
 * go back to the peer from the listener's socket. A session is closed after idle_timeout
 * without a datagram either way, or when its host leaves the cluster or the cluster is
 * removed. Sessions count against the cluster's max_connections
 * circuit breaker, as Envoy's do (over it, the datagram is dropped: upstream_cx_overflow).
 */
export class UdpProxyListener {
  readonly stats: UdpProxyStats;
  /** `listener.<address>.udp.downstream_rx_datagram_dropped`: longer than max_rx_datagram_size (Envoy's UdpListenerImpl). */
  private readonly rxDatagramDropped: Counter;
  private readonly sessions = new Map<string, UdpSession>();
  /**
   * Sessions by cluster and host, so that a host leaving its cluster or the cluster's
   * removal closes its sessions from one subscription each per listener, as Envoy's filter
   * does (a subscription per session made closing n sessions O(n²): each unsubscribe
   * searched the cluster's callback list, and each host update ran every session's callback).
   * A cluster's entry lives while it has sessions; the removal subscription while any does.
   */
  private readonly byCluster = new Map<Cluster, ClusterSessions>();
  private unsubscribeClusterRemoval: (() => void) | undefined;
  private holder: DownstreamSocket = { socket: undefined, target: this };
  private stopped = false;
  private closedWaiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    readonly config: UdpListenerConfig,
    private readonly context: ServerContext,
    listenerStatsPrefix: string,
  ) {
    this.stats = new UdpProxyStats(context.stats, config.proxy.statPrefix);
    this.rxDatagramDropped = context.stats.scope(`${listenerStatsPrefix}udp.`).counter("downstream_rx_datagram_dropped");
  }

  get boundAddress(): SocketAddress | undefined {
    return this.holder.target === this ? this.holder.socket?.address : undefined;
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  /** Bind the listener's socket. Rejects with the runtime's error, or why this runtime cannot. */
  /** Binds the socket; false when another worker serves the listener (this one binds none). */
  async start(address: { address: string; port: number }, shared: boolean): Promise<boolean> {
    const udp = this.context.runtime.udp;
    if (udp === undefined) throw new Error(`this runtime (${this.context.runtime.name}) has no UDP sockets`);
    const holder = this.holder;
    if (shared && udp.sharedUnsupported !== undefined) {
      // Worker processes (--concurrency) that cannot share a UDP socket: the first worker
      // serves the listener alone (its sessions' state is its own anyway), the others leave it.
      const worker = this.context.runtime.workers?.worker;
      if (worker !== undefined && worker.index !== 0) {
        this.context.log.info(`listener '${this.name}': a UDP listener is served by worker 0 alone (${udp.sharedUnsupported})`);
        return false;
      }
      shared = false;
    }
    holder.socket = await udp.bind(
      { address: address.address, port: address.port, shared, maxDatagramSize: this.config.maxRxDatagramSize },
      {
        onMessage: (data, from, truncated) => holder.target.onDownstreamDatagram(data, from, truncated),
        onError: (error) => holder.target.onDownstreamError(error),
        // A reply that failed after `send` took it (Envoy: downstream_sess_tx_errors).
        onSendError: () => holder.target.stats.downstreamSessTxErrors.inc(),
      },
    );
    if (this.stopped) this.stopListening();
    return true;
  }

  /** Take over `previous`'s socket: datagrams go to this listener's sessions from now on. */
  takeOver(previous: UdpProxyListener): void {
    this.holder = previous.holder;
    this.holder.target = this;
  }

  /** The socket closes (unless a newer listener took it over); sessions stay until closeSessions or their idle timeout. */
  stopListening(): void {
    this.stopped = true;
    if (this.holder.target !== this) return;
    this.holder.socket?.close();
    this.holder.socket = undefined;
  }

  /** Close every session; resolves once none is left. */
  closeSessions(): Promise<void> {
    for (const session of [...this.sessions.values()]) session.close();
    return this.whenClosed();
  }

  whenClosed(): Promise<void> {
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  /** @internal */
  onDownstreamDatagram(data: Uint8Array, from: SocketAddress, truncated: boolean): void {
    if (truncated) {
      this.rxDatagramDropped.inc();
      return;
    }
    const key = `${from.address}|${from.port}`;
    let session = this.sessions.get(key);
    if (session === undefined) {
      session = this.newSession(from);
      if (session === undefined) return;
      this.sessions.set(key, session);
    }
    this.stats.downstreamSessRxBytes.inc(data.length);
    this.stats.downstreamSessRxDatagrams.inc();
    session.write(data);
  }

  /** @internal An error on the listener's socket (Envoy's UdpProxyFilter::onReceiveError). */
  onDownstreamError(_error: PortError): void {
    this.stats.downstreamSessRxErrors.inc();
  }

  /** Envoy's ClusterInfo::onData → createSession: the cluster, a host, the circuit breaker. */
  private newSession(peer: SocketAddress): UdpSession | undefined {
    const cluster = this.context.clusterManager.get(this.config.proxy.cluster);
    if (cluster === undefined) {
      this.stats.downstreamSessNoRoute.inc();
      return undefined;
    }
    if (!cluster.resources.connections.canCreate()) {
      cluster.stats.upstreamCxOverflow.inc();
      return undefined;
    }
    const host = cluster.loadBalancer.chooseHost(undefined);
    if (host === undefined) {
      cluster.stats.upstreamCxNoneHealthy.inc();
      return undefined;
    }
    let upstreamStats = clusterUdpStats.get(cluster);
    if (upstreamStats === undefined) clusterUdpStats.set(cluster, (upstreamStats = new ClusterUdpStats(this.context.stats, cluster.name)));
    cluster.resources.connections.inc();
    this.stats.downstreamSessTotal.inc();
    this.stats.downstreamSessActive.inc();
    const log = this.context.log?.component("filter");
    if (log?.debugOn) log.debug(`udp proxy ${this.config.proxy.statPrefix}: new session from ${formatAddress(peer)} to ${host} (cluster '${cluster.name}')`);
    const session = new UdpSession(this, peer, cluster, host, upstreamStats, this.context);
    this.track(session, cluster, host);
    return session;
  }

  private track(session: UdpSession, cluster: Cluster, host: Host): void {
    // Envoy's udp_proxy_filter.cc erases the sessions of a host that leaves its cluster
    // (addMemberUpdateCb → host_to_sessions_) and of a cluster that is removed
    // (onClusterRemoval): a session with steady traffic would otherwise keep sending to a
    // host that is gone and hold its max_connections slot for ever.
    let entry = this.byCluster.get(cluster);
    if (entry === undefined) {
      const byHost = new Map<Host, Set<UdpSession>>();
      const unsubscribe = cluster.prioritySet.addMemberUpdateCallback((_added, removed) => {
        for (const host of removed) {
          const sessions = byHost.get(host);
          if (sessions !== undefined) for (const gone of [...sessions]) gone.close();
        }
      });
      this.byCluster.set(cluster, (entry = { byHost, unsubscribe }));
    }
    this.unsubscribeClusterRemoval ??= this.context.clusterManager.addClusterRemovalCallback((removed) => {
      const sessions = this.byCluster.get(removed);
      if (sessions === undefined) return;
      for (const set of [...sessions.byHost.values()]) for (const gone of [...set]) gone.close();
    });
    let sessions = entry.byHost.get(host);
    if (sessions === undefined) entry.byHost.set(host, (sessions = new Set()));
    sessions.add(session);
  }

  private untrack(session: UdpSession, cluster: Cluster, host: Host): void {
    const entry = this.byCluster.get(cluster);
    const sessions = entry?.byHost.get(host);
    if (entry === undefined || sessions === undefined || !sessions.delete(session)) return;
    if (sessions.size > 0) return;
    entry.byHost.delete(host);
    if (entry.byHost.size > 0) return;
    entry.unsubscribe();
    this.byCluster.delete(cluster);
    if (this.byCluster.size > 0) return;
    this.unsubscribeClusterRemoval?.();
    this.unsubscribeClusterRemoval = undefined;
  }

  /** @internal A session's reply for its peer, sent from the listener's socket. */
  sendDownstream(data: Uint8Array, peer: SocketAddress): void {
    const socket = this.holder.socket;
    // `data` is lent by the upstream socket's onMessage; `send` takes ownership (core/port.ts).
    if (socket === undefined || !socket.send(data.slice(), peer)) {
      this.stats.downstreamSessTxErrors.inc();
      return;
    }
    this.stats.downstreamSessTxBytes.inc(data.length);
    this.stats.downstreamSessTxDatagrams.inc();
  }

  /** @internal */
  onSessionClosed(session: UdpSession, cluster: Cluster, host: Host): void {
    this.sessions.delete(`${session.peer.address}|${session.peer.port}`);
    this.untrack(session, cluster, host);
    cluster.resources.connections.dec();
    this.stats.downstreamSessActive.dec();
    if (this.sessions.size === 0 && this.closedWaiters.length > 0) {
      const waiters = this.closedWaiters;
      this.closedWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** @internal */
  get idleTimeoutMs(): number {
    return this.config.proxy.idleTimeoutMs;
  }

  /** @internal */
  get upstreamMaxRxDatagramSize(): number {
    return this.config.proxy.upstreamMaxRxDatagramSize;
  }

  /** @internal */
  sessionIdled(): void {
    this.stats.idleTimeout.inc();
  }
}

/** One downstream peer's session (Envoy's UdpProxyFilter::ActiveSession): its own upstream socket to one host. */
class UdpSession implements TimerTarget {
  private upstream: DatagramSocket | undefined;
  /** Datagrams that came while the upstream socket was binding. */
  private pending: Uint8Array[] | undefined = [];
  private closed = false;
  private readonly timer: Timer | undefined;
  private lastActivity: number;
  private readonly target: { address: string; port: number };

  constructor(
    private readonly listener: UdpProxyListener,
    readonly peer: SocketAddress,
    private readonly cluster: Cluster,
    private readonly host: Host,
    private readonly upstreamStats: ClusterUdpStats,
    private readonly context: ServerContext,
  ) {
    this.target = { address: host.address, port: host.port };
    this.lastActivity = context.runtime.now();
    if (listener.idleTimeoutMs > 0) {
      this.timer = context.timers.create(this);
      this.timer.enable(listener.idleTimeoutMs);
    }
    const wildcard = host.address.includes(":") ? "::" : "0.0.0.0";
    context.runtime.udp!.bind(
      { address: wildcard, port: 0, maxDatagramSize: listener.upstreamMaxRxDatagramSize },
      {
        onMessage: (data, from, truncated) => this.onUpstreamDatagram(data, from, truncated),
        onError: () => this.upstreamStats.sessRxErrors.inc(),
        onSendError: () => this.upstreamStats.sessTxErrors.inc(),
      },
    ).then(
      (socket) => {
        if (this.closed) return socket.close();
        this.upstream = socket;
        const pending = this.pending ?? [];
        this.pending = undefined;
        for (const data of pending) this.sendUpstream(data);
      },
      (err: unknown) => {
        // No upstream socket (EMFILE, …): the session ends; its datagrams were not sent.
        this.upstreamStats.sessTxErrors.inc(this.pending?.length ?? 0);
        this.context.log?.component("filter").debug(`udp proxy: cannot bind an upstream socket: ${String((err as { message?: unknown }).message ?? err)}`);
        this.close();
      },
    );
  }

  /** A datagram from the peer, for the upstream. */
  write(data: Uint8Array): void {
    this.lastActivity = this.context.runtime.now();
    // The runtime lends `data` for the call; `send` takes ownership of what it is given and
    // the bind queue keeps it past the call (core/port.ts): either way, a copy.
    if (this.upstream !== undefined) return this.sendUpstream(data.slice());
    if (this.pending === undefined || this.pending.length >= MAX_DATAGRAMS_WHILE_BINDING) {
      this.upstreamStats.sessTxErrors.inc();
      return;
    }
    this.pending.push(data.slice());
  }

  private sendUpstream(data: Uint8Array): void {
    if (!this.upstream!.send(data, this.target)) {
      this.upstreamStats.sessTxErrors.inc();
      return;
    }
    this.upstreamStats.sessTxDatagrams.inc();
    this.cluster.stats.upstreamCxTxBytesTotal.inc(data.length);
  }

  private onUpstreamDatagram(data: Uint8Array, from: SocketAddress, truncated: boolean): void {
    // Envoy's session socket is connected to the host: nothing from elsewhere reaches it.
    if (from.port !== this.target.port || from.address !== this.target.address) return;
    if (truncated) {
      this.upstreamStats.sessRxDatagramsDropped.inc();
      return;
    }
    this.lastActivity = this.context.runtime.now();
    this.upstreamStats.sessRxDatagrams.inc();
    this.cluster.stats.upstreamCxRxBytesTotal.inc(data.length);
    this.listener.sendDownstream(data, this.peer);
  }

  /** @internal The idle timer fired: close, or wait for the rest of the timeout since the last datagram. */
  onTimer(): void {
    if (!this.timer!.idleTimeoutPassed(this.lastActivity, this.listener.idleTimeoutMs)) return;
    this.listener.sessionIdled();
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.timer?.disable();
    this.upstream?.close();
    this.upstream = undefined;
    this.pending = undefined;
    this.listener.onSessionClosed(this, this.cluster, this.host);
  }
}
