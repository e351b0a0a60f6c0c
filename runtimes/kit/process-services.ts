import { clearLongTimeout, setLongTimeout } from "./long-timeout.ts";
import { SerialAppendFile } from "./serial-append-file.ts";
import { close as fsClose, open as fsOpen, write as fsWrite } from "node:fs";
import type { AppendFile, DirectoryEntry, Runtime } from "../../core/port.ts";
import { toPortError } from "./errors.ts";
import { randomBytes } from "./random-bytes.ts";
import { resolveWithNodeDns } from "./node-dns-resolver.ts";
import { zlibCompression } from "./zlib-compression.ts";
import { importModule } from "./import-module.ts";
import { verifySignature } from "./web-crypto-verify.ts";
import { hmacSha256 } from "./web-crypto-hmac.ts";
import { watchDirectory } from "./watch-directory.ts";
import { cpuCount } from "./cpu-count.ts";
import { interfaceAddresses } from "./interface-addresses.ts";
import { nodeFsPromises } from "./builtins.ts";
import { replayEarlySighup } from "./early-sighup.ts";

/**
 * The port's non-socket services through Node's APIs. Bun implements these node:
 * modules natively, so its adapter reuses this; none of it is on a proxy hot path.
 */
export const processServices: Omit<Runtime, "name" | "version" | "listen" | "connect"> = {
  setTimeout: setLongTimeout,
  clearTimeout: clearLongTimeout,
  defer: (callback) => void setImmediate(callback),
  now: () => performance.now(),
  wallClock: () => Date.now(),
  // getaddrinfo for the addresses; DNS TTLs from node:dns's own resolver (c-ares in both).
  resolve: (host, family, options) => resolveWithNodeDns(host, family, options, true),
  readTextFile: (path) => nodeFsPromises().readFile(path, "utf8").catch((err: unknown) => Promise.reject(toPortError(err))),
  fileType: (path) =>
    nodeFsPromises()
      .stat(path)
      .then((stats) => (stats.isFile() ? "file" : stats.isDirectory() ? "directory" : "other"))
      .catch((err: unknown) => Promise.reject(toPortError(err))),
  fileSize: (path) =>
    nodeFsPromises()
      .stat(path)
      .then((stats) => stats.size)
      .catch((err: unknown) => Promise.reject(toPortError(err))),
  readFileBytes: (path) => nodeFsPromises().readFile(path).then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)).catch((err: unknown) => Promise.reject(toPortError(err))),
  watchDirectory,
  readDirectory,
  openAppendFile,
  importModule,
  verifySignature,
  hmacSha256,
  onSignal(signal, callback) {
    process.on(signal, callback);
    if (signal === "SIGHUP") replayEarlySighup(callback);
  },
  log: { write: (line) => void process.stderr.write(line) },
  exit: (code) => process.exit(code),
  memoryUsage: () => process.memoryUsage.rss(),
  cpuCount,
  interfaceAddresses,
  // V8's heap in use plus external memory (array buffers included) on Node; Bun's
  // process.memoryUsage() leaves its byte arrays out, so its adapter replaces this.
  heapUsage() {
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.external;
  },
  // shrink_heap: Node has no call that returns free pages; a full garbage collection (only
  // when node runs with --expose-gc) frees what can be freed, and V8 then unmaps empty pages.
  ...(typeof (globalThis as { gc?: unknown }).gc === "function" ? { releaseFreeMemory: () => (globalThis as unknown as { gc(): void }).gc() } : {}),
  environmentVariable: (name) => process.env[name],
  random: Math.random,
  randomBytes,
  compression: zlibCompression({ brotliReset: true }),
};

// ---- Append-only files (access logs) ---------------------------------------------------

/** The process's own streams: written through their fds, never reopened (a socket cannot be). */
const STDIO_FDS: Readonly<Record<string, number>> = { "/dev/stdout": 1, "/dev/stderr": 2 };

/**
 * fs.open/fs.write run on libuv's thread pool, so the event loop never waits on the
 * disk or a slow pipe reader (process.stdout.write would: it is synchronous for pipes
 * and files). A stuck reader holds one pool thread, for the one write in flight.
 */
async function openAppendFile(path: string): Promise<AppendFile> {
  const stdio = STDIO_FDS[path];
  if (stdio !== undefined) return new SerialAppendFile(path, (data) => writeAll(stdio, data), undefined);
  const fd = await new Promise<number>((resolve, reject) =>
    fsOpen(path, "a", 0o644, (err, fd) => (err ? reject(toPortError(err)) : resolve(fd))),
  );
  return new SerialAppendFile(path, (data) => writeAll(fd, data), () => new Promise<void>((resolve) => fsClose(fd, () => resolve())));
}

/**
 * write(2) until every byte is taken (pipes take part of a large write). EAGAIN — an
 * inherited non-blocking pipe that is full — is retried after a pause, up to 100 ms.
 */
function writeAll(fd: number, data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    let at = 0;
    let pause = 1;
    const step = (): void =>
      fsWrite(fd, data, at, data.length - at, null, (err, written) => {
        if (err) {
          if (err.code !== "EAGAIN") return reject(toPortError(err));
          setTimeout(step, pause);
          pause = Math.min(pause * 2, 100);
          return;
        }
        at += written;
        pause = 1;
        if (at < data.length) step();
        else resolve();
      });
    if (data.length === 0) resolve();
    else step();
  });
}

/** The port's readDirectory through node:fs: a symbolic link is stat()ed for what it points to. */
async function readDirectory(path: string): Promise<DirectoryEntry[]> {
  const { readdir, stat } = nodeFsPromises();
  const entries = await readdir(path, { withFileTypes: true }).catch((err: unknown) => Promise.reject(toPortError(err)));
  return Promise.all(
    entries.map(async (entry): Promise<DirectoryEntry> => {
      if (!entry.isSymbolicLink()) return { name: entry.name, type: entry.isFile() ? "file" : entry.isDirectory() ? "directory" : "other" };
      const target = await stat(`${path}/${entry.name}`).catch(() => undefined);
      return { name: entry.name, type: target?.isFile() ? "file" : target?.isDirectory() ? "directory" : "other" };
    }),
  );
}
