/**
 * Envoy's `ConnPoolImplBase` (source/common/conn_pool/conn_pool_base.cc): what every
 * connection pool of one upstream host shares, whatever protocol its connections speak.
 *
 * - **Active clients** (`ActiveClient`), each one upstream connection, move between
 *   lists by state: Connecting → Ready (it can take another stream) ⇄ Busy (it carries
 *   as many streams as it can) → Draining (it finishes its streams, takes no new one,
 *   and closes) → Closed. Capacity is counted in **streams**, not connections: a client
 *   declares its `concurrentStreamLimit` (1 for HTTP/1 and TCP; an HTTP/2 client will
 *   declare its SETTINGS_MAX_CONCURRENT_STREAMS and stay Ready while it has room).
 * - **Pending streams**: with no Ready client, a stream waits in a FIFO queue bounded by
 *   the cluster's `max_pending_requests` (overflow: `PoolFailureReason.Overflow`,
 *   upstream_rq_pending_overflow), and a connection is opened when the streams waiting
 *   outnumber the capacity already on its way (connecting clients, and clients about to
 *   be released), within `max_connections` (else upstream_cx_overflow; as in Envoy, a
 *   pool with no connection at all opens one anyway, so its queue cannot stall).
 * - **Attaching** a stream to a client checks `max_requests` (Envoy checks it here, not
 *   when the stream is queued: a stream waits for a connection rather than being refused
 *   while all connections are busy), then counts it: upstream_rq_total/active, the host's
 *   rq_total/rq_active, the requests circuit breaker.
 * - **Connect timeout** per client (`connect_timeout`); a connect that fails or times out
 *   fails the pending streams no other connection is on its way for
 *   (`purgePendingStreams`), with the reason and Envoy's transport failure text.
 * - **Idle timeout**: a Ready client with no stream is closed once idle past its limit
 *   (`idleLimitFor`, which a protocol may shorten, as HTTP/1 does for an upstream's
 *   Keep-Alive timeout). One sweep timer per pool while any client is idle, not a timer
 *   per client re-armed on every request; a client past its limit is also never handed out.
 * - **Delayed reuse**: a user may release a client for reuse only after one event-loop
 *   turn (`onStreamClosed(client, true)`): HTTP/1 does, so a FIN that arrived with the
 *   response is seen before the connection is reused. Until then its capacity counts as
 *   on its way for the pending streams.
 * - **Drain** (`drainConnections`): idle clients close now, busy ones once their streams end.
 * - **Max connection duration** (the cluster's `max_connection_duration`): a client
 *   connected that long drains — no new stream, closed once its streams end.
 * - Connection stats (upstream_cx_*, the host's cx_*) are kept here, once per connection.
 *
 * A protocol's pool subclasses it: `instantiateActiveClient` makes its client and
 * `onPoolReady` hands an attached client to the stream's owner. Users: the HTTP/1 pool
 * (http1-conn-pool.ts), the HTTP/2 pool (http2-conn-pool.ts: a client stays Ready while
 * below its stream limit, becomes ready only once the peer's SETTINGS came —
 * `readyOnConnect` false —, changes its limit through `onClientStreamLimitChanged`, calls
 * `onStreamClosed` per stream and drains on GOAWAY) and the TCP pool (tcp-conn-pool.ts,
 * for tcp_proxy).
 */
import { approximateNow } from "../event/dispatch-scope.ts";
import type { Dispatcher } from "../event/dispatcher.ts";
import type { Timer, TimerTarget } from "../event/timers.ts";
import { Connection, type ConnectionCallbacks, type ConnectionEvent } from "../network/connection.ts";
import type { PortError } from "../port.ts";
import type { Cluster } from "./cluster.ts";
import type { ResourceManager } from "./resource-manager.ts";
import { HostHealth, type Host } from "./host.ts";
import { PoolFailureReason, transportFailureReason } from "./pool-failure.ts";
import { connLogPrefix, type ComponentLogger } from "../log.ts";

/** How often a pool looks for idle clients past their limit. */
const IDLE_SWEEP_MS = 500;

/** Envoy caps the connections one call may open (conn_pool_base.cc, tryCreateNewConnections). */
const MAX_CONNECTIONS_PER_CALL = 3;

