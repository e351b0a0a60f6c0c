/**
 * The schema kinds the config schemas use, parsing as zod 4.6 classic does (v4/core/
 * schemas.js): the same issues, the same output (key order, defaults, transforms), the same
 * absence rules (optin/optout). Unlike zod, a schema's methods live on its class's
 * prototype and its internals are the schema itself (`_zod` is `this`): a schema costs one
 * object and its def, and no locale table, JIT or memoizer is loaded (docs/performance.md).
 */
import { Check, EndsWith, GreaterThan, Includes, LessThan, MaxLength, MinLength, Overwrite, Refine, Regex, SafeInt, StartsWith, SuperRefine, type CheckDef } from "./checks.ts";
import { aborted, explicitlyAborted, finalizeIssue, prefixIssues, ZodError, type $ZodIssue, type $ZodIssueCustom, type $ZodRawIssue, type ErrorMap, type ParseContext, type ParsePayload, type PropertyKey, type RawIssue } from "./issues.ts";

/** Whether a field holding the schema may be absent (zod's optin/optout). */
export type Presence = "optional" | "defaulted" | undefined;

export interface SchemaDef {
  readonly type: string;
  readonly checks?: readonly Check[] | undefined;
  readonly error?: ErrorMap | undefined;
  readonly [key: string]: any;
}

/** The hook a test sets to see every schema built (zod's globalConfig.postProcessor). */
export const kitConfig: { postProcessor?: ((schema: ZodType) => void) | undefined } = {};

export type output<T> = T extends { _output: infer O } ? O : unknown;
export type input<T> = T extends { _input: infer I } ? I : unknown;
export type infer<T> = output<T>;
type NoUndefined<T> = T extends undefined ? never : T;

/** What a refinement or a transform is given: the payload, to add issues to. */
export interface RefinementCtx<T = unknown> {
  value: T;
  issues: unknown[];
  addIssue(issue: string | IssueInput): void;
}

export interface IssueInput {
  readonly code?: string | undefined;
  readonly message?: string | undefined;
  readonly path?: readonly PropertyKey[] | undefined;
  readonly input?: unknown;
  readonly params?: Record<string, unknown> | undefined;
  readonly fatal?: boolean | undefined;
  readonly continue?: boolean | undefined;
  readonly [key: string]: unknown;
}

export type Params = string | { message?: string | undefined; error?: string | ErrorMap | undefined; abort?: boolean | undefined; path?: PropertyKey[] | undefined; params?: Record<string, unknown> | undefined };

/** zod's util.normalizeParams: `message`/`error` as an error map. */
export function normalizeParams(params: Params | undefined): Record<string, unknown> {
  if (!params) return {};
  if (typeof params === "string") return { error: () => params };
  const { message, ...rest } = params as Record<string, unknown>;
  if (message !== undefined) {
    if (rest.error !== undefined) throw new Error("Cannot specify both `message` and `error` params");
    rest.error = message;
  }
  if (typeof rest.error === "string") {
    const text = rest.error;
    rest.error = () => text;
  }
  return rest;
}

/** A def copied with some fields replaced, keeping its getters (a default's value). */
function mergeDefs(def: SchemaDef, extra: Record<string, unknown>): SchemaDef {
  const merged = {};
  Object.defineProperties(merged, Object.getOwnPropertyDescriptors(def));
  Object.defineProperties(merged, Object.getOwnPropertyDescriptors(extra));
  return merged as SchemaDef;
}

export type SafeParseResult<T> = { success: true; data: T; error?: undefined } | { success: false; data?: undefined; error: ZodError };

type AnySchema = ZodType<any, any>;

export abstract class ZodType<Output = unknown, Input = unknown> {
  declare readonly _output: Output;
  declare readonly _input: Input;
  /** Type only: whether an object's output may lack the key (`?:`). */
  declare readonly _optout: Presence;
  readonly def: SchemaDef;

