/**
 * Lookup tables the gRPC-JSON codec uses on every message, built once per type and kept
 * beside the descriptor: an enum's values by name and by number, a message's fields in
 * number order (the order both directions write them in).
 */
import type { EnumDescriptor, FieldDescriptor, MessageDescriptor } from "./descriptors.ts";

export interface EnumIndex {
  readonly byName: ReadonlyMap<string, number>;
  readonly byNumber: ReadonlyMap<number, string>;
}

const indexes = new WeakMap<EnumDescriptor, EnumIndex>();

export function enumIndex(type: EnumDescriptor): EnumIndex {
  let index = indexes.get(type);
  if (index === undefined) {
    const byName = new Map<string, number>();
    const byNumber = new Map<number, string>();
    for (const v of type.values) {
      byName.set(v.name, v.number);
      // With allow_alias, the first name of a number is the one printed.
      if (!byNumber.has(v.number)) byNumber.set(v.number, v.name);
    }
    index = { byName, byNumber };
    indexes.set(type, index);
  }
  return index;
}

const byNumberCache = new WeakMap<MessageDescriptor, readonly FieldDescriptor[]>();

/** A message's fields in number order (canonical output), sorted once per type. */
export function fieldsByNumber(type: MessageDescriptor): readonly FieldDescriptor[] {
  let fields = byNumberCache.get(type);
  if (fields === undefined) {
    fields = [...type.fields].sort((a, b) => a.number - b.number);
    byNumberCache.set(type, fields);
  }
  return fields;
}
