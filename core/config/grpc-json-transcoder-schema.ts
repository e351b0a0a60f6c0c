/**
 * envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder: the gRPC-JSON
 * transcoder's config (core/http/filters/grpc-json-transcoder.ts). The descriptor set is read
 * when the config loads (proto_descriptor through the DataSource file reading,
 * data-source-files.ts) and checked as Envoy checks it: every service found, every rule
 * registered (core/grpc-json/transcoder-config.ts). The same message is the per-route config.
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { boolFalse, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import type { GrpcJsonTranscoderConfig } from "./bootstrap.ts";
import { oneOf, uint32 } from "./proto-schema.ts";
import { unsupportedField } from "./unsupported-field.ts";
import { base64Bytes } from "./data-source-schema.ts";
import { dataSourceFile, MAX_LARGE_DATA_FILE_BYTES } from "./data-source-files.ts";
import { latin1Encode } from "../util/latin1.ts";
import { buildTranscoder, TranscoderConfigError } from "../grpc-json/transcoder-config.ts";

export const GRPC_JSON_TRANSCODER_TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder";

const printOptions = lazySchema(() =>
  strictObject({
    add_whitespace: boolFalse,
    always_print_primitive_fields: boolFalse,
    always_print_enums_as_ints: boolFalse,
    preserve_proto_field_names: boolFalse,
    stream_newline_delimited: boolFalse,
    // Newer Envoy: server-sent events framing of a stream; not built here.
    stream_sse_style: unsupportedField("server-sent-event framing of a streamed response is not built", (v) => v === false),
  }));

const requestValidationOptions = lazySchema(() =>
  strictObject({
    reject_unknown_method: boolFalse,
    reject_unknown_query_parameters: boolFalse,
    reject_binding_body_field_collisions: boolFalse,
  }));

export const grpcJsonTranscoderConfig: z.ZodType<GrpcJsonTranscoderConfig> = lazySchema(() =>
  strictObject({
    proto_descriptor: z.string().min(1).optional(),
    proto_descriptor_bin: base64Bytes.optional(),
    services: z.array(z.string()).default([]),
    print_options: printOptions.optional(),
    match_incoming_request_route: boolFalse,
    ignored_query_parameters: z.array(z.string()).default([]),
    auto_mapping: boolFalse,
    ignore_unknown_query_parameters: boolFalse,
    convert_grpc_status: boolFalse,
    url_unescape_spec: z.enum(["ALL_CHARACTERS_EXCEPT_RESERVED", "ALL_CHARACTERS_EXCEPT_SLASH", "ALL_CHARACTERS"]).default("ALL_CHARACTERS_EXCEPT_RESERVED"),
    query_param_unescape_plus: boolFalse,
    match_unregistered_custom_verb: boolFalse,
    request_validation_options: requestValidationOptions.optional(),
    case_insensitive_enum_parsing: boolFalse,
    // UInt32Value, gt 0.
    max_request_body_size: uint32.min(1).optional(),
    max_response_body_size: uint32.min(1).optional(),
    // Unknown query parameters as an UnknownQueryParams HttpBody extension: not built.
    capture_unknown_query_parameters: unsupportedField("unknown query parameters are not captured into an UnknownQueryParams HttpBody extension", (v) => v === false),
  })
  .transform((c, ctx): GrpcJsonTranscoderConfig => {
    const which = oneOf(c, ["proto_descriptor", "proto_descriptor_bin"], ctx, true);
    if (which === undefined) return z.NEVER;
    let descriptorSet: Uint8Array;
    // The file not read yet: the check runs again once it is (data-source-files.ts), and only then is the descriptor parsed.
    let notReadYet = false;
    if (which === "proto_descriptor") {
      const read = dataSourceFile(c.proto_descriptor!, MAX_LARGE_DATA_FILE_BYTES);
      if (read === undefined) {
        notReadYet = true;
        descriptorSet = new Uint8Array(0);
      }
      else if ("error" in read) {
        ctx.addIssue({ code: "custom", message: read.error, path: ["proto_descriptor"] });
        return z.NEVER;
      } else descriptorSet = latin1Encode(read.data);
    } else descriptorSet = c.proto_descriptor_bin!;
    const p = c.print_options;
    const v = c.request_validation_options;
    const config: GrpcJsonTranscoderConfig = {
      descriptorSet,
      services: c.services,
      printOptions: {
        addWhitespace: p?.add_whitespace ?? false,
        alwaysPrintPrimitiveFields: p?.always_print_primitive_fields ?? false,
        alwaysPrintEnumsAsInts: p?.always_print_enums_as_ints ?? false,
        preserveProtoFieldNames: p?.preserve_proto_field_names ?? false,
        streamNewlineDelimited: p?.stream_newline_delimited ?? false,
      },
      matchIncomingRequestRoute: c.match_incoming_request_route,
      ignoredQueryParameters: c.ignored_query_parameters,
      autoMapping: c.auto_mapping,
      ignoreUnknownQueryParameters: c.ignore_unknown_query_parameters,
      convertGrpcStatus: c.convert_grpc_status,
      urlUnescapeSpec: c.url_unescape_spec,
      queryParamUnescapePlus: c.query_param_unescape_plus,
      matchUnregisteredCustomVerb: c.match_unregistered_custom_verb,
      rejectUnknownMethod: v?.reject_unknown_method ?? false,
      rejectUnknownQueryParameters: v?.reject_unknown_query_parameters ?? false,
      rejectBindingBodyFieldCollisions: v?.reject_binding_body_field_collisions ?? false,
      caseInsensitiveEnumParsing: c.case_insensitive_enum_parsing,
      ...(c.max_request_body_size !== undefined && { maxRequestBodySize: c.max_request_body_size }),
      ...(c.max_response_body_size !== undefined && { maxResponseBodySize: c.max_response_body_size }),
    };
    // Envoy: no services, the filter is disabled and the descriptor is not looked at. An empty
    // one is parsed (and refused: it holds no file).
    if (config.services.length > 0 && !notReadYet) {
      try {
        buildTranscoder(config);
      } catch (error) {
        if (!(error instanceof TranscoderConfigError)) throw error;
        ctx.addIssue({ code: "custom", message: error.message, path: [which] });
        return z.NEVER;
      }
    }
    return config;
  }));
