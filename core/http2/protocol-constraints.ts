/**
 * Envoy's flood protections for one HTTP/2 connection (source/common/http/http2/
 * protocol_constraints.cc): limits on frames written and not yet drained, and on inbound
 * frames that cost us work without giving any (empty frames, PRIORITY, WINDOW_UPDATE).
 * Each check names the stat to count and the reason, or returns undefined.
 */
import type { Http2CodecStats } from "./codec-stats.ts";
import type { Http2Options } from "./protocol-options.ts";

export type FloodStat = "outbound_flood" | "outbound_control_flood" | "inbound_empty_frames_flood" | "inbound_priority_frames_flood" | "inbound_window_update_frames_flood";

export class ProtocolConstraints {
  /** Frames written since the sink last drained (Envoy counts frames in its output buffer). */
  outboundFrames = 0;
  outboundControlFrames = 0;
  private consecutiveEmptyFrames = 0;
  private inboundPriorityFrames = 0;
  private inboundWindowUpdateFrames = 0;
  /** Streams whose head was sent (a response downstream, a request upstream). */
  openedStreams = 0;
  outboundDataFrames = 0;

  constructor(
    private readonly options: Http2Options,
    private readonly stats: Http2CodecStats,
  ) {}

  /** A frame is about to be written; `control` for PING, SETTINGS and RST_STREAM. */
  outbound(control: boolean): FloodStat | undefined {
    this.outboundFrames++;
    this.stats.outbound_frames_active.inc();
    if (control) {
      this.outboundControlFrames++;
      this.stats.outbound_control_frames_active.inc();
    }
    if (this.outboundFrames > this.options.maxOutboundFrames) return "outbound_flood";
    if (control && this.outboundControlFrames > this.options.maxOutboundControlFrames) return "outbound_control_flood";
    return undefined;
  }

  /** The sink wrote out everything it held. */
  drained(): void {
    this.stats.outbound_frames_active.dec(this.outboundFrames);
    this.stats.outbound_control_frames_active.dec(this.outboundControlFrames);
    this.outboundFrames = 0;
    this.outboundControlFrames = 0;
  }

  /** HEADERS, CONTINUATION or DATA: an empty one without END_STREAM has no legitimate use. */
  inboundFrame(empty: boolean, endStream: boolean): FloodStat | undefined {
    if (empty && !endStream) this.consecutiveEmptyFrames++;
    else this.consecutiveEmptyFrames = 0;
    if (this.consecutiveEmptyFrames > this.options.maxConsecutiveInboundFramesWithEmptyPayload) return "inbound_empty_frames_flood";
    return undefined;
  }

  inboundPriority(): FloodStat | undefined {
    this.inboundPriorityFrames++;
    if (this.inboundPriorityFrames > this.options.maxInboundPriorityFramesPerStream * (1 + this.openedStreams)) return "inbound_priority_frames_flood";
    return undefined;
  }

  inboundWindowUpdate(): FloodStat | undefined {
    this.inboundWindowUpdateFrames++;
    const limit = 5 + 2 * (this.openedStreams + this.options.maxInboundWindowUpdateFramesPerDataFrameSent * this.outboundDataFrames);
    if (this.inboundWindowUpdateFrames > limit) return "inbound_window_update_frames_flood";
    return undefined;
  }

  /** Give back what this connection added to the shared gauges. */
  release(): void {
    this.drained();
  }
}
