/**
 * google.protobuf.FileDescriptorSet (google/protobuf/descriptor.proto) as the descriptors the
 * gRPC-JSON transcoder walks (descriptors.ts): the set `protoc --include_imports
 * --descriptor_set_out` writes. Read in two passes — every message and enum named first, then
 * fields' type names resolved across all files — so types may refer to each other in any
 * order and recursively. Decoded once per config; the lookup tables live on the descriptors.
 */
import { ProtoDecodeError, ProtoReader, WireType } from "../util/protobuf-wire.ts";
import { utf8DecodeStrict } from "../util/utf8.ts";
import {
  DescriptorError,
  type DescriptorPool,
  type EnumDescriptor,
  type FieldDescriptor,
  type FieldType,
  type HttpRule,
  type MessageDescriptor,
  type MethodDescriptor,
  type ServiceDescriptor,
} from "./descriptors.ts";

/** FieldDescriptorProto.Type's numbers (descriptor.proto: TYPE_DOUBLE = 1 … TYPE_SINT64 = 18). */
const FIELD_TYPES: readonly (FieldType | undefined)[] = [
  undefined,
  "double",
  "float",
  "int64",
  "uint64",
  "int32",
  "fixed64",
  "fixed32",
  "bool",
  "string",
  "group",
  "message",
  "bytes",
  "uint32",
  "enum",
  "sfixed32",
  "sfixed64",
  "sint32",
  "sint64",
];

/** FieldDescriptorProto.Label.LABEL_REPEATED. */
const LABEL_REPEATED = 3;
/** MethodOptions' extension `google.api.http` (google/api/annotations.proto). */
const HTTP_OPTION = 72295728;

/** The scalar types a repeated field may pack (protobuf.dev/programming-guides/encoding#packed). */
const PACKABLE = new Set<FieldType>([
  "double", "float", "int64", "uint64", "int32", "fixed64", "fixed32", "bool",
  "uint32", "enum", "sfixed32", "sfixed64", "sint32", "sint64",
]);

class Field implements FieldDescriptor {
  message: MessageDescriptor | undefined = undefined;
  enumType: EnumDescriptor | undefined = undefined;
  isMap = false;
  constructor(
    readonly name: string,
    readonly jsonName: string,
    readonly number: number,
    readonly type: FieldType,
    readonly repeated: boolean,
    readonly packed: boolean,
    readonly explicitPresence: boolean,
    readonly oneof: string | undefined,
  ) {}
}

/** A message type with its fields indexed by .proto name, JSON name and number. */
export class MessageType implements MessageDescriptor {
  readonly fields: Field[] = [];
  /** The real oneofs' names, in declaration order. */
  readonly oneofs: string[] = [];
  private readonly byName = new Map<string, Field>();
  private readonly byNumber = new Map<number, Field>();

  constructor(
    readonly fullName: string,
    readonly mapEntry: boolean,
  ) {}

  field(name: string): FieldDescriptor | undefined {
    return this.byName.get(name);
  }

  fieldByNumber(number: number): FieldDescriptor | undefined {
    return this.byNumber.get(number);
  }

  /** @internal descriptor-set.ts's second pass. */
  add(field: Field): void {
    this.fields.push(field);
    this.byNumber.set(field.number, field);
    // The .proto name wins over another field's JSON name (protobuf's FindFieldByName first).
    if (!this.byName.has(field.jsonName)) this.byName.set(field.jsonName, field);
    this.byName.set(field.name, field);
  }
}

class Pool implements DescriptorPool {
  readonly services = new Map<string, ServiceDescriptor>();
  readonly messages = new Map<string, MessageType>();
  readonly enums = new Map<string, EnumDescriptor>();

  service(fullName: string): ServiceDescriptor | undefined {
    return this.services.get(stripDot(fullName));
  }

  message(fullName: string): MessageDescriptor | undefined {
    return this.messages.get(stripDot(fullName));
  }
}

function stripDot(name: string): string {
  return name.startsWith(".") ? name.slice(1) : name;
}

/** protobuf's ToJsonName (descriptor.cc): underscores dropped, the letter after one upper-cased. */
export function lowerCamelCase(name: string): string {
  let out = "";
  let upper = false;
  for (const c of name) {
    if (c === "_") upper = true;
    else if (upper) {
      out += c.toUpperCase();
      upper = false;
    } else out += c;
  }
  return out;
}

// ---- the raw descriptor protos, as read ----

interface RawField {
  name: string;
  number: number;
  label: number;
  type: number;
  typeName: string;
  jsonName: string | undefined;
  oneofIndex: number | undefined;
  proto3Optional: boolean;
  packedOption: boolean | undefined;
}

interface RawMessage {
  fullName: string;
  fields: RawField[];
  oneofs: string[];
  mapEntry: boolean;
  proto3: boolean;
}

