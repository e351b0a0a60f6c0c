/**
 * An enum's values by name and by number, built once per enum type (the codec looks one up
 * for every enum value it reads or prints).
 */
import type { EnumDescriptor } from "./descriptors.ts";

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