  constructor(def: SchemaDef) {
    this.def = def;
    kitConfig.postProcessor?.(this as ZodType);
  }

  /** zod's internals (def, optin, optout, run): here, the schema itself. */
  get _zod(): this {
    return this;
  }
  get type(): string {
    return this.def.type;
  }
  get optin(): Presence {
    return undefined;
  }
  get optout(): Presence {
    return undefined;
  }

  /** The type test (and, for a container, its contents), before the checks. */
  abstract parseValue(payload: ParsePayload, ctx: ParseContext): ParsePayload;

  run(payload: ParsePayload, ctx: ParseContext): ParsePayload {
    const checks = this.def.checks;
    if (checks === undefined || checks.length === 0) return this.parseValue(payload, ctx);
    return runChecks(this, this.parseValue(payload, ctx), checks);
  }

  safeParse(data: unknown, params?: ParseContext): SafeParseResult<Output> {
    const ctx: ParseContext = params ?? {};
    const result = this.run({ value: data, issues: [] }, ctx);
    if (result.issues.length === 0) return { success: true, data: result.value as Output };
    let issues: RawIssue[] | undefined = result.issues;
    let error: ZodError | undefined;
    return {
      success: false,
      get error(): ZodError {
        if (error === undefined) {
          error = new ZodError(issues!.map((issue) => finalizeIssue(issue, ctx)));
          issues = undefined;
        }
        return error;
      },
    };
  }

  parse(data: unknown, params?: ParseContext): Output {
    const result = this.safeParse(data, params);
    if (!result.success) throw result.error;
    return result.data;
  }

  /** A copy with more checks (zod's `.check()`: a clone, the original unchanged). */
  withCheck(check: Check): this {
    const Class = this.constructor as new (def: SchemaDef) => this;
    return new Class(mergeDefs(this.def, { checks: [...(this.def.checks ?? []), check] }));
  }

  optional(): ZodOptional<this> {
    return new ZodOptional({ type: "optional", innerType: this });
  }
  default(value: NoUndefined<output<this>> | (() => NoUndefined<output<this>>)): ZodDefault<this> {
    return new ZodDefault({
      type: "default",
      innerType: this,
      get defaultValue() {
        return typeof value === "function" ? (value as () => unknown)() : shallowClone(value);
      },
    });
  }
  prefault(value: unknown): ZodPrefault<this> {
    return new ZodPrefault({
      type: "prefault",
      innerType: this,
      get defaultValue() {
        return typeof value === "function" ? (value as () => unknown)() : shallowClone(value);
      },
    });
  }
  catch(value: output<this> | ((ctx: { error: ZodError; input: unknown }) => output<this>)): ZodCatch<this> {
    return new ZodCatch({ type: "catch", innerType: this, catchValue: typeof value === "function" ? value : () => value });
  }
  transform<N>(fn: (value: output<this>, ctx: RefinementCtx<output<this>>) => N): ZodPipe<this, ZodTransform<Awaited<N>, output<this>>> {
    return new ZodPipe({ type: "pipe", in: this, out: new ZodTransform({ type: "transform", transform: fn }) });
  }
  pipe<T extends AnySchema>(target: T): ZodPipe<this, T> {
    return new ZodPipe({ type: "pipe", in: this, out: target });
  }
  refine(fn: (value: output<this>) => unknown, params?: Params): this {
    return this.withCheck(new Refine({ check: "custom", fn, ...normalizeParams(params) }));
  }
  superRefine(fn: (value: output<this>, ctx: RefinementCtx<output<this>>) => void): this {
    return this.withCheck(new SuperRefine({ check: "custom", fn }));
  }
}

