/**
 * The messages of envoy.service.ext_proc.v3.ExternalProcessor/Process in protobuf's wire
 * format (core/util/protobuf-wire.ts), the fields polyvoy's ext_proc filter sends and reads.
 * Field numbers are those of api/envoy/service/ext_proc/v3/external_processor.proto,
 * envoy/config/core/v3/base.proto (HeaderMap, HeaderValue, HeaderValueOption),
 * envoy/extensions/filters/http/ext_proc/v3/processing_mode.proto, envoy/type/v3/http_status.proto
 * and google/protobuf/duration.proto.
 */
import { latin1Decode } from "../../util/latin1.ts";
import { ProtoReader, ProtoWriter, varintSize, WireType } from "../../util/protobuf-wire.ts";

export const PROCESS_METHOD = "/envoy.service.ext_proc.v3.ExternalProcessor/Process";

/** ProcessingRequest's oneof `request`, by field number. */
export const ProcessingKind = {
  RequestHeaders: 2,
  ResponseHeaders: 3,
  RequestBody: 4,
  ResponseBody: 5,
  RequestTrailers: 6,
  ResponseTrailers: 7,
} as const;
export type ProcessingKind = (typeof ProcessingKind)[keyof typeof ProcessingKind];

/** ProcessingResponse's oneof `response`, by field number. */
export const ResponseKind = {
  RequestHeaders: 1,
  ResponseHeaders: 2,
  RequestBody: 3,
  ResponseBody: 4,
  RequestTrailers: 5,
  ResponseTrailers: 6,
  ImmediateResponse: 7,
} as const;

