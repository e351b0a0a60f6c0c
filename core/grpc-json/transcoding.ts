/**
 * The gRPC-JSON transcoder's message work, between the filter (core/http/filters/
 * grpc-json-transcoder.ts) and the JSON ⇄ protobuf codec (json-to-proto.ts, proto-to-json.ts):
 * a request body as its gRPC messages (one, or one per element of a client stream's JSON
 * array), google.api.HttpBody in both directions (json_transcoder_filter.cc with its
 * http_body_utils.cc), and a failed call's google.rpc.Status as JSON (convert_grpc_status).
 */
import type { GrpcJsonTranscoderConfig } from "../config/bootstrap.ts";
import { decodeBase64 } from "../util/base64.ts";
import { ProtoDecodeError, ProtoReader, ProtoWriter, WireType } from "../util/protobuf-wire.ts";
import { utf8Decode, utf8DecodeStrict } from "../util/utf8.ts";
import { TranscodeError, type DescriptorPool, type FieldBinding, type JsonParseOptions, type JsonPrintOptions, type MessageDescriptor } from "./descriptors.ts";
import { encodeRequestMessage } from "./json-to-proto.ts";
import { JsonTextError, parseJsonText } from "./json-text.ts";
import { messageToJson } from "./proto-to-json.ts";
import type { MethodInfo } from "./transcoder-config.ts";

/**
 * An exception of the codec on a request's or response's content: answered (400, 500 or 502),
 * never let out of a filter callback (nothing above it catches, and the process would die).
 * RangeError: a string or stack past the engine's limits, a value no bigint can hold.
 */
export function isCodecError(error: unknown): error is Error {
  return error instanceof TranscodeError || error instanceof ProtoDecodeError || error instanceof JsonTextError || error instanceof RangeError;
}

function parseOptions(config: GrpcJsonTranscoderConfig): JsonParseOptions {
  return { caseInsensitiveEnumParsing: config.caseInsensitiveEnumParsing, rejectBindingBodyFieldCollisions: config.rejectBindingBodyFieldCollisions };
}

/**
 * A unary (or server-streaming) method's request message from its JSON body and bindings
 * (an empty body: the bindings alone); or one element of a client stream's JSON array, with
 * the bindings woven into each (as the library's streaming JsonRequestTranslator does).
 * A body that is not JSON, or names no field, is an error (Envoy answers it 400).
 */
export function encodeJsonRequest(pool: DescriptorPool, info: MethodInfo, body: Uint8Array, bindings: readonly FieldBinding[], config: GrpcJsonTranscoderConfig): { message: Uint8Array } | { error: string } {
  const text = utf8DecodeStrict(body);
  if (text === undefined) return { error: "Encountered non UTF-8 code points." };
  // No body rule parses the JSON into the whole message too (the library's translator reads any body it is given).
  const field = info.body === "" ? "*" : info.body;
  try {
    const json = text.trim() === "" ? undefined : parseJsonText(text);
    return { message: encodeRequestMessage(pool, info.method.input, json === undefined ? undefined : { json, field }, bindings, parseOptions(config)) };
  } catch (error) {
    if (isCodecError(error)) return { error: error.message };
    throw error;
  }
}

/**
 * The path and query bindings of an HttpBody request as a message (Envoy converts them in
 * decodeHeaders, before any body): an error when a value is no value of its field, as
 * `{id}`="abc" on an int64 (Envoy answers it 400).
 */
export function httpBodyBindingsMessage(pool: DescriptorPool, info: MethodInfo, bindings: readonly FieldBinding[], config: GrpcJsonTranscoderConfig): { message: Uint8Array } | { error: string } {
  if (bindings.length === 0) return { message: new Uint8Array(0) };
  try {
    return { message: encodeRequestMessage(pool, info.method.input, undefined, bindings, parseOptions(config)) };
  } catch (error) {
    if (isCodecError(error)) return { error: error.message };
    throw error;
  }
}

/**
 * An HttpBody request (JsonTranscoderFilter::maybeSendHttpBodyRequestMessage): the bindings'
 * message (httpBodyBindingsMessage), then google.api.HttpBody { content_type = 1; data = 2 } —
 * the whole message, or in the body field — appended (protobuf merges a message's
 * concatenated encodings).
 */
export function httpBodyRequestMessage(info: MethodInfo, contentType: string, body: Uint8Array, fromBindings: Uint8Array): Uint8Array {
  const httpBody = new ProtoWriter().string(1, contentType).bytesField(2, body).finish();
  const envelope = info.requestBodyFieldNumber === undefined ? httpBody : new ProtoWriter().bytesField(info.requestBodyFieldNumber, httpBody).finish();
  const out = new Uint8Array(fromBindings.length + envelope.length);
  out.set(fromBindings, 0);
  out.set(envelope, fromBindings.length);
  return out;
}