/** zod's $ZodType run: each check in turn; one that does not let later ones run stops them (unless it has `when`). */
function runChecks(schema: ZodType, payload: ParsePayload, checks: readonly Check[]): ParsePayload {
  let isAborted = aborted(payload);
  for (const check of checks) {
    const when = check.def.when;
    if (when) {
      if (explicitlyAborted(payload) || !when(payload)) continue;
    } else if (isAborted) continue;
    const before = payload.issues.length;
    check.check(payload);
    if (payload.issues.length === before) continue;
    for (let i = before; i < payload.issues.length; i++) payload.issues[i]!.schema ??= schema;
    if (!isAborted) isAborted = aborted(payload, before);
  }
  return payload;
}

function shallowClone(value: unknown): unknown {
  if (Array.isArray(value)) return [...value];
  if (isPlainObject(value)) return { ...(value as object) };
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** zod's util.isPlainObject. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (!isObject(value)) return false;
  const ctor = (value as { constructor?: unknown }).constructor;
  if (ctor === undefined || typeof ctor !== "function") return true;
  const proto = (ctor as { prototype?: unknown }).prototype;
  if (!isObject(proto)) return false;
  return Object.prototype.hasOwnProperty.call(proto, "isPrototypeOf");
}

function invalidType(payload: ParsePayload, expected: string, inst: ZodType): ParsePayload {
  payload.issues.push({ expected, code: "invalid_type", input: payload.value, inst });
  return payload;
}

export class ZodString extends ZodType<string, string> {
  declare readonly _optout: undefined;
  parseValue(payload: ParsePayload): ParsePayload {
    return typeof payload.value === "string" ? payload : invalidType(payload, "string", this);
  }
  min(minimum: number, params?: Params): this {
    return this.withCheck(new MinLength({ check: "min_length", ...normalizeParams(params), minimum }));
  }
  max(maximum: number, params?: Params): this {
    return this.withCheck(new MaxLength({ check: "max_length", ...normalizeParams(params), maximum }));
  }
  regex(pattern: RegExp, params?: Params): this {
    return this.withCheck(new Regex({ check: "string_format", format: "regex", ...normalizeParams(params), pattern }));
  }
  includes(includes: string, params?: Params & { position?: number }): this {
    return this.withCheck(new Includes({ check: "string_format", format: "includes", ...normalizeParams(params), includes }));
  }
  startsWith(prefix: string, params?: Params): this {
    return this.withCheck(new StartsWith({ check: "string_format", format: "starts_with", ...normalizeParams(params), prefix }));
  }
  endsWith(suffix: string, params?: Params): this {
    return this.withCheck(new EndsWith({ check: "string_format", format: "ends_with", ...normalizeParams(params), suffix }));
  }
  trim(): this {
    return this.withCheck(new Overwrite({ check: "overwrite", tx: (value: string) => value.trim() }));
  }
  toLowerCase(): this {
    return this.withCheck(new Overwrite({ check: "overwrite", tx: (value: string) => value.toLowerCase() }));
  }
}

/** A string format (z.ipv4(), z.ipv6()): a string schema that is its own first check. */
abstract class ZodStringFormat extends ZodString {
  abstract checkFormat(payload: ParsePayload): void;
  override run(payload: ParsePayload, ctx: ParseContext): ParsePayload {
    return runChecks(this, this.parseValue(payload), [new FormatCheck(this), ...(this.def.checks ?? [])]);
  }
}

/** The format schema as a check: its issues are the schema's own. */
class FormatCheck extends Check {
  constructor(readonly owner: ZodStringFormat) {
    super(owner.def as unknown as CheckDef);
  }
  check(payload: ParsePayload): void {
    this.owner.checkFormat(payload);
  }
}

const IPV4 = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])$/;
const IPV6_ALPHABET = /^[0-9a-fA-F:.]+$/;

export class ZodIPv4 extends ZodStringFormat {
  checkFormat(payload: ParsePayload): void {
    IPV4.lastIndex = 0;
    if (IPV4.test(payload.value as string)) return;
    payload.issues.push({ origin: "string", code: "invalid_format", format: "ipv4", input: payload.value, pattern: IPV4.toString(), inst: this, continue: !this.def.abort });
  }
}

