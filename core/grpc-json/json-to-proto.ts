/**
 * JSON to protobuf for the gRPC-JSON transcoder's requests, as Envoy's transcoder
 * (grpc-httpjson-transcoding: json_request_translator.cc, request_message_translator.cc)
 * makes them: the body's JSON read into the message (json-reader.ts), the path variables and
 * query parameters woven in (request-weaver.ts), the result written in canonical form
 * (message-tree.ts).
 */
import { TranscodeError, type DescriptorPool, type FieldBinding, type JsonParseOptions, type MessageDescriptor } from "./descriptors.ts";
import { parseField, parseMessageInto, type Context } from "./json-reader.ts";
import { MessageNode, setField, writeMessage } from "./message-tree.ts";
import { applyBinding } from "./request-weaver.ts";

/**
 * A request message from its HTTP request: the body's JSON (`field` "*" the whole message, or
 * a top-level field's name: its value), then each binding woven in as request_weaver.cc does —
 * a repeated field appended to, a singular one the body already set left as the body has it
 * (or an error when reject_binding_body_field_collisions and the values differ).
 */
export function encodeRequestMessage(
  pool: DescriptorPool,
  message: MessageDescriptor,
  body: { readonly json: unknown; readonly field: string } | undefined,
  bindings: readonly FieldBinding[],
  options: JsonParseOptions,
): Uint8Array {
  const ctx: Context = { pool, options, root: message };
  const root = new MessageNode(message);
  if (body !== undefined) {
    if (body.field === "*") parseMessageInto(ctx, root, body.json, "", 0);
    else {
      const field = message.field(body.field);
      if (field === undefined) throw new TranscodeError(`the http rule's body "${body.field}" names no field of ${message.fullName}`);
      if (body.json !== null) setField(root, field, parseField(ctx, field, body.json, field.name, 0, field.name), field.name);
      root.protoNamed.add(field.number);
    }
  }
  for (const binding of bindings) applyBinding(ctx, root, binding);
  return writeMessage(root);
}

/** One message from its JSON (an element of a streamed JSON array). */
export function encodeMessage(pool: DescriptorPool, message: MessageDescriptor, json: unknown, options: JsonParseOptions): Uint8Array {
  const root = new MessageNode(message);
  parseMessageInto({ pool, options, root: message }, root, json, "", 0);
  return writeMessage(root);
}
