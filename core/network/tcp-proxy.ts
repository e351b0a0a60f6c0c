import type { ComponentLogger } from "../log.ts";
import type { MetadataMatchCriteria, TcpProxyConfig } from "../config/bootstrap.ts";
import type { ServerContext } from "../server-context.ts";
import type { PortError, SocketAddress, TlsSession } from "../port.ts";
import type { Timer, TimerTarget } from "../event/timers.ts";
import type { Cluster } from "../upstream/cluster.ts";
import type { PoolHandle } from "../upstream/conn-pool-base.ts";
import { PoolFailureReason } from "../upstream/pool-failure.ts";
import type { TcpConnectionData, TcpPoolCallbacks, TcpUpstreamCallbacks } from "../upstream/tcp-conn-pool.ts";
import { CoreResponseFlag, type ResponseFlag } from "../stream-info/response-flags.ts";
import type { Connection, ConnectionCallbacks, ConnectionEvent } from "./connection.ts";
import { FilterStatus, type ReadFilter, type ReadFilterCallbacks } from "./filter.ts";
import type { ReadBuffer } from "./read-buffer.ts";
import type { TcpProxyStats } from "./tcp-proxy-stats.ts";
import { TcpAccessLogContext } from "./tcp-access-log-context.ts";
import { EMPTY_BYTES } from "../util/bytes.ts";
import { xxHash64Text } from "../util/hash.ts";
import type { DownstreamConnectionView, LoadBalancerContext } from "../upstream/load-balancer.ts";
import type { Host } from "../upstream/host.ts";
import { OutlierResult } from "../upstream/host-monitors.ts";
import { HttpTunnelUpstream, tunnelRequest, type HttpTunnelCallbacks } from "../upstream/tcp-tunnel-upstream.ts";
import { parseFormat, renderOmittingEmpty } from "../access-log/format.ts";

/**
 * Envoy's `envoy.filters.network.tcp_proxy`: a terminal read filter that takes one
 * upstream connection per downstream connection from the cluster's TCP connection pool
 * (tcp-conn-pool.ts: connect timeout, circuit breakers and connection stats live there,
 * as Envoy's tcp_proxy uses `Tcp::ConnectionPool`) and moves bytes both ways.
 *
 * As Envoy does, downstream reading is disabled until the upstream connects; each
 * side's write-buffer high watermark disables the other side's reads until it
 * drains; a FIN from either side is passed on as a half-close; when either side
 * closes, the other is closed after flushing what it still has to write.
 */
export class TcpProxyFilter implements ReadFilter, TcpPoolCallbacks, TcpUpstreamCallbacks, HttpTunnelCallbacks, TimerTarget, LoadBalancerContext {
  private poolHandle: PoolHandle | undefined;
  private upstream: TcpConnectionData | undefined;
  /** With tunneling_config: the HTTP stream carrying the bytes, once its response opened it. */
  private tunnel: HttpTunnelUpstream | undefined;
  /** The read buffer holding bytes that came before the upstream connected. */
  private held: ReadBuffer | undefined;
  private downstreamEnded = false;
  private idleTimer: Timer | undefined;
  private lastActivity = 0;
  private closed = false;
  // For the access log line written when the downstream closes.
  private readonly startWallClock: number;
  private readonly started: number;
  private bytesReceived = 0;
  /** Connect attempts made (Envoy's connect_attempts_, against max_connect_attempts). */
  private connectAttempts = 0;
  private bytesSent = 0;
  private readonly responseFlags: ResponseFlag[] = [];
  private upstreamHost: string | undefined;
  /** The upstream connection's TLS, kept for the access log past the connection's release. */
  private upstreamTls: TlsSession | undefined;
  /** The upstream connection's local address, once connected. %UPSTREAM_LOCAL_ADDRESS% */
  private upstreamLocalAddress: SocketAddress | undefined;
  /** The chosen host, told of connect results (outlier detection). */
  private host: Host | undefined;
  private upstreamTransportFailureReason: string | undefined;
  /**
   * The upstream connection left flushing after the downstream closed (Envoy's tcp_proxy
   * Drainer): still under the idle timeout.
   */
  private draining: TcpConnectionData | undefined;
  /** The draining upstream's unsent bytes when last looked at: a change is progress. */
  private drainBuffered = 0;
  private readonly downstreamCallbacks: ConnectionCallbacks;