export class ZodIPv6 extends ZodStringFormat {
  checkFormat(payload: ParsePayload): void {
    if (isValidIPv6(payload.value as string)) return;
    payload.issues.push({ code: "invalid_format", format: "ipv6", input: payload.value, inst: this, continue: !this.def.abort });
  }
}

/** zod's isValidIPv6: the address alphabet, then what a URL's host parser accepts in brackets. */
function isValidIPv6(value: string): boolean {
  if (!IPV6_ALPHABET.test(value)) return false;
  return validIPv6Literal(value);
}

/** RFC 4291 §2.2 text forms (the WHATWG URL host parser's IPv6 grammar): up to 8 groups, one "::", an IPv4 tail. */
function validIPv6Literal(text: string): boolean {
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const groupsOf = (part: string): string[] | undefined => (part === "" ? [] : part.split(":"));
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (head === undefined || tail === undefined) return false;
  const all = [...head, ...tail];
  let count = 0;
  for (let i = 0; i < all.length; i++) {
    const group = all[i]!;
    if (group.includes(".")) {
      if (i !== all.length - 1 || !/^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/.test(group)) return false;
      count += 2;
    } else {
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return false;
      count += 1;
    }
  }
  return halves.length === 2 ? count <= 7 : count === 8;
}

export class ZodNumber extends ZodType<number, number> {
  declare readonly _optout: undefined;
  parseValue(payload: ParsePayload): ParsePayload {
    const input = payload.value;
    if (typeof input === "number" && !Number.isNaN(input) && Number.isFinite(input)) return payload;
    const received = typeof input === "number" ? (Number.isNaN(input) ? "NaN" : String(input)) : undefined;
    payload.issues.push({ expected: "number", code: "invalid_type", input, inst: this, ...(received ? { received } : {}) });
    return payload;
  }
  int(params?: Params): this {
    return this.withCheck(new SafeInt({ check: "number_format", abort: false, format: "safeint", ...normalizeParams(params) }));
  }
  min(value: number, params?: Params): this {
    return this.gte(value, params);
  }
  max(value: number, params?: Params): this {
    return this.lte(value, params);
  }
  gte(value: number, params?: Params): this {
    return this.withCheck(new GreaterThan({ check: "greater_than", ...normalizeParams(params), value, inclusive: true }));
  }
  gt(value: number, params?: Params): this {
    return this.withCheck(new GreaterThan({ check: "greater_than", ...normalizeParams(params), value, inclusive: false }));
  }
  lte(value: number, params?: Params): this {
    return this.withCheck(new LessThan({ check: "less_than", ...normalizeParams(params), value, inclusive: true }));
  }
  lt(value: number, params?: Params): this {
    return this.withCheck(new LessThan({ check: "less_than", ...normalizeParams(params), value, inclusive: false }));
  }
}

export class ZodBoolean extends ZodType<boolean, boolean> {
  declare readonly _optout: undefined;
  parseValue(payload: ParsePayload): ParsePayload {
    return typeof payload.value === "boolean" ? payload : invalidType(payload, "boolean", this);
  }
}

export class ZodUnknown extends ZodType<unknown, unknown> {
  declare readonly _optout: undefined;
  parseValue(payload: ParsePayload): ParsePayload {
    return payload;
  }
}

export class ZodNever extends ZodType<never, never> {
  declare readonly _optout: undefined;
  parseValue(payload: ParsePayload): ParsePayload {
    return invalidType(payload, "never", this);
  }
}

type Primitive = string | number | bigint | boolean | null | undefined;

