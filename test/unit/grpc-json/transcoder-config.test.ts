/**
 * The gRPC-JSON transcoder's config as Envoy checks it when it loads: the descriptor set
 * parsed, every service found, every rule registered; fields polyvoy lacks refused by name.
 */
import { describe, expect, test } from "vitest";
import { filterConfig, HCM_FILTERS, problems, ROUTER } from "../config/http-filter-config.ts";
import { validateConfig } from "../../../core/config/validate-config.ts";
import { httpProxyConfig } from "../../support/configs.ts";
import { MAX_LARGE_DATA_FILE_BYTES } from "../../../core/config/data-source-files.ts";
import { ProtoWriter } from "../../../core/util/protobuf-wire.ts";
import { libraryDescriptorSet } from "../../helpers/grpc-json-descriptor.ts";
import { decodeDescriptorSet } from "../../../core/grpc-json/descriptor-set.ts";
import { resolveBindings } from "../../../core/grpc-json/transcoder-config.ts";

const TYPE = "type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder";
const bin = () => Buffer.from(libraryDescriptorSet()).toString("base64");
const transcoder = (fields: object) => ({ name: "envoy.filters.http.grpc_json_transcoder", typed_config: { "@type": TYPE, ...fields } });

describe("grpc_json_transcoder config", () => {
  test("loads with Envoy's defaults", () => {
    const config = filterConfig(transcoder({ proto_descriptor_bin: bin(), services: ["library.v1.Library"] }));
    expect(config).toMatchObject({
      services: ["library.v1.Library"],
      urlUnescapeSpec: "ALL_CHARACTERS_EXCEPT_RESERVED",
      autoMapping: false,
      convertGrpcStatus: false,
      printOptions: { addWhitespace: false, streamNewlineDelimited: false },
      rejectUnknownMethod: false,
    });
    expect(config.maxRequestBodySize).toBeUndefined();
  });

  test("a service the descriptor lacks, a descriptor that is not one, none at all: Envoy's errors", () => {
    expect(problems(transcoder({ proto_descriptor_bin: bin(), services: ["library.v1.Nope"] }))).toEqual([
      `${HCM_FILTERS}.proto_descriptor_bin: transcoding_filter: Could not find 'library.v1.Nope' in the proto descriptor`,
    ]);
    const [bad] = problems(transcoder({ proto_descriptor_bin: Buffer.from("not a descriptor").toString("base64"), services: ["x.Y"] }));
    expect(bad).toContain(`${HCM_FILTERS}.proto_descriptor_bin: transcoding_filter: Unable to parse proto descriptor`);
    expect(problems(transcoder({ services: ["x.Y"] }))).toEqual([`${HCM_FILTERS}: must set one of proto_descriptor, proto_descriptor_bin`]);
  });

  test("no services: the filter is disabled and the descriptor is not looked at (Envoy)", () => {
    expect(filterConfig(transcoder({ proto_descriptor_bin: Buffer.from("junk").toString("base64") })).services).toEqual([]);
  });

  test("fields polyvoy lacks are refused by name", () => {
    expect(problems(transcoder({ proto_descriptor_bin: bin(), services: ["library.v1.Library"], capture_unknown_query_parameters: true }))[0]).toContain("`capture_unknown_query_parameters` is an Envoy field that polyvoy does not support yet");
    expect(problems(transcoder({ proto_descriptor_bin: bin(), services: ["library.v1.Library"], max_request_body_size: 0 }))[0]).toContain("max_request_body_size");
    expect(problems(transcoder({ proto_descriptor_bin: bin(), services: ["library.v1.Library"], url_unescape_spec: "NONE" }))[0]).toContain("url_unescape_spec");
  });

  test("the same message per route (typed_per_filter_config), checked the same way", () => {
    const filter = transcoder({ proto_descriptor_bin: bin(), services: ["library.v1.Library"] });
    expect(problems(filter, { typed_per_filter_config: { "envoy.filters.http.grpc_json_transcoder": { "@type": TYPE, proto_descriptor_bin: bin(), services: ["library.v1.Missing"] } } })[0]).toContain(
      "transcoding_filter: Could not find 'library.v1.Missing' in the proto descriptor",
    );
  });
});

