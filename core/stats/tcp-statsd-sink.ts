/**
 * Envoy's TcpStatsdSink (source/extensions/stat_sinks/common/statsd/statsd.cc): the statsd
 * sink with tcp_cluster_name. One connection to a host of that (static) cluster, opened on
 * the first write and again after it closes; each flush writes every used counter as
 * `prefix.name:delta|c\n` and every used gauge as `prefix.name:value|g\n` in one write, and
 * each histogram value as `prefix.name:value|ms\n` when it is recorded. Names are full
 * (no tags), as Envoy's TCP sink writes them.
 *
 * When more than MAX_BUFFERED_STATS_BYTES wait to be sent, the connection is closed
 * without flushing, what was to be written is dropped and `statsd.cx_overflow` counts it
 * (TlsSink::write). With no host to connect to, the bytes are dropped.
 */
import type { Runtime, Socket, SocketHandler } from "../port.ts";
import type { ClusterManager } from "../upstream/cluster-manager.ts";
import { utf8Encode } from "../util/utf8.ts";
import type { Counter } from "./counter.ts";
import type { Histogram } from "./histogram.ts";
import { statsdHistogramValue, type MetricSnapshot, type StatsSink } from "./sink.ts";

/** Envoy's "somewhat arbitrary 16MiB limit for buffered stats" (statsd.h). */
export const MAX_BUFFERED_STATS_BYTES = 16 * 1024 * 1024;

export class TcpStatsdSink implements StatsSink {
  /** The connection in use; replaced when it closes, overflows or the server half-closes. */
  private connection: StatsdConnection | undefined;
  private stopped = false;

  constructor(
    private readonly runtime: Runtime,
    private readonly clusterManager: ClusterManager,
    private readonly clusterName: string,
    private readonly prefix: string,
    /** statsd.cx_overflow */
    private readonly cxOverflow: Counter,
  ) {}

  async start(): Promise<void> {}

  stop(): void {
    this.stopped = true;
    this.connection?.abort();
    this.connection = undefined;
  }

  flush(snapshot: MetricSnapshot): void {
    let text = "";
    for (const { counter, delta } of snapshot.counters) if (counter.used) text += `${this.prefix}.${counter.name}:${delta}|c\n`;
    for (const gauge of snapshot.gauges) if (gauge.used) text += `${this.prefix}.${gauge.name}:${gauge.value}|g\n`;
    if (text !== "") this.write(text);
  }

  onHistogramComplete(histogram: Histogram, value: number): void {
    this.write(`${this.prefix}.${histogram.name}:${statsdHistogramValue(value)}|ms\n`);
  }

  private write(text: string): void {
    if (this.stopped) return;
    let connection = this.connection;
    if (connection?.closed) connection = this.connection = undefined;
    // Envoy checks the cluster's upstream_cx_tx_bytes_buffered: here the one connection's.
    if (connection !== undefined && connection.buffered() > MAX_BUFFERED_STATS_BYTES) {
      connection.abort();
      this.connection = undefined;
      this.cxOverflow.inc();
      return;
    }
    if (connection === undefined) {
      const cluster = this.clusterManager.get(this.clusterName);
      const host = cluster?.loadBalancer.chooseHost(undefined);
      if (cluster === undefined || host === undefined) return;
      connection = this.connection = new StatsdConnection(cluster.connect(this.runtime, host.address, host.port, undefined, host.pipe));
    }
    connection.write(utf8Encode(text));
  }
}

/** One connection to the statsd server: bytes written before it is up wait for onConnect. */
class StatsdConnection implements SocketHandler {
  private pending: Uint8Array[] | undefined = [];
  private pendingBytes = 0;
  closed = false;

  constructor(private readonly socket: Socket) {
    socket.setHandler(this);
  }

  buffered(): number {
    return this.socket.bufferedAmount + this.pendingBytes;
  }

  write(bytes: Uint8Array): void {
    if (this.pending === undefined) {
      this.socket.write(bytes);
    } else {
      this.pending.push(bytes);
      this.pendingBytes += bytes.length;
    }
  }

  /** Close now, dropping what waits (Envoy's ConnectionCloseType::NoFlush). */
  abort(): void {
    this.closed = true;
    this.pending = undefined;
    this.pendingBytes = 0;
    this.socket.reset();
  }

  onConnect(): void {
    const pending = this.pending ?? [];
    this.pending = undefined;
    this.pendingBytes = 0;
    for (const bytes of pending) this.socket.write(bytes);
  }

  /** A statsd server sends nothing; what it sends is not kept. */
  onData(_data: Uint8Array): void {}

  /** The server half-closed: Envoy's connection (no half-close) closes; the next write opens another. */
  onEnd(): void {
    this.closed = true;
    this.socket.close();
  }

  onDrain(): void {}

  /** Closed, or never connected: the next write opens another. */
  onClose(): void {
    this.closed = true;
    this.pending = undefined;
    this.pendingBytes = 0;
  }
}
