import type { ResponseFlag } from "./filter.ts";

/**
 * What happened to one request (Envoy's `StreamInfo`): timings, sizes, the route and
 * upstream chosen, the response code and flags. Access logs and stats read it.
 */
export class StreamInfo {
  /** Monotonic ms when the request began. */
  readonly startTime: number;
  /**
   * Wall-clock ms when the request began: worked out from the monotonic start when an
   * access log needs it (setStartWallClock), not read for every request.
   */
  startWallClock = 0;
  responseCode = 0;
  responseCodeDetails = "";
  readonly responseFlags: ResponseFlag[] = [];
  bytesReceived = 0;
  bytesSent = 0;
  routeName = "";
  upstreamCluster = "";
  upstreamHost = "";
  /** Monotonic ms the upstream request started and its response headers arrived. */
  upstreamRequestStart = 0;
  upstreamResponseHeadersAt = 0;

  constructor(now: number) {
    this.startTime = now;
  }

  /** Fill in startWallClock from the clocks' readings now. */
  setStartWallClock(wallClockNow: number, monotonicNow: number): void {
    this.startWallClock = wallClockNow - (monotonicNow - this.startTime);
  }

  setResponseFlag(flag: ResponseFlag): void {
    if (!this.responseFlags.includes(flag)) this.responseFlags.push(flag);
  }
}
