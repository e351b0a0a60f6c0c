import type { Timer, TimerTarget, Timers } from "../../event/timers.ts";

/** What the timers call on the stream they are armed for. */
export interface TimedStream {
  onRequestTimeout(): void;
  onIdleTimeout(): void;
  onMaxDurationTimeout(): void;
}

/**
 * A connection's request_timeout, stream_idle_timeout and max_stream_duration timers, made once per
 * connection and armed for each of its streams in turn: HTTP/1 carries one stream at a
 * time, so a request need not allocate timers (and closures) of its own. Only the
 * stream they are armed for (`owner`) can disarm them.
 */
export class StreamTimers implements TimerTarget {
  owner: TimedStream | undefined;
  readonly request: Timer;
  readonly idle: Timer;
  /** common_http_protocol_options.max_stream_duration's, made only when configured. */
  private durationTimer: Timer | undefined;

  constructor(private readonly timers: Timers) {
    // Both call onTimer (no closures: these live as long as the connection).
    this.request = timers.create(this);
    this.idle = timers.create(this);
  }

  /** @internal */
  onTimer(timer: Timer): void {
    if (timer === this.request) this.owner?.onRequestTimeout();
    else if (timer === this.durationTimer) this.owner?.onMaxDurationTimeout();
    else this.owner?.onIdleTimeout();
  }

  get duration(): Timer {
    return (this.durationTimer ??= this.timers.create(this));
  }

  /** A route resolved again has no max_stream_duration (conn_manager_impl.cc refreshDurationTimeout's disable_timer). */
  disableDuration(): void {
    this.durationTimer?.disable();
  }

  /** `stream` stops being timed (it ended, or its request is in: `requestOnly`). */
  disarm(stream: TimedStream, requestOnly: boolean): void {
    if (this.owner !== stream) return;
    this.request.disable();
    if (requestOnly) return;
    this.idle.disable();
    this.durationTimer?.disable();
    this.owner = undefined;
  }
}