export class ZodEnum<T extends PropertyKey = string> extends ZodType<T, T> {
  declare readonly _optout: undefined;
  /** zod's util.getEnumValues: the entries' values, numeric enums' reverse keys left out. */
  readonly valueList: readonly unknown[];
  constructor(def: SchemaDef) {
    super(def);
    const entries = def.entries as Record<string, unknown>;
    const numeric = Object.values(entries).filter((v) => typeof v === "number");
    this.valueList = Object.entries(entries)
      .filter(([key]) => !numeric.includes(+key))
      .map(([, value]) => value);
  }
  get values(): ReadonlySet<unknown> {
    return new Set(this.valueList);
  }
  get options(): T[] {
    return this.valueList as T[];
  }
  parseValue(payload: ParsePayload): ParsePayload {
    const values = this.valueList;
    if (values.includes(payload.value)) return payload;
    payload.issues.push({ code: "invalid_value", values, input: payload.value, inst: this });
    return payload;
  }
}

export class ZodLiteral<T extends Primitive = Primitive> extends ZodType<T, T> {
  declare readonly _optout: undefined;
  get values(): ReadonlySet<unknown> {
    return new Set(this.def.values as unknown[]);
  }
  parseValue(payload: ParsePayload): ParsePayload {
    const values = this.def.values as unknown[];
    if (values.includes(payload.value)) return payload;
    payload.issues.push({ code: "invalid_value", values, input: payload.value, inst: this });
    return payload;
  }
}

export class ZodArray<T extends AnySchema = AnySchema> extends ZodType<output<T>[], input<T>[]> {
  declare readonly _optout: undefined;
  get element(): T {
    return this.def.element as T;
  }
  min(minimum: number, params?: Params): this {
    return this.withCheck(new MinLength({ check: "min_length", ...normalizeParams(params), minimum }));
  }
  nonempty(params?: Params): this {
    return this.min(1, params);
  }
  max(maximum: number, params?: Params): this {
    return this.withCheck(new MaxLength({ check: "max_length", ...normalizeParams(params), maximum }));
  }
  parseValue(payload: ParsePayload, ctx: ParseContext): ParsePayload {
    const input = payload.value;
    if (Array.isArray(input) && this.def.checks !== undefined && overSizeCap(this, payload, input.length)) return payload;
    if (!Array.isArray(input)) return invalidType(payload, "array", this);
    const out: unknown[] = Array(input.length);
    payload.value = out;
    const element = this.def.element as ZodType;
    for (let i = 0; i < input.length; i++) {
      const result = element.run({ value: input[i], issues: [] }, ctx);
      if (result.issues.length) payload.issues.push(...prefixIssues(i, result.issues));
      out[i] = result.value;
    }
    return payload;
  }
}

/**
 * zod's capSize: an array longer than a leading max check allows is refused before its
 * items are parsed (the value stays the input, so no later check may read it).
 */
function overSizeCap(schema: ZodType, payload: ParsePayload, size: number): boolean {
  for (const check of schema.def.checks!) {
    if (!/_(length|size)$|_equals$/.test(check.def.check)) break;
    const max = (check.def.maximum ?? check.def.length ?? check.def.size) as number | undefined;
    if (max === undefined || !(max >= 0) || size <= max || !check.def.when!(payload)) continue;
    const start = payload.issues.length;
    check.check(payload);
    payload.issues[start]!.continue = false;
    for (let i = start; i < payload.issues.length; i++) payload.issues[i]!.schema ??= schema;
    return true;
  }
  return false;
}

type Shape = { readonly [key: string]: AnySchema };
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends { _optout: "optional" } ? K : never }[keyof S];
type Flatten<T> = { [K in keyof T]: T[K] } & {};
export type ObjectOutput<S extends Shape> = Flatten<{ -readonly [K in Exclude<keyof S, OptionalKeys<S>>]: output<S[K]> } & { -readonly [K in OptionalKeys<S>]?: output<S[K]> }>;
type ObjectInput<S extends Shape> = { [K in keyof S]?: input<S[K]> };
type Catchall = "strict" | "loose" | "strip";

