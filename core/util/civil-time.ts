/**
 * UTC calendar fields of a wall-clock time (milliseconds since the epoch, from
 * `Runtime.wallClock`), computed rather than asked of the host's `Date`: the core reads
 * time only through the port, and these are the few formats it writes (ISO 8601 for
 * logs and dumps, RFC 9110's IMF-fixdate for `date`). Days to civil dates by Howard
 * Hinnant's algorithm ("chrono-Compatible Low-Level Date Algorithms"), exact for the
 * proleptic Gregorian calendar.
 */
export interface UtcParts {
  year: number;
  /** 1–12. */
  month: number;
  /** 1–31. */
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
  /** 0 = Sunday. */
  weekday: number;
  /** 1–366. */
  yearDay: number;
}

const MS_PER_DAY = 86_400_000;

export function utcParts(epochMs: number): UtcParts {
  const days = Math.floor(epochMs / MS_PER_DAY);
  const msOfDay = epochMs - days * MS_PER_DAY;
  // civil_from_days: eras of 400 years starting on March 1st, year 0.
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const yearDay = month <= 2 ? doy - 305 : doy + 60 + (leap ? 1 : 0);
  return {
    year,
    month,
    day,
    hour: Math.floor(msOfDay / 3_600_000),
    minute: Math.floor(msOfDay / 60_000) % 60,
    second: Math.floor(msOfDay / 1000) % 60,
    millisecond: msOfDay % 1000,
    // 1970-01-01 was a Thursday.
    weekday: (((days + 4) % 7) + 7) % 7,
    yearDay,
  };
}

/** The inverse of utcParts for a UTC date and time (days_from_civil): milliseconds since the epoch. */
export function utcEpochMs(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  const days = era * 146_097 + doe - 719_468;
  return days * MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000;
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n));
const pad4 = (n: number): string => String(n).padStart(4, "0");

/** ISO 8601 in UTC with milliseconds: `2026-12-03T20:44:08.123Z` (as `Date.prototype.toISOString` for years 0–9999). */
export function isoTimestamp(epochMs: number): string {
  const p = utcParts(epochMs);
  return `${pad4(p.year)}-${pad2(p.month)}-${pad2(p.day)}T${pad2(p.hour)}:${pad2(p.minute)}:${pad2(p.second)}.${pad3(p.millisecond)}Z`;
}

const DAY_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** RFC 9110 §5.6.7 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. */
export function imfFixdate(epochMs: number): string {
  const p = utcParts(epochMs);
  return `${DAY_NAMES[p.weekday]}, ${pad2(p.day)} ${MONTH_NAMES[p.month - 1]} ${pad4(p.year)} ${pad2(p.hour)}:${pad2(p.minute)}:${pad2(p.second)} GMT`;
}
