/**
 * The checks a schema runs after its own type test (`.min()`, `.int()`, `.regex()`,
 * `.refine()`…), each raising the issue zod 4.6's does (v4/core/checks.js): same code,
 * fields and `continue` (whether later checks still run).
 */
import type { ErrorMap, ParsePayload, RawIssue } from "./issues.ts";
import { codePointLength } from "./strings.ts";

export interface CheckDef {
  readonly check: string;
  readonly error?: ErrorMap | undefined;
  readonly abort?: boolean | undefined;
  /** Runs the check even after an issue that stops the others (length checks do, as zod's). */
  when?: ((payload: ParsePayload) => boolean) | undefined;
  readonly [key: string]: unknown;
}

export abstract class Check {
  constructor(readonly def: CheckDef) {}
  abstract check(payload: ParsePayload): void;
}

const hasLength = (payload: ParsePayload): boolean => {
  const value = payload.value as { length?: unknown } | null | undefined;
  return value !== null && value !== undefined && value.length !== undefined;
};

const lengthOrigin = (input: unknown): string => (Array.isArray(input) ? "array" : typeof input === "string" ? "string" : "unknown");

export class GreaterThan extends Check {
  check(payload: ParsePayload): void {
    const { value, inclusive } = this.def as unknown as { value: number; inclusive: boolean };
    const input = payload.value as number;
    if (inclusive ? input >= value : input > value) return;
    payload.issues.push({ origin: typeof input === "number" ? "number" : "number", code: "too_small", minimum: value, input, inclusive, inst: this, continue: !this.def.abort });
  }
}

export class LessThan extends Check {
  check(payload: ParsePayload): void {
    const { value, inclusive } = this.def as unknown as { value: number; inclusive: boolean };
    const input = payload.value as number;
    if (inclusive ? input <= value : input < value) return;
    payload.issues.push({ origin: "number", code: "too_big", maximum: value, input, inclusive, inst: this, continue: !this.def.abort });
  }
}

/** `.int()`: zod's "safeint" number format. */
export class SafeInt extends Check {
  check(payload: ParsePayload): void {
    const input = payload.value as number;
    if (!Number.isInteger(input)) {
      payload.issues.push({ expected: "int", format: "safeint", code: "invalid_type", continue: false, input, inst: this });
      return;
    }
    if (!Number.isSafeInteger(input)) {
      const note = "Integers must be within the safe integer range.";
      if (input > 0) payload.issues.push({ input, code: "too_big", maximum: Number.MAX_SAFE_INTEGER, note, inst: this, origin: "int", inclusive: true, continue: !this.def.abort });
      else payload.issues.push({ input, code: "too_small", minimum: Number.MIN_SAFE_INTEGER, note, inst: this, origin: "int", inclusive: true, continue: !this.def.abort });
    }
  }
}

export class MinLength extends Check {
  constructor(def: CheckDef) {
    super(def);
    def.when ??= hasLength;
  }
  check(payload: ParsePayload): void {
    const input = payload.value as string | unknown[];
    const minimum = this.def.minimum as number;
    const units = input.length;
    const length = typeof input === "string" && units >= minimum && units < minimum * 2 ? codePointLength(input) : units;
    if (length >= minimum) return;
    payload.issues.push({ origin: lengthOrigin(input), code: "too_small", minimum, inclusive: true, input, inst: this, continue: !this.def.abort });
  }
}

export class MaxLength extends Check {
  constructor(def: CheckDef) {
    super(def);
    def.when ??= hasLength;
  }
  check(payload: ParsePayload): void {
    const input = payload.value as string | unknown[];
    const maximum = this.def.maximum as number;
    const units = input.length;
    const length = typeof input === "string" && units > maximum ? codePointLength(input) : units;
    if (length <= maximum) return;
    payload.issues.push({ origin: lengthOrigin(input), code: "too_big", maximum, inclusive: true, input, inst: this, continue: !this.def.abort });
  }
}

export class Regex extends Check {
  check(payload: ParsePayload): void {
    const pattern = this.def.pattern as RegExp;
    pattern.lastIndex = 0;
    if (pattern.test(payload.value as string)) return;
    payload.issues.push({ origin: "string", code: "invalid_format", format: "regex", input: payload.value, pattern: pattern.toString(), inst: this, continue: !this.def.abort });
  }
}

export class Includes extends Check {
  check(payload: ParsePayload): void {
    const includes = this.def.includes as string;
    if ((payload.value as string).includes(includes, this.def.position as number | undefined)) return;
    payload.issues.push({ origin: "string", code: "invalid_format", format: "includes", includes, input: payload.value, inst: this, continue: !this.def.abort });
  }
}

export class StartsWith extends Check {
  check(payload: ParsePayload): void {
    const prefix = this.def.prefix as string;
    if ((payload.value as string).startsWith(prefix)) return;
    payload.issues.push({ origin: "string", code: "invalid_format", format: "starts_with", prefix, input: payload.value, inst: this, continue: !this.def.abort });
  }
}

export class EndsWith extends Check {
  check(payload: ParsePayload): void {
    const suffix = this.def.suffix as string;
    if ((payload.value as string).endsWith(suffix)) return;
    payload.issues.push({ origin: "string", code: "invalid_format", format: "ends_with", suffix, input: payload.value, inst: this, continue: !this.def.abort });
  }
}

/** `.trim()`, `.toLowerCase()`: rewrite the value. */
export class Overwrite extends Check {
  check(payload: ParsePayload): void {
    payload.value = (this.def.tx as (value: unknown) => unknown)(payload.value);
  }
}

/** `.refine(fn, params)`: zod's $ZodCustom as a check (aborts only with `abort: true`). */
export class Refine extends Check {
  check(payload: ParsePayload): void {
    const input = payload.value;
    if ((this.def.fn as (value: unknown) => unknown)(input)) return;
    const issue: RawIssue = { code: "custom", input, inst: this, path: [...((this.def.path as PropertyKey[] | undefined) ?? [])], continue: !this.def.abort };
    if (this.def.params) issue.params = this.def.params;
    payload.issues.push(issue);
  }
}

/** `.superRefine(fn)`: the function adds issues through the payload (zod's _superRefine). */
export class SuperRefine extends Check {
  check(payload: ParsePayload): void {
    (payload as ParsePayload & { addIssue?: unknown }).addIssue = (issue: string | RawIssue) => {
      if (typeof issue === "string") {
        payload.issues.push({ message: issue, code: "custom", input: payload.value, inst: this });
        return;
      }
      const raw = issue;
      if (raw.fatal) raw.continue = false;
      raw.code ??= "custom";
      if (!("input" in raw)) raw.input = payload.value;
      raw.inst ??= this;
      raw.continue ??= !this.def.abort;
      payload.issues.push({ ...raw });
    };
    (this.def.fn as (value: unknown, ctx: unknown) => void)(payload.value, payload);
  }
}