export const ActiveClientState = {
  Connecting: 0,
  Ready: 1,
  Busy: 2,
  Draining: 3,
  Closed: 4,
} as const;
export type ActiveClientState = (typeof ActiveClientState)[keyof typeof ActiveClientState];

/** What every pool user implements: a stream that could not get a connection is told why. */
export interface PoolFailureCallbacks {
  /** `transportFailureReason` is Envoy's text for a failed connect ("delayed connect error: Connection refused"), or "". */
  onPoolFailure(reason: PoolFailureReason, transportFailureReason: string): void;
}

/** A pending stream's handle: cancel before it gets a connection. */
export interface PoolHandle {
  cancel(): void;
}

/** An intrusive list node: an object in at most one `LinkedList` at a time. */
interface Linked<T> {
  prev: T | undefined;
  next: T | undefined;
  /** The list it is in. */
  list: object | undefined;
}

/** A doubly linked list of objects that carry their own links: every move is O(1), allocation-free. */
class LinkedList<T extends Linked<T>> {
  head: T | undefined;
  tail: T | undefined;
  size = 0;

  push(item: T): void {
    item.list = this;
    item.prev = this.tail;
    item.next = undefined;
    if (this.tail) this.tail.next = item;
    else this.head = item;
    this.tail = item;
    this.size++;
  }

  remove(item: T): void {
    if (item.list !== this) return;
    if (item.prev) item.prev.next = item.next;
    else this.head = item.next;
    if (item.next) item.next.prev = item.prev;
    else this.tail = item.prev;
    item.list = item.prev = item.next = undefined;
    this.size--;
  }
}

/** A stream waiting for a client (Envoy's `PendingStream`); `cancel` takes it out of the queue. */
class PendingStream<P extends PoolFailureCallbacks> implements PoolHandle, Linked<PendingStream<P>> {
  prev: PendingStream<P> | undefined;
  next: PendingStream<P> | undefined;
  list: LinkedList<PendingStream<P>> | undefined;

  constructor(
    private readonly pool: ConnPoolImplBase<ActiveClient, P>,
    readonly callbacks: P,
  ) {}

  cancel(): void {
    this.pool.onPendingStreamCancel(this);
  }
}

/**
 * One upstream connection of a pool (Envoy's `ConnectionPool::ActiveClient`): its state,
 * its streams, its connect timer and its connection stats. A protocol's client extends
 * it with its codec and its streams.
 */
export abstract class ActiveClient implements ConnectionCallbacks, TimerTarget, Linked<ActiveClient> {
  state: ActiveClientState = ActiveClientState.Connecting;
  readonly connection: Connection;
  /** Streams it carries now. */
  activeStreams = 0;
  /**
   * Streams it may carry at once: 1 for HTTP/1 and TCP; for HTTP/2 the configured
   * max_concurrent_streams, then the peer's SETTINGS_MAX_CONCURRENT_STREAMS below it
   * (changed through the pool's `onClientStreamLimitChanged`).
   */
  concurrentStreamLimit: number;
  /**
   * Whether it takes streams as soon as its connection is up. A protocol that must first
   * hear from the peer (HTTP/2: its SETTINGS say how many streams it takes) sets it false
   * and calls `onReady` itself; the connect timer runs until then.
   */
  protected readonly readyOnConnect: boolean = true;
  /** Monotonic ms it last became idle (no stream), and how long it may stay so. */
  idleSince = 0;
  idleLimit = Infinity;
  /** Its stream ended; it becomes Ready at the next turn (delayed reuse). */
  releasing = false;
  /** Streams it may still start under the cluster's max_requests_per_connection (Infinity: no limit). */
  remainingStreams: number;
  prev: ActiveClient | undefined;
  next: ActiveClient | undefined;
  list: LinkedList<ActiveClient> | undefined;
  /** The Connected event came. */
  private connected = false;
  private readonly openedAt: number;
  private connectTimer: Timer | undefined;
  private timedOut = false;
  /** max_connection_duration's timer, from the connect on, when the cluster sets one. */
  private durationTimer: Timer | undefined;

