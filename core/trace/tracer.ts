/**
 * The request-lifecycle trace: every step of a request's path through the proxy
 * (accept → codec → filters → route → pool → upstream → response → close) recorded as
 * timestamped events keyed by connection and stream, for a bounded time or number of
 * connections, switched on from the admin interface.
 *
 * When off it must cost nothing measurable: every recording site is guarded by one
 * boolean (`tracer.on` and the connection's own `traced` flag), no event object is
 * built, no string formatted.
 */
import { isoTimestamp } from "../util/civil-time.ts";

/** The steps of the request path, in the order a request meets them. */
export type TraceEventKind =
  | "accept"
  | "filter_chain"
  | "downstream_read"
  | "headers_complete"
  | "message_complete"
  | "read_disable"
  | "read_enable"
  | "route"
  | "pool_reuse"
  | "pool_new_connection"
  | "upstream_connect_start"
  | "upstream_connected"
  | "upstream_write"
  | "upstream_response_headers"
  | "upstream_message_complete"
  | "downstream_write"
  | "local_reply"
  | "stream_end"
  | "close";

export interface TraceEvent {
  /** Monotonic ms since the trace started. */
  readonly at: number;
  readonly kind: TraceEventKind;
  /** Downstream connection id. */
  readonly connection: number;
  /** Stream id within the connection (its request number), or -1 for connection events. */
  readonly stream: number;
  /** A short human detail: bytes, route name, host, reason. */
  readonly detail: string;
}

export interface TraceOptions {
  durationMs: number;
  /** Stop after this many connections have been traced. */
  maxConnections: number;
  /** Only connections accepted by this listener (name). */
  listener?: string;
  /** Only streams whose path starts with this. */
  pathPrefix?: string;
}

/** Hard bound on recorded events, whatever the options: a trace never grows without limit. */
const MAX_EVENTS = 200_000;

export class Tracer {
  /** The hot-path guard: false unless a trace is running. */
  on = false;
  private options: TraceOptions | undefined;
  private startedAt = 0;
  private startedWall = 0;
  private deadline = 0;
  private connections = 0;
  private events: TraceEvent[] = [];
  private dropped = 0;
  private stopTimer: unknown;

  constructor(
    private readonly clock: { now(): number; wallClock(): number; setTimeout(cb: () => void, ms: number): unknown; clearTimeout(h: unknown): void },
  ) {}

  /** Start a trace (replacing any previous one's events). */
  start(options: TraceOptions): void {
    this.stop();
    this.options = options;
    this.events = [];
    this.dropped = 0;
    this.connections = 0;
    this.startedAt = this.clock.now();
    this.startedWall = this.clock.wallClock();
    this.deadline = this.startedAt + options.durationMs;
    this.on = true;
    this.stopTimer = this.clock.setTimeout(() => this.stop(), options.durationMs);
  }

  stop(): void {
    if (this.stopTimer !== undefined) this.clock.clearTimeout(this.stopTimer);
    this.stopTimer = undefined;
    this.on = false;
  }

  /** Whether a new connection on `listener` is traced (counts it against maxConnections). */
  admitConnection(listener: string): boolean {
    const options = this.options;
    if (!this.on || !options) return false;
    // The admin interface is not traced unless asked for: GET /trace would trace itself.
    if (options.listener !== undefined ? options.listener !== listener : listener === "admin") return false;
    if (this.connections >= options.maxConnections || this.clock.now() > this.deadline) return false;
    this.connections++;
    return true;
  }

  /** Whether a stream with this path is traced. */
  admitPath(path: string): boolean {
    const prefix = this.options?.pathPrefix;
    return prefix === undefined || path.startsWith(prefix);
  }

  record(kind: TraceEventKind, connection: number, stream: number, detail = ""): void {
    if (!this.on) return;
    if (this.events.length >= MAX_EVENTS) {
      this.dropped++;
      return;
    }
    this.events.push({ at: this.clock.now() - this.startedAt, kind, connection, stream, detail });
  }

  get recorded(): readonly TraceEvent[] {
    return this.events;
  }

  /**
   * Chrome Trace Event Format (the JSON Perfetto and chrome://tracing load): one track
   * ("thread") per connection, instant events for each step, and a complete event
   * ("X") spanning each stream from its first to its last event.
   */
  toChromeTrace(): object {
    const traceEvents: object[] = [];
    const streams = new Map<string, { first: number; last: number; connection: number; stream: number }>();
    for (const e of this.events) {
      const tid = e.connection;
      traceEvents.push({ name: e.kind, ph: "i", s: "t", ts: Math.round(e.at * 1000), pid: 1, tid, args: { stream: e.stream, detail: e.detail } });
      if (e.stream >= 0) {
        const key = `${e.connection}:${e.stream}`;
        const span = streams.get(key);
        if (span) span.last = e.at;
        else streams.set(key, { first: e.at, last: e.at, connection: e.connection, stream: e.stream });
      }
    }
    for (const span of streams.values()) {
      traceEvents.push({
        name: `stream ${span.stream}`,
        ph: "X",
        ts: Math.round(span.first * 1000),
        dur: Math.max(1, Math.round((span.last - span.first) * 1000)),
        pid: 1,
        tid: span.connection,
      });
    }
    const connections = [...new Set(this.events.map((e) => e.connection))];
    for (const c of connections) traceEvents.push({ name: "thread_name", ph: "M", pid: 1, tid: c, args: { name: `connection C${c}` } });
    traceEvents.push({ name: "process_name", ph: "M", pid: 1, tid: 0, args: { name: "polyvoy" } });
    return {
      traceEvents,
      displayTimeUnit: "ms",
      otherData: { startedAt: isoTimestamp(this.startedWall), droppedEvents: this.dropped },
    };
  }

  /** A readable timeline: one line per event, `+12.345ms C3 S1 upstream_connected 127.0.0.1:8081`. */
  toText(): string {
    const lines = this.events.map(
      (e) => `+${e.at.toFixed(3).padStart(10)}ms C${e.connection}${e.stream >= 0 ? ` S${e.stream}` : ""} ${e.kind}${e.detail ? ` ${e.detail}` : ""}`,
    );
    if (this.dropped) lines.push(`(${this.dropped} events dropped: the trace is capped at ${MAX_EVENTS})`);
    return lines.join("\n") + "\n";
  }
}
