/** The hand-made protobuf of grpc.health.v1 and gRPC's message framing, against protobufjs and by property. */
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import protobuf from "protobufjs";
import { decodeHealthCheckResponse, encodeHealthCheckRequest, ServingStatus } from "../../../core/upstream/grpc-health-proto.ts";
import { encodeGrpcFrame, GrpcFrameDecoder, type GrpcFrame } from "../../../core/http/grpc-frame.ts";

// The messages as health.proto declares them, for protobufjs (a real protobuf implementation) to compare with.
const root = protobuf.Root.fromJSON({
  nested: {
    HealthCheckRequest: { fields: { service: { type: "string", id: 1 } } },
    HealthCheckResponse: { fields: { status: { type: "ServingStatus", id: 1 } } },
    ServingStatus: { values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } },
  },
});
const Request = root.lookupType("HealthCheckRequest");
const Response = root.lookupType("HealthCheckResponse");

describe("grpc.health.v1 messages", () => {
  test("a request encodes as protobufjs does, for any service name; the empty name is no field (proto3)", { timeout: 60_000 }, () => {
    expect(encodeHealthCheckRequest("")).toEqual(new Uint8Array(0));
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", minLength: 1 }), (service) => {
        const ours = encodeHealthCheckRequest(service);
        return Buffer.from(ours).equals(Buffer.from(Request.encode({ service }).finish())) && (Request.decode(ours) as unknown as { service: string }).service === service;
      }),
      { numRuns: 300 },
    );
    // A lone surrogate is U+FFFD, as TextEncoder makes it.
    expect(encodeHealthCheckRequest("\ud800")).toEqual(Uint8Array.of(0x0a, 3, 0xef, 0xbf, 0xbd));
  });

  test("a response decodes to the status protobufjs encoded, whatever unknown fields surround it", () => {
    const unknownField = fc.oneof(
      fc.tuple(fc.integer({ min: 2, max: 1000 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })).map(([field, value]) => {
        const w = protobuf.Writer.create();
        w.uint32((field << 3) | 0).uint64(value.toString() as unknown as number);
        return w.finish();
      }),
      fc.tuple(fc.integer({ min: 2, max: 1000 }), fc.uint8Array({ maxLength: 40 })).map(([field, bytes]) => protobuf.Writer.create().uint32((field << 3) | 2).bytes(bytes).finish()),
      fc.tuple(fc.integer({ min: 2, max: 1000 }), fc.integer()).map(([field, v]) => protobuf.Writer.create().uint32((field << 3) | 5).sfixed32(v).finish()),
      fc.tuple(fc.integer({ min: 2, max: 1000 }), fc.double()).map(([field, v]) => protobuf.Writer.create().uint32((field << 3) | 1).double(v).finish()),
    );
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.array(unknownField, { maxLength: 3 }), fc.array(unknownField, { maxLength: 3 }), (status, before, after) => {
        const message = Buffer.concat([...before, Response.encode({ status }).finish(), ...after]);
        expect(decodeHealthCheckResponse(message)).toBe(status);
      }),
    );
  });

  test("the last status wins; none is UNKNOWN; truncated or malformed bytes are no message", () => {
    expect(decodeHealthCheckResponse(Uint8Array.of(0x08, 1, 0x08, 2))).toBe(ServingStatus.NotServing);
    expect(decodeHealthCheckResponse(new Uint8Array(0))).toBe(ServingStatus.Unknown);
    expect(decodeHealthCheckResponse(Uint8Array.of(0x08))).toBeUndefined();
    expect(decodeHealthCheckResponse(Uint8Array.of(0x12, 5, 1))).toBeUndefined();
    expect(decodeHealthCheckResponse(Uint8Array.of(0x0b))).toBeUndefined(); // wire type 3 (groups) is not accepted
    expect(decodeHealthCheckResponse(Uint8Array.of(0x00, 1))).toBeUndefined(); // field 0
  });

  test("random bytes never throw", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const status = decodeHealthCheckResponse(bytes);
        expect(status === undefined || Number.isInteger(status)).toBe(true);
      }),
    );
  });
});

describe("gRPC message framing", () => {
  test("frames come back whole whatever the chunking", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(0, 1), fc.uint8Array({ maxLength: 300 })), { maxLength: 5 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }), (messages, cuts) => {
        const wire = Buffer.concat(messages.map(([flags, data]) => encodeGrpcFrame(flags, data)));
        const decoder = new GrpcFrameDecoder(1000);
        const out: GrpcFrame[] = [];
        let at = 0;
        for (let i = 0; at < wire.length; i++) {
          const n = cuts[i % cuts.length]!;
          expect(decoder.decode(wire.subarray(at, at + n), out)).toBeDefined();
          at += n;
        }
        expect(out.map((f) => [f.flags, Buffer.from(f.data)])).toEqual(messages.map(([flags, data]) => [flags, Buffer.from(data)]));
        expect(decoder.hasBufferedData).toBe(false);
      }),
    );
  });

  test("a frame over the limit, or with unknown flags, is an error and the decoder stays failed", () => {
    expect(new GrpcFrameDecoder(4).decode(encodeGrpcFrame(0, new Uint8Array(5)))).toBeUndefined();
    const decoder = new GrpcFrameDecoder(100);
    expect(decoder.decode(encodeGrpcFrame(0x80, new Uint8Array(1)))).toBeUndefined();
    expect(decoder.decode(encodeGrpcFrame(0, new Uint8Array(1)))).toBeUndefined();
  });
});
