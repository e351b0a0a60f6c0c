import type { ResponseFlag } from "./filter.ts";

/**
 * What happened to one request (Envoy's `StreamInfo`): timings, sizes, the route and
 * upstream chosen, the response code and flags. Access logs and stats read it.
 */
export class StreamInfo {
  /** Monotonic ms when the request began. */
  readonly startTime: number;
  /** Wall-clock ms when the request began. */
  readonly startWallClock: number;
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

  constructor(now: number, wallClock: number) {
    this.startTime = now;
    this.startWallClock = wallClock;
  }

  setResponseFlag(flag: ResponseFlag): void {
    if (!this.responseFlags.includes(flag)) this.responseFlags.push(flag);
  }
}
