/**
 * %START_TIME(format)%: strftime-style formatting of a wall-clock time, in UTC as Envoy
 * does, compiled once. Envoy formats with absl::FormatTime plus its own %s and %f;
 * the specifiers below are the ones that make sense for logs, and any other is a config
 * error rather than text printed as is.
 *
 * Each compiled format caches what it rendered for the current second, so a busy
 * proxy renders the date once a second and only the fraction per line.
 */
import { FormatError } from "./format-error.ts";
import { utcParts } from "../util/civil-time.ts";

/** Envoy's default: 2016-04-15T20:17:00.310Z */
export const DEFAULT_START_TIME_FORMAT = "%Y-%m-%dT%H:%M:%E3SZ";

interface TimeParts {
  year: number;
  /** 1–12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** 0 = Sunday */
  weekday: number;
  /** 1–366 */
  yearDay: number;
  epochSeconds: number;
}

/** A piece of output that depends on the second only, or on the sub-second fraction (nanoseconds). */
type Piece = string | { readonly perSecond: (t: TimeParts) => string } | { readonly subSecond: (nanos: number) => string };

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const space2 = (n: number) => (n < 10 ? ` ${n}` : `${n}`);
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);
const pad9 = (n: number) => `${n}`.padStart(9, "0");
const hour12 = (h: number) => (h % 12 === 0 ? 12 : h % 12);

/** The fraction's first `digits` digits (truncated, as Envoy's %3f). */
function fraction(digits: number): (nanos: number) => string {
  return (nanos) => pad9(nanos).slice(0, digits);
}

const SIMPLE: Record<string, (t: TimeParts) => string> = {
  Y: (t) => `${t.year}`,
  C: (t) => pad2(Math.floor(t.year / 100)),
  y: (t) => pad2(t.year % 100),
  m: (t) => pad2(t.month),
  d: (t) => pad2(t.day),
  e: (t) => space2(t.day),
  H: (t) => pad2(t.hour),
  k: (t) => space2(t.hour),
  I: (t) => pad2(hour12(t.hour)),
  l: (t) => space2(hour12(t.hour)),
  M: (t) => pad2(t.minute),
  S: (t) => pad2(t.second),
  p: (t) => (t.hour < 12 ? "AM" : "PM"),
  P: (t) => (t.hour < 12 ? "am" : "pm"),
  j: (t) => pad3(t.yearDay),
  a: (t) => DAYS[t.weekday]!.slice(0, 3),
  A: (t) => DAYS[t.weekday]!,
  b: (t) => MONTHS[t.month - 1]!.slice(0, 3),
  h: (t) => MONTHS[t.month - 1]!.slice(0, 3),
  B: (t) => MONTHS[t.month - 1]!,
  u: (t) => `${t.weekday === 0 ? 7 : t.weekday}`,
  w: (t) => `${t.weekday}`,
  s: (t) => `${t.epochSeconds}`,
  // UTC, always.
  z: () => "+0000",
  Z: () => "UTC",
};

/** Composite specifiers, as the C locale spells them. */
const COMPOSITE: Record<string, string> = {
  F: "%Y-%m-%d",
  T: "%H:%M:%S",
  D: "%m/%d/%y",
  R: "%H:%M",
  r: "%I:%M:%S %p",
  c: "%a %b %e %H:%M:%S %Y",
  x: "%m/%d/%y",
  X: "%H:%M:%S",
};

