/**
 * `--config-yaml` given with `-c`: Envoy loads both and merges the inline one over the file,
 * `bootstrap.MergeFrom(bootstrap_override)` (source/server/server.cc, loadBootstrapConfig).
 * On the trees readProtoTree made (field names canonical, each message object known), as
 * protobuf's MergeFrom does: a message field present in both is merged field by field; a
 * repeated field gets the override's items after the file's; a map (and a Struct's fields)
 * takes the override's entries by key; anything else — scalars, enums, durations, an `Any`
 * (its type_url and value bytes are scalars to MergeFrom) — is replaced.
 * A oneof member the override sets clears the file's other members of that oneof, as
 * protobuf's generated setters do (the same member, a message, is merged as any field).
 * Unlike protobuf, a scalar the override gives at its default value ("", 0, false) still
 * replaces (the tree cannot tell it from one given).
 */
import { ANY, envoyMessage } from "./envoy-messages.ts";

const STRUCT = "google.protobuf.Struct";

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * `target[key] = value` as an own property whatever the key: an override's `__proto__` key
 * stays a key (which the schema refuses, as it does in the file) instead of setting the
 * prototype of a message object.
 */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

/** Merges `override` into `base` (changed in place, and returned); `messages` knows both trees' message objects. */
export function mergeOverride(base: Record<string, unknown>, override: Record<string, unknown>, messages: WeakMap<object, string>): Record<string, unknown> {
  const typeName = messages.get(base);
  const message = typeName === undefined ? undefined : envoyMessage(typeName);
  for (const key of Object.keys(override)) {
    const from = override[key];
    const into = base[key];
    const field = message?.fields.get(key);
    if (field?.oneof !== undefined) {
      for (const member of field.oneof) if (member !== key && Object.hasOwn(base, member)) delete base[member];
    }
    if (field === undefined || into === undefined) {
      setOwn(base, key, from);
    } else if (Array.isArray(into) && Array.isArray(from)) {
      setOwn(base, key, [...into, ...from]);
    } else if (isObject(into) && isObject(from) && (field.map || field.type === STRUCT)) {
      setOwn(base, key, { ...into, ...from });
    } else if (isObject(into) && isObject(from) && field.type !== ANY && messages.has(into) && messages.has(from)) {
      setOwn(base, key, mergeOverride(into, from, messages));
    } else {
      setOwn(base, key, from);
    }
  }
  return base;
}
