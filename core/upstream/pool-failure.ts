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

/**
 * Linux's strerror text for the errno names the port reports: Envoy prints
 * `errorDetails(errno)`, which is strerror on POSIX (source/common/common/utility.cc).
 */
const STRERROR: Readonly<Record<string, string>> = {
  ECONNREFUSED: "Connection refused",
  ETIMEDOUT: "Connection timed out",
  EHOSTUNREACH: "No route to host",
  ENETUNREACH: "Network is unreachable",
  ECONNRESET: "Connection reset by peer",
  EADDRNOTAVAIL: "Cannot assign requested address",
  ECONNABORTED: "Software caused connection abort",
  EACCES: "Permission denied",
  EPERM: "Operation not permitted",
};

/**
 * The transport failure reason of a connect that failed, as Envoy renders it
 * (source/common/network/connection_impl.cc, ConnectionImpl::onWriteReady: "delayed connect
 * error: <strerror>", e.g. "delayed connect error: Connection refused"); "" when the port
 * gave no error (the peer just closed). A non-blocking connect on Linux reports its error
 * later even over loopback (EINPROGRESS first), so Envoy's "immediate connect error" form
 * is not the one a refused or unreachable TCP connect takes there.
 */
export function transportFailureReason(error: PortError | undefined): string {
  if (!error) return "";
  return `delayed connect error: ${STRERROR[error.code] ?? error.code}`;
}
