/**
 * Floating-point numbers as protobuf writes them in JSON (json/internal/writer.h: SimpleDtoa
 * and SimpleFtoa from io/strtod.cc) and in its converter's error messages (DoubleAsString):
 * the shorter of two printf %g precisions that reads back the same, NaN and the infinities
 * as JSON strings.
 */

/** printf's %.{precision}g. */
export function formatG(x: number, precision: number): string {
  const exponential = x.toExponential(precision - 1);
  const e = exponential.indexOf("e");
  const exponent = Number(exponential.slice(e + 1));
  if (exponent < -4 || exponent >= precision) {
    let mantissa = exponential.slice(0, e);
    if (mantissa.includes(".")) mantissa = mantissa.replace(TRAILING_ZEROS, "");
    const digits = String(Math.abs(exponent)).padStart(2, "0");
    return `${mantissa}e${exponent < 0 ? "-" : "+"}${digits}`;
  }
  const fixed = x.toFixed(Math.max(0, precision - 1 - exponent));
  return fixed.includes(".") ? fixed.replace(TRAILING_ZEROS, "") : fixed;
}

const TRAILING_ZEROS = /\.?0+$/;

/** strutil.cc SimpleDtoa: %.15g, or %.17g when that does not read back the same. */
export function formatDouble(x: number): string {
  if (Number.isNaN(x)) return '"NaN"';
  if (x === Infinity) return '"Infinity"';
  if (x === -Infinity) return '"-Infinity"';
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const short = formatG(x, 15);
  return Number(short) === x ? short : formatG(x, 17);
}

/** strutil.cc SimpleFtoa: %.6g, or %.9g when that does not read back as the same float. */
export function formatFloat(x: number): string {
  if (Number.isNaN(x)) return '"NaN"';
  if (x === Infinity) return '"Infinity"';
  if (x === -Infinity) return '"-Infinity"';
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const short = formatG(x, 6);
  return Math.fround(Number(short)) === x ? short : formatG(x, 9);
}