/** zod's handlePropertyResult: what an object's output holds for one key, and the issues it keeps. */
function handleProperty(result: ParsePayload, final: ParsePayload, key: string, input: Record<string, unknown>, optin: Presence, optout: Presence): void {
  const isPresent = key in input;
  const isOptionalOut = optout === "optional";
  if (!isPresent && isOptionalOut && optin === "optional") return;
  if (result.issues.length) {
    if (optin !== undefined && isOptionalOut && !isPresent) return;
    final.issues.push(...prefixIssues(key, result.issues));
  }
  const out = final.value as Record<string, unknown>;
  if (!isPresent && optin === undefined) {
    if (!result.issues.length) final.issues.push({ code: "invalid_type", expected: "nonoptional", input: undefined, path: [key] });
    return;
  }
  if (result.value === undefined) {
    if (isPresent || (optin === "defaulted" && !isOptionalOut)) out[key] = undefined;
  } else {
    out[key] = result.value;
  }
}

export class ZodObject<S extends Shape = Shape, C extends Catchall = Catchall> extends ZodType<
  C extends "loose" ? ObjectOutput<S> & { [key: string]: unknown } : ObjectOutput<S>,
  ObjectInput<S>
> {
  declare readonly _optout: undefined;
  get shape(): S {
    return this.def.shape as S;
  }
  parseValue(payload: ParsePayload, ctx: ParseContext): ParsePayload {
    const input = payload.value;
    if (!isObject(input)) return invalidType(payload, "object", this);
    payload.value = {};
    const shape = this.def.shape as Record<string, ZodType>;
    const keys = Object.keys(shape);
    for (const key of keys) {
      if (key === "__proto__") continue;
      const field = shape[key];
      if (!(field instanceof ZodType)) throw new Error(`Invalid element at key "${key}": expected a Zod schema`);
      const result = field.run({ value: input[key], issues: [] }, ctx);
      handleProperty(result, payload, key, input, field.optin, field.optout);
    }
    const catchall = this.def.catchall as ZodType | undefined;
    if (catchall === undefined) return payload;
    const strict = catchall.def.type === "never";
    const unrecognized: string[] = [];
    for (const key in input) {
      if (Object.prototype.hasOwnProperty.call(shape, key)) continue;
      if (strict) {
        unrecognized.push(key);
        continue;
      }
      if (key === "__proto__") continue;
      const result = catchall.run({ value: input[key], issues: [] }, ctx);
      handleProperty(result, payload, key, input, catchall.optin, catchall.optout);
    }
    if (unrecognized.length) payload.issues.push({ code: "unrecognized_keys", keys: unrecognized, input, inst: this, continue: true });
    return payload;
  }
}

type UnionOutput<T extends readonly AnySchema[]> = output<T[number]>;

export class ZodUnion<T extends readonly AnySchema[] = readonly AnySchema[]> extends ZodType<UnionOutput<T>, input<T[number]>> {
  declare readonly _optout: Extract<T[number]["_optout"], "optional"> extends never ? undefined : "optional";
  get options(): T {
    return this.def.options as T;
  }
  override get optin(): Presence {
    const options = this.def.options as readonly ZodType[];
    if (options.some((o) => o.optin === "defaulted")) return "defaulted";
    return options.some((o) => o.optin !== undefined) ? "optional" : undefined;
  }
  override get optout(): Presence {
    return (this.def.options as readonly ZodType[]).some((o) => o.optout === "optional") ? "optional" : undefined;
  }
  parseValue(payload: ParsePayload, ctx: ParseContext): ParsePayload {
    const options = this.def.options as readonly ZodType[];
    if (options.length === 1) return options[0]!.run(payload, ctx);
    const results: ParsePayload[] = [];
    for (const option of options) {
      const result = option.run({ value: payload.value, issues: [] }, ctx);
      if (result.issues.length === 0) return result;
      results.push(result);
    }
    // zod's handleUnionResults: the one option that got past its type test speaks for the union.
    const nonAborted = results.filter((r) => !aborted(r));
    if (nonAborted.length === 1) {
      payload.value = nonAborted[0]!.value;
      return nonAborted[0]!;
    }
    payload.issues.push({ code: "invalid_union", input: payload.value, inst: this, errors: results.map((r) => r.issues.map((issue) => finalizeIssue(issue, ctx))) });
    return payload;
  }
}