interface RawMethod {
  name: string;
  inputType: string;
  outputType: string;
  clientStreaming: boolean;
  serverStreaming: boolean;
  httpRules: HttpRule[];
  /** An additional_bindings rule had additional_bindings of its own. */
  nestedBindings: boolean;
}

interface Reading {
  messages: RawMessage[];
  enums: EnumDescriptor[];
  services: { fullName: string; methods: RawMethod[] }[];
}

function text(reader: ProtoReader): string {
  const value = utf8DecodeStrict(reader.lengthDelimited());
  if (value === undefined) throw new ProtoDecodeError(`field ${reader.field}: a string that is not UTF-8`);
  return value;
}

function varint(reader: ProtoReader): number {
  if (reader.wire !== WireType.Varint) throw new ProtoDecodeError(`field ${reader.field}: wire type ${reader.wire}, expected 0`);
  return Number(BigInt.asIntN(32, reader.varint64()));
}

/**
 * Decodes a FileDescriptorSet. Throws DescriptorError for bytes that are not one, and for a
 * descriptor set that cannot be used (a type name found in no file, an http rule without a
 * pattern).
 */
export function decodeDescriptorSet(bytes: Uint8Array): DescriptorPool {
  const reading: Reading = { messages: [], enums: [], services: [] };
  try {
    // FileDescriptorSet { repeated FileDescriptorProto file = 1; }
    const set = new ProtoReader(bytes);
    let files = 0;
    while (set.next()) {
      if (set.field === 1) {
        readFile(set.lengthDelimited(), reading);
        files++;
      } else set.skip();
    }
    if (files === 0) throw new DescriptorError("not a FileDescriptorSet: it holds no file (make it with protoc --include_imports --descriptor_set_out)");
  } catch (error) {
    if (error instanceof ProtoDecodeError) {
      throw new DescriptorError(`not a FileDescriptorSet (make it with protoc --include_imports --descriptor_set_out): ${error.message}`);
    }
    throw error;
  }
  return link(reading);
}

/** FileDescriptorProto: package = 2, message_type = 4, enum_type = 5, service = 6, syntax = 12. */
function readFile(bytes: Uint8Array, reading: Reading): void {
  let name = "";
  let pkg = "";
  let syntax = "";
  const messages: Uint8Array[] = [];
  const enums: Uint8Array[] = [];
  const services: Uint8Array[] = [];
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    switch (reader.field) {
      case 1:
        name = text(reader);
        break;
      case 2:
        pkg = text(reader);
        break;
      case 4:
        messages.push(reader.lengthDelimited());
        break;
      case 5:
        enums.push(reader.lengthDelimited());
        break;
      case 6:
        services.push(reader.lengthDelimited());
        break;
      case 12:
        syntax = text(reader);
        break;
      default:
        reader.skip();
    }
  }
  // "" is proto2 (descriptor.proto: "The syntax of the proto file. The supported values are "proto2" and "proto3"").
  if (syntax !== "" && syntax !== "proto2" && syntax !== "proto3") {
    throw new DescriptorError(`${name}: syntax "${syntax}" is not supported (proto2 and proto3 are)`);
  }
  const scope = pkg === "" ? "" : `${pkg}.`;
  for (const m of messages) readMessage(m, scope, syntax === "proto3", reading);
  for (const e of enums) reading.enums.push(readEnum(e, scope));
  for (const s of services) reading.services.push(readService(s, scope));
}

/**
 * DescriptorProto: name = 1, field = 2, nested_type = 3, enum_type = 4, options = 7
 * (MessageOptions.map_entry = 7), oneof_decl = 8 (OneofDescriptorProto.name = 1).
 */
function readMessage(bytes: Uint8Array, scope: string, proto3: boolean, reading: Reading): void {
  const raw: RawMessage = { fullName: "", fields: [], oneofs: [], mapEntry: false, proto3 };
  const nested: Uint8Array[] = [];
  const enums: Uint8Array[] = [];
  let name = "";
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    switch (reader.field) {
      case 1:
        name = text(reader);
        break;
      case 2:
        raw.fields.push(readField(reader.lengthDelimited()));
        break;
      case 3:
        nested.push(reader.lengthDelimited());
        break;
      case 4:
        enums.push(reader.lengthDelimited());
        break;
      case 7: {
        const options = new ProtoReader(reader.lengthDelimited());
        while (options.next()) {
          if (options.field === 7) raw.mapEntry = varint(options) !== 0;
          else options.skip();
        }
        break;
      }
      case 8: {
        const oneof = new ProtoReader(reader.lengthDelimited());
        let oneofName = "";
        while (oneof.next()) {
          if (oneof.field === 1) oneofName = text(oneof);
          else oneof.skip();
        }
        raw.oneofs.push(oneofName);
        break;
      }
      default:
        reader.skip();
    }
  }
  raw.fullName = scope + name;
  reading.messages.push(raw);
  for (const m of nested) readMessage(m, `${raw.fullName}.`, proto3, reading);
  for (const e of enums) reading.enums.push(readEnum(e, `${raw.fullName}.`));
}