function printOptions(config: GrpcJsonTranscoderConfig["printOptions"]): JsonPrintOptions {
  return {
    addWhitespace: config.addWhitespace,
    alwaysPrintPrimitiveFields: config.alwaysPrintPrimitiveFields,
    alwaysPrintEnumsAsInts: config.alwaysPrintEnumsAsInts,
    preserveProtoFieldNames: config.preserveProtoFieldNames,
  };
}

/**
 * One response message as JSON, at most `maxLength` characters. Throws TranscodeError for
 * bytes that are not the message, JsonTooLongError past the length.
 */
export function responseMessageJson(pool: DescriptorPool, type: MessageDescriptor, bytes: Uint8Array, options: GrpcJsonTranscoderConfig["printOptions"], maxLength: number): string {
  return messageToJson(pool, type, bytes, printOptions(options), "", maxLength);
}

/**
 * A response's google.api.HttpBody (the message, or its field `fieldNumber`: response_body):
 * its content_type and data. Throws for bytes that are not protobuf.
 */
export function parseHttpBody(bytes: Uint8Array, fieldNumber: number | undefined): { contentType: string; data: Uint8Array } {
  let message = bytes;
  if (fieldNumber !== undefined) {
    const reader = new ProtoReader(bytes);
    message = new Uint8Array(0);
    while (reader.next()) {
      if (reader.field === fieldNumber && reader.wire === WireType.Len) message = reader.lengthDelimited();
      else reader.skip();
    }
  }
  let contentType = "";
  let data: Uint8Array = new Uint8Array(0);
  const reader = new ProtoReader(message);
  while (reader.next()) {
    if (reader.field === 1 && reader.wire === WireType.Len) contentType = utf8Decode(reader.lengthDelimited());
    else if (reader.field === 2 && reader.wire === WireType.Len) data = reader.lengthDelimited();
    else reader.skip();
  }
  return { contentType, data };
}

/**
 * convert_grpc_status's body: the google.rpc.Status of grpc-status-details-bin (base64), else
 * one of `code` and grpc-message (percent-decoded), as JSON. Envoy adds google.rpc.Status and
 * google.protobuf.Any to its pool when the descriptor lacks them; here a pool without
 * google.rpc.Status prints it by hand ({code, message, details}), each detail an Any the pool
 * prints. Undefined when it cannot be printed (bad details, an Any of a type the pool lacks):
 * the response is then transcoded as without convert_grpc_status.
 */
export function grpcStatusJson(pool: DescriptorPool, code: number, detailsBin: string | undefined, grpcMessage: string | undefined, options: GrpcJsonTranscoderConfig["printOptions"]): string | undefined {
  let bytes: Uint8Array;
  if (detailsBin !== undefined) {
    try {
      bytes = decodeBase64(detailsBin.replace(/=+$/, ""));
    } catch {
      return undefined;
    }
  } else {
    bytes = new ProtoWriter().int64(1, code).string(2, percentDecode(grpcMessage ?? "")).finish();
  }
  try {
    const status = pool.message("google.rpc.Status");
    if (status !== undefined) return messageToJson(pool, status, bytes, printOptions(options));
    return statusByHand(pool, bytes, options);
  } catch (error) {
    if (isCodecError(error)) return undefined;
    throw error;
  }
}

/** google.rpc.Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; } printed as protobuf's JSON printer does. */
function statusByHand(pool: DescriptorPool, bytes: Uint8Array, options: GrpcJsonTranscoderConfig["printOptions"]): string | undefined {
  let code = 0;
  let message = "";
  const details: string[] = [];
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    if (reader.field === 1 && reader.wire === WireType.Varint) code = reader.int32();
    else if (reader.field === 2 && reader.wire === WireType.Len) message = utf8Decode(reader.lengthDelimited());
    else if (reader.field === 3 && reader.wire === WireType.Len) {
      const bytes = reader.lengthDelimited();
      const any = pool.message("google.protobuf.Any");
      if (any === undefined) return undefined;
      details.push(messageToJson(pool, any, bytes, printOptions(options)));
    } else reader.skip();
  }
  const always = options.alwaysPrintPrimitiveFields;
  const members: [string, string][] = [];
  if (code !== 0 || always) members.push(["code", String(code)]);
  if (message !== "" || always) members.push(["message", JSON.stringify(message)]);
  if (details.length > 0 || always) members.push(["details", `[${details.join(",")}]`]);
  if (!options.addWhitespace) return `{${members.map(([k, v]) => `"${k}":${v}`).join(",")}}`;
  return `{\n${members.map(([k, v]) => ` "${k}": ${v}`).join(",\n")}\n}\n`;
}

/** Http::Utility::PercentEncoding::decode: grpc-message's %XX escapes (PROTOCOL-HTTP2.md), the bytes read as UTF-8. */
function percentDecode(text: string): string {
  if (!text.includes("%")) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 && i + 2 < text.length && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c & 0xff);
  }
  return utf8Decode(new Uint8Array(bytes));
}
