/**
 * Schema issues → problem lines that say what to do. A key the schema refuses is either
 * (a) an Envoy field polyvoy does not support yet, or (b) not a field of that Envoy
 * message at all (a typo: the closest field is offered), told apart by Envoy's own
 * protos (envoy-messages.ts) for the message the object is (proto-json.ts). An enum name
 * likewise; a number outside its range says so with the number. A check that fails only
 * because of a refused field (a oneof whose member was refused, a required field with an
 * unsupported alternative) is not reported on top of it.
 */
import type * as z from "./schema-kit/index.ts";
import { envoyEnumValues, envoyMessage, type NumberKind } from "./envoy-messages.ts";
import { formatPath, problemAt, type ConfigPath } from "./errors.ts";
import { valueAt, type ProtoTree } from "./proto-json.ts";
import { notAFieldMessage, notAValueMessage, outOfRangeMessage, quoteKey, unsupportedFieldMessage, unsupportedValueMessage } from "./refusal.ts";
import { REFUSED_FIELD, REFUSED_VALUE } from "./unsupported-field.ts";

export { SUPPORTED_FIELDS_DOC } from "./refusal.ts";

interface Problem {
  /** Where the issue is reported. */
  readonly at: ConfigPath;
  readonly text: string;
  /** A check that a refused field of the object at `at` (or of its parent) may have caused. */
  readonly knockOn?: "object" | "parent";
}

export function describeIssues(issues: readonly z.core.$ZodIssue[], proto: ProtoTree): string[] {
  const problems = issues.flatMap((issue) => describeIssue(issue, proto));
  const refused = new Set(issues.flatMap((issue) => (issue.code === "unrecognized_keys" ? [formatPath(issue.path)] : refusedField(issue) !== undefined ? [formatPath(issue.path.slice(0, -1))] : [])));
  // A oneof's "must set" follows only from a refused Envoy field (an alternative polyvoy does
  // not take), not from a key Envoy does not have either: a typo beside a missing member
  // leaves the member missing, and both are said.
  const refusedEnvoyField = new Set(
    issues.flatMap((issue) => {
      if (refusedField(issue) !== undefined) return [formatPath(issue.path.slice(0, -1))];
      if (issue.code !== "unrecognized_keys") return [];
      const message = messageOf(proto, issue.path as ConfigPath);
      const fields = message === undefined ? undefined : envoyMessage(message)?.fields;
      return fields === undefined || issue.keys.some((key) => fields.has(key)) ? [formatPath(issue.path)] : [];
    }),
  );
  return problems
    .filter((p) => {
      if (p.knockOn === "object") return !refusedEnvoyField.has(formatPath(p.at));
      if (p.knockOn === "parent") return !refused.has(formatPath(p.at.slice(0, -1)));
      return true;
    })
    .map((p) => p.text);
}

function describeIssue(issue: z.core.$ZodIssue, proto: ProtoTree): Problem[] {
  const at = issue.path as ConfigPath;
  const line = (text: string, knockOn?: Problem["knockOn"]): Problem => ({ at, text: problemAt(at, text), ...(knockOn ? { knockOn } : {}) });
  const why = refusedField(issue);
  const key = at[at.length - 1];
  if (why !== undefined && typeof key === "string") {
    // (a) said at the object holding the field, as for a key the schema does not have.
    const parent = at.slice(0, -1);
    return [{ at: parent, text: problemAt(parent, unsupportedFieldMessage(key, why === "" ? undefined : why)) }];
  }
  // A value refusal's message names the value already (unsupported-field.ts unsupportedValue).
  if (refusal(issue, REFUSED_VALUE) !== undefined) return [line(issue.message)];
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => line(unknownKey(key, messageOf(proto, at))));
    case "invalid_type":
      if (issue.input === undefined) return [line("missing required field", "parent")];
      if (issue.expected === "int" && typeof issue.input === "number") return [line(`expected an integer, got ${issue.input}`)];
      if (typeof issue.input === "string") {
        // A string the loader did not read as a number (proto-json.ts quotedNumber).
        const kind = numberKindOf(proto, at);
        if (kind !== undefined) return [line(notANumber(issue.input, kind))];
      }
      return [line(`expected ${issue.expected}, got ${typeName(issue.input)}`)];
    case "invalid_value":
      return [line(invalidValue(issue, enumOf(proto, at)))];
    case "too_small":
      if (issue.origin === "array") return [line(`must have at least ${issue.minimum} item${issue.minimum === 1 ? "" : "s"}`)];
      if (issue.origin === "string") return [line("must not be empty")];
      return [line(outOfRangeMessage(issue.input, `must be ${issue.inclusive ? ">=" : ">"} ${issue.minimum}`))];
    case "too_big":
      return [line(outOfRangeMessage(issue.input, `must be ${issue.inclusive ? "<=" : "<"} ${issue.maximum}`))];
    default:
      // oneof checks (proto-schema.ts oneOf): "must set one of" may be a refused member's
      // knock-on (a refused member leaves the oneof unset).
      return [line(oneLine(issue.message), /^must set (?!only )/.test(issue.message) ? "object" : undefined)];
  }
}

