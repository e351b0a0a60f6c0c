/**
 * The two messages of grpc.health.v1.Health/Check (grpc's src/proto/grpc/health/v1/health.proto),
 * in protobuf's wire format (core/util/protobuf-wire.ts):
 * `HealthCheckRequest { string service = 1; }` and
 * `HealthCheckResponse { ServingStatus status = 1; }`.
 */
import { ProtoDecodeError, ProtoReader, ProtoWriter, WireType } from "../util/protobuf-wire.ts";

/** HealthCheckResponse.ServingStatus. */
export const ServingStatus = {
  Unknown: 0,
  Serving: 1,
  NotServing: 2,
  ServiceUnknown: 3,
} as const;

/** A HealthCheckRequest: field 1 (LEN) the service's UTF-8 name; nothing for the empty name (proto3's default). */
export function encodeHealthCheckRequest(service: string): Uint8Array {
  return new ProtoWriter().string(1, service).finish();
}

/**
 * A HealthCheckResponse's status (the last field 1 wins, as protobuf parsers do; absent:
 * UNKNOWN), unknown fields skipped; undefined when the bytes are not a valid message.
 * An enum outside ServingStatus is kept as its number (proto3's open enums).
 */
export function decodeHealthCheckResponse(bytes: Uint8Array): number | undefined {
  let status: number = ServingStatus.Unknown;
  const reader = new ProtoReader(bytes);
  try {
    while (reader.next()) {
      if (reader.field === 1 && reader.wire === WireType.Varint) status = reader.int32();
      else reader.skip();
    }
  } catch (e) {
    if (e instanceof ProtoDecodeError) return undefined;
    throw e;
  }
  return status;
}
