/**
 * The `retry_on` vocabulary (Envoy's `RetryPolicy::RETRY_ON_*` bits, envoy/router/router.h,
 * parsed by RetryStateImpl::parseRetryOn / parseRetryGrpcOn in
 * source/common/router/retry_state_impl.cc): one bit per condition, so a route's policy
 * and the request's `x-envoy-retry-on` / `x-envoy-retry-grpc-on` headers merge with `|`.
 */
export const RetryOn = {
  FiveXX: 1 << 0,
  GatewayError: 1 << 1,
  ConnectFailure: 1 << 2,
  Retriable4xx: 1 << 3,
  /** An HTTP/2 RST_STREAM REFUSED_STREAM, or a stream above an upstream GOAWAY's last-stream-id (never on HTTP/1). */
  RefusedStream: 1 << 4,
  GrpcCancelled: 1 << 5,
  GrpcDeadlineExceeded: 1 << 6,
  GrpcResourceExhausted: 1 << 7,
  GrpcUnavailable: 1 << 8,
  GrpcInternal: 1 << 9,
  RetriableStatusCodes: 1 << 10,
  Reset: 1 << 11,
  RetriableHeaders: 1 << 12,
  EnvoyRateLimited: 1 << 13,
  /** A failure after an HTTP/3 connect: no HTTP/3 here, so never matches. */
  Http3PostConnectFailure: 1 << 14,
  ResetBeforeRequest: 1 << 15,
} as const;

/** Envoy's retry_on names (Http::Headers::get().EnvoyRetryOnValues). */
const HTTP_RETRY_ON: ReadonlyMap<string, number> = new Map([
  ["5xx", RetryOn.FiveXX],
  ["gateway-error", RetryOn.GatewayError],
  ["connect-failure", RetryOn.ConnectFailure],
  ["envoy-ratelimited", RetryOn.EnvoyRateLimited],
  ["retriable-4xx", RetryOn.Retriable4xx],
  ["refused-stream", RetryOn.RefusedStream],
  ["retriable-status-codes", RetryOn.RetriableStatusCodes],
  ["retriable-headers", RetryOn.RetriableHeaders],
  ["reset", RetryOn.Reset],
  ["reset-before-request", RetryOn.ResetBeforeRequest],
  ["http3-post-connect-failure", RetryOn.Http3PostConnectFailure],
]);

/** Envoy's gRPC retry_on names (EnvoyRetryOnGrpcValues), matched against a grpc-status in the response headers. */
const GRPC_RETRY_ON: ReadonlyMap<string, number> = new Map([
  ["cancelled", RetryOn.GrpcCancelled],
  ["deadline-exceeded", RetryOn.GrpcDeadlineExceeded],
  ["internal", RetryOn.GrpcInternal],
  ["resource-exhausted", RetryOn.GrpcResourceExhausted],
  ["unavailable", RetryOn.GrpcUnavailable],
]);

/** All gRPC conditions. */
export const RETRY_ON_GRPC = RetryOn.GrpcCancelled | RetryOn.GrpcDeadlineExceeded | RetryOn.GrpcInternal | RetryOn.GrpcResourceExhausted | RetryOn.GrpcUnavailable;

export interface ParsedRetryOn {
  bits: number;
  /** Names that are no condition of this kind. */
  unknown: string[];
}

function parseNames(text: string, names: ReadonlyMap<string, number>): ParsedRetryOn {
  let bits = 0;
  const unknown: string[] = [];
  // StringUtil::splitToken(config, ",", false, true): empty tokens skipped, each trimmed.
  for (const raw of text.split(",")) {
    const name = raw.trim();
    if (name === "") continue;
    const bit = names.get(name);
    if (bit === undefined) unknown.push(name);
    else bits |= bit;
  }
  return { bits, unknown };
}

/** `x-envoy-retry-on` (and the HTTP half of a route's retry_on). */
export function parseRetryOn(text: string): ParsedRetryOn {
  return parseNames(text, HTTP_RETRY_ON);
}

/** `x-envoy-retry-grpc-on` (and the gRPC half of a route's retry_on). */
export function parseRetryGrpcOn(text: string): ParsedRetryOn {
  return parseNames(text, GRPC_RETRY_ON);
}
