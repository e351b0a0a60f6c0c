/**
 * The port's `randomBytes` over Web Crypto's `getRandomValues`, the cryptographically
 * secure generator node, Bun and Deno all provide. It fills at most 65,536 bytes per
 * call (the Web Crypto limit), so larger requests are filled in slices.
 */
const MAX_PER_CALL = 65536;

interface WebCrypto {
  getRandomValues(bytes: Uint8Array): Uint8Array;
}

export function randomBytes(into: Uint8Array): void {
  const crypto = (globalThis as unknown as { crypto: WebCrypto }).crypto;
  for (let at = 0; at < into.length; at += MAX_PER_CALL) crypto.getRandomValues(into.subarray(at, Math.min(at + MAX_PER_CALL, into.length)));
}
