/**
 * The span buffer both tracers share (Envoy's zipkin ReporterImpl/SpanBuffer and
 * opentelemetry Tracer::sendSpan/flushSpans): finished spans are held until
 * `<prefix>.min_flush_spans` (runtime, default 5) are in, or until the timer of
 * `<prefix>.flush_interval_ms` (runtime, default 5000) fires — counted in timer_flushed —
 * then handed to the tracer's `flush` as one batch. Both keys are read when used, as
 * Envoy reads them, so a runtime change applies at the next span or the next arming.
 */
import type { Timer } from "../event/timers.ts";
import type { Counter } from "../stats/counter.ts";
import type { ServerContext } from "../server-context.ts";

export interface SpanBatcherOptions<T> {
  /** The runtime keys' prefix: `tracing.zipkin`, `tracing.opentelemetry`. */
  readonly runtimePrefix: string;
  /** The tracer's timer_flushed counter. */
  readonly timerFlushed: Counter;
  /** The most spans held (the bound of every buffer): a span past it is dropped (onDropped). */
  readonly capacity: number;
  readonly onDropped?: () => void;
  /**
   * Flush when the count equals min_flush_spans (Envoy's zipkin: `pendingSpans() ==
   * min_flush_spans`), else when it reaches it or more (Envoy's opentelemetry: `>=`).
   */
  readonly flushAtExactCount: boolean;
  /** One batch, taken out of the buffer (never empty). */
  readonly flush: (spans: T[]) => void;
}

export class SpanBatcher<T> {
  private spans: T[] = [];
  private readonly timer: Timer;

  constructor(
    private readonly server: ServerContext,
    private readonly options: SpanBatcherOptions<T>,
  ) {
    this.timer = server.timers.create(() => {
      options.timerFlushed.inc();
      this.flush();
      this.enableTimer();
    });
    this.enableTimer();
  }

  /** min_flush_spans now (the zipkin reporter sizes its buffer with it once). */
  minFlushSpans(): number {
    return this.server.layeredRuntime.getInteger(`${this.options.runtimePrefix}.min_flush_spans`, 5);
  }

  private enableTimer(): void {
    this.timer.enable(this.server.layeredRuntime.getInteger(`${this.options.runtimePrefix}.flush_interval_ms`, 5000));
  }

  add(span: T): void {
    const options = this.options;
    if (this.spans.length >= options.capacity) {
      options.onDropped?.();
      return;
    }
    this.spans.push(span);
    const count = this.spans.length;
    const min = this.minFlushSpans();
    if (options.flushAtExactCount ? count === min : count >= min) this.flush();
  }

  /** Spans waiting for a flush (tests). */
  get pending(): number {
    return this.spans.length;
  }

  flush(): void {
    const spans = this.spans;
    if (spans.length === 0) return;
    this.spans = [];
    this.options.flush(spans);
  }

  /** The listener is gone: what is held goes now, and the timer fires no more. */
  stop(): void {
    this.timer.disable();
    this.flush();
  }
}