  private readonly log: ComponentLogger;

  constructor(
    private readonly config: TcpProxyConfig,
    /** Looked up by name for this connection (undefined: removed since the config named it). */
    private readonly clusterOrNone: Cluster | undefined,
    private readonly context: ServerContext,
    private readonly stats: TcpProxyStats,
    private readonly downstream: Connection,
    /** metadata_match's criteria for the picked cluster (the subset load balancer's). */
    private readonly metadataMatch?: MetadataMatchCriteria,
  ) {
    // Envoy's TcpProxy::Filter logs as the "filter" component (tcp_proxy.h, Loggable<Id::filter>).
    this.log = context.log.component("filter");
    this.startWallClock = context.runtime.wallClock();
    this.started = context.runtime.now();
    this.downstreamCallbacks = {
      onEvent: (event) => this.onDownstreamEvent(event),
      onAboveWriteBufferHighWatermark: () => {
        this.upstream?.connection.readDisable(true);
        this.tunnel?.readDisable(true);
      },
      onBelowWriteBufferLowWatermark: () => {
        this.upstream?.connection.readDisable(false);
        this.tunnel?.readDisable(false);
      },
    };
  }

  /** Set whenever the filter runs past onNewConnection's check. */
  private get cluster(): Cluster {
    return this.clusterOrNone!;
  }

  /** Envoy's tcp_proxy hash_policy source_ip (Network::HashPolicyImpl): xxHash64 of the client's IP. */
  computeHashKey(): bigint | undefined {
    const remote = this.config.hashSourceIp ? this.downstream.remoteAddress : undefined;
    // A Unix socket peer has no IP: no hash (Envoy's Network::HashPolicyImpl: ip() is null).
    return remote && remote.family !== "unix" ? xxHash64Text(remote.address) : undefined;
  }

  /** LoadBalancerContext: the downstream connection (an ORIGINAL_DST cluster's restored local address, its metadata). */
  downstreamConnection(): DownstreamConnectionView {
    return this.downstream;
  }

