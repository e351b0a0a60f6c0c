/**
 * The HTTP/2 codec's settings, with Envoy's defaults (api/envoy/config/core/v3/protocol.proto,
 * `Http2ProtocolOptions`; `max_request_headers_kb` and `max_headers_count` come from the HCM
 * or the cluster's common protocol options).
 */
export interface Http2Options {
  /** `hpack_table_size`: SETTINGS_HEADER_TABLE_SIZE for our decoder, and the most our encoder uses. */
  hpackTableSize: number;
  /** `max_concurrent_streams`: the peer may open this many streams at once (2^31−1). */
  maxConcurrentStreams: number;
  /** `initial_stream_window_size` (256 MiB). */
  initialStreamWindowSize: number;
  /** `initial_connection_window_size` (256 MiB). */
  initialConnectionWindowSize: number;
  /** `allow_connect`: extended CONNECT (RFC 8441) is advertised and accepted. */
  allowConnect: boolean;
  /** `max_outbound_frames` (10000): frames written and not yet drained before the connection is dropped. */
  maxOutboundFrames: number;
  /** `max_outbound_control_frames` (1000): of them, PING, SETTINGS and RST_STREAM. */
  maxOutboundControlFrames: number;
  /** `max_consecutive_inbound_frames_with_empty_payload` (1). */
  maxConsecutiveInboundFramesWithEmptyPayload: number;
  /** `max_inbound_priority_frames_per_stream` (100). */
  maxInboundPriorityFramesPerStream: number;
  /** `max_inbound_window_update_frames_per_data_frame_sent` (10). */
  maxInboundWindowUpdateFramesPerDataFrameSent: number;
  /** `override_stream_error_on_invalid_http_message` (false: an invalid message costs the connection). */
  streamErrorOnInvalidHttpMessage: boolean;
  /** `max_request_headers_kb` (60) — also bounds response headers on the upstream side. */
  maxHeadersKb: number;
  /** `max_headers_count` (100). */
  maxHeadersCount: number;
  /** Outbound bytes a stream may hold beyond its flow-control window before the caller is told to stop (a connection's buffer limit, 1 MiB). */
  streamWriteBufferLimit: number;
}

export const DEFAULT_WINDOW_SIZE_ENVOY = 256 * 1024 * 1024;

export const DEFAULT_HTTP2_OPTIONS: Readonly<Http2Options> = {
  hpackTableSize: 4096,
  maxConcurrentStreams: 2 ** 31 - 1,
  initialStreamWindowSize: DEFAULT_WINDOW_SIZE_ENVOY,
  initialConnectionWindowSize: DEFAULT_WINDOW_SIZE_ENVOY,
  allowConnect: false,
  maxOutboundFrames: 10_000,
  maxOutboundControlFrames: 1_000,
  maxConsecutiveInboundFramesWithEmptyPayload: 1,
  maxInboundPriorityFramesPerStream: 100,
  maxInboundWindowUpdateFramesPerDataFrameSent: 10,
  streamErrorOnInvalidHttpMessage: false,
  maxHeadersKb: 60,
  maxHeadersCount: 100,
  streamWriteBufferLimit: 1024 * 1024,
};