  constructor(
    protected readonly parent: ConnPoolImplBase<ActiveClient, PoolFailureCallbacks>,
    concurrentStreamLimit: number,
    /**
     * A client of the same pool whose connection this one takes over, once connected (the
     * mixed pool's protocol choice by ALPN, Envoy's HttpConnPoolImplMixed::onConnected):
     * it was counted as a connection already, and its connect timer's remaining time goes on.
     */
    adopted?: ActiveClient,
  ) {
    this.concurrentStreamLimit = concurrentStreamLimit;
    const { runtime } = parent.dispatcher;
    const host = parent.host;
    const cluster = parent.cluster;
    this.remainingStreams = cluster.config.maxRequestsPerConnection ?? Infinity;
    this.connectTimer = parent.dispatcher.timers.create(this);
    if (adopted) {
      this.connection = adopted.handOver(this);
      this.openedAt = adopted.openedAt;
      this.connectTimer.enable(Math.max(0, cluster.config.connectTimeoutMs - (runtime.now() - this.openedAt)));
      return;
    }
    this.connection = new Connection(cluster.connect(runtime, host.address, host.port, parent.serverName, host.pipe), cluster.config.perConnectionBufferLimitBytes);
    this.openedAt = runtime.now();
    cluster.stats.upstreamCxTotal.inc();
    cluster.stats.upstreamCxActive.inc();
    host.stats.cxTotal++;
    host.stats.cxActive++;
    this.connection.addConnectionCallbacks(this);
    this.connectTimer.enable(cluster.config.connectTimeoutMs);
  }

  /** Give this client's connection to `successor` (see the constructor's `adopted`): this client hears no more of it. */
  private handOver(successor: ActiveClient): Connection {
    this.connectTimer?.disable();
    this.connectTimer = undefined;
    this.connection.replaceConnectionCallbacks(this, successor);
    return this.connection;
  }

  get host(): Host {
    return this.parent.host;
  }

  /** Room for another stream. */
  get currentUnusedCapacity(): number {
    return this.concurrentStreamLimit - this.activeStreams;
  }

  /** Close the connection (Abort: reset, dropping what is unsent); the pool forgets it at once. */
  close(how: "FlushWrite" | "Abort" = "FlushWrite"): void {
    this.parent.closeClient(this, how);
  }

  /** The connect timer fired (Envoy's `ActiveClient::onConnectTimeout`). */
  onTimer(): void {
    this.connectTimer = undefined;
    this.timedOut = true;
    this.parent.cluster.stats.upstreamCxConnectTimeout.inc();
    this.parent.onClientGone(this, PoolFailureReason.Timeout, "");
    this.connection.close("Abort");
  }

  /**
   * max_connection_duration passed (Envoy's ActiveClient::onConnectionDurationTimeout):
   * the client drains — it takes no new stream and closes once idle.
   */
  private onConnectionDurationTimeout(): void {
    this.durationTimer = undefined;
    if (this.state === ActiveClientState.Closed || this.state === ActiveClientState.Draining) return;
    this.parent.cluster.stats.upstreamCxMaxDurationReached.inc();
    this.parent.drainClient(this);
  }

  // ---- ConnectionCallbacks (a subclass that overrides onEvent calls super first) ----

  onEvent(event: ConnectionEvent, error?: PortError): void {
    const cluster = this.parent.cluster;
    const stats = cluster.stats;
    const now = this.parent.dispatcher.runtime.now();
    if (event === "Connected") {
      this.connected = true;
      stats.upstreamCxConnectMs.record(now - this.openedAt);
      const maxDuration = cluster.config.maxConnectionDurationMs;
      if (maxDuration !== undefined) {
        // One per connection, made once: a closure here costs nothing per request.
        this.durationTimer = this.parent.dispatcher.timers.create(() => this.onConnectionDurationTimeout());
        this.durationTimer.enable(maxDuration);
      }
      if (this.readyOnConnect) this.onReady();
      return;
    }
    this.connectTimer?.disable();
    this.connectTimer = undefined;
    this.durationTimer?.disable();
    this.durationTimer = undefined;
    stats.upstreamCxActive.dec();
    this.host.stats.cxActive--;
    if (!this.connected) {
      // Envoy counts a connect timeout as a connect failure too (conn_pool_base.cc onConnectionEvent).
      stats.upstreamCxConnectFail.inc();
      this.host.stats.cxConnectFail++;
      const reason = this.timedOut
        ? PoolFailureReason.Timeout
        : event === "RemoteClose"
          ? PoolFailureReason.RemoteConnectionFailure
          : PoolFailureReason.LocalConnectionFailure;
      this.parent.onClientGone(this, reason, transportFailureReason(error));
      return;
    }
    stats.upstreamCxDestroy.inc();
    const remote = event === "RemoteClose";
    (remote ? stats.upstreamCxDestroyRemote : stats.upstreamCxDestroyLocal).inc();
    if (this.activeStreams > 0) {
      stats.upstreamCxDestroyWithActiveRq.inc();
      (remote ? stats.upstreamCxDestroyRemoteWithActiveRq : stats.upstreamCxDestroyLocalWithActiveRq).inc();
    }
    stats.upstreamCxLengthMs.record(now - this.openedAt);
    this.parent.onClientGone(this, undefined, "");
  }

