/**
 * The shapes the gRPC-JSON transcoder (envoy.filters.http.grpc_json_transcoder) reads from a
 * FileDescriptorSet (google/protobuf/descriptor.proto, as `protoc --include_imports
 * --descriptor_set_out` writes it): services, their methods with the google.api.http rules
 * (google/api/http.proto), and the messages and enums the JSON codec walks. Decoded by
 * descriptor-set.ts; used by the codec (json-to-proto.ts, proto-to-json.ts) and the filter.
 * Envoy builds the same from protobuf's DescriptorPool (json_transcoder_filter.cc).
 */

/** A descriptor set that cannot be used: not protobuf, a dangling type name, a bad http rule. */
export class DescriptorError extends Error {}

/** FieldDescriptorProto.Type, by its .proto name (TYPE_DOUBLE → "double"). */
export type FieldType =
  | "double"
  | "float"
  | "int64"
  | "uint64"
  | "int32"
  | "fixed64"
  | "fixed32"
  | "bool"
  | "string"
  | "group"
  | "message"
  | "bytes"
  | "uint32"
  | "enum"
  | "sfixed32"
  | "sfixed64"
  | "sint32"
  | "sint64";

export interface EnumDescriptor {
  /** Without the leading dot: "bookstore.Genre". */
  readonly fullName: string;
  readonly values: readonly { readonly name: string; readonly number: number }[];
}

export interface FieldDescriptor {
  /** As the .proto spells it (snake_case). */
  readonly name: string;
  /** FieldDescriptorProto.json_name (protoc fills it: lowerCamelCase unless set). */
  readonly jsonName: string;
  readonly number: number;
  readonly type: FieldType;
  readonly repeated: boolean;
  /** Proto3 repeated scalars are packed unless `[packed = false]`. */
  readonly packed: boolean;
  /**
   * Presence is tracked: a singular proto2 field, a proto3 `optional` one, a oneof member or a
   * message; a proto3 scalar without these is "set" only when not its default.
   */
  readonly explicitPresence: boolean;
  /** For "message" and "group"; a map field's message is its MapEntry (key = 1, value = 2). */
  readonly message: MessageDescriptor | undefined;
  readonly enumType: EnumDescriptor | undefined;
  /** The real (not synthetic proto3-optional) oneof it belongs to, by its name. */
  readonly oneof: string | undefined;
  /** `map<K, V>`: repeated, and its message is a map entry. */
  readonly isMap: boolean;
}

export interface MessageDescriptor {
  /** Without the leading dot: "google.protobuf.Timestamp". */
  readonly fullName: string;
  readonly fields: readonly FieldDescriptor[];
  readonly mapEntry: boolean;
  /** By its .proto name or its JSON name (both are accepted in JSON and in bindings). */
  field(name: string): FieldDescriptor | undefined;
  fieldByNumber(number: number): FieldDescriptor | undefined;
}

/**
 * One google.api.HttpRule, additional_bindings flattened beside it (they may not nest).
 * `method` is GET, PUT, POST, DELETE or PATCH, or a `custom` rule's kind as written.
 */
export interface HttpRule {
  readonly method: string;
  /** The path template: "/v1/{name=shelves/*}/books". */
  readonly pattern: string;
  /** "" (no body), "*" (the whole message) or a top-level field's name. */
  readonly body: string;
  /** "" (the whole response message) or a top-level field's name. */
  readonly responseBody: string;
}

export interface MethodDescriptor {
  readonly name: string;
  /** The gRPC path it is called on: "/bookstore.Bookstore/GetShelf". */
  readonly grpcPath: string;
  readonly input: MessageDescriptor;
  readonly output: MessageDescriptor;
  readonly clientStreaming: boolean;
  readonly serverStreaming: boolean;
  /** The method's google.api.http option and its additional bindings, in order; empty without one. */
  readonly httpRules: readonly HttpRule[];
}

export interface ServiceDescriptor {
  readonly fullName: string;
  readonly methods: readonly MethodDescriptor[];
}

export interface DescriptorPool {
  service(fullName: string): ServiceDescriptor | undefined;
  message(fullName: string): MessageDescriptor | undefined;
}

/** One path variable or query parameter bound to a field of the request message. */
export interface FieldBinding {
  /** Field names from the request message down ("shelf", "book.author"): .proto or JSON names. */
  readonly fieldPath: readonly string[];
  /** The text as it came (already unescaped by the matcher's rules), parsed per the field's type. */
  readonly value: string;
}

/**
 * A request or response that cannot be transcoded. `unknownField`: a binding (a query
 * parameter) names no field, which ignore_unknown_query_parameters lets the filter skip.
 */
export class TranscodeError extends Error {
  constructor(
    message: string,
    readonly unknownField = false,
  ) {
    super(message);
  }
}

/** GrpcJsonTranscoder.PrintOptions, and case_insensitive_enum_parsing for the way in. */
export interface JsonPrintOptions {
  readonly addWhitespace: boolean;
  readonly alwaysPrintPrimitiveFields: boolean;
  readonly alwaysPrintEnumsAsInts: boolean;
  readonly preserveProtoFieldNames: boolean;
}

export interface JsonParseOptions {
  readonly caseInsensitiveEnumParsing: boolean;
  /** request_validation_options.reject_binding_body_field_collisions. */
  readonly rejectBindingBodyFieldCollisions: boolean;
}
