/**
 * Envoy's TcpHealthCheckMatcher (health_checker_impl.cc): the expected `receive` payloads
 * must each be found in the bytes, in order, not necessarily next to each other.
 * Shared by the TCP and HTTP health checkers.
 */

/** Hex payloads (as the config holds them) → bytes. */
export function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function matchPayloads(expected: readonly Uint8Array[], data: Uint8Array): boolean {
  let from = 0;
  for (const payload of expected) {
    const at = indexOf(data, payload, from);
    if (at < 0) return false;
    from = at + payload.length;
  }
  return true;
}

function indexOf(data: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i + needle.length <= data.length; i++) {
    for (let j = 0; j < needle.length; j++) if (data[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
