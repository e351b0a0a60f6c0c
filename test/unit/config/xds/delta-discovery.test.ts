/**
 * The incremental and REST codecs: delta-grpc-mux.ts's DeltaDiscoveryResponse decoder
 * must read what protobufjs (the protos' reference writer) writes, and fail on malformed
 * bytes only with ProtoDecodeError; http-subscription.ts's REST body reader takes proto3
 * JSON by its JSON or proto field names and refuses anything else with a reason.
 */
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { decodeDeltaDiscoveryResponse } from "../../../../core/config/xds/delta-grpc-mux.ts";
import { readRestDiscoveryResponse } from "../../../../core/config/xds/http-subscription.ts";
import { ProtoDecodeError } from "../../../../core/util/protobuf-wire.ts";
import { XdsControlPlane } from "../../../support/xds-control-plane.ts";

const plane = new XdsControlPlane();
const text = fc.string({ unit: "grapheme", maxLength: 12 });

describe("DeltaDiscoveryResponse decoding", () => {
  test("reads what protobufjs writes (names, versions, the Any's bytes, removals, nonce)", () => {
    fc.assert(
      fc.property(
        text,
        fc.array(fc.record({ name: text, version: text, value: fc.option(fc.uint8Array({ maxLength: 16 }), { nil: undefined }) }), { maxLength: 4 }),
        text,
        fc.array(text, { maxLength: 4 }),
        text,
        (systemVersionInfo, resources, typeUrl, removed, nonce) => {
          const bytes = plane.encodeMessage("envoy.service.discovery.v3.DeltaDiscoveryResponse", {
            system_version_info: systemVersionInfo,
            resources: resources.map((r) => ({ name: r.name, version: r.version, ...(r.value === undefined ? {} : { resource: { type_url: typeUrl, value: r.value } }), aliases: ["alias"] })),
            type_url: typeUrl,
            removed_resources: removed,
            nonce,
          });
          const decoded = decodeDeltaDiscoveryResponse(bytes);
          expect(decoded.systemVersionInfo).toBe(systemVersionInfo);
          expect(decoded.typeUrl).toBe(typeUrl);
          expect(decoded.nonce).toBe(nonce);
          expect(decoded.removedResources).toEqual(removed);
          expect(decoded.resources.map((r) => [r.name, r.version, r.resource === undefined])).toEqual(resources.map((r) => [r.name, r.version, r.value === undefined]));
          decoded.resources.forEach((r, i) => {
            if (r.resource === undefined) return;
            // The Any as written: type_url 1, value 2.
            expect(Buffer.from(r.resource)).toEqual(Buffer.from(plane.encodeMessage("google.protobuf.Any", { type_url: typeUrl, value: resources[i]!.value! })));
          });
        },
      ),
    );
  });

  test("malformed bytes fail with ProtoDecodeError only", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeDeltaDiscoveryResponse(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(ProtoDecodeError);
        }
      }),
    );
  });
});

describe("REST DiscoveryResponse bodies", () => {
  test("proto3 JSON, by JSON or proto names", () => {
    expect(readRestDiscoveryResponse('{"versionInfo":"3","resources":[{"@type":"t"}],"nonce":"n"}')).toEqual({ versionInfo: "3", resources: [{ "@type": "t" }], nonce: "n" });
    expect(readRestDiscoveryResponse('{"version_info":"4"}')).toEqual({ versionInfo: "4", resources: [], nonce: "" });
  });

  test("anything else is refused with its reason", () => {
    expect(() => readRestDiscoveryResponse("[]")).toThrow("not a DiscoveryResponse");
    expect(() => readRestDiscoveryResponse('{"versionInfo":3}')).toThrow("version_info: expected a string");
    expect(() => readRestDiscoveryResponse('{"resources":{}}')).toThrow("resources: expected a list");
    fc.assert(
      fc.property(fc.string(), (body) => {
        try {
          readRestDiscoveryResponse(body);
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
        }
      }),
    );
  });
});
