import type { TcpProxyConfig } from "../config/bootstrap.ts";
import type { ServerContext } from "../server-context.ts";
import type { PortError, TimerHandle } from "../port.ts";
import type { Cluster } from "../upstream/cluster.ts";
import type { Host } from "../upstream/host.ts";
import { Connection, type ConnectionCallbacks, type ConnectionEvent } from "./connection.ts";
import { FilterStatus, type ReadFilter, type ReadFilterCallbacks } from "./filter.ts";
import type { ReadBuffer } from "./read-buffer.ts";
import type { TcpProxyStats } from "./tcp-proxy-stats.ts";
import { TcpAccessLogContext } from "./tcp-access-log-context.ts";
import { EMPTY_BYTES } from "../util/bytes.ts";

/**
 * Envoy's `envoy.filters.network.tcp_proxy`: a terminal read filter that opens one
 * upstream connection per downstream connection and moves bytes both ways.
 *
 * As Envoy does, downstream reading is disabled until the upstream connects; each
 * side's write-buffer high watermark disables the other side's reads until it
 * drains; a FIN from either side is passed on as a half-close; when either side
 * closes, the other is closed after flushing what it still has to write.
 */
export class TcpProxyFilter implements ReadFilter {
  private callbacks!: ReadFilterCallbacks;
  private upstream: Connection | undefined;
  private connectTimer: TimerHandle | undefined;
  private idleTimer: TimerHandle | undefined;
  private lastActivity = 0;
  private upstreamOpened = 0;
  private connected = false;
  // For the access log line written when the downstream closes.
  private readonly startWallClock: number;
  private readonly started: number;
  private bytesReceived = 0;
  private bytesSent = 0;
  private readonly responseFlags: string[] = [];
  private upstreamHost: string | undefined;
  /** The host connected to, for its per-host stats (/clusters). */
  private host: Host | undefined;
  private readonly downstreamCallbacks: ConnectionCallbacks;
  private readonly upstreamCallbacks: ConnectionCallbacks;

  constructor(
    private readonly config: TcpProxyConfig,
    private readonly cluster: Cluster,
    private readonly context: ServerContext,
    private readonly stats: TcpProxyStats,
  ) {
    this.startWallClock = context.runtime.wallClock();
    this.started = context.runtime.now();
    this.downstreamCallbacks = {
      onEvent: (event) => this.onDownstreamEvent(event),
      onAboveWriteBufferHighWatermark: () => this.upstream?.readDisable(true),
      onBelowWriteBufferLowWatermark: () => this.upstream?.readDisable(false),
    };
    this.upstreamCallbacks = {
      onEvent: (event, error) => this.onUpstreamEvent(event, error),
      onAboveWriteBufferHighWatermark: () => {
        this.stats.downstreamFlowControlPausedReadingTotal.inc();
        this.downstream.readDisable(true);
      },
      onBelowWriteBufferLowWatermark: () => {
        this.stats.downstreamFlowControlResumedReadingTotal.inc();
        this.downstream.readDisable(false);
      },
    };
  }