  onAboveWriteBufferHighWatermark(): void {}

  onBelowWriteBufferLowWatermark(): void {}

  /** It can take streams now (connected, and for HTTP/2 the peer's SETTINGS came): the connect timer stops. */
  protected onReady(): void {
    this.connectTimer?.disable();
    this.connectTimer = undefined;
    this.parent.onClientConnected(this);
  }
}

/**
 * The shared pool of one upstream host (see the file comment). `C` is the protocol's
 * client, `P` what a stream's owner passes to `newStream`.
 */
/** How a pool failure reads in a debug line. */
const POOL_FAILURE_NAMES: Record<PoolFailureReason, string> = ["overflow", "local connection failure", "remote connection failure", "connection timeout"];

export abstract class ConnPoolImplBase<C extends ActiveClient, P extends PoolFailureCallbacks> implements TimerTarget {
  private readonly connecting = new LinkedList<ActiveClient>();
  private readonly ready = new LinkedList<ActiveClient>();
  private readonly busy = new LinkedList<ActiveClient>();
  private readonly draining = new LinkedList<ActiveClient>();
  private readonly pending = new LinkedList<PendingStream<P>>();
  /** Streams the connecting clients will be able to carry (Envoy's connecting_stream_capacity_). */
  private connectingStreamCapacity = 0;
  /** Streams the clients waiting for delayed reuse will be able to carry. */
  private releasingStreamCapacity = 0;
  /** Streams attached to this pool's clients (Envoy's num_active_streams_), for the preconnect ratio. */
  private activeStreams = 0;
  /** Clients released this turn, and the array the next turn's go to (two taking turns, none made per turn). */
  private released: C[] = [];
  private releasedSpare: C[] = [];
  private sweepTimer: Timer | undefined;
  /** The "pool" component's logger (Envoy's conn_pool_base.cc logs there); absent without a server's. */
  private readonly log: ComponentLogger | undefined;
  /** @internal The "http" component's logger, the client codecs' (Envoy's http1 codec_impl.cc logs there at trace). */
  readonly codecLog: ComponentLogger | undefined;

  constructor(
    readonly cluster: Cluster,
    readonly host: Host,
    readonly dispatcher: Dispatcher,
    /** How long a client may stay idle (0: no limit). */
    protected readonly idleTimeoutMs: number,
    /** The SNI its TLS connections send instead of the cluster's (auto_sni: a pool per name). */
    readonly serverName?: string,
  ) {
    this.log = dispatcher.log?.component("pool");
    this.codecLog = dispatcher.log?.component("http");
  }

  /** Make a new client; it starts connecting. */
  protected abstract instantiateActiveClient(): C;

  /** A stream got `client` (attached and counted): hand it to the stream's owner. */
  protected abstract onPoolReady(client: C, callbacks: P): void;

  /**
   * The circuit breakers its connections and streams count against: the cluster's default
   * priority's, unless a pool outside them (redis_proxy's transaction connections) says so.
   */
  protected get resources(): ResourceManager {
    return this.cluster.resources;
  }

  /** Whether attaching checks max_requests (Envoy's TCP pool does not: a TCP connection is no request). */
  protected enforceMaxRequests(): boolean {
    return true;
  }

