/**
 * The core's CPU time per small proxied GET, for two checkouts of polyvoy side by side in
 * one process (bench/core-ab.ts). Each checkout's own core runs on its own memory runtime
 * (runtimes/memory: in-process sockets, no syscalls) with the given bootstrap (the
 * bench's, listening on `PROXY_PORT` with its cluster at `UPSTREAM_PORT`): 64 keep-alive
 * clients send `GET /64`, and an upstream answers each request the way the bench's
 * nginx origin does (its fields, a 64-byte body). Batches of requests alternate between
 * the two, so whatever this machine's speed does during the run falls on both alike:
 * the ratio of each pair of batches is steady where wall-clock numbers from separate
 * runs, over real sockets, move by a quarter from one minute to the next.
 *
 * What it leaves out — the socket syscalls (about half of a real request's CPU), the
 * runtime's event loop and its socket wrappers — is the same for both, so a change to
 * the core shows in the ratio at a larger share than it will over real sockets.
 */
import { pathToFileURL } from "node:url";

export interface PairOptions {
  /** Requests per batch (each checkout runs one batch per pair). */
  requests: number;
  /** Pairs of batches measured (after a warm-up of five batches each). */
  pairs: number;
}

export interface PairResult {
  /** Median µs per request of A's and of B's batches. */
  aMicros: number;
  bMicros: number;
  /** Median over pairs of B's time / A's. */
  ratio: number;
  /** Pairs where B was faster. */
  bFaster: number;
  pairs: number;
}

/** Where the bootstrap's listener and its cluster's one endpoint must be. */
export const PROXY_PORT = 10000;
export const UPSTREAM_PORT = 8080;
const encoder = new TextEncoder();
const REQUEST = encoder.encode("GET /64 HTTP/1.1\r\nHost: 127.0.0.1:18000\r\n\r\n");
/** Shaped as the bench's nginx origin answers /64 (bench/lib/origin.mjs): the same fields, a 64-byte body. */
const RESPONSE = encoder.encode(
  "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Fri, 27 Nov 2026 21:00:00 GMT\r\n" +
    "Content-Type: application/octet-stream\r\nContent-Length: 64\r\n" +
    "Last-Modified: Fri, 27 Nov 2026 20:00:00 GMT\r\nConnection: keep-alive\r\n" +
    'ETag: "6745a2b0-40"\r\nAccept-Ranges: bytes\r\n\r\n' +
    "x".repeat(64),
);

/** Heads in a chunk: neither side's messages carry a blank line in a body. */
function countHeads(bytes: Uint8Array): number {
  let heads = 0;
  for (let i = 3; i < bytes.length; i++) {
    if (bytes[i] === 10 && bytes[i - 1] === 13 && bytes[i - 2] === 10 && bytes[i - 3] === 13) heads++;
  }
  return heads;
}

const OK = encoder.encode("HTTP/1.1 200 ");

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function statusLine(bytes: Uint8Array): string {
  const end = bytes.indexOf(13);
  return new TextDecoder().decode(bytes.subarray(0, end < 0 ? Math.min(bytes.length, 80) : end));
}

interface MinimalSocket {
  setHandler(handler: object): void;
  write(bytes: Uint8Array): void;
}

/**
 * One checkout's core serving the bench config on its own memory runtime; returns a batch
 * runner (µs per request). `modules`: what the runtime's importModule gives by path (user
 * filter modules the bootstrap names).
 */
export async function startCore(root: string, bootstrap: object, modules: Record<string, unknown> = {}): Promise<(requests: number) => number> {
  // Each checkout's modules by URL: two roots, two module graphs (one root twice: one graph, two cores).
  const at = (path: string): string => new URL(path, pathToFileURL(`${root}/`)).href;
  const { MemoryRuntime } = await import(at("runtimes/memory/memory-runtime.ts"));
  const { loadBootstrap } = await import(at("core/config/load.ts"));
  const { Logger } = await import(at("core/log.ts"));
  const { Server } = await import(at("core/server.ts"));
  const runtime = new MemoryRuntime({ seed: 1, shuffle: false });
  for (const [path, namespace] of Object.entries(modules)) runtime.setModule(path, namespace);
  const ignore = (): void => {};
  await runtime.listen({ address: "127.0.0.1", port: UPSTREAM_PORT }, (socket: MinimalSocket) => {
    socket.setHandler({
      onConnect: ignore,
      onData: (bytes: Uint8Array) => {
        for (let n = countHeads(bytes); n > 0; n--) socket.write(RESPONSE);
      },
      onEnd: ignore,
      onDrain: ignore,
      onClose: ignore,
    });
  });
  const server = new Server(runtime, loadBootstrap(JSON.stringify(bootstrap), "json"), new Logger(runtime, "warn"));
  const started = server.start();
  // Only what is due now: the virtual clock must not run on (to an idle timeout's end).
  runtime.runDue();
  await started;

  let done = 0;
  let target = 0;
  const idle: MinimalSocket[] = [];
  for (let i = 0; i < 64; i++) {
    const client: MinimalSocket = runtime.connect({ address: "127.0.0.1", port: PROXY_PORT });
    client.setHandler({
      onConnect: () => idle.push(client),
      onData: (bytes: Uint8Array) => {
        const heads = countHeads(bytes);
        // One request in flight per client: a chunk with a head starts with it. Only a
        // 200 counts (a 503 of a misrouted bootstrap would be measured as fast).
        if (heads > 0 && !startsWith(bytes, OK)) throw new Error(`${root}: the proxy answered ${statusLine(bytes)}`);
        for (let n = heads; n > 0; n--) {
          done++;
          if (done < target) client.write(REQUEST);
          else idle.push(client);
        }
      },
      onEnd: ignore,
      onDrain: ignore,
      onClose: ignore,
    });
  }
  runtime.runDue();
  if (idle.length !== 64) throw new Error(`${root}: ${idle.length} of 64 clients connected`);

  return (requests: number): number => {
    target = done + requests;
    const t0 = cpuMicros();
    // Requests still in flight from the last batch finish in this one; idle clients start.
    for (const client of idle.splice(0)) client.write(REQUEST);
    while (done < target) {
      if (!runtime.step()) throw new Error(`${root}: stalled after ${done} responses`);
    }
    return (cpuMicros() - t0) / requests;
  };
}

/**
 * The process's CPU time (user + system, all threads) in µs: on a machine other processes
 * load, wall time counts the slices they take from this one; CPU time does not.
 */
function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

/** A against B, batches alternating (which of the two goes first alternates too). */
export async function measureCorePair(rootA: string, rootB: string, bootstrap: object, options: PairOptions): Promise<PairResult> {
  const a = await startCore(rootA, bootstrap);
  const b = await startCore(rootB, bootstrap);
  for (let i = 0; i < 5; i++) {
    a(options.requests);
    b(options.requests);
  }
  const as: number[] = [];
  const bs: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < options.pairs; i++) {
    let aMicros: number;
    let bMicros: number;
    if (i % 2 === 0) {
      aMicros = a(options.requests);
      bMicros = b(options.requests);
    } else {
      bMicros = b(options.requests);
      aMicros = a(options.requests);
    }
    as.push(aMicros);
    bs.push(bMicros);
    ratios.push(bMicros / aMicros);
  }
  return {
    aMicros: median(as),
    bMicros: median(bs),
    ratio: median(ratios),
    bFaster: ratios.filter((r) => r < 1).length,
    pairs: options.pairs,
  };
}
