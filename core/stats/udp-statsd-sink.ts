/**
 * Envoy's UdpStatsdSink (source/extensions/stat_sinks/common/statsd/statsd.cc), the UDP
 * side of envoy.stat_sinks.statsd and all of envoy.stat_sinks.dog_statsd. At each flush,
 * every counter that was ever used as `prefix.name:delta|c` (a delta of 0 included, as
 * Envoy's `used()` test does), then every used gauge as `prefix.name:value|g`; each
 * histogram value when it is recorded as `prefix.name:value|ms`, a datagram of its own.
 *
 * With a buffer size (DogStatsdSink.max_bytes_per_datagram) a flush's lines are joined by
 * "\n" into datagrams up to that size, a line as long or longer going alone
 * (UdpStatsdSink::writeBuffer); without one every line is its own datagram.
 *
 * With tags (DogStatsD) a metric is named by its tag-extracted name and its tags follow
 * the type as `|#name:value,name:value` (tag_formats.cc's default TagFormat).
 *
 * Envoy's writer ignores a failed sendmsg; here a datagram the socket drops or fails to
 * send is counted (`statsd.udp_tx_errors`, polyvoy's own stat), never thrown.
 *
 * Envoy's sendmsg goes to the kernel at once; the port's UDP sockets queue sends in the
 * runtime, at most DATAGRAM_SEND_QUEUE_LIMIT, which one flush of a large config (a
 * datagram per line) would pass. What the socket refuses waits in an outbox, bounded by
 * MAX_OUTBOX_DATAGRAMS, and is sent again a millisecond later, in order.
 */

/** How many datagrams may wait for the runtime's send queue to drain (beyond: dropped, counted). */
export const MAX_OUTBOX_DATAGRAMS = 16_384;
/** The pause before sending again what the socket refused. */
const RETRY_MS = 1;
/** Retries in a row that send nothing before the outbox is given up (the socket is not taking any). */
const MAX_IDLE_RETRIES = 1000;
import type { TagExtractor } from "../admin/tag-extractor.ts";
import type { DatagramCapability, DatagramSocket, PortError, Runtime, TimerHandle } from "../port.ts";
import { utf8Encode, utf8Length } from "../util/utf8.ts";
import type { Counter } from "./counter.ts";
import type { Histogram } from "./histogram.ts";
import { statsdHistogramValue, type MetricSnapshot, type StatsSink } from "./sink.ts";

export interface UdpStatsdSinkOptions {
  readonly target: { readonly address: string; readonly port: number };
  readonly prefix: string;
  /** DogStatsD: names tag-extracted, tags appended. Absent: full names, no tags (the statsd sink). */
  readonly tags?: TagExtractor;
  /** max_bytes_per_datagram; 0: one line per datagram. */
  readonly bufferSize: number;
  /** Counts datagrams dropped or failed. */
  readonly txErrors: Counter;
}

export class UdpStatsdSink implements StatsSink {
  private socket: DatagramSocket | undefined;
  private stopped = false;
  /** Datagrams the socket refused (its queue full), oldest first. */
  private outbox: Uint8Array[] = [];
  private retry: TimerHandle | undefined;
  private idleRetries = 0;

  constructor(
    private readonly runtime: Runtime,
    private readonly udp: DatagramCapability,
    private readonly options: UdpStatsdSinkOptions,
  ) {}

  async start(): Promise<void> {
    const txErrors = this.options.txErrors;
    const socket = await this.udp.bind(
      // An unconnected socket of the target's family on a port the system chooses (Envoy's ioHandleForAddr).
      { address: this.options.target.address.includes(":") ? "::" : "0.0.0.0", port: 0, maxDatagramSize: 1500 },
      {
        onMessage: () => {},
        onError: (_error: PortError) => txErrors.inc(),
        onSendError: (_error: PortError) => txErrors.inc(),
      },
    );
    if (this.stopped) socket.close();
    else this.socket = socket;
  }

  stop(): void {
    this.stopped = true;
    if (this.retry !== undefined) this.runtime.clearTimeout(this.retry);
    this.retry = undefined;
    this.outbox = [];
    this.socket?.close();
    this.socket = undefined;
  }

  flush(snapshot: MetricSnapshot): void {
    const batch: string[] = [];
    let batchLength = 0;
    const add = (line: string): void => {
      const size = this.options.bufferSize;
      const length = utf8Length(line);
      if (length >= size) {
        this.write(line);
        return;
      }
      // The line and its "\n" would overflow: what is buffered goes first.
      if (batchLength + length + 1 > size && batch.length > 0) {
        this.write(batch.join("\n"));
        batch.length = 0;
        batchLength = 0;
      }
      batchLength += (batch.length > 0 ? 1 : 0) + length;
      batch.push(line);
    };
    for (const { counter, delta } of snapshot.counters) if (counter.used) add(this.message(counter.name, delta, "|c"));
    for (const gauge of snapshot.gauges) if (gauge.used) add(this.message(gauge.name, gauge.value, "|g"));
    if (batch.length > 0) this.write(batch.join("\n"));
  }

  onHistogramComplete(histogram: Histogram, value: number): void {
    this.write(this.message(histogram.name, statsdHistogramValue(value), "|ms"));
  }

  /** `prefix.name:value|type` and DogStatsD's tags (UdpStatsdSink::buildMessage, TagAfterValue). */
  private message(name: string, value: number, type: string): string {
    const tags = this.options.tags;
    if (tags === undefined) return `${this.options.prefix}.${name}:${value}${type}`;
    const tagged = tags.extract(name);
    const tagText = tagged.tags.length === 0 ? "" : `|#${tagged.tags.map((t) => `${t.name}:${t.value}`).join(",")}`;
    return `${this.options.prefix}.${tagged.name}:${value}${type}${tagText}`;
  }

  private write(text: string): void {
    const socket = this.socket;
    // Before the socket is bound (or after stop) nothing can be sent: counted as dropped.
    if (socket === undefined) {
      this.options.txErrors.inc();
      return;
    }
    const bytes = utf8Encode(text);
    if (this.outbox.length === 0 && socket.send(bytes, this.options.target)) return;
    if (this.outbox.length >= MAX_OUTBOX_DATAGRAMS) {
      this.options.txErrors.inc();
      return;
    }
    this.outbox.push(bytes);
    this.retry ??= this.runtime.setTimeout(() => this.sendOutbox(), RETRY_MS);
  }

  /** Send what waits, in order, until the socket refuses again. */
  private sendOutbox(): void {
    this.retry = undefined;
    const socket = this.socket;
    if (socket === undefined) return;
    let sent = 0;
    while (sent < this.outbox.length && socket.send(this.outbox[sent]!, this.options.target)) sent++;
    this.outbox.splice(0, sent);
    if (this.outbox.length === 0) {
      this.idleRetries = 0;
      return;
    }
    if (sent === 0 && ++this.idleRetries >= MAX_IDLE_RETRIES) {
      this.options.txErrors.inc(this.outbox.length);
      this.outbox = [];
      this.idleRetries = 0;
      return;
    }
    if (sent > 0) this.idleRetries = 0;
    this.retry = this.runtime.setTimeout(() => this.sendOutbox(), RETRY_MS);
  }
}
