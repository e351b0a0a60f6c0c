import type { Counter } from "../../stats/counter.ts";
import type { Gauge } from "../../stats/gauge.ts";
import type { Histogram } from "../../stats/histogram.ts";
import type { StatsStore } from "../../stats/stats-store.ts";
import { Http2CodecStats } from "../../http2/codec-stats.ts";
import { TracingStats } from "./tracing-decision.ts";

/** Envoy's HTTP connection manager stats, `http.<stat_prefix>.*`. Shared by the listener's connections. */
export class ConnectionManagerStats {
  readonly downstreamCxTotal: Counter;
  readonly downstreamCxHttp1Total: Counter;
  readonly downstreamCxActive: Gauge;
  readonly downstreamCxHttp1Active: Gauge;
  readonly downstreamCxDestroy: Counter;
  readonly downstreamCxDestroyRemote: Counter;
  readonly downstreamCxDestroyLocal: Counter;
  readonly downstreamCxDestroyActiveRq: Counter;
  readonly downstreamCxDestroyRemoteActiveRq: Counter;
  readonly downstreamCxDestroyLocalActiveRq: Counter;
  readonly downstreamCxLengthMs: Histogram;
  readonly downstreamCxProtocolError: Counter;
  readonly downstreamCxIdleTimeout: Counter;
  readonly downstreamRqTotal: Counter;
  readonly downstreamRqHttp1Total: Counter;
  readonly downstreamRqActive: Gauge;
  readonly downstreamRqTime: Histogram;
  /** downstream_rq_1xx … downstream_rq_5xx, by status class. */
  readonly downstreamRqByClass: Counter[];
  readonly downstreamRqTimeout: Counter;
  readonly downstreamRqIdleTimeout: Counter;
  readonly downstreamRqHeaderTimeout: Counter;
  /** Request bodies the filters buffered past the buffer limit (answered 413). */
  readonly downstreamRqTooLarge: Counter;
  /** Response bodies the filters buffered past the buffer limit (answered 500 or reset). */
  readonly rsTooLarge: Counter;
  /** Requests refused (400) or redirected-but-gRPC by the path rules (path-normalization.ts). */
  readonly downstreamRqFailedPathNormalization: Counter;
  /** Requests answered 307 to their path with escaped slashes unescaped. */
  readonly downstreamRqRedirectedWithNormalizedPath: Counter;
  /** Requests whose path is not origin-form (`OPTIONS *`), answered 404. */
  readonly downstreamRqNonRelativePath: Counter;
  /** Envoy's HTTP/1 codec stats (rooted at `http1.`, shared by every HCM): headers_with_underscores_action. */
  readonly http1DroppedHeadersWithUnderscores: Counter;
  readonly http1RequestsRejectedWithUnderscoresInHeaders: Counter;
  /** Connections closed after common_http_protocol_options.max_requests_per_connection requests. */
  readonly downstreamCxMaxRequestsReached: Counter;
  /** Streams cut by common_http_protocol_options.max_stream_duration. */
  readonly downstreamRqMaxDurationReached: Counter;
  /** Connections drained by common_http_protocol_options.max_connection_duration. */
  readonly downstreamCxMaxDurationReached: Counter;
  /** Requests refused by envoy.overload_actions.stop_accepting_requests. */
  readonly downstreamRqOverloadClose: Counter;
  /** Connections closed after a response by envoy.overload_actions.disable_http_keepalive. */
  readonly downstreamCxOverloadDisableKeepalive: Counter;

  readonly downstreamCxHttp2Total: Counter;
  readonly downstreamCxHttp2Active: Gauge;
  readonly downstreamRqHttp2Total: Counter;
  /** HTTP/2 streams the client reset (RST_STREAM), and those we reset. */
  readonly downstreamRqRxReset: Counter;
  readonly downstreamRqTxReset: Counter;
  /** HTTP/2 connections closed for too many streams reset soon after they began (CVE-2023-44487). */
  readonly downstreamRqTooManyPrematureResets: Counter;
  private http2CodecStats: Http2CodecStats | undefined;

  /** http.<prefix>.tracing.*, when the HCM has `tracing`. */
  readonly tracing: TracingStats | undefined;

