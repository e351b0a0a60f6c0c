/**
 * What the fuzz suites (test/unit/http/codec/http1-codec-fuzz.test.ts, test/unit/config/config-load-fuzz.test.ts, test/memory/*-fuzz.test.ts) share:
 * fast-check parameters from the environment, and byte-stream arbitraries.
 *
 * A CI run (CI set) is bounded and deterministic: each property's default run count from
 * one fixed seed, so a red CI is a regression, not the luck of the draw. Outside CI each
 * run draws a new seed. By hand, a longer run:
 *
 *   FC_NUM_RUNS=20000 node_modules/.bin/vitest run --project unit test/unit/http/codec/http1-codec-fuzz.test.ts
 *
 * fast-check prints a failing run's seed and path; replay exactly that run with
 * `FC_SEED=<seed> FC_PATH=<path>` (FC_SEED alone replays the whole sequence from its start).
 */
import fc from "fast-check";

const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};

/** The seed of every CI run (any fixed number: the runs it draws pass today). */
const CI_SEED = 20261203;

/** fast-check's parameters: `defaultRuns` unless FC_NUM_RUNS says otherwise; FC_SEED / FC_PATH replay a failure. */
export function fuzzParameters<T>(defaultRuns: number): fc.Parameters<T> {
  const numRuns = env.FC_NUM_RUNS !== undefined ? Number(env.FC_NUM_RUNS) : defaultRuns;
  const seed = env.FC_SEED !== undefined ? Number(env.FC_SEED) : env.CI ? CI_SEED : undefined;
  const parameters: fc.Parameters<T> = { numRuns, verbose: env.FC_VERBOSE === "1" ? 1 : 0 };
  if (seed !== undefined) parameters.seed = seed;
  if (env.FC_PATH !== undefined) parameters.path = env.FC_PATH;
  // A long run by hand says where it started even when it passes.
  if (env.FC_NUM_RUNS !== undefined && seed === undefined) {
    parameters.seed = Math.floor(Math.random() * 0x7fffffff);
    console.log(`fast-check seed ${parameters.seed} (FC_SEED=${parameters.seed} replays this run)`);
  }
  return parameters;
}

/** A multiplier for a test's timeout when FC_NUM_RUNS asks for a longer run. */
export function fuzzTimeout(defaultRuns: number, baseMs: number): number {
  const runs = env.FC_NUM_RUNS !== undefined ? Number(env.FC_NUM_RUNS) : defaultRuns;
  return Math.max(baseMs, Math.ceil((baseMs * runs) / defaultRuns));
}

/** Text as latin1 bytes (one byte per code unit), as the wire carries it. */
export function latin1Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

export function latin1(data: Uint8Array): string {
  let s = "";
  for (let i = 0; i < data.length; i += 8192) s += String.fromCharCode(...data.subarray(i, i + 8192));
  return s;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** One edit of a byte stream (applied with `mutate`). */
export type Mutation =
  | { op: "flip"; at: number; value: number }
  | { op: "insert"; at: number; bytes: Uint8Array }
  | { op: "delete"; at: number; length: number }
  | { op: "duplicate"; at: number; length: number }
  | { op: "truncate"; at: number };

/** Tokens whose insertion makes the interesting malformed cases (framing, line endings, whitespace). */
export const WIRE_TOKENS = [
  "\r\n",
  "\n",
  "\r",
  " ",
  "\t",
  "\0",
  ":",
  ";",
  ",",
  "\r\n\r\n",
  "0\r\n\r\n",
  "Transfer-Encoding: chunked\r\n",
  "Transfer-Encoding: gzip, chunked\r\n",
  "Transfer-Encoding: chunked, identity\r\n",
  "Transfer-Encoding:\tchunked\r\n",
  "Transfer-Encoding : chunked\r\n",
  "Content-Length: 0\r\n",
  "Content-Length: 5\r\n",
  "Content-Length: -1\r\n",
  "Content-Length: 99999999999999999999\r\n",
  "Content-Length: 3, 3\r\n",
  "Host: b\r\n",
  "Connection: close\r\n",
  "Connection: keep-alive\r\n",
  "Connection: upgrade\r\nUpgrade: websocket\r\n",
  "Expect: 100-continue\r\n",
  "HTTP/1.0",
  "HTTP/1.1",
  "ffffffffffffffff",
  "5;ext=1\r\n",
  "\x80\xff",
].map(latin1Bytes);

export function mutationArb(): fc.Arbitrary<Mutation> {
  const at = fc.nat({ max: 1 << 16 });
  return fc.oneof(
    fc.record({ op: fc.constant("flip" as const), at, value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constant("insert" as const), at, bytes: fc.oneof(fc.constantFrom(...WIRE_TOKENS), fc.uint8Array({ minLength: 1, maxLength: 8 })) }),
    fc.record({ op: fc.constant("delete" as const), at, length: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ op: fc.constant("duplicate" as const), at, length: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ op: fc.constant("truncate" as const), at }),
  );
}

/** Apply edits in order; positions are taken modulo the current length. */
export function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let data = input;
  for (const m of mutations) {
    const at = data.length === 0 ? 0 : m.at % (data.length + 1);
    switch (m.op) {
      case "flip":
        if (data.length === 0) break;
        data = data.slice();
        data[at % data.length] = m.value;
        break;
      case "insert":
        data = concatBytes([data.subarray(0, at), m.bytes, data.subarray(at)]);
        break;
      case "delete":
        data = concatBytes([data.subarray(0, at), data.subarray(at + m.length)]);
        break;
      case "duplicate":
        data = concatBytes([data.subarray(0, at + m.length), data.subarray(at)]);
        break;
      case "truncate":
        data = data.subarray(0, at);
        break;
    }
  }
  return data;
}

/** Cut points (fractions of the length) splitting a stream into reads. */
export function cutsArb(): fc.Arbitrary<number[]> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<number[]>([]) },
    { weight: 4, arbitrary: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }) },
  );
}

/** `data` cut at the given fractions of its length (sorted, repeats give empty reads). */
export function splitAt(data: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = cuts.map((c) => Math.floor(c * data.length)).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    out.push(data.subarray(from, p));
    from = p;
  }
  out.push(data.subarray(from));
  return out;
}

/** `data` one byte per read. */
export function bytewise(data: Uint8Array): Uint8Array[] {
  return Array.from({ length: data.length }, (_, i) => data.subarray(i, i + 1));
}
