/**
 * The HTTP/2 codec's stats, Envoy's names (source/common/http/http2/codec_stats.h), under
 * the `http2.` prefix of the scope they are made in (the listener's or cluster's).
 */
import type { Counter } from "../stats/counter.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { StatsScope } from "../stats/stats-store.ts";

export class Http2CodecStats {
  readonly dropped_headers_with_underscores: Counter;
  readonly goaway_sent: Counter;
  readonly goaway_graceful_sent: Counter;
  readonly header_overflow: Counter;
  readonly headers_cb_no_stream: Counter;
  readonly inbound_empty_frames_flood: Counter;
  readonly inbound_priority_frames_flood: Counter;
  readonly inbound_window_update_frames_flood: Counter;
  readonly keepalive_timeout: Counter;
  readonly metadata_empty_frames: Counter;
  readonly outbound_control_flood: Counter;
  readonly outbound_flood: Counter;
  readonly requests_rejected_with_underscores_in_headers: Counter;
  readonly rx_messaging_error: Counter;
  readonly rx_reset: Counter;
  readonly stream_refused_errors: Counter;
  readonly trailers: Counter;
  readonly tx_flush_timeout: Counter;
  readonly tx_reset: Counter;
  readonly streams_active: Gauge;
  readonly pending_send_bytes: Gauge;
  readonly deferred_stream_close: Gauge;
  readonly outbound_frames_active: Gauge;
  readonly outbound_control_frames_active: Gauge;

  constructor(scope: StatsScope) {
    const c = (name: string): Counter => scope.counter(`http2.${name}`);
    const g = (name: string): Gauge => scope.gauge(`http2.${name}`);
    this.dropped_headers_with_underscores = c("dropped_headers_with_underscores");
    this.goaway_sent = c("goaway_sent");
    this.goaway_graceful_sent = c("goaway_graceful_sent");
    this.header_overflow = c("header_overflow");
    this.headers_cb_no_stream = c("headers_cb_no_stream");
    this.inbound_empty_frames_flood = c("inbound_empty_frames_flood");
    this.inbound_priority_frames_flood = c("inbound_priority_frames_flood");
    this.inbound_window_update_frames_flood = c("inbound_window_update_frames_flood");
    this.keepalive_timeout = c("keepalive_timeout");
    this.metadata_empty_frames = c("metadata_empty_frames");
    this.outbound_control_flood = c("outbound_control_flood");
    this.outbound_flood = c("outbound_flood");
    this.requests_rejected_with_underscores_in_headers = c("requests_rejected_with_underscores_in_headers");
    this.rx_messaging_error = c("rx_messaging_error");
    this.rx_reset = c("rx_reset");
    this.stream_refused_errors = c("stream_refused_errors");
    this.trailers = c("trailers");
    this.tx_flush_timeout = c("tx_flush_timeout");
    this.tx_reset = c("tx_reset");
    this.streams_active = g("streams_active");
    this.pending_send_bytes = g("pending_send_bytes");
    this.deferred_stream_close = g("deferred_stream_close");
    this.outbound_frames_active = g("outbound_frames_active");
    this.outbound_control_frames_active = g("outbound_control_frames_active");
  }
}