  /**
   * Whether a cancelled pending stream closes a connecting client no other stream waits for
   * (Envoy's `CancelPolicy::CloseExcess`, which tcp_proxy uses); HTTP keeps it for the next request.
   */
  protected closeExcessOnCancel(): boolean {
    return false;
  }

  /** How long `client`, just idle, may stay so (a protocol may shorten it: see HTTP/1's Keep-Alive). */
  protected idleLimitFor(_client: C): number {
    return this.idleTimeoutMs > 0 ? this.idleTimeoutMs : Infinity;
  }

  /**
   * Ask for a stream; the answer comes to `callbacks` — `onPoolReady` or `onPoolFailure`,
   * possibly before this returns (then the result is undefined), else a handle to cancel.
   */
  newStream(callbacks: P): PoolHandle | undefined {
    const client = this.readyClient();
    if (client) {
      this.attachStreamToClient(client, callbacks);
      // Envoy: with a preconnect ratio, a connection may open ahead of the next stream.
      if (this.cluster.config.perUpstreamPreconnectRatio !== undefined) this.tryCreateNewConnections();
      return undefined;
    }
    const resources = this.resources;
    if (!resources.pendingRequests.canCreate()) {
      this.cluster.stats.upstreamRqPendingOverflow.inc();
      callbacks.onPoolFailure(PoolFailureReason.Overflow, "");
      return undefined;
    }
    if (this.log?.debugOn) this.log.debug(`queueing stream due to no available connections (ready=${this.ready.size} busy=${this.busy.size} connecting=${this.connecting.size})`);
    const pending = new PendingStream<P>(this as ConnPoolImplBase<ActiveClient, P>, callbacks);
    this.pending.push(pending);
    resources.pendingRequests.inc();
    this.cluster.stats.upstreamRqPendingTotal.inc();
    this.cluster.stats.upstreamRqPendingActive.inc();
    // After the push: whether a connection is needed depends on the queue's length.
    this.tryCreateNewConnections();
    return pending;
  }

  /** The Ready client to use, most recently released first; one past its idle limit is closed, never handed out. */
  private readyClient(): C | undefined {
    let client = this.ready.tail;
    if (!client) return undefined;
    const now = approximateNow(this.dispatcher.runtime);
    while (client && client.activeStreams === 0 && now - client.idleSince >= client.idleLimit) {
      this.closeIdle(client);
      client = this.ready.tail;
    }
    return client as C | undefined;
  }

  private attachStreamToClient(client: C, callbacks: P): void {
    const resources = this.resources;
    const stats = this.cluster.stats;
    if (this.enforceMaxRequests() && !resources.requests.canCreate()) {
      stats.upstreamRqPendingOverflow.inc();
      callbacks.onPoolFailure(PoolFailureReason.Overflow, "");
      return;
    }
    client.activeStreams++;
    this.activeStreams++;
    if (--client.remainingStreams === 0) {
      // max_requests_per_connection: its last stream; it closes when that ends (Envoy's
      // ConnPoolImplBase::attachStreamToClient drains it and counts upstream_cx_max_requests).
      stats.upstreamCxMaxRequests.inc();
      this.setState(client, ActiveClientState.Draining);
    } else if (client.activeStreams >= client.concurrentStreamLimit) this.setState(client, ActiveClientState.Busy);
    stats.upstreamRqTotal.inc();
    stats.upstreamRqActive.inc();
    this.host.stats.rqTotal++;
    this.host.stats.rqActive++;
    resources.requests.inc();
    if (this.log?.debugOn) this.log.debug(`${connLogPrefix(client.connection.id)}creating stream`);
    this.onPoolReady(client, callbacks);
  }

