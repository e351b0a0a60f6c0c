import type { Timer, Timers } from "../../event/timers.ts";

/** What the timers call on the stream they are armed for. */
export interface TimedStream {
  onRequestTimeout(): void;
  onIdleTimeout(): void;
}

/**
 * A connection's request_timeout and stream_idle_timeout timers, made once per
 * connection and armed for each of its streams in turn: HTTP/1 carries one stream at a
 * time, so a request need not allocate timers (and closures) of its own. Only the
 * stream they are armed for (`owner`) can disarm them.
 */
export class StreamTimers {
  owner: TimedStream | undefined;
  readonly request: Timer;
  readonly idle: Timer;

  constructor(timers: Timers) {
    this.request = timers.create(() => this.owner?.onRequestTimeout());
    this.idle = timers.create(() => this.owner?.onIdleTimeout());
  }

  /** `stream` stops being timed (it ended, or its request is in: `requestOnly`). */
  disarm(stream: TimedStream, requestOnly: boolean): void {
    if (this.owner !== stream) return;
    this.request.disable();
    if (requestOnly) return;
    this.idle.disable();
    this.owner = undefined;
  }
}