export class ZodRecord<K extends AnySchema = AnySchema, V extends AnySchema = AnySchema> extends ZodType<Record<output<K> & PropertyKey, output<V>>, Record<input<K> & PropertyKey, input<V>>> {
  declare readonly _optout: undefined;
  parseValue(payload: ParsePayload, ctx: ParseContext): ParsePayload {
    const input = payload.value;
    if (!isPlainObject(input)) return invalidType(payload, "record", this);
    const out: Record<PropertyKey, unknown> = {};
    payload.value = out;
    const keyType = this.def.keyType as ZodType;
    const valueType = this.def.valueType as ZodType;
    for (const key of Reflect.ownKeys(input)) {
      if (!Object.prototype.propertyIsEnumerable.call(input, key)) continue;
      // A map key no output object can hold as its own: refused, not dropped with its value
      // unchecked (zod drops it; Envoy's maps take any key).
      if (key === "__proto__") {
        payload.issues.push({ code: "custom", message: 'the key "__proto__" is not supported', input: key, path: [key], inst: this });
        continue;
      }
      let keyResult = keyType.run({ value: key, issues: [] }, ctx);
      if (keyResult.issues.length && typeof key === "string" && /^-?\d+(?:\.\d+)?$/.test(key)) {
        const retry = keyType.run({ value: Number(key), issues: [] }, ctx);
        if (retry.issues.length === 0) keyResult = retry;
      }
      if (keyResult.issues.length) {
        payload.issues.push({ code: "invalid_key", origin: "record", issues: keyResult.issues.map((issue) => finalizeIssue(issue, ctx)), input: key, path: [key], inst: this });
        continue;
      }
      const outKey = keyResult.value as PropertyKey;
      if (outKey === "__proto__") {
        payload.issues.push({ code: "custom", message: 'the key "__proto__" is not supported', input: key, path: [key], inst: this });
        continue;
      }
      const result = valueType.run({ value: (input as Record<PropertyKey, unknown>)[key], issues: [] }, ctx);
      if (result.issues.length) payload.issues.push(...prefixIssues(key, result.issues));
      out[outKey] = result.value;
    }
    return payload;
  }
}

export class ZodTransform<O = unknown, I = unknown> extends ZodType<O, I> {
  declare readonly _optout: undefined;
  override get optin(): Presence {
    return "optional";
  }
  parseValue(payload: ParsePayload): ParsePayload {
    (payload as ParsePayload & { addIssue?: unknown }).addIssue = (issue: string | RawIssue) => {
      if (typeof issue === "string") {
        payload.issues.push({ message: issue, code: "custom", input: payload.value, inst: this });
        return;
      }
      if (issue.fatal) issue.continue = false;
      issue.code ??= "custom";
      if (!("input" in issue)) issue.input = payload.value;
      issue.inst ??= this;
      payload.issues.push({ ...issue });
    };
    payload.value = (this.def.transform as (value: unknown, ctx: unknown) => unknown)(payload.value, payload);
    return payload;
  }
}

export class ZodOptional<T extends AnySchema = AnySchema> extends ZodType<output<T> | undefined, input<T> | undefined> {
  declare readonly _optout: "optional";
  override get optin(): Presence {
    return (this.def.innerType as ZodType).optin === "defaulted" ? "defaulted" : "optional";
  }
  override get optout(): Presence {
    return "optional";
  }
  unwrap(): T {
    return this.def.innerType as T;
  }
  parseValue(payload: ParsePayload, ctx: ParseContext): ParsePayload {
    const inner = this.def.innerType as ZodType;
    if (payload.value === undefined) {
      if (inner.optin !== "defaulted") return payload;
      const result = inner.run({ value: undefined, issues: [] }, ctx);
      payload.value = result.issues.length ? undefined : result.value;
      return payload;
    }
    return inner.run(payload, ctx);
  }
}

