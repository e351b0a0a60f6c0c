/**
 * envoy.config.accesslog.v3.GrpcStatusFilter (Envoy's access_log_impl.cc, GrpcStatusFilter):
 * logs a stream whose gRPC status is one of `statuses` (or, with `exclude`, is none of them).
 *
 * The status is Grpc::Common::getGrpcStatus(trailers, headers, info) (source/common/grpc/common.cc):
 * the response trailers' grpc-status, else the response headers' (a trailers-only reply),
 * else the HTTP response code mapped by Grpc::Utility::httpToGrpcStatus, else — no response
 * at all, and every tcp_proxy connection — UNKNOWN. Envoy does not ask whether the request
 * was a gRPC one: a plain HTTP 200 counts as UNKNOWN, a 503 as UNAVAILABLE.
 */
import type { AccessLogContext } from "./context.ts";
import { GrpcStatus, httpToGrpcStatus } from "../http/grpc-common.ts";

/** GrpcStatusFilter.Status, by number (the same numbers as Grpc::Status::WellKnownGrpcStatus). */
export const GRPC_STATUS_FILTER_NAMES = [
  "OK",
  "CANCELED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

/** Grpc::Status::WellKnownGrpcStatus::InvalidCode: a grpc-status that is no known code; no filter status equals it. */
const INVALID_CODE = -1;

export function compileGrpcStatusFilter(statuses: readonly number[], exclude: boolean): (ctx: AccessLogContext) => boolean {
  const wanted = new Set(statuses);
  return (ctx) => {
    const found = wanted.has(grpcStatusOf(ctx));
    return exclude ? !found : found;
  };
}

/** Grpc::Common::getGrpcStatus(trailers, headers, info), UNKNOWN when it has none. */
export function grpcStatusOf(ctx: AccessLogContext): number {
  return (
    parseStatus(ctx.headerValues?.("trailers", "grpc-status") ?? ctx.responseTrailer("grpc-status")) ??
    parseStatus(ctx.headerValues?.("response", "grpc-status") ?? ctx.responseHeader("grpc-status")) ??
    // polyvoy's responseCode 0 is StreamInfo's unset responseCode().
    (ctx.responseCode > 0 ? httpToGrpcStatus(ctx.responseCode) : GrpcStatus.Unknown)
  );
}

/**
 * Grpc::Common::getGrpcStatus(map, allow_user_defined = false): an absent or empty
 * grpc-status is none; one absl::SimpleAtoi does not read as an unsigned number, or
 * above UNAUTHENTICATED (16), is InvalidCode. Envoy's map joins a repeated grpc-status
 * with "," (an inline header), which reads as InvalidCode too.
 */
function parseStatus(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  // SimpleAtoi: ASCII whitespace around the number and a leading "+" are allowed.
  const digits = /^[ \t\n\v\f\r]*\+?([0-9]+)[ \t\n\v\f\r]*$/.exec(value)?.[1];
  if (digits === undefined) return INVALID_CODE;
  const code = Number(digits);
  return code > GrpcStatus.Unauthenticated ? INVALID_CODE : code;
}
