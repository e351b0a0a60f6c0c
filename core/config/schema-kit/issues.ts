/**
 * The issues a parse reports, in zod 4.6's shapes and English wording (zod's
 * v4/core/util.js finalizeIssue, v4/locales/en.js): describe-issues.ts turns them into the
 * user's problem lines, and the unit tests pin those lines. Only the issue kinds the config
 * schemas can raise are worded; zod's other locales and formats are not carried.
 */

export type PropertyKey = string | number | symbol;

interface IssueBase {
  readonly code?: string;
  readonly input?: unknown;
  readonly path: PropertyKey[];
  readonly message: string;
}

export interface $ZodIssueInvalidType extends IssueBase {
  readonly code: "invalid_type";
  readonly expected: string;
}
export interface $ZodIssueTooBig extends IssueBase {
  readonly code: "too_big";
  readonly origin: string;
  readonly maximum: number | bigint;
  readonly inclusive?: boolean;
  readonly exact?: boolean;
}
export interface $ZodIssueTooSmall extends IssueBase {
  readonly code: "too_small";
  readonly origin: string;
  readonly minimum: number | bigint;
  readonly inclusive?: boolean;
  readonly exact?: boolean;
}
export interface $ZodIssueInvalidStringFormat extends IssueBase {
  readonly code: "invalid_format";
  readonly format: string;
  readonly pattern?: string;
}
export interface $ZodIssueNotMultipleOf extends IssueBase {
  readonly code: "not_multiple_of";
  readonly divisor: number;
}
export interface $ZodIssueUnrecognizedKeys extends IssueBase {
  readonly code: "unrecognized_keys";
  readonly keys: string[];
}
export interface $ZodIssueInvalidUnion extends IssueBase {
  readonly code: "invalid_union";
  readonly errors: $ZodIssue[][];
}
export interface $ZodIssueInvalidKey extends IssueBase {
  readonly code: "invalid_key";
  readonly origin: "map" | "record";
  readonly issues: $ZodIssue[];
}
export interface $ZodIssueInvalidElement extends IssueBase {
  readonly code: "invalid_element";
  readonly origin: "map" | "set";
  readonly key: unknown;
  readonly issues: $ZodIssue[];
}
export interface $ZodIssueInvalidValue extends IssueBase {
  readonly code: "invalid_value";
  readonly values: readonly unknown[];
}
export interface $ZodIssueCustom extends IssueBase {
  readonly code: "custom";
  readonly params?: Record<string, unknown> | undefined;
}

/** A finalized issue: what safeParse's error holds. */
export type $ZodIssue =
  | $ZodIssueInvalidType
  | $ZodIssueTooBig
  | $ZodIssueTooSmall
  | $ZodIssueInvalidStringFormat
  | $ZodIssueNotMultipleOf
  | $ZodIssueUnrecognizedKeys
  | $ZodIssueInvalidUnion
  | $ZodIssueInvalidKey
  | $ZodIssueInvalidElement
  | $ZodIssueInvalidValue
  | $ZodIssueCustom;

type RawOf<T> = T extends unknown ? Omit<T, "message" | "path"> & { path?: PropertyKey[] | undefined; message?: string | undefined; inst?: unknown; continue?: boolean | undefined } : never;

/** An issue as a check raises it (zod's $ZodRawIssue): path and message are filled in later. */
export type $ZodRawIssue = RawOf<$ZodIssue> & Record<string, unknown>;

/** What a schema's `error` param turns into (zod's normalizeParams). */
export type ErrorMap = (issue: RawIssue) => string | { message: string } | undefined | null;

/** The mutable issue a parse accumulates. */
export interface RawIssue {
  code?: string;
  path?: PropertyKey[];
  message?: string;
  input?: unknown;
  /** What raised it: a schema or a check (whose def.error words it first). */
  inst?: IssueSource;
  /** The schema whose checks ran the check that raised it. */
  schema?: IssueSource;
  /** true: later checks still run (zod's `continue`). */
  continue?: boolean;
  [key: string]: unknown;
}

export interface IssueSource {
  readonly def: { readonly error?: ErrorMap | undefined };
}

export interface ParsePayload {
  value: unknown;
  issues: RawIssue[];
  aborted?: boolean;
}

export interface ParseContext {
  readonly reportInput?: boolean | undefined;
}

/** zod's util.aborted: an issue that does not let later checks run. */
export function aborted(payload: ParsePayload, start = 0): boolean {
  if (payload.aborted === true) return true;
  for (let i = start; i < payload.issues.length; i++) if (payload.issues[i]?.continue !== true) return true;
  return false;
}

/** zod's util.explicitlyAborted: only `continue: false` counts. */
export function explicitlyAborted(payload: ParsePayload, start = 0): boolean {
  if (payload.aborted === true) return true;
  for (let i = start; i < payload.issues.length; i++) if (payload.issues[i]?.continue === false) return true;
  return false;
}

export function prefixIssues(key: PropertyKey, issues: RawIssue[]): RawIssue[] {
  for (const issue of issues) (issue.path ??= []).unshift(key);
  return issues;
}

