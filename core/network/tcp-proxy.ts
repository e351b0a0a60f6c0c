import type { TcpProxyConfig } from "../config/bootstrap.ts";
import type { ServerContext } from "../server-context.ts";
import type { PortError, TimerHandle } from "../port.ts";
import type { Cluster } from "../upstream/cluster.ts";
import { Connection, type ConnectionCallbacks, type ConnectionEvent } from "./connection.ts";
import { FilterStatus, type ReadFilter, type ReadFilterCallbacks } from "./filter.ts";
import type { ReadBuffer } from "./read-buffer.ts";
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
  private readonly downstreamCallbacks: ConnectionCallbacks;
  private readonly upstreamCallbacks: ConnectionCallbacks;

  constructor(
    private readonly config: TcpProxyConfig,
    private readonly cluster: Cluster,
    private readonly context: ServerContext,
  ) {
    this.downstreamCallbacks = {
      onEvent: (event) => this.onDownstreamEvent(event),
      onAboveWriteBufferHighWatermark: () => this.upstream?.readDisable(true),
      onBelowWriteBufferLowWatermark: () => this.upstream?.readDisable(false),
    };
    this.upstreamCallbacks = {
      onEvent: (event, error) => this.onUpstreamEvent(event, error),
      onAboveWriteBufferHighWatermark: () => this.downstream.readDisable(true),
      onBelowWriteBufferLowWatermark: () => this.downstream.readDisable(false),
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
    const host = this.cluster.loadBalancer.chooseHost();
    if (!host) {
      // Envoy: no healthy upstream (response flag UH) closes the downstream at once.
      log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: no host in cluster '${this.cluster.name}'`);
      this.downstream.close("FlushWrite");
      return FilterStatus.StopIteration;
    }
    // Hold downstream bytes in the kernel until there is somewhere to send them.
    this.downstream.readDisable(true);
    const socket = runtime.connect({ address: host.address, port: host.port });
    this.upstream = new Connection(socket, this.cluster.config.perConnectionBufferLimitBytes);
    this.upstream.addConnectionCallbacks(this.upstreamCallbacks);
    this.upstream.setReadSink({ onData: (data, endStream) => this.onUpstreamData(data, endStream) });
    this.connectTimer = runtime.setTimeout(() => this.onConnectTimeout(), this.cluster.config.connectTimeoutMs);
    log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: connecting to ${host} (cluster '${this.cluster.name}')`);
    return FilterStatus.StopIteration;
  }

  onData(buffer: ReadBuffer, endStream: boolean): FilterStatus {
    this.lastActivity = this.context.runtime.now();
    const upstream = this.upstream;
    if (upstream) {
      const slices = buffer.slices();
      const last = slices.length - 1;
      for (let i = 0; i <= last; i++) upstream.write(slices[i]!, endStream && i === last);
      if (last < 0 && endStream) upstream.write(EMPTY_BYTES, true);
    }
    buffer.drainAll();
    return FilterStatus.StopIteration;
  }

  private onUpstreamData(data: Uint8Array, endStream: boolean): void {
    this.lastActivity = this.context.runtime.now();
    this.downstream.write(data, endStream);
  }

  private onUpstreamEvent(event: ConnectionEvent, error?: PortError): void {
    if (event === "Connected") {
      this.clearConnectTimer();
      this.context.log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: upstream connected`);
      this.startIdleTimer();
      this.downstream.readDisable(false);
      return;
    }
    this.clearConnectTimer();
    this.clearIdleTimer();
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
  }

  private onConnectTimeout(): void {
    this.connectTimer = undefined;
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
      this.context.log.debug(`[C${this.downstream.id}] tcp_proxy ${this.config.statPrefix}: idle timeout`);
      this.upstream?.close("FlushWrite");
      this.downstream.close("FlushWrite");
    };
    this.idleTimer = runtime.setTimeout(check, timeout);
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
