import type { ForwardAction } from "../../config/bootstrap.ts";
import { getGrpcTimeoutMs, isGrpcRequestHeaders, toGrpcTimeout } from "../grpc-common.ts";
import type { RequestHeaders } from "../message.ts";

/**
 * How long a stream may last in all, once its route is known (Envoy's
 * ActiveStream::refreshDurationTimeout in source/common/http/conn_manager_impl.cc), counted
 * from the stream's start; undefined: no limit.
 *
 * - A route with `max_stream_duration.grpc_timeout_header_max` and a request carrying
 *   `grpc-timeout`: the header's timeout, capped by the max (0: no cap), less
 *   `grpc_timeout_header_offset` (never below 0).
 * - Otherwise the route's `max_stream_duration.max_stream_duration` (an explicit 0: no
 *   limit), or when it has none the HCM's `common_http_protocol_options.max_stream_duration`.
 *
 * A gRPC request on a route with `max_stream_duration` has its `grpc-timeout` rewritten to
 * the result (removed when there is no limit), so the upstream works to the same deadline.
 */
export function streamDurationMs(action: ForwardAction | undefined, headers: RequestHeaders, hcmMaxMs: number | undefined): number | undefined {
  const route = action?.maxStreamDuration;
  if (route === undefined) return hcmMaxMs;
  const grpcTimeout = route.grpcTimeoutHeaderMaxMs !== undefined ? getGrpcTimeoutMs(headers) : undefined;
  let timeout: number | undefined;
  if (grpcTimeout === undefined) {
    if (route.maxStreamDurationMs !== undefined) timeout = route.maxStreamDurationMs === 0 ? undefined : route.maxStreamDurationMs;
    else timeout = hcmMaxMs;
  } else {
    timeout = grpcTimeout;
    const max = route.grpcTimeoutHeaderMaxMs!;
    if (max !== 0 && timeout > max) timeout = max;
    const offset = route.grpcTimeoutHeaderOffsetMs;
    if (timeout !== 0 && offset !== undefined) timeout = offset < timeout ? timeout - offset : 0;
  }
  if (isGrpcRequestHeaders(headers)) {
    if (timeout === undefined) headers.remove("grpc-timeout");
    else headers.set("grpc-timeout", toGrpcTimeout(timeout));
  }
  return timeout;
}
