/**
 * The config error taxonomy (issue #25): every refusal line is one of these, worded the
 * same wherever it is made —
 *   (a) an Envoy field or value polyvoy does not support yet, with why or where the
 *       supported list lives;
 *   (b) not a field (or value) of that Envoy message, with the closest one offered;
 *   (c) a number out of its range;
 *   (d) a reference to something that is not defined.
 * Refusals by extension name (missing-extension.ts, user-filter-schema.ts) say what the
 * extension is and what to do instead.
 */
import { didYouMean } from "./did-you-mean.ts";

/** Where the user is told which fields polyvoy supports. */
export const SUPPORTED_FIELDS_DOC = "docs/configuration.md";

/** (a) `key` is an Envoy field polyvoy does not implement: why, or where the supported fields are listed. */
export function unsupportedFieldMessage(key: string, why?: string): string {
  return `${quoteKey(key)} is an Envoy field that polyvoy does not support yet (${why ?? `supported fields: ${SUPPORTED_FIELDS_DOC}`})`;
}

/** (a) `value` is one of Envoy's values polyvoy does not implement; `detail` is "supported: …" and/or why. */
export function unsupportedValueMessage(value: string, detail: string): string {
  return `${value} is an Envoy value that polyvoy does not support yet (${detail})`;
}

/**
 * (a) or (b) for an extension or enum named by a string: an Envoy name (`envoy.…`, or a
 * type URL of Envoy's API) polyvoy lacks is (a); anything else is not a name Envoy has (b).
 * `why` (what polyvoy lacks for it) stands in for the supported list; `shown` is that list as
 * written in the line, when the names are too long for it.
 */
export function unsupportedNameMessage(what: string, name: string, supported: readonly string[], why?: string, shown: string = supported.join(", ")): string {
  const list = `supported: ${shown}`;
  if (/^(?:type\.googleapis\.com\/)?envoy\./.test(name)) return `${name} is an Envoy ${what} that polyvoy does not support yet (${why ?? list})`;
  return `"${name}" is not an Envoy ${what} (${list})${didYouMean(name, supported)}`;
}

/** (b) `key` is not a field of the Envoy message `message`; the closest of `fields` is offered. */
export function notAFieldMessage(key: string, message: string, fields: Iterable<string>): string {
  return `${quoteKey(key)} is not a field of ${message}${didYouMean(key, fields)}`;
}

/** (b) `value` is not a value of the Envoy enum `enumType`. */
export function notAValueMessage(value: unknown, enumType: string, supported: readonly string[], values: readonly string[]): string {
  return `${JSON.stringify(value)} is not a value of ${enumType} (supported: ${supported.join(", ")})${typeof value === "string" ? didYouMean(value, values) : ""}`;
}

/** (c) a number outside its range (`bound`: "must be <= 65535"). */
export function outOfRangeMessage(input: unknown, bound: string): string {
  return typeof input === "number" ? `${input} is out of range (${bound})` : bound;
}

/** (d) a reference to a `what` named `name` that is not defined; the closest defined name is offered. */
export function missingReferenceMessage(what: string, name: string, defined: Iterable<string>): string {
  return `no ${what} named "${name}" is defined${didYouMean(name, defined, (s) => `"${s}"`)}`;
}

/**
 * A key as the user wrote it, in backticks; one that could not be a field name (a YAML
 * complex key is one, stringified) as a JSON string, cut short, so the problem stays one line.
 */
export function quoteKey(key: string): string {
  if (/^[\w@.\-]{1,100}$/.test(key)) return `\`${key}\``;
  const quoted = JSON.stringify(key);
  return quoted.length > 60 ? `${quoted.slice(0, 60)}…` : quoted;
}