/**
 * FieldDescriptorProto: name = 1, number = 3, label = 4, type = 5, type_name = 6,
 * options = 8 (FieldOptions.packed = 2), oneof_index = 9, json_name = 10, proto3_optional = 17.
 */
function readField(bytes: Uint8Array): RawField {
  const raw: RawField = {
    name: "",
    number: 0,
    label: 1,
    type: 0,
    typeName: "",
    jsonName: undefined,
    oneofIndex: undefined,
    proto3Optional: false,
    packedOption: undefined,
  };
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    switch (reader.field) {
      case 1:
        raw.name = text(reader);
        break;
      case 3:
        raw.number = varint(reader);
        break;
      case 4:
        raw.label = varint(reader);
        break;
      case 5:
        raw.type = varint(reader);
        break;
      case 6:
        raw.typeName = text(reader);
        break;
      case 8: {
        const options = new ProtoReader(reader.lengthDelimited());
        while (options.next()) {
          if (options.field === 2) raw.packedOption = varint(options) !== 0;
          else options.skip();
        }
        break;
      }
      case 9:
        raw.oneofIndex = varint(reader);
        break;
      case 10:
        raw.jsonName = text(reader);
        break;
      case 17:
        raw.proto3Optional = varint(reader) !== 0;
        break;
      default:
        reader.skip();
    }
  }
  return raw;
}

/** EnumDescriptorProto: name = 1, value = 2 (EnumValueDescriptorProto: name = 1, number = 2). */
function readEnum(bytes: Uint8Array, scope: string): EnumDescriptor {
  let name = "";
  const values: { name: string; number: number }[] = [];
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    if (reader.field === 1) name = text(reader);
    else if (reader.field === 2) {
      const value = new ProtoReader(reader.lengthDelimited());
      let valueName = "";
      let number = 0;
      while (value.next()) {
        if (value.field === 1) valueName = text(value);
        else if (value.field === 2) number = varint(value);
        else value.skip();
      }
      values.push({ name: valueName, number });
    } else reader.skip();
  }
  return { fullName: scope + name, values };
}

/** ServiceDescriptorProto: name = 1, method = 2. */
function readService(bytes: Uint8Array, scope: string): { fullName: string; methods: RawMethod[] } {
  let name = "";
  const methods: RawMethod[] = [];
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    if (reader.field === 1) name = text(reader);
    else if (reader.field === 2) methods.push(readMethod(reader.lengthDelimited()));
    else reader.skip();
  }
  const fullName = scope + name;
  for (const method of methods) {
    if (method.nestedBindings) {
      throw new DescriptorError(
        `${fullName}.${method.name}: an additional_bindings rule has additional_bindings of its own (google/api/http.proto: the nesting may only be one level deep)`,
      );
    }
    for (const rule of method.httpRules) {
      if (rule.pattern === "") throw new DescriptorError(`${fullName}.${method.name}: its google.api.http rule sets no pattern (get, put, post, delete, patch or custom)`);
    }
  }
  return { fullName, methods };
}

/**
 * MethodDescriptorProto: name = 1, input_type = 2, output_type = 3, options = 4,
 * client_streaming = 5, server_streaming = 6.
 */
function readMethod(bytes: Uint8Array): RawMethod {
  const raw: RawMethod = { name: "", inputType: "", outputType: "", clientStreaming: false, serverStreaming: false, httpRules: [], nestedBindings: false };
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    switch (reader.field) {
      case 1:
        raw.name = text(reader);
        break;
      case 2:
        raw.inputType = text(reader);
        break;
      case 3:
        raw.outputType = text(reader);
        break;
      case 4: {
        const options = new ProtoReader(reader.lengthDelimited());
        while (options.next()) {
          if (options.field === HTTP_OPTION && options.wire === WireType.Len) readHttpRule(options.lengthDelimited(), raw, true);
          else options.skip();
        }
        break;
      }
      case 5:
        raw.clientStreaming = varint(reader) !== 0;
        break;
      case 6:
        raw.serverStreaming = varint(reader) !== 0;
        break;
      default:
        reader.skip();
    }
  }
  return raw;
}

/**
 * google.api.HttpRule (google/api/http.proto): get = 2, put = 3, post = 4, delete = 5,
 * patch = 6, body = 7, custom = 8 (CustomHttpPattern: kind = 1, path = 2),
 * additional_bindings = 11, response_body = 12. The rule first, then its additional
 * bindings, which may not have their own ("the nesting may only be one level deep").
 */