  private get downstream(): Connection {
    return this.callbacks.connection;
  }

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    this.callbacks = callbacks;
    callbacks.connection.addConnectionCallbacks(this.downstreamCallbacks);
  }

  onNewConnection(): FilterStatus {
    const { runtime, log } = this.context;
    this.stats.downstreamCxTotal.inc();
    const host = this.cluster.loadBalancer.chooseHost();
    if (!host) {
      this.stats.downstreamCxNoRoute.inc();
      this.responseFlags.push("UH");
      // Envoy: no healthy upstream (response flag UH) closes the downstream at once.
      log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: no host in cluster '${this.cluster.name}'`);
      this.downstream.close("FlushWrite");
      return FilterStatus.StopIteration;
    }
    // Hold downstream bytes in the kernel until there is somewhere to send them.
    this.downstream.readDisable(true);
    this.upstreamHost = host.toString();
    const socket = runtime.connect({ address: host.address, port: host.port });
    this.upstream = new Connection(socket, this.cluster.config.perConnectionBufferLimitBytes);
    this.upstream.addConnectionCallbacks(this.upstreamCallbacks);
    this.upstream.setReadSink({ onData: (data, endStream) => this.onUpstreamData(data, endStream) });
    this.connectTimer = runtime.setTimeout(() => this.onConnectTimeout(), this.cluster.config.connectTimeoutMs);
    const clusterStats = this.cluster.stats;
    clusterStats.upstreamCxTotal.inc();
    clusterStats.upstreamCxActive.inc();
    this.host = host;
    host.stats.cxTotal++;
    host.stats.cxActive++;
    this.upstreamOpened = runtime.now();
    log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: connecting to ${host} (cluster '${this.cluster.name}')`);
    return FilterStatus.StopIteration;
  }

  onData(buffer: ReadBuffer, endStream: boolean): FilterStatus {
    this.lastActivity = this.context.runtime.now();
    this.stats.downstreamCxRxBytesTotal.inc(buffer.length);
    this.bytesReceived += buffer.length;
    this.cluster.stats.upstreamCxTxBytesTotal.inc(buffer.length);
    const upstream = this.upstream;
    if (upstream) {
      const last = buffer.chunkCount - 1;
      for (let i = 0; i <= last; i++) upstream.write(buffer.chunkAt(i), endStream && i === last);
      if (last < 0 && endStream) upstream.write(EMPTY_BYTES, true);
    }
    buffer.drainAll();
    return FilterStatus.StopIteration;
  }

  private onUpstreamData(data: Uint8Array, endStream: boolean): void {
    this.lastActivity = this.context.runtime.now();
    this.stats.downstreamCxTxBytesTotal.inc(data.byteLength);
    this.bytesSent += data.byteLength;
    this.cluster.stats.upstreamCxRxBytesTotal.inc(data.byteLength);
    this.downstream.write(data, endStream);
  }

  private onUpstreamEvent(event: ConnectionEvent, error?: PortError): void {
    if (event === "Connected") {
      this.connected = true;
      this.cluster.stats.upstreamCxConnectMs.record(this.context.runtime.now() - this.upstreamOpened);
      this.clearConnectTimer();
      this.context.log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: upstream connected`);
      this.startIdleTimer();
      this.downstream.readDisable(false);
      return;
    }
    this.clearConnectTimer();
    this.clearIdleTimer();
    this.countUpstreamClosed(event);
    this.context.log.debug(
      `[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: upstream ${event === "LocalClose" ? "closed locally" : "closed"}${error ? `: ${error.code}` : ""}`,
    );
    // Connect failure or upstream gone: the downstream has nothing left to talk to.
    this.downstream.close("FlushWrite");
  }

  private onDownstreamEvent(event: ConnectionEvent): void {
    if (event === "Connected") return;
    this.clearConnectTimer();
    this.clearIdleTimer();
    this.upstream?.close("FlushWrite");
    this.writeAccessLogs();
  }

  private writeAccessLogs(): void {
    const loggers = this.context.accessLoggers(this.config);
    if (loggers.length === 0) return;
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
    );
    for (const logger of loggers) logger.log(context);
  }

  private onConnectTimeout(): void {
    this.connectTimer = undefined;
    this.cluster.stats.upstreamCxConnectTimeout.inc();
    this.context.log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: upstream connect timeout`);
    this.upstream?.close("Abort");
    this.downstream.close("FlushWrite");
  }

  /**
   * Envoy's idle_timeout: close both sides when no bytes moved either way for that
   * long. One timer per connection re-armed lazily from `lastActivity`, so moving
   * data costs a clock read, not a timer reset per chunk.
   */
  private startIdleTimer(): void {
    const timeout = this.config.idleTimeoutMs;
    if (timeout <= 0) return;
    const { runtime } = this.context;
    this.lastActivity = runtime.now();
    const check = (): void => {
      const idle = runtime.now() - this.lastActivity;
      if (idle < timeout) {
        this.idleTimer = runtime.setTimeout(check, timeout - idle);
        return;
      }
      this.idleTimer = undefined;
      this.stats.idleTimeout.inc();
      this.context.log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: idle timeout`);
      this.upstream?.close("FlushWrite");
      this.downstream.close("FlushWrite");
    };
    this.idleTimer = runtime.setTimeout(check, timeout);
  }

  /** Envoy's upstream connection stats for the cluster, once per upstream connection. */
  private countUpstreamClosed(event: ConnectionEvent): void {
    const stats = this.cluster.stats;
    stats.upstreamCxActive.dec();
    if (this.host) {
      this.host.stats.cxActive--;
      if (!this.connected) this.host.stats.cxConnectFail++;
    }
    if (!this.connected) {
      if (this.connectTimer !== undefined || event === "RemoteClose") stats.upstreamCxConnectFail.inc();
      this.responseFlags.push("UF");
      return;
    }
    stats.upstreamCxDestroy.inc();
    (event === "LocalClose" ? stats.upstreamCxDestroyLocal : stats.upstreamCxDestroyRemote).inc();
    stats.upstreamCxLengthMs.record(this.context.runtime.now() - this.upstreamOpened);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer === undefined) return;
    this.context.runtime.clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }

  private clearIdleTimer(): void {
    if (this.idleTimer === undefined) return;
    this.context.runtime.clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}