export class ZodDefault<T extends AnySchema = AnySchema> extends ZodType<NoUndefined<output<T>>, input<T> | undefined> {
  declare readonly _optout: undefined;
  override get optin(): Presence {
    return "defaulted";
  }
  unwrap(): T {
    return this.def.innerType as T;
  }
  parseValue(payload: ParsePayload, ctx: ParseContext): ParsePayload {
    if (payload.value === undefined) {
      payload.value = this.def.defaultValue;
      return payload;
    }
    const result = (this.def.innerType as ZodType).run(payload, ctx);
    if (result.value === undefined) result.value = this.def.defaultValue;
    return result;
  }
}

export class ZodPrefault<T extends AnySchema = AnySchema> extends ZodType<output<T>, input<T> | undefined> {
  declare readonly _optout: undefined;
  override get optin(): Presence {
    return "defaulted";
  }
  parseValue(payload: ParsePayload, ctx: ParseContext): ParsePayload {
    if (payload.value === undefined) payload.value = this.def.defaultValue;
    return (this.def.innerType as ZodType).run(payload, ctx);
  }
}

export class ZodCatch<T extends AnySchema = AnySchema> extends ZodType<output<T>, unknown> {
  declare readonly _optout: T["_optout"];
  override get optin(): Presence {
    return (this.def.innerType as ZodType).optin === "defaulted" ? "defaulted" : "optional";
  }
  override get optout(): Presence {
    return (this.def.innerType as ZodType).optout;
  }
  parseValue(payload: ParsePayload, ctx: ParseContext): ParsePayload {
    const result = (this.def.innerType as ZodType).run({ value: payload.value, issues: [] }, ctx);
    if (!result.issues.length) {
      payload.value = result.value;
      return payload;
    }
    const issues = result.issues.map((issue) => finalizeIssue(issue, ctx));
    payload.value = (this.def.catchValue as (ctx: unknown) => unknown)({ ...result, value: payload.value, error: { issues }, input: payload.value });
    return payload;
  }
}

export class ZodPipe<A extends AnySchema = AnySchema, B extends AnySchema = AnySchema> extends ZodType<output<B>, input<A>> {
  declare readonly _optout: B["_optout"];
  get in(): A {
    return this.def.in as A;
  }
  get out(): B {
    return this.def.out as B;
  }
  override get optin(): Presence {
    return (this.def.in as ZodType).optin;
  }
  override get optout(): Presence {
    return (this.def.out as ZodType).optout;
  }
  parseValue(payload: ParsePayload, ctx: ParseContext): ParsePayload {
    const left = (this.def.in as ZodType).run(payload, ctx);
    // Any issue but an unrecognized key stops the pipe (zod's handlePipeResult).
    if (left.issues.some((issue) => issue.code !== "unrecognized_keys")) {
      left.aborted = true;
      return left;
    }
    return (this.def.out as ZodType).run({ value: left.value, issues: left.issues }, ctx);
  }
}

export class ZodLazy<T extends AnySchema = AnySchema> extends ZodType<output<T>, input<T>> {
  declare readonly _optout: T["_optout"];
  /** The getter's schema, made once and kept on the def (as zod's, shared by its clones). */
  get innerType(): T {
    const def = this.def as unknown as { _cachedInner?: T; getter: () => T };
    return (def._cachedInner ??= def.getter());
  }
  override get optin(): Presence {
    return (this.innerType as ZodType | undefined)?.optin;
  }
  override get optout(): Presence {
    return (this.innerType as ZodType | undefined)?.optout;
  }
  unwrap(): T {
    return this.innerType;
  }
  parseValue(payload: ParsePayload, ctx: ParseContext): ParsePayload {
    return (this.innerType as ZodType).run(payload, ctx);
  }
}

export type { $ZodIssue, $ZodIssueCustom, $ZodRawIssue };