  /**
   * A stream of `client` ended (Envoy's `onStreamClosed`). Unless the client is closed or
   * draining, its capacity is offered to the pending streams: now, or after one turn when
   * `delayAttaching` (HTTP/1: a FIN that came with the response is seen first).
   */
  onStreamClosed(client: C, delayAttaching: boolean): void {
    client.activeStreams--;
    this.activeStreams--;
    this.cluster.stats.upstreamRqActive.dec();
    this.host.stats.rqActive--;
    this.resources.requests.dec();
    if (client.state === ActiveClientState.Closed) return;
    if (client.state === ActiveClientState.Draining) {
      if (client.activeStreams === 0) this.closeClient(client, "FlushWrite");
      return;
    }
    if (delayAttaching) {
      if (client.releasing) return;
      client.releasing = true;
      this.releasingStreamCapacity += client.currentUnusedCapacity;
      this.released.push(client);
      // One deferred call per turn for all the clients released in it.
      if (this.released.length === 1) this.dispatcher.runtime.defer(this.reuseReleased);
      return;
    }
    this.makeReady(client);
    this.onUpstreamReady();
  }

  private readonly reuseReleased = (): void => {
    const released = this.released;
    this.released = this.releasedSpare;
    for (const client of released) {
      if (!client.releasing) continue; // closed meanwhile
      client.releasing = false;
      this.releasingStreamCapacity -= client.currentUnusedCapacity;
      if (client.state === ActiveClientState.Draining) {
        if (client.activeStreams === 0) this.closeClient(client, "FlushWrite");
        continue;
      }
      this.makeReady(client);
    }
    released.length = 0;
    this.releasedSpare = released;
    this.onUpstreamReady();
  };

  /** `client` can take a stream: into the Ready list (with its idle clock started if it has none). */
  private makeReady(client: C): void {
    if (client.activeStreams === 0) {
      client.idleSince = approximateNow(this.dispatcher.runtime);
      client.idleLimit = this.idleLimitFor(client);
      if (client.idleLimit !== Infinity) this.armSweep();
    }
    this.setState(client, ActiveClientState.Ready);
  }

  /** Pending streams take the Ready clients' capacity, oldest stream first (Envoy's `onUpstreamReady`). */
  private onUpstreamReady(): void {
    while (this.pending.head) {
      const client = this.readyClient();
      if (!client) return;
      const next = this.pending.head;
      this.removePending(next);
      if (this.log?.debugOn) this.log.debug(`${connLogPrefix(client.connection.id)}attaching to next stream`);
      this.attachStreamToClient(client, next.callbacks);
    }
  }

  /** Open connections while the pending streams outnumber the capacity on its way. */
  private tryCreateNewConnections(): void {
    for (let i = 0; i < MAX_CONNECTIONS_PER_CALL; i++) if (!this.tryCreateNewConnection()) return;
  }

  /**
   * Envoy's shouldCreateNewConnection (local preconnect): the streams to provision for —
   * pending and active, times the cluster's per_upstream_preconnect_ratio — outnumber the
   * capacity there is — what is connecting, about to be released and free on Ready clients,
   * plus the active streams. With the ratio 1 (the default), or for a host not healthy,
   * this is "the pending streams outnumber the capacity on its way".
   */
  private shouldCreateNewConnection(): boolean {
    const onItsWay = this.connectingStreamCapacity + this.releasingStreamCapacity;
    const ratio = this.cluster.config.perUpstreamPreconnectRatio;
    if (ratio === undefined || this.host.health() !== HostHealth.Healthy) return this.pending.size > onItsWay;
    let free = 0;
    for (let client = this.ready.head; client; client = client.next) free += client.currentUnusedCapacity;
    return (this.pending.size + this.activeStreams) * ratio > onItsWay + free + this.activeStreams;
  }

  private tryCreateNewConnection(): boolean {
    if (!this.shouldCreateNewConnection()) return false;
    const canCreate = this.resources.connections.canCreate();
    if (!canCreate) this.cluster.stats.upstreamCxOverflow.inc();
    // Envoy: at the limit because of other hosts' connections, a pool with none opens one
    // anyway, or its pending streams could never be served.
    if (!canCreate && this.connectionCount > 0) return false;
    const client = this.instantiateActiveClient();
    if (this.log?.debugOn) this.log.debug(`${connLogPrefix(client.connection.id)}creating a new connection to ${this.host.address}:${this.host.port} (connecting=${this.connectingStreamCapacity})`);
    this.resources.connections.inc();
    this.connectingStreamCapacity += client.concurrentStreamLimit;
    this.connecting.push(client);
    return canCreate;
  }

