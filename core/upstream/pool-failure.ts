import type { PortError } from "../port.ts";

/**
 * Why a pool could not give a stream a connection (Envoy's `ConnectionPool::PoolFailureReason`,
 * envoy/common/conn_pool.h). The pool's user turns it into its own vocabulary: the router
 * into a `StreamResetReason` and a local reply, tcp_proxy into a response flag.
 */
export const PoolFailureReason = {
  /** A circuit breaker (max_pending_requests, max_requests) refused the stream. */
  Overflow: 0,
  /** The connection failed on our side before it connected. */
  LocalConnectionFailure: 1,
  /** The connect failed (refused, unreachable, closed by the peer). */
  RemoteConnectionFailure: 2,
  /** The connect did not complete within connect_timeout. */
  Timeout: 3,
} as const;
export type PoolFailureReason = (typeof PoolFailureReason)[keyof typeof PoolFailureReason];

/** Linux errno numbers, which Envoy prints in "delayed connect error: N" (the port reports names). */
const ERRNO: Readonly<Record<string, number>> = {
  ECONNREFUSED: 111,
  ETIMEDOUT: 110,
  EHOSTUNREACH: 113,
  ENETUNREACH: 101,
  ECONNRESET: 104,
  EADDRNOTAVAIL: 99,
  ECONNABORTED: 103,
  EACCES: 13,
  EPERM: 1,
};

/**
 * The transport failure reason of a connect that failed, as Envoy renders it
 * (source/common/network/connection_impl.cc, `ClientConnectionImpl`: "delayed connect
 * error: <errno>"); "" when the port gave no error (the peer just closed).
 */
export function transportFailureReason(error: PortError | undefined): string {
  if (!error) return "";
  return `delayed connect error: ${ERRNO[error.code] ?? error.code}`;
}