function parse(spec: string, pieces: Piece[]): void {
  let literal = "";
  const flush = () => {
    if (literal !== "") pieces.push(literal);
    literal = "";
  };
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i]!;
    if (c !== "%") {
      literal += c;
      continue;
    }
    const next = spec[i + 1];
    if (next === undefined) throw new FormatError(`START_TIME format "${spec}" ends with a lone "%"`);
    if (next === "%") {
      literal += "%";
      i++;
      continue;
    }
    if (next === "t") {
      literal += "\t";
      i++;
      continue;
    }
    if (next === "n") throw new FormatError(`START_TIME format "${spec}" must not contain a newline (%n)`);
    flush();
    // %f, %1f … %9f: fractional seconds (Envoy's extension), 9 digits by default.
    const digits = /^([1-9]?)f/.exec(spec.slice(i + 1));
    if (digits) {
      pieces.push({ subSecond: fraction(digits[1] ? Number(digits[1]) : 9) });
      i += digits[0].length;
      continue;
    }
    // absl's %E#S (seconds with # fraction digits), %E*S (as many as needed), %Ez, %E*z, %E4Y.
    if (next === "E") {
      const ext = /^E(?:([0-9])S|(\*)S|(z)|(\*z)|(4Y))/.exec(spec.slice(i + 1));
      if (!ext) throw new FormatError(`unsupported START_TIME specifier "%${spec.slice(i + 1, i + 4)}" in "${spec}"`);
      i += ext[0].length;
      if (ext[1] !== undefined) {
        const n = Number(ext[1]);
        pieces.push({ perSecond: SIMPLE.S! });
        if (n > 0) pieces.push(".", { subSecond: fraction(n) });
      } else if (ext[2] !== undefined) {
        pieces.push({ perSecond: SIMPLE.S! }, { subSecond: (nanos) => (nanos === 0 ? "" : `.${pad9(nanos).replace(/0+$/, "")}`) });
      } else if (ext[3] !== undefined) {
        pieces.push("+00:00");
      } else if (ext[4] !== undefined) {
        pieces.push("+00:00:00");
      } else {
        pieces.push({ perSecond: (t) => `${t.year}`.padStart(4, "0") });
      }
      continue;
    }
    const composite = COMPOSITE[next];
    if (composite !== undefined) {
      parse(composite, pieces);
      i++;
      continue;
    }
    const simple = SIMPLE[next];
    if (simple === undefined) throw new FormatError(`unsupported START_TIME specifier "%${next}" in "${spec}"`);
    pieces.push({ perSecond: simple });
    i++;
  }
  flush();
}

function partsOf(epochSeconds: number): TimeParts {
  const p = utcParts(epochSeconds * 1000);
  return { year: p.year, month: p.month, day: p.day, hour: p.hour, minute: p.minute, second: p.second, weekday: p.weekday, yearDay: p.yearDay, epochSeconds };
}

/**
 * Compile a START_TIME format ("" or undefined: Envoy's default) into a function of
 * wall-clock milliseconds. Throws FormatError for an unsupported specifier.
 */
export function compileTimeFormat(spec: string | undefined): (wallClockMs: number) => string {
  const pieces: Piece[] = [];
  parse(spec === undefined || spec === "" ? DEFAULT_START_TIME_FORMAT : spec, pieces);

  // Per second: the pieces that depend on the second rendered, merged with the literals around them.
  let second = Number.NaN;
  let rendered: (string | ((nanos: number) => string))[] = [];
  let constant: string | undefined;
  return (wallClockMs) => {
    const epochSeconds = Math.floor(wallClockMs / 1000);
    if (epochSeconds !== second) {
      second = epochSeconds;
      const t = partsOf(epochSeconds);
      rendered = [];
      let text = "";
      for (const piece of pieces) {
        if (typeof piece === "string") text += piece;
        else if ("perSecond" in piece) text += piece.perSecond(t);
        else {
          rendered.push(text, piece.subSecond);
          text = "";
        }
      }
      rendered.push(text);
      constant = rendered.length === 1 ? text : undefined;
    }
    if (constant !== undefined) return constant;
    const nanos = Math.min(999_999_999, Math.max(0, Math.round((wallClockMs - epochSeconds * 1000) * 1e6)));
    let out = "";
    for (const part of rendered) out += typeof part === "string" ? part : part(nanos);
    return out;
  };
}
