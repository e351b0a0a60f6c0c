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
 * send is counted (`statsd.udp_tx_errors`, polyvoy's own stat), never thrown. An
 * unconnected socket's ICMP errors (port unreachable, reported by some runtimes only) are
 * not failed sends and are not counted.
 *
 * Envoy's sendmsg goes to the kernel at once; the port's UDP sockets queue sends in the
 * runtime, at most DATAGRAM_SEND_QUEUE_LIMIT, which one flush of a large config (a
 * datagram per line) passes. So a flush's datagrams wait in the sink and go out as the
 * runtime's queue frees (a cursor over them, retried every RETRY_MS): bounded by the
 * number of stats, nothing of a flush is dropped for the queue's sake. Histogram values,
 * sent as recorded, wait in an outbox of at most MAX_OUTBOX_DATAGRAMS.
 */

/** How many histogram datagrams may wait for the runtime's send queue to drain (beyond: dropped, counted). */
export const MAX_OUTBOX_DATAGRAMS = 16_384;
/** The pause before sending again what the socket refused. */
const RETRY_MS = 1;
/** Retries in a row that send nothing before what waits is given up (the socket is not taking any). */
const MAX_IDLE_RETRIES = 1000;
import type { TagExtractor } from "../admin/tag-extractor.ts";
import type { DatagramCapability, DatagramSocket, PortError, Runtime, TimerHandle } from "../port.ts";
import { utf8Encode, utf8Length } from "../util/utf8.ts";
import type { Counter } from "./counter.ts";
import type { Gauge } from "./gauge.ts";
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

/** A stat's line around its value: `prefix.name:` and its DogStatsD tags (built once per stat). */
interface LineParts {
  readonly head: string;
  readonly tags: string;
}

/** One flush's datagrams and how far they have gone. */
interface FlushQueue {
  readonly datagrams: string[];
  next: number;
}

export class UdpStatsdSink implements StatsSink {
  private socket: DatagramSocket | undefined;
  private stopped = false;
  /** Histogram datagrams the socket refused (its queue full), oldest first. */
  private outbox: Uint8Array[] = [];
  /** The flush being sent, and the newest flush waiting behind it (at most two are held). */
  private sending: FlushQueue | undefined;
  private waiting: FlushQueue | undefined;
  private retry: TimerHandle | undefined;
  private idleRetries = 0;
  private readonly parts = new WeakMap<Counter | Gauge | Histogram, LineParts>();
  private whenIdle: (() => void)[] = [];

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
        // An ICMP error (port unreachable, …) for an earlier datagram: not a failed send (Envoy ignores it too).
        onError: (_error: PortError) => {},
        onSendError: (_error: PortError) => txErrors.inc(),
      },
    );
    if (this.stopped) socket.close();
    else this.socket = socket;
  }

  /** Resolves once nothing waits to be handed to the runtime (at once when nothing does). */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.whenIdle.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    if (this.retry !== undefined) this.runtime.clearTimeout(this.retry);
    this.retry = undefined;
    this.outbox = [];
    this.sending = undefined;
    this.waiting = undefined;
    this.socket?.close();
    this.socket = undefined;
    this.notifyIdle();
  }

  /**
   * A flush while the last one is still being sent: the last one finishes (its counter
   * deltas reach statsd no other way) and this one waits behind it; a flush still waiting
   * when another comes is replaced by it, its datagrams counted as dropped, so a socket
   * that does not keep up holds at most two flushes.
   */
  flush(snapshot: MetricSnapshot): void {
    if (this.socket === undefined) return;
    const queue: FlushQueue = { datagrams: this.datagrams(snapshot), next: 0 };
    if (queue.datagrams.length === 0) return;
    if (this.sending === undefined) this.sending = queue;
    else {
      if (this.waiting !== undefined) this.options.txErrors.inc(this.waiting.datagrams.length);
      this.waiting = queue;
    }
    this.sendWaiting();
  }

  onHistogramComplete(histogram: Histogram, value: number): void {
    const socket = this.socket;
    // Before the socket is bound (or after stop) nothing can be sent: counted as dropped.
    if (socket === undefined) {
      this.options.txErrors.inc();
      return;
    }
    const bytes = utf8Encode(this.line(histogram, statsdHistogramValue(value), "|ms"));
    if (!this.busy && socket.send(bytes, this.options.target)) return;
    if (this.outbox.length >= MAX_OUTBOX_DATAGRAMS) {
      this.options.txErrors.inc();
      return;
    }
    this.outbox.push(bytes);
    this.scheduleRetry();
  }

  /** A flush's lines, joined into datagrams of at most bufferSize (UdpStatsdSink::writeBuffer). */
  private datagrams(snapshot: MetricSnapshot): string[] {
    const size = this.options.bufferSize;
    const out: string[] = [];
    let batch = "";
    let batchLength = 0;
    const add = (line: string): void => {
      if (size === 0) {
        out.push(line);
        return;
      }
      const length = utf8Length(line);
      if (length >= size) {
        out.push(line);
        return;
      }
      // The line and its "\n" would overflow: what is buffered goes first.
      if (batch !== "" && batchLength + length + 1 > size) {
        out.push(batch);
        batch = "";
        batchLength = 0;
      }
      batchLength += (batch === "" ? 0 : 1) + length;
      batch = batch === "" ? line : `${batch}\n${line}`;
    };
    for (const { counter, delta } of snapshot.counters) if (counter.used) add(this.line(counter, delta, "|c"));
    for (const gauge of snapshot.gauges) if (gauge.used) add(this.line(gauge, gauge.value, "|g"));
    if (batch !== "") out.push(batch);
    return out;
  }

  /** `prefix.name:value|type` and DogStatsD's tags (UdpStatsdSink::buildMessage, TagAfterValue). */
  private line(stat: Counter | Gauge | Histogram, value: number, type: string): string {
    let parts = this.parts.get(stat);
    if (parts === undefined) {
      parts = this.lineParts(stat.name);
      this.parts.set(stat, parts);
    }
    return `${parts.head}${value}${type}${parts.tags}`;
  }

  private lineParts(name: string): LineParts {
    const tags = this.options.tags;
    if (tags === undefined) return { head: `${this.options.prefix}.${name}:`, tags: "" };
    const tagged = tags.extract(name);
    const tagText = tagged.tags.length === 0 ? "" : `|#${tagged.tags.map((t) => `${t.name}:${t.value}`).join(",")}`;
    return { head: `${this.options.prefix}.${tagged.name}:`, tags: tagText };
  }

  private get busy(): boolean {
    return this.outbox.length > 0 || this.sending !== undefined;
  }

  private scheduleRetry(): void {
    this.retry ??= this.runtime.setTimeout(() => {
      this.retry = undefined;
      this.sendWaiting();
    }, RETRY_MS);
  }

  /** Histogram values first, then the flush's datagrams, in order, until the socket refuses. */
  private sendWaiting(): void {
    const socket = this.socket;
    if (socket === undefined) return;
    const target = this.options.target;
    let sent = 0;
    while (sent < this.outbox.length && socket.send(this.outbox[sent]!, target)) sent++;
    this.outbox.splice(0, sent);
    let refused = this.outbox.length > 0;
    while (!refused && this.sending !== undefined) {
      const queue = this.sending;
      while (queue.next < queue.datagrams.length) {
        if (!socket.send(utf8Encode(queue.datagrams[queue.next]!), target)) {
          refused = true;
          break;
        }
        queue.next++;
        sent++;
      }
      if (refused) break;
      this.sending = this.waiting;
      this.waiting = undefined;
    }
    if (!this.busy) {
      this.idleRetries = 0;
      this.notifyIdle();
      return;
    }
    if (sent > 0) this.idleRetries = 0;
    else if (++this.idleRetries >= MAX_IDLE_RETRIES) {
      this.giveUp();
      return;
    }
    this.scheduleRetry();
  }

  /** The socket took nothing for MAX_IDLE_RETRIES tries: what waits is dropped, counted. */
  private giveUp(): void {
    let dropped = this.outbox.length;
    for (const queue of [this.sending, this.waiting]) if (queue !== undefined) dropped += queue.datagrams.length - queue.next;
    this.options.txErrors.inc(dropped);
    this.outbox = [];
    this.sending = undefined;
    this.waiting = undefined;
    this.idleRetries = 0;
    this.notifyIdle();
  }

  private notifyIdle(): void {
    const waiting = this.whenIdle;
    this.whenIdle = [];
    for (const resolve of waiting) resolve();
  }
}