function readHttpRule(bytes: Uint8Array, method: RawMethod, top: boolean): void {
  let verb = "";
  let pattern = "";
  let body = "";
  let responseBody = "";
  const additional: Uint8Array[] = [];
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    switch (reader.field) {
      case 2:
      case 3:
      case 4:
      case 5:
      case 6:
        verb = (["GET", "PUT", "POST", "DELETE", "PATCH"] as const)[reader.field - 2]!;
        pattern = text(reader);
        break;
      case 7:
        body = text(reader);
        break;
      case 8: {
        const custom = new ProtoReader(reader.lengthDelimited());
        verb = "";
        pattern = "";
        while (custom.next()) {
          if (custom.field === 1) verb = text(custom);
          else if (custom.field === 2) pattern = text(custom);
          else custom.skip();
        }
        break;
      }
      case 11:
        if (!top) method.nestedBindings = true;
        additional.push(reader.lengthDelimited());
        break;
      case 12:
        responseBody = text(reader);
        break;
      default:
        reader.skip();
    }
  }
  method.httpRules.push({ method: verb, pattern, body, responseBody });
  for (const rule of additional) readHttpRule(rule, method, false);
}

// ---- the second pass: names resolved ----

function link(reading: Reading): DescriptorPool {
  const pool = new Pool();
  for (const raw of reading.messages) pool.messages.set(raw.fullName, new MessageType(raw.fullName, raw.mapEntry));
  for (const e of reading.enums) pool.enums.set(e.fullName, e);
  for (const raw of reading.messages) {
    const message = pool.messages.get(raw.fullName)!;
    // Synthetic oneofs (one per proto3 `optional` field) are not real ones (descriptor.proto, proto3_optional).
    const synthetic = new Set<number>();
    for (const f of raw.fields) if (f.proto3Optional && f.oneofIndex !== undefined) synthetic.add(f.oneofIndex);
    raw.oneofs.forEach((name, i) => {
      if (!synthetic.has(i)) message.oneofs.push(name);
    });
    for (const f of raw.fields) message.add(linkField(pool, raw, f));
  }
  for (const s of reading.services) {
    const methods: MethodDescriptor[] = s.methods.map((m) => ({
      name: m.name,
      grpcPath: `/${s.fullName}/${m.name}`,
      input: resolveMethodType(pool, s.fullName, m, m.inputType, "input_type"),
      output: resolveMethodType(pool, s.fullName, m, m.outputType, "output_type"),
      clientStreaming: m.clientStreaming,
      serverStreaming: m.serverStreaming,
      httpRules: m.httpRules,
    }));
    pool.services.set(s.fullName, { fullName: s.fullName, methods });
  }
  return pool;
}

function linkField(pool: Pool, raw: RawMessage, f: RawField): Field {
  const where = `field "${f.name}" of message ${raw.fullName}`;
  const type = FIELD_TYPES[f.type];
  if (type === undefined) throw new DescriptorError(`${where}: unknown type ${f.type}`);
  const repeated = f.label === LABEL_REPEATED;
  const packed = repeated && PACKABLE.has(type) && (f.packedOption ?? raw.proto3);
  const realOneof = f.oneofIndex !== undefined && !f.proto3Optional ? raw.oneofs[f.oneofIndex] : undefined;
  if (f.oneofIndex !== undefined && !f.proto3Optional && realOneof === undefined) {
    throw new DescriptorError(`${where}: oneof_index ${f.oneofIndex} names no oneof`);
  }
  const explicitPresence = !repeated && (!raw.proto3 || f.proto3Optional || realOneof !== undefined || type === "message" || type === "group");
  const field = new Field(f.name, f.jsonName ?? lowerCamelCase(f.name), f.number, type, repeated, packed, explicitPresence, realOneof);
  if (type === "message" || type === "group") {
    const message = pool.messages.get(stripDot(f.typeName));
    if (message === undefined) throw new DescriptorError(`${where}: type "${f.typeName}" is in no file of the descriptor set (was it made with --include_imports?)`);
    field.message = message;
    field.isMap = repeated && message.mapEntry;
  } else if (type === "enum") {
    const enumType = pool.enums.get(stripDot(f.typeName));
    if (enumType === undefined) throw new DescriptorError(`${where}: enum "${f.typeName}" is in no file of the descriptor set (was it made with --include_imports?)`);
    field.enumType = enumType;
  }
  return field;
}

function resolveMethodType(pool: Pool, service: string, method: RawMethod, name: string, which: string): MessageDescriptor {
  const message = pool.messages.get(stripDot(name));
  if (message === undefined) {
    throw new DescriptorError(`method ${service}.${method.name}: ${which} "${name}" is in no file of the descriptor set (was it made with --include_imports?)`);
  }
  return message;
}
