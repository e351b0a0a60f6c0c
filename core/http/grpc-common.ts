/**
 * The gRPC header rules the HTTP layer needs (Envoy's Grpc::Common,
 * source/common/grpc/common.cc): recognising a gRPC request, and reading and writing the
 * `grpc-timeout` header (gRPC's PROTOCOL-HTTP2.md: 1 to 8 digits and a unit, H M S m u n).
 */
import type { RequestHeaders } from "./message.ts";

/** The largest TimeoutValue: at most 8 digits. */
const MAX_GRPC_TIMEOUT_VALUE = 99_999_999;

/** Grpc::Common::hasGrpcContentType: application/grpc, alone or followed by `+` or `;`. */
export function hasGrpcContentType(headers: RequestHeaders): boolean {
  const type = headers.get("content-type");
  if (type === undefined || !type.startsWith("application/grpc")) return false;
  const next = type.charCodeAt(16);
  return Number.isNaN(next) || next === 0x2b /* + */ || next === 0x3b; /* ; */
}

/** Grpc::Common::isGrpcRequestHeaders: a gRPC content type on a request with a path. */
export function isGrpcRequestHeaders(headers: RequestHeaders): boolean {
  return headers.path !== "" && hasGrpcContentType(headers);
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
