/**
 * The messages of envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit, in
 * protobuf's wire format (core/util/protobuf-wire.ts), with the fields polyvoy sends and
 * reads. Field numbers are those of envoy/service/ratelimit/v3/rls.proto,
 * envoy/extensions/common/ratelimit/v3/ratelimit.proto, envoy/config/core/v3/base.proto
 * (HeaderValue) and google/protobuf/duration.proto.
 */
import { latin1Decode } from "../../util/latin1.ts";
import { ProtoReader, ProtoWriter, WireType } from "../../util/protobuf-wire.ts";
import type { RateLimitDescriptor } from "../route/rate-limit-policy.ts";

export const SHOULD_RATE_LIMIT_METHOD = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";

/** RateLimitResponse.Code */
export const RateLimitCode = {
  Unknown: 0,
  Ok: 1,
  OverLimit: 2,
} as const;

/** RateLimitResponse.DescriptorStatus, what the x-ratelimit headers need of it. */
export interface DescriptorStatus {
  code: number;
  /** current_limit, when the service set one. */
  currentLimit: { name: string; requestsPerUnit: number; unit: number } | undefined;
  limitRemaining: number;
  /** duration_until_reset's whole seconds. */
  secondsUntilReset: number;
}

export interface RateLimitResponse {
  overallCode: number;
  statuses: DescriptorStatus[];
  responseHeadersToAdd: [string, string][];
  requestHeadersToAdd: [string, string][];
  rawBody: Uint8Array;
}

/** RateLimitRequest { string domain = 1; repeated RateLimitDescriptor descriptors = 2 { repeated Entry entries = 1 { key = 1; value = 2; } }; } */
export function encodeRateLimitRequest(domain: string, descriptors: readonly RateLimitDescriptor[]): Uint8Array {
  const writer = new ProtoWriter().string(1, domain);
  for (const descriptor of descriptors) {
    writer.message(2, (d) => {
      for (const [key, value] of descriptor) d.message(1, (entry) => entry.string(1, key).string(2, value));
    });
  }
  return writer.finish();
}

function readMessage(bytes: Uint8Array, visit: (reader: ProtoReader) => boolean): void {
  const reader = new ProtoReader(bytes);
  while (reader.next()) if (!visit(reader)) reader.skip();
}

function text(reader: ProtoReader): string {
  const bytes = reader.lengthDelimited();
  return latin1Decode(bytes, 0, bytes.byteLength);
}

/** HeaderValue { string key = 1; string value = 2; bytes raw_value = 3; } */
function readHeaderValue(bytes: Uint8Array): [string, string] {
  const header: [string, string] = ["", ""];
  readMessage(bytes, (h) => {
    if (h.wire !== WireType.Len) return false;
    if (h.field === 1) header[0] = text(h).toLowerCase();
    else if (h.field === 2 || h.field === 3) header[1] = text(h);
    else return false;
    return true;
  });
  return header;
}

/** DescriptorStatus { Code code = 1; RateLimit current_limit = 2 { requests_per_unit = 1; unit = 2; name = 3; }; uint32 limit_remaining = 3; Duration duration_until_reset = 4 { int64 seconds = 1; }; } */
function readDescriptorStatus(bytes: Uint8Array): DescriptorStatus {
  const status: DescriptorStatus = { code: 0, currentLimit: undefined, limitRemaining: 0, secondsUntilReset: 0 };
  readMessage(bytes, (r) => {
    if (r.field === 1 && r.wire === WireType.Varint) status.code = r.int32();
    else if (r.field === 3 && r.wire === WireType.Varint) status.limitRemaining = r.uint32();
    else if (r.field === 2 && r.wire === WireType.Len) {
      const limit = { name: "", requestsPerUnit: 0, unit: 0 };
      readMessage(r.lengthDelimited(), (l) => {
        if (l.field === 1 && l.wire === WireType.Varint) limit.requestsPerUnit = l.uint32();
        else if (l.field === 2 && l.wire === WireType.Varint) limit.unit = l.int32();
        else if (l.field === 3 && l.wire === WireType.Len) limit.name = text(l);
        else return false;
        return true;
      });
      status.currentLimit = limit;
    } else if (r.field === 4 && r.wire === WireType.Len) {
      readMessage(r.lengthDelimited(), (d) => (d.field === 1 && d.wire === WireType.Varint ? ((status.secondsUntilReset = Number(BigInt.asIntN(64, d.varint64()))), true) : false));
    } else return false;
    return true;
  });
  return status;
}

/**
 * RateLimitResponse { Code overall_code = 1; repeated DescriptorStatus statuses = 2;
 * repeated HeaderValue response_headers_to_add = 3; repeated HeaderValue request_headers_to_add = 4;
 * bytes raw_body = 5; }. Throws ProtoDecodeError on bytes that are no message.
 */
export function decodeRateLimitResponse(bytes: Uint8Array): RateLimitResponse {
  const response: RateLimitResponse = { overallCode: 0, statuses: [], responseHeadersToAdd: [], requestHeadersToAdd: [], rawBody: new Uint8Array(0) };
  readMessage(bytes, (r) => {
    if (r.field === 1 && r.wire === WireType.Varint) response.overallCode = r.int32();
    else if (r.wire !== WireType.Len) return false;
    else if (r.field === 2) response.statuses.push(readDescriptorStatus(r.lengthDelimited()));
    else if (r.field === 3) response.responseHeadersToAdd.push(readHeaderValue(r.lengthDelimited()));
    else if (r.field === 4) response.requestHeadersToAdd.push(readHeaderValue(r.lengthDelimited()));
    else if (r.field === 5) response.rawBody = r.lengthDelimited();
    else return false;
    return true;
  });
  return response;
}