describe("bindings resolved against the request message (TypeHelper::ResolveFieldPath)", () => {
  const volume = decodeDescriptorSet(libraryDescriptorSet()).message("library.v1.UpdateVolumeRequest")!;
  const bindings = [
    { fieldPath: ["room_id"], value: "1" },
    { fieldPath: ["volume", "loanPeriod"], value: "3s" },
    { fieldPath: ["volume", "shoe"], value: "x" },
  ];

  test("a field path naming no field is Envoy's error", () => {
    expect(resolveBindings(volume, bindings, false)).toEqual({ error: 'Could not find field "shoe" in the type "library.v1.Volume".' });
  });

  test("ignore_unknown_query_parameters: it is dropped, the others kept (.proto and JSON names)", () => {
    expect(resolveBindings(volume, bindings, true)).toEqual({ bindings: bindings.slice(0, 2) });
  });
});

function loadWithFile(bytes: Uint8Array) {
  const reader = { readTextFile: async () => "", readFileBytes: async () => bytes, fileSize: async () => bytes.length, fileType: async () => "file" as const, environmentVariable: () => undefined };
  const text = JSON.stringify(httpProxyConfig({ listenPort: 10000, clusters: { backend: [8080] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], hcm: { http_filters: [transcoder({ proto_descriptor: "/descriptors/api.pb", services: ["library.v1.Library"] }), ROUTER] } }));
  return validateConfig(text, "json", undefined, reader);
}

describe("proto_descriptor's own size limit", () => {
  test("a descriptor set over the 1 MiB of other DataSource files loads; one over 64 MiB is refused", async () => {
    // The library's set with 3 MiB of a field FileDescriptorSet does not have (skipped, as protobuf skips unknown fields).
    const padding = new ProtoWriter().bytesField(15, new Uint8Array(3 * 1024 * 1024)).finish();
    const big = new Uint8Array([...libraryDescriptorSet(), ...padding]);
    const loaded = await loadWithFile(big);
    expect("problems" in loaded ? loaded.problems : []).toEqual([]);
    const huge = await loadWithFile(new Uint8Array(MAX_LARGE_DATA_FILE_BYTES + 1));
    expect(JSON.stringify(huge)).toContain(`file /descriptors/api.pb size is ${MAX_LARGE_DATA_FILE_BYTES + 1} bytes; maximum is ${MAX_LARGE_DATA_FILE_BYTES}`);
  });
});

describe("an empty descriptor set", () => {
  test("is refused, from proto_descriptor_bin and from a proto_descriptor file (validateConfig reads it)", async () => {
    const [bin] = problems(transcoder({ proto_descriptor_bin: "", services: ["library.v1.Library"] }));
    expect(bin).toContain(`${HCM_FILTERS}.proto_descriptor_bin: transcoding_filter: Unable to parse proto descriptor`);
    const reader = { readTextFile: async () => "", readFileBytes: async () => new Uint8Array(0), fileSize: async () => 0, fileType: async () => "file" as const, environmentVariable: () => undefined };
    const text = JSON.stringify(httpProxyConfig({ listenPort: 10000, clusters: { backend: [8080] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], hcm: { http_filters: [transcoder({ proto_descriptor: "/descriptors/empty.pb", services: ["library.v1.Library"] }), ROUTER] } }));
    const loaded = await validateConfig(text, "json", undefined, reader);
    expect("bootstrap" in loaded).toBe(false);
    expect(JSON.stringify(loaded)).toContain("proto_descriptor: transcoding_filter: Unable to parse proto descriptor");
  });
});
