/**
 * A string's length in Unicode code points, as zod's length checks count it
 * (v4/core/util.js codePointLength): a surrogate pair is one, a lone surrogate itself.
 */
const HIGH_SURROGATE = /[\uD800-\uDBFF]/;

export function codePointLength(text: string): number {
  const units = text.length;
  if (!HIGH_SURROGATE.test(text)) return units;
  let count = units;
  for (let i = 0; i < units - 1; i++) {
    if ((text.charCodeAt(i) & 0xfc00) === 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      count--;
      i++;
    }
  }
  return count;
}
