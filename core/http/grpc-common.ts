/**
 * The gRPC header rules the HTTP layer needs (Envoy's Grpc::Common,
 * source/common/grpc/common.cc): recognising a gRPC request, and reading and writing the
 * `grpc-timeout` header (gRPC's PROTOCOL-HTTP2.md: 1 to 8 digits and a unit, H M S m u n).
 */
import type { RequestHeaders, ResponseHeaders } from "./message.ts";

/** The largest TimeoutValue: at most 8 digits. */
const MAX_GRPC_TIMEOUT_VALUE = 99_999_999;

/** Grpc::Common::hasGrpcContentType: application/grpc, alone or followed by `+` or `;`. */
export function hasGrpcContentType(headers: RequestHeaders): boolean {
  return isGrpcContentType(headers.get("content-type"));
}

/** The content-type test of hasGrpcContentType (so application/grpc-web is not gRPC). */
export function isGrpcContentType(type: string | undefined): boolean {
  if (type === undefined || !type.startsWith("application/grpc")) return false;
  const next = type.charCodeAt(16);
  return Number.isNaN(next) || next === 0x2b /* + */ || next === 0x3b; /* ; */
}

/** Grpc::Common::isGrpcRequestHeaders: a gRPC content type on a request with a path. */
export function isGrpcRequestHeaders(headers: RequestHeaders): boolean {
  return headers.path !== "" && hasGrpcContentType(headers);
}

/**
 * Grpc::Common::isGrpcResponseHeaders: a headers-only (trailers-only) answer with a
 * grpc-status, else a 200 with a gRPC content type.
 */
export function isGrpcResponseHeaders(headers: ResponseHeaders, endStream: boolean): boolean {
  if (endStream) return headers.has("grpc-status");
  return headers.status === 200 && isGrpcContentType(headers.get("content-type"));
}

/**
 * Grpc::Common::resolveServiceAndMethod: the service and method of a path
 * "/<service>/<method>", its query ignored; the path split at "/" with empty pieces dropped
 * (StringUtil::splitToken) must give exactly two. Undefined otherwise.
 */
export function resolveServiceAndMethod(path: string): { service: string; method: string } | undefined {
  const query = path.indexOf("?");
  const parts = (query < 0 ? path : path.slice(0, query)).split("/").filter((part) => part !== "");
  return parts.length === 2 ? { service: parts[0]!, method: parts[1]! } : undefined;
}

/**
 * Grpc::Common::getGrpcTimeout: the `grpc-timeout` header in ms, or undefined when absent
 * or malformed. Micro- and nanoseconds round up to the next millisecond.
 */
export function getGrpcTimeoutMs(headers: RequestHeaders): number | undefined {
  const value = headers.get("grpc-timeout");
  if (value === undefined || value.length < 2) return undefined;
  const digits = value.slice(0, -1);
  if (!/^\d+$/.test(digits)) return undefined;
  const n = Number(digits);
  if (n >= MAX_GRPC_TIMEOUT_VALUE) return undefined;
  switch (value[value.length - 1]) {
    case "H":
      return n * 3_600_000;
    case "M":
      return n * 60_000;
    case "S":
      return n * 1000;
    case "m":
      return n;
    case "u":
      return Math.ceil(n / 1000);
    case "n":
      return Math.ceil(n / 1_000_000);
    default:
      return undefined;
  }
}

/** Grpc::Common::toGrpcTimeout: `ms` as a grpc-timeout value, in the smallest unit that fits 8 digits. */
export function toGrpcTimeout(ms: number): string {
  const units = "mSMH";
  let unit = 0;
  let time = ms;
  if (time > MAX_GRPC_TIMEOUT_VALUE) {
    time = Math.floor(time / 1000);
    unit++;
  }
  while (time > MAX_GRPC_TIMEOUT_VALUE) {
    if (units[unit] === "H") {
      time = MAX_GRPC_TIMEOUT_VALUE;
    } else {
      time = Math.floor(time / 60);
      unit++;
    }
  }
  return `${time}${units[unit]}`;
}

/** gRPC status codes (Envoy's Grpc::Status::WellKnownGrpcStatus; grpc's doc/statuscodes.md). */
export const GrpcStatus = {
  Ok: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;

/** Grpc::Common::getGrpcStatus: a decimal grpc-status, else none. */
export function parseGrpcStatus(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,10}$/.test(value)) return undefined;
  return Number(value);
}

/**
 * Grpc::Utility::httpToGrpcStatus (source/common/grpc/status.cc), after grpc's
 * doc/http-grpc-status-mapping.md: the status a gRPC client sees for an HTTP status.
 */
export function httpToGrpcStatus(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return GrpcStatus.Internal;
    case 401:
      return GrpcStatus.Unauthenticated;
    case 403:
      return GrpcStatus.PermissionDenied;
    case 404:
      return GrpcStatus.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.Unavailable;
    default:
      return GrpcStatus.Unknown;
  }
}

/**
 * Grpc::Utility::grpcToHttpStatus (source/common/grpc/status.cc), after
 * https://cloud.google.com/apis/design/errors#handling_errors: the HTTP status a gRPC
 * status amounts to (the router reports it to outlier detection).
 */
export function grpcToHttpStatus(grpcStatus: number): number {
  switch (grpcStatus) {
    case GrpcStatus.Ok:
      return 200;
    case GrpcStatus.Canceled:
      return 499;
    case GrpcStatus.InvalidArgument:
    case GrpcStatus.FailedPrecondition:
    case GrpcStatus.OutOfRange:
      return 400;
    case GrpcStatus.DeadlineExceeded:
      return 504;
    case GrpcStatus.NotFound:
      return 404;
    case GrpcStatus.AlreadyExists:
    case GrpcStatus.Aborted:
      return 409;
    case GrpcStatus.PermissionDenied:
      return 403;
    case GrpcStatus.ResourceExhausted:
      return 429;
    case GrpcStatus.Unimplemented:
      return 501;
    case GrpcStatus.Unavailable:
      return 503;
    case GrpcStatus.Unauthenticated:
      return 401;
    default:
      // Unknown, Internal, DataLoss and any code outside the well-known ones.
      return 500;
  }
}

const HEX = "0123456789ABCDEF";

/**
 * Http::Utility::PercentEncoding::encode with '%' reserved: the `grpc-message` form of a
 * text (PROTOCOL-HTTP2.md, "Responses"): bytes outside 0x20..0x7D and '%' become %XX.
 * The text is taken as Latin-1, as the local reply's body is.
 */
export function percentEncodeGrpcMessage(text: string): string {
  let i = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c >= 0x7e || c === 0x25) break;
  }
  if (i === text.length) return text;
  let out = text.slice(0, i);
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i) & 0xff;
    out += c < 0x20 || c >= 0x7e || c === 0x25 ? `%${HEX[c >> 4]}${HEX[c & 15]}` : String.fromCharCode(c);
  }
  return out;
}