  /** LoadBalancerContext: tcp_proxy's metadata_match (Envoy's TcpProxy::Filter::metadataMatchCriteria). */
  metadataMatchCriteria(): MetadataMatchCriteria | undefined {
    return this.metadataMatch;
  }

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    callbacks.connection.addConnectionCallbacks(this.downstreamCallbacks);
  }

  onNewConnection(): FilterStatus {
    this.stats.downstreamCxTotal.inc();
    if (this.clusterOrNone === undefined) {
      // The cluster was removed at run time (a reload, CDS): Envoy's tcp_proxy closes the connection (NC).
      this.stats.downstreamCxNoRoute.inc();
      this.responseFlags.push(CoreResponseFlag.NoClusterFound);
      this.downstream.close("FlushWrite");
      return FilterStatus.StopIteration;
    }
    // Hold downstream bytes in the kernel until there is somewhere to send them.
    this.downstream.readDisable(true);
    this.establishUpstreamConnection();
    return FilterStatus.StopIteration;
  }

  /**
   * Envoy's Filter::establishUpstreamConnection, run for each connect attempt: the
   * connections circuit breaker (UO), then max_connect_attempts (URX), then a host (UH).
   * Each failure closes the downstream at once.
   */
  private establishUpstreamConnection(): void {
    const log = this.log;
    const cluster = this.cluster;
    // Envoy's tcp_proxy checks the connections circuit breaker itself: over it, the
    // downstream is closed (UO), not queued in the pool.
    if (!cluster.resources.connections.canCreate()) {
      cluster.stats.upstreamCxOverflow.inc();
      this.setResponseFlag(CoreResponseFlag.UpstreamOverflow);
      if (log.debugOn) log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: max_connections of cluster '${cluster.name}' reached`);
      this.downstream.close("FlushWrite");
      return;
    }
    if (this.connectAttempts >= (this.config.maxConnectAttempts ?? 1)) {
      this.setResponseFlag(CoreResponseFlag.UpstreamRetryLimitExceeded);
      cluster.stats.upstreamCxConnectAttemptsExceeded.inc();
      if (log.debugOn) log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: max_connect_attempts reached`);
      this.downstream.close("FlushWrite");
      return;
    }
    const host = cluster.loadBalancer.chooseHost(this);
    if (!host) {
      // Envoy's tcpConnPoolImpl counts the cluster's upstream_cx_none_healthy; a route that was
      // found is no downstream_cx_no_route (tcp_proxy.cc, establishUpstreamConnection).
      cluster.stats.upstreamCxNoneHealthy.inc();
      this.setResponseFlag(CoreResponseFlag.NoHealthyUpstream);
      if (log.debugOn) log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: no host in cluster '${cluster.name}'`);
      this.downstream.close("FlushWrite");
      return;
    }
    this.upstreamHost = host.toString();
    this.host = host;
    const attempt = ++this.connectAttempts;
    if (log.debugOn) log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: connecting to ${host} (cluster '${cluster.name}', attempt ${attempt})`);
    if (this.config.tunneling) return this.startTunnel(host, attempt);
    const handle = this.context.clusterManager.tcpConnPool(cluster, host).newStream(this);
    // A failure reported from inside newStream may have started the next attempt: its handle is the one to keep.
    if (attempt === this.connectAttempts) this.poolHandle = handle;
  }

  /**
   * tunneling_config: an HTTP request on the host's HTTP pool carries the bytes (Envoy's
   * HttpConnPool; upstream/tcp-tunnel-upstream.ts), its hostname and headers_to_add
   * rendered with what the access log would say of the connection now.
   */
  private startTunnel(host: Host, attempt: number): void {
    const tunneling = this.config.tunneling!;
    const cluster = this.cluster;
    const hostname = tunneling.hostnameFormatted ? renderOmittingEmpty(formatOf(tunneling.hostname), this.accessLogContext()) : tunneling.hostname;
    if (hostname === "" || UNSAFE_AUTHORITY.test(hostname)) {
      // A formatter gave nothing usable (no SNI, a value with a space): no request can name it.
      if (this.log.debugOn) this.log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: tunneling hostname ${JSON.stringify(hostname)} is not an authority`);
      this.downstream.close("FlushWrite");
      return;
    }
    // The TLS and connect_timeout are those of the cluster whose pool serves the host (an aggregate's member).
    const serving = (cluster.aggregate?.clusterOf(host) ?? cluster).config;
    const request = tunnelRequest(tunneling, hostname, serving.transportSocket !== undefined, { headerFormatterContext: () => this.accessLogContext() });
    const tunnel = new HttpTunnelUpstream(this, request, tunneling.usePost, this.context.timers, serving.connectTimeoutMs);
    this.poolHandle = tunnel;
    tunnel.start(this.context.clusterManager.httpConnPool(cluster, host));
    // A failure reported from inside start may have started the next attempt: its handle is the one to keep.
    if (attempt !== this.connectAttempts && this.poolHandle === tunnel) this.poolHandle = undefined;
  }

  /** The response opened the tunnel: as onPoolReady for a TCP connection. */
  onTunnelReady(tunnel: HttpTunnelUpstream): void {
    this.poolHandle = undefined;
    this.tunnel = tunnel;
    this.upstreamTls = tunnel.tls;
    this.upstreamLocalAddress = tunnel.localAddress;
    this.host?.outlierDetector.putResult(OutlierResult.LocalOriginConnectSuccessFinal);
    if (this.log.debugOn) this.log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: tunnel established`);
    this.startIdleTimer();
    this.upstreamConnected();
    const held = this.held;
    this.held = undefined;
    if (held && (held.length > 0 || this.downstreamEnded)) this.onData(held, this.downstreamEnded);
    this.downstream.readDisable(false);
  }

  /** Stream info's flags are a set (Envoy's bitmask), kept in the order they were first set. */
  private setResponseFlag(flag: ResponseFlag): void {
    if (!this.responseFlags.includes(flag)) this.responseFlags.push(flag);
  }

  onData(buffer: ReadBuffer, endStream: boolean): FilterStatus {
    const tunnel = this.tunnel;
    if (tunnel) {
      this.lastActivity = this.context.runtime.now();
      this.stats.downstreamCxRxBytesTotal.inc(buffer.length);
      this.bytesReceived += buffer.length;
      // The HTTP pool counts the cluster's upstream_cx_tx_bytes_total: what went on the wire, framing included.
      const last = buffer.chunkCount - 1;
      for (let i = 0; i <= last; i++) tunnel.encodeData(buffer.chunkAt(i), endStream && i === last);
      if (last < 0 && endStream) tunnel.encodeData(EMPTY_BYTES, true);
      buffer.drainAll();
      return FilterStatus.StopIteration;
    }
    if (!this.upstream) {
      // Not connected yet: bytes that came with the connection (or before the read disable
      // took hold) stay in the filter manager's buffer, bounded by one read, until then.
      this.held = buffer;
      this.downstreamEnded ||= endStream;
      return FilterStatus.StopIteration;
    }
    this.lastActivity = this.context.runtime.now();
    this.stats.downstreamCxRxBytesTotal.inc(buffer.length);
    this.bytesReceived += buffer.length;
    this.cluster.stats.upstreamCxTxBytesTotal.inc(buffer.length);
    const upstream = this.upstream?.connection;
    if (upstream) {
      const last = buffer.chunkCount - 1;
      for (let i = 0; i <= last; i++) upstream.write(buffer.chunkAt(i), endStream && i === last);
      if (last < 0 && endStream) upstream.write(EMPTY_BYTES, true);
    }
    buffer.drainAll();
    return FilterStatus.StopIteration;
  }

  // ---- TcpPoolCallbacks ----

  onPoolReady(upstream: TcpConnectionData): void {
    this.poolHandle = undefined;
    if (this.closed) {
      upstream.release("FlushWrite");
      return;
    }
    this.upstream = upstream;
    this.upstreamTls = upstream.connection.socket.tls;
    this.upstreamLocalAddress = upstream.connection.socket.localAddress;
    upstream.addUpstreamCallbacks(this);
    // Outlier detection (Envoy's Filter::onUpstreamConnection): the connect is all tcp_proxy can judge.
    this.host?.outlierDetector.putResult(OutlierResult.LocalOriginConnectSuccessFinal);
    if (this.log.debugOn) this.log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: upstream connected`);
    this.startIdleTimer();
    this.upstreamConnected();
    const held = this.held;
    this.held = undefined;
    if (held && (held.length > 0 || this.downstreamEnded)) this.onData(held, this.downstreamEnded);
    this.downstream.readDisable(false);
  }

  onPoolFailure(reason: PoolFailureReason, transportFailureReason: string): void {
    this.poolHandle = undefined;
    // Outlier detection (Envoy's tcp_proxy onUpstreamEvent / onConnectTimeout): the host
    // refused or did not answer in time; our own failures and the circuit breakers are not its fault.
    if (reason === PoolFailureReason.RemoteConnectionFailure) this.host?.outlierDetector.putResult(OutlierResult.LocalOriginConnectFailed);
    else if (reason === PoolFailureReason.Timeout) this.host?.outlierDetector.putResult(OutlierResult.LocalOriginTimeout);
    if (this.closed) return;
    // Envoy's tcp_proxy (onGenericPoolFailure, onConnectTimeout): a connect that failed
    // remotely or timed out is UF. Every failure, a pool overflow (max_pending_requests)
    // included, is then a LocalClose or RemoteClose while connecting, which tries again
    // (establishUpstreamConnection): the circuit breaker (UO), then max_connect_attempts
    // (URX, upstream_cx_connect_attempts_exceeded), then another host.
    if (reason === PoolFailureReason.RemoteConnectionFailure || reason === PoolFailureReason.Timeout) {
      this.setResponseFlag(CoreResponseFlag.UpstreamConnectionFailure);
    }
    if (transportFailureReason) this.upstreamTransportFailureReason = transportFailureReason;
    const why =
      reason === PoolFailureReason.Timeout ? "upstream connect timeout" : reason === PoolFailureReason.Overflow ? "pool overflow" : `upstream connect failed${transportFailureReason ? `: ${transportFailureReason}` : ""}`;
    if (this.log.debugOn) this.log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: ${why}`);
    this.establishUpstreamConnection();
  }

  // ---- TcpUpstreamCallbacks ----

  onUpstreamData(data: Uint8Array, endStream: boolean): void {
    // A closing connection reads no more (port.ts close), so a draining one has nothing to pass on.
    if (this.draining) return;
    this.lastActivity = this.context.runtime.now();
    this.stats.downstreamCxTxBytesTotal.inc(data.byteLength);
    this.bytesSent += data.byteLength;
    this.downstream.write(data, endStream);
  }

  onEvent(event: ConnectionEvent, error?: PortError): void {
    this.idleTimer?.disable();
    if (this.draining) {
      this.draining = undefined;
      this.stats.upstreamFlushActive.dec();
      return;
    }
    this.upstream = undefined;
    this.tunnel = undefined;
    if (this.log.debugOn) {
      this.log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: upstream ${event === "LocalClose" ? "closed locally" : "closed"}${error ? `: ${error.code}` : ""}`);
    }
    // The upstream is gone: the downstream has nothing left to talk to.
    this.downstream.close("FlushWrite");
  }

  onAboveWriteBufferHighWatermark(): void {
    if (this.draining) return;
    this.stats.downstreamFlowControlPausedReadingTotal.inc();
    this.downstream.readDisable(true);
  }

  onBelowWriteBufferLowWatermark(): void {
    if (this.draining) return;
    this.stats.downstreamFlowControlResumedReadingTotal.inc();
    this.downstream.readDisable(false);
  }

  private onDownstreamEvent(event: ConnectionEvent): void {
    if (event === "Connected" || this.closed) return;
    this.closed = true;
    this.poolHandle?.cancel();
    this.poolHandle = undefined;
    // Envoy's HttpUpstream::onDownstreamEvent: the tunnel's stream is reset (unless both directions ended).
    this.tunnel?.reset();
    this.tunnel = undefined;
    const upstream = this.upstream;
    this.upstream = undefined;
    // Envoy's TcpUpstream::onDownstreamEvent: a downstream that closed leaves the upstream
    // flushing what it was sent; one that still has bytes to send is handed to the drain
    // manager (tcp_proxy.cc, UpstreamDrainManager: upstream_flush_total, upstream_flush_active).
    // A downstream we closed (LocalClose: listener drain, LDS removal, shutdown) closes the
    // upstream NoFlush: with bytes queued, a flush would wait for ever on an upstream that
    // does not read, with no timer left to end it.
    if (upstream && event === "RemoteClose" && upstream.connection.writeBufferedBytes > 0) this.startDrain(upstream);
    else {
      this.idleTimer?.disable();
      upstream?.release(upstream.connection.writeBufferedBytes > 0 ? "Abort" : "FlushWrite");
    }
    this.writeAccessLogs();
  }

  private startDrain(upstream: TcpConnectionData): void {
    this.draining = upstream;
    this.stats.upstreamFlushTotal.inc();
    this.stats.upstreamFlushActive.inc();
    // The idle timer goes on (Envoy moves it to the Drainer): an upstream that never reads
    // is closed after idle_timeout, not kept for ever.
    this.drainBuffered = upstream.connection.writeBufferedBytes;
    upstream.closeFlushing();
  }

  /** Envoy's Drainer::cancelDrain: closed without flushing. */
  private cancelDrain(): void {
    this.draining?.connection.close("Abort");
  }

  private writeAccessLogs(type: TcpAccessLogContext["accessLogType"] = "TcpConnectionEnd"): void {
    const loggers = this.context.accessLoggers(this.config);
    if (loggers.length === 0) return;
    const context = this.accessLogContext();
    context.accessLogType = type;
    for (const logger of loggers) logger.log(context);
  }

  /** Envoy's Filter::onUpstreamConnection, last: flush_access_log_on_connected logs the connection as it is now. */
  private upstreamConnected(): void {
    if (this.config.flushAccessLogOnConnected) this.writeAccessLogs("TcpUpstreamConnected");
  }

  /** The connection as the access log's formatter sees it now (the log line; a tunnel's hostname and headers). */
  private accessLogContext(): TcpAccessLogContext {
    const downstream = this.downstream;
    const context = new TcpAccessLogContext(
      this.startWallClock,
      this.context.runtime.now() - this.started,
      this.bytesReceived,
      this.bytesSent,
      this.responseFlags,
      this.upstreamHost,
      this.cluster.name,
      downstream.remoteAddress,
      downstream.localAddress,
      downstream.id,
      this.upstreamTransportFailureReason,
      downstream.directRemoteAddress,
    );
    context.downstreamTls = downstream.socket.tls;
    context.requestedServerName = downstream.requestedServerName;
    context.ja3Hash = downstream.ja3Hash;
    context.upstreamTls = this.upstreamTls;
    context.upstreamLocalAddress = this.upstreamLocalAddress;
    context.upstreamHostMetadata = this.host?.metadata;
    context.dynamicMetadata = downstream.dynamicMetadata;
    context.connectionTerminationDetails = downstream.terminationDetails;
    return context;
  }

  /**
   * Envoy's idle_timeout: close both sides when no bytes moved either way for that
   * long. One timer per connection re-armed lazily from `lastActivity`
   * (Timer.idleTimeoutPassed), so moving data costs a clock read, not a timer reset per chunk.
   */
  private startIdleTimer(): void {
    const timeout = this.config.idleTimeoutMs;
    if (timeout <= 0) return;
    this.lastActivity = this.context.runtime.now();
    this.idleTimer ??= this.context.timers.create(this);
    this.idleTimer.enable(timeout);
  }

  /** @internal The idle timer fired: close, or wait for the rest of the timeout since the last activity. */
  onTimer(): void {
    const draining = this.draining;
    if (draining) {
      // Envoy re-arms the drainer's timer on bytes sent: unsent bytes that went down are progress.
      const buffered = draining.connection.writeBufferedBytes;
      if (buffered !== this.drainBuffered) {
        this.drainBuffered = buffered;
        this.lastActivity = this.context.runtime.now();
      }
    }
    if (!this.idleTimer!.idleTimeoutPassed(this.lastActivity, this.config.idleTimeoutMs)) return;
    this.stats.idleTimeout.inc();
    if (this.log.debugOn) this.log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: idle timeout${draining ? " of the draining upstream" : ""}`);
    if (draining) return this.cancelDrain();
    // Envoy's onIdleTimeout closes both sides NoFlush: bytes a stalled peer did not take are
    // dropped, so it cannot hold the connection past the timeout (a flushing close would wait
    // for it for ever). A side with nothing buffered still gets a plain FIN.
    const upstream = this.upstream;
    this.upstream = undefined;
    upstream?.release(upstream.connection.writeBufferedBytes > 0 ? "Abort" : "FlushWrite");
    this.tunnel?.reset();
    this.tunnel = undefined;
    this.downstream.close(this.downstream.writeBufferedBytes > 0 ? "Abort" : "FlushWrite");
  }
}

/**
 * What no authority may hold (a formatter's output is checked per connection): anything but
 * visible ASCII (RFC 3986 §3.2) — a space or CR/LF ends the request line or field, and a lenient
 * upstream may split the line on other controls (RFC 9112 §3). %REQUESTED_SERVER_NAME% is the
 * client's.
 */
const UNSAFE_AUTHORITY = /[^\x21-\x7e]/;

/** Compiled hostname formats, by text (the config holds the text: it is plain data; validated at load). */
const HOSTNAME_FORMATS = new Map<string, ReturnType<typeof parseFormat>>();

function formatOf(hostname: string): ReturnType<typeof parseFormat> {
  let parts = HOSTNAME_FORMATS.get(hostname);
  if (parts === undefined) {
    parts = parseFormat(hostname);
    if (HOSTNAME_FORMATS.size < 1024) HOSTNAME_FORMATS.set(hostname, parts);
  }
  return parts;
}
