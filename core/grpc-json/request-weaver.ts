/**
 * Path variables and query parameters woven into a request message, as grpc-httpjson-
 * transcoding's request_weaver.cc weaves them into the body's: each value's text read by its
 * field's type, through nested messages (made as needed); a repeated field appended to; a
 * singular field the body already set (under its .proto name, which is what the weaver
 * matches) keeps the body's value, or with reject_binding_body_field_collisions a different
 * value is an error.
 */
import { TranscodeError, type FieldBinding, type FieldDescriptor } from "./descriptors.ts";
import { join, parseMessageInto, scalar, type Context } from "./json-reader.ts";
import { MessageNode, setField, type FieldValue } from "./message-tree.ts";
import { wellKnown } from "./well-known.ts";

/** A binding's text as the value of a message-typed field: the WKTs with a string form. */
const BINDABLE_MESSAGES = new Set(["Wrapper", "Timestamp", "Duration", "FieldMask"]);

export function applyBinding(ctx: Context, root: MessageNode, binding: FieldBinding): void {
  let node = root;
  let path = "";
  // Past a message the body spelled with its JSON name, request_weaver.cc no longer matches
  // names: its bindings are written after the body and win.
  let weaverMatches = true;
  const names = binding.fieldPath;
  if (names.length === 0) throw new TranscodeError("a binding names no field");
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const field = node.type.field(name);
    if (field === undefined) {
      throw new TranscodeError(`Could not find field "${name}" in the type "${node.type.fullName}".`, true);
    }
    path = join(path, field.name);
    const last = i === names.length - 1;
    if (!last) {
      if (field.type !== "message" || field.repeated || wellKnown(field.message!.fullName) !== undefined) {
        throw new TranscodeError(`${path}: a binding may only go through singular message fields; "${field.name}" is not one`);
      }
      let child = node.values.get(field.number);
      if (!(child instanceof MessageNode)) {
        child = new MessageNode(field.message!);
        setField(node, field, child, path);
      } else if (!node.protoNamed.has(field.number)) weaverMatches = false;
      node = child;
      continue;
    }
    if (field.isMap) throw new TranscodeError(`${path}: a binding cannot set a map field`);
    let value: FieldValue;
    if (field.type === "message") {
      const kind = wellKnown(field.message!.fullName);
      if (kind === undefined || !BINDABLE_MESSAGES.has(kind)) {
        throw new TranscodeError(`${path}: a binding cannot set a message field of type ${field.message!.fullName}`);
      }
      const child = new MessageNode(field.message!);
      parseMessageInto(ctx, child, binding.value, path, 1, field.name);
      value = child;
    } else value = scalar(ctx, field, binding.value, path);
    if (field.repeated) {
      setField(node, field, [value], path);
      return;
    }
    const inBody = node.values.get(field.number);
    if (inBody !== undefined && weaverMatches && node.protoNamed.has(field.number)) {
      // request_weaver.cc CollisionCheck: the body's value stays; reject_binding_body_field_collisions
      // makes a different value an error.
      if (ctx.options.rejectBindingBodyFieldCollisions && !sameValue(field, inBody as FieldValue, value)) {
        throw new TranscodeError(
          `The binding value ${binding.value} of the field ${field.name} is conflicting with the value ${shownBody(inBody as FieldValue)} in the body.`,
        );
      }
      return;
    }
    setField(node, field, value, path);
  }
}

/** request_weaver.cc isEqual: floats within 32 ε, scalars exactly; messages are never a conflict. */
function sameValue(field: FieldDescriptor, a: FieldValue, b: FieldValue): boolean {
  if (a instanceof MessageNode || b instanceof MessageNode) return true;
  if (field.type === "float" || field.type === "double") return Math.abs((a as number) - (b as number)) < 32 * 1.1920928955078125e-7;
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  return a === b;
}

function shownBody(value: FieldValue): string {
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  return value instanceof MessageNode ? "{…}" : String(value);
}

