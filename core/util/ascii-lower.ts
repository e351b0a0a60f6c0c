/**
 * ASCII lower case only, as Envoy's absl::AsciiStrToLower: every other char (a byte string's
 * 0x80-0xff, which toLowerCase would change: 'À' → 'à') stays as it is.
 */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}