  constructor(private readonly store: StatsStore, statPrefix: string, tracing = false) {
    this.tracing = tracing ? new TracingStats(store, statPrefix) : undefined;
    const scope = store.scope(`http.${statPrefix}.`);
    this.downstreamCxTotal = scope.counter("downstream_cx_total");
    this.downstreamCxHttp1Total = scope.counter("downstream_cx_http1_total");
    this.downstreamCxActive = scope.gauge("downstream_cx_active");
    this.downstreamCxHttp1Active = scope.gauge("downstream_cx_http1_active");
    this.downstreamCxDestroy = scope.counter("downstream_cx_destroy");
    this.downstreamCxDestroyRemote = scope.counter("downstream_cx_destroy_remote");
    this.downstreamCxDestroyLocal = scope.counter("downstream_cx_destroy_local");
    this.downstreamCxDestroyActiveRq = scope.counter("downstream_cx_destroy_active_rq");
    this.downstreamCxDestroyRemoteActiveRq = scope.counter("downstream_cx_destroy_remote_active_rq");
    this.downstreamCxDestroyLocalActiveRq = scope.counter("downstream_cx_destroy_local_active_rq");
    this.downstreamCxLengthMs = scope.histogram("downstream_cx_length_ms");
    this.downstreamCxProtocolError = scope.counter("downstream_cx_protocol_error");
    this.downstreamCxIdleTimeout = scope.counter("downstream_cx_idle_timeout");
    this.downstreamRqTotal = scope.counter("downstream_rq_total");
    this.downstreamRqHttp1Total = scope.counter("downstream_rq_http1_total");
    this.downstreamRqActive = scope.gauge("downstream_rq_active");
    this.downstreamRqTime = scope.histogram("downstream_rq_time");
    this.downstreamRqByClass = [1, 2, 3, 4, 5].map((c) => scope.counter(`downstream_rq_${c}xx`));
    this.downstreamRqTimeout = scope.counter("downstream_rq_timeout");
    this.downstreamRqIdleTimeout = scope.counter("downstream_rq_idle_timeout");
    this.downstreamRqHeaderTimeout = scope.counter("downstream_rq_header_timeout");
    this.downstreamRqTooLarge = scope.counter("downstream_rq_too_large");
    this.rsTooLarge = scope.counter("rs_too_large");
    this.downstreamRqFailedPathNormalization = scope.counter("downstream_rq_failed_path_normalization");
    this.downstreamRqRedirectedWithNormalizedPath = scope.counter("downstream_rq_redirected_with_normalized_path");
    this.downstreamRqNonRelativePath = scope.counter("downstream_rq_non_relative_path");
    this.downstreamCxMaxRequestsReached = scope.counter("downstream_cx_max_requests_reached");
    this.downstreamRqMaxDurationReached = scope.counter("downstream_rq_max_duration_reached");
    this.downstreamCxMaxDurationReached = scope.counter("downstream_cx_max_duration_reached");
    this.downstreamRqOverloadClose = scope.counter("downstream_rq_overload_close");
    this.downstreamCxOverloadDisableKeepalive = scope.counter("downstream_cx_overload_disable_keepalive");
    this.downstreamCxHttp2Total = scope.counter("downstream_cx_http2_total");
    this.downstreamCxHttp2Active = scope.gauge("downstream_cx_http2_active");
    this.downstreamRqHttp2Total = scope.counter("downstream_rq_http2_total");
    this.downstreamRqRxReset = scope.counter("downstream_rq_rx_reset");
    this.downstreamRqTxReset = scope.counter("downstream_rq_tx_reset");
    this.downstreamRqTooManyPrematureResets = scope.counter("downstream_rq_too_many_premature_resets");
    this.http1DroppedHeadersWithUnderscores = store.counter("http1.dropped_headers_with_underscores");
    this.http1RequestsRejectedWithUnderscoresInHeaders = store.counter("http1.requests_rejected_with_underscores_in_headers");
  }

  /** Envoy's HTTP/2 codec stats (rooted at `http2.`, shared by every HCM), made with the first HTTP/2 connection. */
  http2Codec(): Http2CodecStats {
    return (this.http2CodecStats ??= new Http2CodecStats(this.store.scope("")));
  }

  /** Count a finished response by its status class. */
  countResponse(status: number): void {
    this.downstreamRqByClass[Math.floor(status / 100) - 1]?.inc();
  }
}
