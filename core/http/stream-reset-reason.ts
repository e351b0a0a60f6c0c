import { PoolFailureReason } from "../upstream/pool-failure.ts";

/**
 * Why an upstream (or downstream) stream ended before its response did (Envoy's
 * `Http::StreamResetReason`, envoy/http/stream_reset_handler.h).
 */
export const StreamResetReason = {
  LocalConnectionFailure: 0,
  RemoteConnectionFailure: 1,
  ConnectionTimeout: 2,
  ConnectionTermination: 3,
  LocalReset: 4,
  LocalRefusedStreamReset: 5,
  Overflow: 6,
  RemoteReset: 7,
  RemoteRefusedStreamReset: 8,
  ConnectError: 9,
  ProtocolError: 10,
  OverloadManager: 11,
  Http1PrematureUpstreamHalfClose: 12,
} as const;
export type StreamResetReason = (typeof StreamResetReason)[keyof typeof StreamResetReason];

/** The stream reset a pool failure amounts to (Envoy's UpstreamRequest::onPoolFailure), for the router and the async clients. */
export const POOL_FAILURE_RESET: Readonly<Record<PoolFailureReason, StreamResetReason>> = {
  [PoolFailureReason.Overflow]: StreamResetReason.Overflow,
  [PoolFailureReason.LocalConnectionFailure]: StreamResetReason.LocalConnectionFailure,
  [PoolFailureReason.RemoteConnectionFailure]: StreamResetReason.RemoteConnectionFailure,
  [PoolFailureReason.Timeout]: StreamResetReason.ConnectionTimeout,
};

/**
 * Envoy's `Http::Utility::resetReasonToString` (source/common/http/utility.cc), the words
 * local replies and response code details carry: a refused connect is a "remote connection
 * failure" (ClientConnectionImpl raises RemoteClose), one our side gave up is "local".
 */
const RESET_REASON_TEXT: readonly string[] = [
  "local connection failure",
  "remote connection failure",
  "connection timeout",
  "connection termination",
  "local reset",
  "local refused stream reset",
  "overflow",
  "remote reset",
  "remote refused stream reset",
  "remote error with CONNECT request",
  "protocol error",
  "overload manager reset",
  "HTTP/1 premature upstream half close",
];

export function resetReasonToString(reason: StreamResetReason): string {
  return RESET_REASON_TEXT[reason]!;
}