/** Text whose chars are bytes, as bytes. */
function bytesOf(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/**
 * ProcessingRequest { HttpHeaders request_headers = 2 | response_headers = 3 { HeaderMap headers = 1; bool end_of_stream = 3; } }.
 * Each header goes as HeaderValue { key = 1; raw_value = 3 }: Envoy sends raw_value
 * (envoy.reloadable_features.send_header_raw_value, on by default), pseudo-headers first.
 */
export function encodeHeadersRequest(kind: ProcessingKind, headers: readonly (readonly [string, string])[], endOfStream: boolean): Uint8Array {
  return new ProtoWriter()
    .message(kind, (h) => {
      h.message(1, (map) => {
        for (const [name, value] of headers) map.message(1, (hv) => hv.bytesField(1, bytesOf(name)).bytesField(3, bytesOf(value)));
      });
      if (endOfStream) h.uint(3, 1);
    })
    .finish();
}

/** ProcessingRequest { HttpBody request_body = 4 | response_body = 5 { bytes body = 1; bool end_of_stream = 2; } } */
export function encodeBodyRequest(kind: ProcessingKind, body: Uint8Array, endOfStream: boolean): Uint8Array {
  // Sized exactly (one-byte tags: fields 1, 2 and kind ≤ 7): the body, up to the stream's
  // buffer limit, is copied once, not again each time a writer's buffer would grow.
  const bodyField = body.byteLength === 0 ? 0 : 1 + varintSize(body.byteLength) + body.byteLength;
  const httpBody = bodyField + (endOfStream ? 2 : 0);
  return new ProtoWriter(1 + varintSize(httpBody) + httpBody)
    .message(kind, (b) => {
      b.bytesField(1, body);
      if (endOfStream) b.uint(2, 1);
    })
    .finish();
}

/** ProcessingRequest { HttpTrailers request_trailers = 6 | response_trailers = 7 { HeaderMap trailers = 1; } }, each trailer as a header is. */
export function encodeTrailersRequest(kind: ProcessingKind, trailers: readonly (readonly [string, string])[]): Uint8Array {
  return new ProtoWriter()
    .message(kind, (t) => {
      t.message(1, (map) => {
        for (const [name, value] of trailers) map.message(1, (hv) => hv.bytesField(1, bytesOf(name)).bytesField(3, bytesOf(value)));
      });
    })
    .finish();
}

/** HeaderValueOption as ext_proc's MutationUtils::applyHeaderMutations reads it. */
export interface SetHeader {
  name: string;
  value: string;
  /** HeaderAppendAction (0 APPEND_IF_EXISTS_OR_ADD, 1 ADD_IF_ABSENT, 2 OVERWRITE_IF_EXISTS_OR_ADD, 3 OVERWRITE_IF_EXISTS). */
  action: number;
  /** The deprecated BoolValue `append`, false when absent: it decides when action is 0. */
  append: boolean;
  /** Both value and raw_value were set: Envoy refuses the mutation. */
  bothValues: boolean;
}

export interface HeaderMutation {
  setHeaders: SetHeader[];
  removeHeaders: string[];
}

export interface CommonResponse {
  /** CONTINUE = 0, CONTINUE_AND_REPLACE = 1. */
  status: number;
  headerMutation: HeaderMutation | undefined;
  /** BodyMutation: the new body; an empty one for clear_body. */
  bodyMutation: Uint8Array | undefined;
  /** BodyMutation.streamed_response (FULL_DUPLEX_STREAMED): a piece of the body, in the processor's own grouping. */
  streamedResponse: StreamedBodyResponse | undefined;
  /** CommonResponse.trailers is set (Envoy adds them with CONTINUE_AND_REPLACE). */
  hasTrailers: boolean;
  clearRouteCache: boolean;
}

/** StreamedBodyResponse { bytes body = 1; bool end_of_stream = 2; } */
export interface StreamedBodyResponse {
  body: Uint8Array;
  endOfStream: boolean;
}

export interface ImmediateResponse {
  /** HttpStatus.code; undefined when the status is absent. */
  status: number | undefined;
  headers: HeaderMutation | undefined;
  body: Uint8Array;
  grpcStatus: number | undefined;
  details: string;
}

/** ProcessingMode as received in mode_override: the raw enum numbers. */
export interface ModeOverride {
  requestHeaderMode: number;
  responseHeaderMode: number;
  requestBodyMode: number;
  responseBodyMode: number;
  requestTrailerMode: number;
  responseTrailerMode: number;
}

export type ProcessingResponse = {
  /** The oneof's field number (ResponseKind), 0 when none is set. */
  kind: number;
  /** HeadersResponse / BodyResponse's CommonResponse (an empty one when absent). */
  common: CommonResponse | undefined;
  immediate: ImmediateResponse | undefined;
  /** TrailersResponse.header_mutation (undefined when absent). */
  trailersMutation: HeaderMutation | undefined;
  modeOverride: ModeOverride | undefined;
  /** override_message_timeout in ms, when set. */
  overrideMessageTimeoutMs: number | undefined;
};

/** Reads a message's fields with `visit`, skipping those it does not take (returns false for). */
function readMessage(bytes: Uint8Array, visit: (reader: ProtoReader) => boolean): void {
  const reader = new ProtoReader(bytes);
  while (reader.next()) if (!visit(reader)) reader.skip();
}

function text(reader: ProtoReader): string {
  const bytes = reader.lengthDelimited();
  return latin1Decode(bytes, 0, bytes.byteLength);
}

/** HeaderValueOption { HeaderValue header = 1 { key = 1; value = 2; raw_value = 3 }; BoolValue append = 2; HeaderAppendAction append_action = 3; } */
function readSetHeader(bytes: Uint8Array): SetHeader | undefined {
  const header: SetHeader = { name: "", value: "", action: 0, append: false, bothValues: false };
  let present = false;
  let value: string | undefined;
  let raw: string | undefined;
  readMessage(bytes, (r) => {
    if (r.field === 1 && r.wire === WireType.Len) {
      present = true;
      readMessage(r.lengthDelimited(), (h) => {
        if (h.wire !== WireType.Len) return false;
        if (h.field === 1) header.name = text(h).toLowerCase();
        else if (h.field === 2) value = text(h);
        else if (h.field === 3) raw = text(h);
        else return false;
        return true;
      });
    } else if (r.field === 2 && r.wire === WireType.Len) {
      // google.protobuf.BoolValue { bool value = 1; }
      readMessage(r.lengthDelimited(), (b) => (b.field === 1 && b.wire === WireType.Varint ? ((header.append = b.bool()), true) : false));
    } else if (r.field === 3 && r.wire === WireType.Varint) {
      header.action = r.int32();
    } else {
      return false;
    }
    return true;
  });
  // mutation_utils.cc: a HeaderValueOption without a header is skipped.
  if (!present) return undefined;
  header.bothValues = value !== undefined && value !== "" && raw !== undefined && raw !== "";
  header.value = raw !== undefined && raw !== "" ? raw : (value ?? "");
  return header;
}

/** HeaderMutation { repeated HeaderValueOption set_headers = 1; repeated string remove_headers = 2; } */
function readHeaderMutation(bytes: Uint8Array): HeaderMutation {
  const mutation: HeaderMutation = { setHeaders: [], removeHeaders: [] };
  readMessage(bytes, (r) => {
    if (r.wire !== WireType.Len) return false;
    if (r.field === 1) {
      const header = readSetHeader(r.lengthDelimited());
      if (header !== undefined) mutation.setHeaders.push(header);
    } else if (r.field === 2) mutation.removeHeaders.push(text(r).toLowerCase());
    else return false;
    return true;
  });
  return mutation;
}

/** CommonResponse { ResponseStatus status = 1; HeaderMutation header_mutation = 2; BodyMutation body_mutation = 3; HeaderMap trailers = 4; bool clear_route_cache = 5; } */
function readCommonResponse(bytes: Uint8Array): CommonResponse {
  const common: CommonResponse = { status: 0, headerMutation: undefined, bodyMutation: undefined, streamedResponse: undefined, hasTrailers: false, clearRouteCache: false };
  readMessage(bytes, (r) => {
    if (r.field === 1 && r.wire === WireType.Varint) common.status = r.int32();
    else if (r.field === 2 && r.wire === WireType.Len) common.headerMutation = readHeaderMutation(r.lengthDelimited());
    else if (r.field === 3 && r.wire === WireType.Len) {
      // BodyMutation { oneof mutation { bytes body = 1; bool clear_body = 2; StreamedBodyResponse streamed_response = 3; } }
      readMessage(r.lengthDelimited(), (b) => {
        if (b.field === 1 && b.wire === WireType.Len) common.bodyMutation = b.lengthDelimited();
        else if (b.field === 2 && b.wire === WireType.Varint) {
          if (b.bool()) common.bodyMutation = new Uint8Array(0);
        } else if (b.field === 3 && b.wire === WireType.Len) {
          const streamed: StreamedBodyResponse = { body: new Uint8Array(0), endOfStream: false };
          readMessage(b.lengthDelimited(), (f) => {
            if (f.field === 1 && f.wire === WireType.Len) streamed.body = f.lengthDelimited();
            else if (f.field === 2 && f.wire === WireType.Varint) streamed.endOfStream = f.bool();
            else return false;
            return true;
          });
          common.streamedResponse = streamed;
        } else return false;
        return true;
      });
    } else if (r.field === 4 && r.wire === WireType.Len) {
      common.hasTrailers = true;
      r.lengthDelimited();
    } else if (r.field === 5 && r.wire === WireType.Varint) common.clearRouteCache = r.bool();
    else return false;
    return true;
  });
  return common;
}

function readImmediateResponse(bytes: Uint8Array): ImmediateResponse {
  const immediate: ImmediateResponse = { status: undefined, headers: undefined, body: new Uint8Array(0), grpcStatus: undefined, details: "" };
  readMessage(bytes, (r) => {
    if (r.wire !== WireType.Len) return false;
    if (r.field === 1) {
      // envoy.type.v3.HttpStatus { StatusCode code = 1; }
      immediate.status = 0;
      readMessage(r.lengthDelimited(), (s) => (s.field === 1 && s.wire === WireType.Varint ? ((immediate.status = s.int32()), true) : false));
    } else if (r.field === 2) immediate.headers = readHeaderMutation(r.lengthDelimited());
    else if (r.field === 3) immediate.body = r.lengthDelimited();
    else if (r.field === 4) {
      // GrpcStatus { uint32 status = 1; }
      immediate.grpcStatus = 0;
      readMessage(r.lengthDelimited(), (s) => (s.field === 1 && s.wire === WireType.Varint ? ((immediate.grpcStatus = s.uint32()), true) : false));
    } else if (r.field === 5) immediate.details = text(r);
    else return false;
    return true;
  });
  return immediate;
}

/**
 * ProcessingResponse { oneof response { HeadersResponse request_headers = 1; response_headers = 2;
 * BodyResponse request_body = 3; response_body = 4; TrailersResponse request_trailers = 5;
 * response_trailers = 6; ImmediateResponse immediate_response = 7; } Struct dynamic_metadata = 8;
 * ProcessingMode mode_override = 9; Duration override_message_timeout = 10; }.
 * Throws ProtoDecodeError on bytes that are no message. `bytes` become the caller's
 * (a gRPC frame decoder's own copy): the bodies read are views of them, not copies.
 */
export function decodeProcessingResponse(bytes: Uint8Array): ProcessingResponse {
  const response: ProcessingResponse = { kind: 0, common: undefined, immediate: undefined, trailersMutation: undefined, modeOverride: undefined, overrideMessageTimeoutMs: undefined };
  readMessage(bytes, (r) => {
    if (r.wire !== WireType.Len) return false;
    const field = r.field;
    if (field >= 1 && field <= 4) {
      response.kind = field;
      // HeadersResponse / BodyResponse { CommonResponse response = 1; }
      let common: CommonResponse | undefined;
      readMessage(r.lengthDelimited(), (c) => (c.field === 1 && c.wire === WireType.Len ? ((common = readCommonResponse(c.lengthDelimited())), true) : false));
      response.common = common ?? readCommonResponse(new Uint8Array(0));
      response.immediate = undefined;
    } else if (field === 5 || field === 6) {
      response.kind = field;
      // TrailersResponse { HeaderMutation header_mutation = 1; }
      let mutation: HeaderMutation | undefined;
      readMessage(r.lengthDelimited(), (t) => (t.field === 1 && t.wire === WireType.Len ? ((mutation = readHeaderMutation(t.lengthDelimited())), true) : false));
      response.trailersMutation = mutation;
      response.common = undefined;
      response.immediate = undefined;
    } else if (field === 7) {
      response.kind = field;
      response.immediate = readImmediateResponse(r.lengthDelimited());
      response.common = undefined;
    } else if (field === 9) {
      const mode: ModeOverride = { requestHeaderMode: 0, responseHeaderMode: 0, requestBodyMode: 0, responseBodyMode: 0, requestTrailerMode: 0, responseTrailerMode: 0 };
      const keys = ["requestHeaderMode", "responseHeaderMode", "requestBodyMode", "responseBodyMode", "requestTrailerMode", "responseTrailerMode"] as const;
      readMessage(r.lengthDelimited(), (m) => {
        const key = keys[m.field - 1];
        if (key === undefined || m.wire !== WireType.Varint) return false;
        mode[key] = m.int32();
        return true;
      });
      response.modeOverride = mode;
    } else if (field === 10) {
      // google.protobuf.Duration { int64 seconds = 1; int32 nanos = 2; }
      let seconds = 0;
      let nanos = 0;
      readMessage(r.lengthDelimited(), (d) => {
        if (d.wire !== WireType.Varint) return false;
        if (d.field === 1) seconds = Number(d.varint64());
        else if (d.field === 2) nanos = d.int32();
        else return false;
        return true;
      });
      response.overrideMessageTimeoutMs = seconds * 1000 + Math.floor(nanos / 1e6);
    } else return false;
    return true;
  });
  return response;
}