  /**
   * @internal `next` took over the connection of `client`, a Connecting client of this pool
   * (the mixed pool, once ALPN chose the protocol): it takes its place, and its stream
   * limit replaces the one the pending streams counted on.
   */
  replaceConnectingClient(client: ActiveClient, next: C): void {
    if (client.state !== ActiveClientState.Connecting) return;
    this.connecting.remove(client);
    client.state = ActiveClientState.Closed;
    this.connectingStreamCapacity += next.concurrentStreamLimit - client.concurrentStreamLimit;
    this.connecting.push(next);
    // Less room than counted on (HTTP/1.1 where HTTP/2 was hoped for): more connections for the streams waiting.
    if (this.pending.size > 0) this.tryCreateNewConnections();
  }

  /** @internal */
  onClientConnected(client: ActiveClient): void {
    if (client.state !== ActiveClientState.Connecting) return;
    if (this.log?.debugOn) this.log.debug(`${connLogPrefix(client.connection.id)}connected`);
    this.connectingStreamCapacity -= client.concurrentStreamLimit;
    this.makeReady(client as C);
    this.onUpstreamReady();
  }

  /**
   * @internal `client`'s stream limit changed (HTTP/2: the peer's SETTINGS_MAX_CONCURRENT_STREAMS;
   * Envoy's MultiplexedActiveClientBase::onSettings): the capacity on its way, and whether
   * it is Ready or Busy, follow; capacity lost may open another connection for the pending
   * streams, capacity gained is offered to them.
   */
  onClientStreamLimitChanged(client: C, limit: number): void {
    const delta = limit - client.concurrentStreamLimit;
    if (delta === 0) return;
    client.concurrentStreamLimit = limit;
    if (client.state === ActiveClientState.Connecting) {
      this.connectingStreamCapacity += delta;
      if (delta < 0 && this.pending.size > 0) this.tryCreateNewConnections();
      return;
    }
    if (client.state === ActiveClientState.Ready && client.activeStreams >= limit) this.setState(client, ActiveClientState.Busy);
    else if (client.state === ActiveClientState.Busy && client.activeStreams < limit) {
      this.makeReady(client);
      this.onUpstreamReady();
    }
  }

  /**
   * @internal `client` is gone or going (closed by us, by the peer, a failed or timed-out
   * connect): the pool forgets it, once. A connect that failed fails the pending streams no
   * other connection is on its way for — Envoy purges them rather than let them wait for a
   * connection that will not come.
   */
  onClientGone(client: ActiveClient, connectFailure: PoolFailureReason | undefined, transportFailure: string): void {
    if (client.state === ActiveClientState.Closed) return;
    const wasConnecting = client.state === ActiveClientState.Connecting;
    if (this.log?.debugOn) {
      const failure = connectFailure === undefined ? "" : `, failure reason: ${transportFailure || POOL_FAILURE_NAMES[connectFailure]}`;
      this.log.debug(`${connLogPrefix(client.connection.id)}client disconnected${wasConnecting ? " before it connected" : ""}${failure}`);
    }
    client.list?.remove(client);
    client.state = ActiveClientState.Closed;
    this.resources.connections.dec();
    if (wasConnecting) this.connectingStreamCapacity -= client.concurrentStreamLimit;
    if (client.releasing) {
      client.releasing = false;
      this.releasingStreamCapacity -= client.currentUnusedCapacity;
    }
    if (wasConnecting) this.purgePendingStreams(connectFailure ?? PoolFailureReason.LocalConnectionFailure, transportFailure);
    // A connection the pending streams counted on is gone: open another if they still wait.
    if (this.pending.size > 0) this.tryCreateNewConnections();
  }

  private purgePendingStreams(reason: PoolFailureReason, transportFailure: string): void {
    const capacity = this.connectingStreamCapacity + this.releasingStreamCapacity;
    if (this.pending.size <= capacity) return;
    // Taken out first, then told: a retry a failure starts must not be failed by this purge.
    const failed: P[] = [];
    const stats = this.cluster.stats;
    while (this.pending.size > capacity) {
      const last = this.pending.tail!;
      this.removePending(last);
      failed.push(last.callbacks);
      // Envoy's ConnPoolImplBase::purgePendingStreams counts each request it fails, on every pool.
      stats.upstreamRqPendingFailureEject.inc();
    }
    // Oldest first, as they were queued.
    for (let i = failed.length - 1; i >= 0; i--) failed[i]!.onPoolFailure(reason, transportFailure);
  }

