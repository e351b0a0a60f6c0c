/**
 * HPACK's static Huffman code (RFC 7541 §5.2, Appendix B). The code is canonical — codes
 * of one length are consecutive, assigned in symbol order, shorter lengths first — so the
 * table below holds only each symbol's code length and the codes are derived from it
 * (the unit test checks a sample against Appendix B and the Appendix C examples).
 *
 * Decoding walks a 4-bits-at-a-time state machine built once from the code tree (the
 * way nghttp2's decoder does): each of the 256 internal nodes and each nibble give the
 * next node and at most one symbol (no code is shorter than 5 bits).
 */
import { HpackError } from "./hpack-error.ts";

/** Code length in bits of symbols 0..255 and of EOS (256). */
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;

/**
 * Each symbol's code, right-aligned: derived on first use (the first HTTP/2 header block
 * encoded), not when the module loads, as the decoding machine below; a start-up that
 * serves no HTTP/2 never sorts the table.
 */
let codes: Uint32Array | undefined;

function huffmanCodes(): Uint32Array {
  if (codes !== undefined) return codes;
  const derived = new Uint32Array(257);
  const order = [...CODE_LENGTHS.keys()].sort((a, b) => CODE_LENGTHS[a]! - CODE_LENGTHS[b]! || a - b);
  let code = 0;
  let previousLength = CODE_LENGTHS[order[0]!]!;
  order.forEach((symbol, i) => {
    const length = CODE_LENGTHS[symbol]!;
    if (i > 0) code = (code + 1) * 2 ** (length - previousLength);
    previousLength = length;
    derived[symbol] = code;
  });
  return (codes = derived);
}

/** The code of `symbol` and its length (for tests). */
export function huffmanCode(symbol: number): { code: number; length: number } {
  return { code: huffmanCodes()[symbol]!, length: CODE_LENGTHS[symbol]! };
}

// ------------------------------------------------------------------ the decoding machine

/**
 * Per (node, nibble): the next node in the low 16 bits, the symbol emitted (or 0x1ff for
 * none) in bits 16..24, and FAIL when the nibble walks into EOS.
 */
const NO_SYMBOL = 0x1ff;
const FAIL = 0x8000_0000;

interface DecodingMachine {
  fsm: Uint32Array;
  /** 1 where a string may end at this node: it is the root, or reached from it by at most seven 1 bits (EOS's prefix, §5.2). */
  accepts: Uint8Array;
}

/** Built on the first decode, not at start-up (only HTTP/2 decodes Huffman strings). */
let machine: DecodingMachine | undefined;

function buildDecodingMachine(): DecodingMachine {
  const FSM = new Uint32Array(256 * 16);
  const ACCEPTS = new Uint8Array(256);
  // The code tree: internal nodes 0..255 (0 the root); children[node*2+bit] is a node, or ~symbol for a leaf.
  const children = new Int32Array(512).fill(0);
  const CODES = huffmanCodes();
  let nodes = 1;
  for (let symbol = 0; symbol <= EOS; symbol++) {
    const length = CODE_LENGTHS[symbol]!;
    const code = CODES[symbol]!;
    let node = 0;
    for (let i = length - 1; i >= 0; i--) {
      const bit = Math.floor(code / 2 ** i) & 1;
      const slot = node * 2 + bit;
      if (i === 0) {
        children[slot] = ~symbol;
      } else {
        if (children[slot] === 0) children[slot] = nodes++;
        node = children[slot]!;
      }
    }
  }
  // Accepting nodes: the chain of 1-children from the root, depth 1..7.
  ACCEPTS[0] = 1;
  let ones = 0;
  for (let depth = 1; depth <= 7; depth++) {
    ones = children[ones * 2 + 1]!;
    ACCEPTS[ones] = 1;
  }
  for (let node = 0; node < 256; node++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let at = node;
      let symbol = NO_SYMBOL;
      let fail = 0;
      for (let i = 3; i >= 0; i--) {
        const next = children[at * 2 + ((nibble >> i) & 1)]!;
        if (next >= 0) {
          at = next;
          continue;
        }
        if (~next === EOS) fail = FAIL;
        symbol = ~next;
        at = 0;
      }
      FSM[node * 16 + nibble] = (fail | (symbol << 16) | at) >>> 0;
    }
  }
  return { fsm: FSM, accepts: ACCEPTS };
}

/**
 * Decode `bytes[start, end)` into `out` (room for 8/5 of the input); returns the length.
 * Throws HpackError on EOS inside the string, or on padding longer than 7 bits or not
 * made of EOS's leading 1 bits (RFC 7541 §5.2).
 */
export function huffmanDecode(bytes: Uint8Array, start: number, end: number, out: Uint8Array): number {
  const { fsm: FSM, accepts: ACCEPTS } = (machine ??= buildDecodingMachine());
  let node = 0;
  let n = 0;
  for (let i = start; i < end; i++) {
    const b = bytes[i]!;
    for (let half = 0; half < 2; half++) {
      const entry = FSM[node * 16 + (half === 0 ? b >> 4 : b & 0xf)]!;
      if (entry & FAIL) throw new HpackError("Huffman string contains EOS");
      const symbol = (entry >>> 16) & 0x1ff;
      node = entry & 0xffff;
      if (symbol !== NO_SYMBOL) out[n++] = symbol;
    }
  }
  // The padding is the walk since the last symbol: at most 7 bits, all 1s (EOS's first bits).
  if (ACCEPTS[node] !== 1) {
    throw new HpackError("invalid Huffman padding");
  }
  return n;
}

/** The Huffman-coded length in bytes of `text` (latin1: each code unit's low byte). */
export function huffmanEncodedLength(text: string): number {
  let bits = 0;
  for (let i = 0; i < text.length; i++) bits += CODE_LENGTHS[text.charCodeAt(i) & 0xff]!;
  return Math.ceil(bits / 8);
}

/** Write `text` Huffman-coded into `out` from `at` (room for huffmanEncodedLength(text)); pads with 1s. */
export function huffmanEncode(text: string, out: Uint8Array, at: number): number {
  const CODES = huffmanCodes();
  let acc = 0;
  let pending = 0;
  for (let i = 0; i < text.length; i++) {
    const symbol = text.charCodeAt(i) & 0xff;
    let length = CODE_LENGTHS[symbol]!;
    const code = CODES[symbol]!;
    // Feed at most 24 bits at a time so that `acc` (under 8 pending bits) never passes 31 bits.
    while (length > 0) {
      const take = length > 24 ? 24 : length;
      const part = Math.floor(code / 2 ** (length - take)) & ((1 << take) - 1);
      acc = (acc << take) | part;
      pending += take;
      length -= take;
      while (pending >= 8) {
        pending -= 8;
        out[at++] = (acc >>> pending) & 0xff;
      }
      acc &= (1 << pending) - 1;
    }
  }
  if (pending > 0) out[at++] = ((acc << (8 - pending)) | ((1 << (8 - pending)) - 1)) & 0xff;
  return at;
}