function unwrap(message: string | { message: string } | undefined | null): string | undefined {
  return typeof message === "string" ? message : (message?.message ?? undefined);
}

/** zod's finalizeIssue: the raiser's own words, else its owner's, else English; `input` only when asked for. */
export function finalizeIssue(issue: RawIssue, ctx: ParseContext | undefined): $ZodIssue {
  const owner = issue.schema !== issue.inst ? issue.schema?.def.error : undefined;
  const message = issue.message ? issue.message : (unwrap(issue.inst?.def.error?.(issue)) ?? unwrap(owner?.(issue)) ?? englishMessage(issue));
  const full: Record<string, unknown> = {};
  for (const key of Object.keys(issue)) {
    if (key === "inst" || key === "schema" || key === "continue" || key === "input" || key === "__proto__") continue;
    full[key] = issue[key];
  }
  full.path ??= [];
  full.message = message;
  if (ctx?.reportInput) full.input = issue.input;
  return full as unknown as $ZodIssue;
}

export function stringifyPrimitive(value: unknown): string {
  if (typeof value === "bigint") return `${value.toString()}n`;
  if (typeof value === "string") return `"${value}"`;
  return `${String(value)}`;
}

function joinValues(values: readonly unknown[], separator: string): string {
  return values.map(stringifyPrimitive).join(separator);
}

/** zod's util.parsedType: how en.js names what it received. */
function parsedType(data: unknown): string {
  const t = typeof data;
  if (t === "number") return Number.isNaN(data) ? "nan" : "number";
  if (t === "object") {
    if (data === null) return "null";
    if (Array.isArray(data)) return "array";
    const object = data as { constructor?: { name?: string } };
    if (Object.getPrototypeOf(object) !== Object.prototype && "constructor" in object && object.constructor) return String(object.constructor.name);
  }
  return t;
}

function typeName(type: string, input?: unknown): string {
  if (type === "number" && typeof input === "number" && !Number.isFinite(input)) return String(input);
  return type === "nan" ? "NaN" : type;
}

const SIZING: Record<string, string> = { string: "characters", file: "bytes", array: "items", set: "items", map: "entries" };
const FORMATS: Record<string, string> = { regex: "input", ipv4: "IPv4 address", ipv6: "IPv6 address" };

/** zod's v4/locales/en.js, for the issue kinds the kit raises. */
function englishMessage(issue: RawIssue): string {
  const i = issue as Record<string, any>;
  switch (issue.code) {
    case "invalid_type":
      return `Invalid input: expected ${typeName(i.expected)}, received ${typeName(parsedType(i.input), i.input)}`;
    case "invalid_value":
      if (i.values.length === 1) return `Invalid input: expected ${stringifyPrimitive(i.values[0])}`;
      return `Invalid option: expected one of ${joinValues(i.values, "|")}`;
    case "too_big": {
      const adj = i.exact ? "exactly " : i.inclusive ? "<=" : "<";
      const unit = SIZING[i.origin];
      if (unit) return `Too big: expected ${i.origin ?? "value"} to have ${adj}${i.maximum.toString()} ${unit}`;
      return `Too big: expected ${i.origin ?? "value"} to be ${adj}${i.maximum.toString()}`;
    }
    case "too_small": {
      const adj = i.exact ? "exactly " : i.inclusive ? ">=" : ">";
      const unit = SIZING[i.origin];
      if (unit) return `Too small: expected ${i.origin} to have ${adj}${i.minimum.toString()} ${unit}`;
      return `Too small: expected ${i.origin} to be ${adj}${i.minimum.toString()}`;
    }
    case "invalid_format":
      if (i.format === "starts_with") return `Invalid string: must start with "${i.prefix}"`;
      if (i.format === "ends_with") return `Invalid string: must end with "${i.suffix}"`;
      if (i.format === "includes") return `Invalid string: must include "${i.includes}"`;
      if (i.format === "regex") return `Invalid string: must match pattern ${i.pattern}`;
      return `Invalid ${FORMATS[i.format] ?? i.format}`;
    case "not_multiple_of":
      return `Invalid number: must be a multiple of ${i.divisor}`;
    case "unrecognized_keys":
      return `Unrecognized key${i.keys.length > 1 ? "s" : ""}: ${joinValues(i.keys, ", ")}`;
    case "invalid_key":
      return `Invalid key in ${i.origin}`;
    case "invalid_union":
      return "Invalid input";
    case "invalid_element":
      return `Invalid value in ${i.origin}`;
    default:
      return "Invalid input";
  }
}

/** What safeParse fails with (zod's ZodError: `issues`, and `message` their JSON). */
export class ZodError extends Error {
  declare readonly issues: $ZodIssue[];
  constructor(issues: $ZodIssue[]) {
    super();
    this.name = "ZodError";
    Object.defineProperty(this, "issues", { value: issues, enumerable: false });
    Object.defineProperty(this, "message", {
      get: () => JSON.stringify(issues, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value), 2),
      enumerable: true,
      configurable: true,
    });
  }
}