  /** @internal */
  onPendingStreamCancel(pending: PendingStream<P>): void {
    if (pending.list !== this.pending) return;
    this.removePending(pending);
    this.cluster.stats.upstreamRqCancelled.inc();
    const last = this.connecting.tail;
    if (last && this.closeExcessOnCancel() && this.connectingStreamCapacity - last.concurrentStreamLimit >= this.pending.size) {
      this.closeClient(last, "Abort");
    }
  }

  private removePending(pending: PendingStream<P>): void {
    if (pending.list !== this.pending) return;
    this.pending.remove(pending);
    this.resources.pendingRequests.dec();
    this.cluster.stats.upstreamRqPendingActive.dec();
  }

  /** Close `client` (Abort when its stream was cut short); the pool forgets it now, its close event comes later. */
  closeClient(client: ActiveClient, how: "FlushWrite" | "Abort"): void {
    this.onClientGone(client, undefined, "");
    client.connection.close(how);
  }

  /** @internal `client` drains: closed now if it carries no stream and none is about to reuse it, else when its streams end. */
  drainClient(client: ActiveClient): void {
    this.setState(client, ActiveClientState.Draining);
    if (client.activeStreams === 0 && !client.releasing) this.closeClient(client, "FlushWrite");
  }

  private closeIdle(client: ActiveClient): void {
    this.cluster.stats.upstreamCxIdleTimeout.inc();
    this.closeClient(client, "FlushWrite");
  }

  /**
   * Envoy's `drainConnections`: idle clients close now, and connecting ones no stream waits
   * for; the others take no new stream and close when their streams end.
   */
  drainConnections(): void {
    for (let client = this.ready.head; client; ) {
      const next = client.next;
      if (client.activeStreams === 0) this.closeClient(client, "FlushWrite");
      else this.setState(client, ActiveClientState.Draining);
      client = next;
    }
    // Busy ones, and those about to be reused (they close at the next turn).
    for (let client = this.busy.head; client; ) {
      const next = client.next;
      this.setState(client, ActiveClientState.Draining);
      client = next;
    }
    if (this.pending.size === 0) {
      for (let client = this.connecting.head; client; ) {
        const next = client.next;
        this.closeClient(client, "FlushWrite");
        client = next;
      }
    }
  }

  private setState(client: ActiveClient, state: ActiveClientState): void {
    client.list?.remove(client);
    client.state = state;
    this.listFor(state)?.push(client);
  }

  private listFor(state: ActiveClientState): LinkedList<ActiveClient> | undefined {
    switch (state) {
      case ActiveClientState.Connecting:
        return this.connecting;
      case ActiveClientState.Ready:
        return this.ready;
      case ActiveClientState.Busy:
        return this.busy;
      case ActiveClientState.Draining:
        return this.draining;
      default:
        return undefined;
    }
  }

  /**
   * Idle clients are retired by one sweep per pool while any are idle, not a timer per
   * client re-armed on every request (a timer each costs more than the request).
   */
  private armSweep(): void {
    this.sweepTimer ??= this.dispatcher.timers.create(this);
    if (!this.sweepTimer.enabled) this.sweepTimer.enable(IDLE_SWEEP_MS);
  }

  /** @internal The idle sweep. */
  onTimer(): void {
    const now = this.dispatcher.runtime.now();
    let idle = 0;
    for (let client = this.ready.head; client; ) {
      const next = client.next;
      if (client.activeStreams === 0) {
        if (now - client.idleSince >= client.idleLimit) this.closeIdle(client);
        else if (client.idleLimit !== Infinity) idle++;
      }
      client = next;
    }
    if (idle > 0) this.armSweep();
  }

  /** Connections open (connecting, ready, busy, draining), for tests and stats. */
  get connectionCount(): number {
    return this.connecting.size + this.ready.size + this.busy.size + this.draining.size;
  }

  /** Streams waiting for a connection. */
  get pendingCount(): number {
    return this.pending.size;
  }
}