/** (a) or (b), or, where the Envoy message is not known, neither. */
function unknownKey(key: string, message: string | undefined): string {
  const fields = message === undefined ? undefined : envoyMessage(message)?.fields;
  if (fields === undefined) return `${quoteKey(key)} is not a field polyvoy supports here`;
  if (fields.has(key)) return unsupportedFieldMessage(key);
  return notAFieldMessage(key, message!, fields.keys());
}

/** The reason of an issue refusing the field at its path (unsupported-field.ts); "" for none given. */
function refusedField(issue: z.core.$ZodIssue): string | undefined {
  return refusal(issue, REFUSED_FIELD);
}

function refusal(issue: z.core.$ZodIssue, kind: string): string | undefined {
  if (issue.code !== "custom") return undefined;
  const why = (issue.params as Record<string, unknown> | undefined)?.[kind];
  return typeof why === "string" ? why : undefined;
}

function invalidValue(issue: z.core.$ZodIssueInvalidValue, enumType: string | undefined): string {
  const supported = issue.values.map(String).join(", ");
  const values = enumType === undefined ? undefined : envoyEnumValues(enumType);
  // A literal of a bool or number field (proto-schema.ts): one of Envoy's values that polyvoy takes only at some.
  if (values === undefined || typeof issue.input !== "string") return unsupportedValueMessage(JSON.stringify(issue.input), `supported: ${supported}`);
  if (values.includes(issue.input)) return unsupportedValueMessage(issue.input, `supported: ${supported}`);
  return notAValueMessage(issue.input, enumType!, issue.values.map(String), values);
}

/** The Envoy message of the object at `path`. */
function messageOf(proto: ProtoTree, path: ConfigPath): string | undefined {
  const value = valueAt(proto.tree, path);
  return typeof value === "object" && value !== null ? proto.messages.get(value) : undefined;
}

/** The enum type of the field at `path` (a value of a repeated field too), if it is an enum. */
function enumOf(proto: ProtoTree, path: ConfigPath): string | undefined {
  let end = path.length;
  while (end > 0 && typeof path[end - 1] === "number") end--;
  const name = path[end - 1];
  if (typeof name !== "string") return undefined;
  const message = messageOf(proto, path.slice(0, end - 1));
  const type = message === undefined ? undefined : envoyMessage(message)?.fields.get(name)?.type;
  return type !== undefined && envoyEnumValues(type) !== undefined ? type : undefined;
}

/** The number kind of the field at `path` (a value of a repeated or map field too), if it is a number. */
function numberKindOf(proto: ProtoTree, path: ConfigPath): NumberKind | undefined {
  for (let end = path.length; end > 0; end--) {
    const name = path[end - 1];
    if (typeof name !== "string") continue;
    const message = messageOf(proto, path.slice(0, end - 1));
    const field = message === undefined ? undefined : envoyMessage(message)?.fields.get(name);
    if (field !== undefined) return end === path.length || field.repeated || field.map ? field.number : undefined;
  }
  return undefined;
}

function notANumber(text: string, kind: NumberKind): string {
  const shown = JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
  if (kind !== "double" && /^-?\d+$/.test(text)) return `${shown} is out of range for a ${kind}`;
  return `${shown} is not a number (a ${kind === "double" ? "double" : kind}, given as a number or a string of one)`;
}

export function oneLine(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}
