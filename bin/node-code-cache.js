// Starts dist/polyvoy-node.mjs on node with V8's code cache: the bytecode of the functions
// the previous start compiled, so this start parses and compiles little of the 1.3 MB
// bundle (node 20 has no module.enableCompileCache; vm.Script's cachedData is its script
// equivalent). The bundle's code is one function expression between two marker lines
// (scripts/build-runtimes.mjs); it is compiled as a script with the cached data, and the
// data is written as soon as start-up is over (the bundle's `started` settles: the
// listeners serve) when there was none or V8 refused it, so even a short-lived proxy's
// next start has it. Old cache files (other bundles, other node versions) are pruned then.
//
// The cache is never trusted blindly: its file is named by two CRC-32s and the length of the
// bundle's bytes and node's version (V8 itself refuses data made by another V8 or other
// flags, and checks only the source's length), and it lives in a directory of the user's
// own (mode 0700, owned by this uid), as code read from it runs. Any failure to read or
// write the cache only means a start without it. The CRCs tell apart bundles, not
// attackers: whoever can write the bundle or that directory runs code as this user anyway.
// Built-ins by process.getBuiltinModule (an ES import builds each namespace); zlib's crc32
// rather than node:crypto's SHA-256, whose module alone costs ~8 ms of CPU to load.
const { isAscii } = process.getBuiltinModule("node:buffer");
const { closeSync, constants, existsSync, fstatSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } = process.getBuiltinModule("node:fs");
const { createRequire } = process.getBuiltinModule("node:module");
const { tmpdir } = process.getBuiltinModule("node:os");
const { basename, dirname, join } = process.getBuiltinModule("node:path");
const { fileURLToPath } = process.getBuiltinModule("node:url");
const { cachedDataVersionTag, setFlagsFromString } = process.getBuiltinModule("node:v8");
const { Script } = process.getBuiltinModule("node:vm");
const { crc32 } = process.getBuiltinModule("node:zlib");

const BEGIN = "\n//#polyvoy-script-begin\n";
const END = "\n//#polyvoy-script-end\n";
// For a process whose start-up never settles `started` (the supervisor of --concurrency N
// workers waits for them to end), start-up is taken as over this long after it began. Its
// workers have written the cache by then, and it keeps theirs (writeOwnFile).
const AFTER_START_MS = 10_000;
// Cache files kept in the directory: one per bundle × node version in use (by last use).
const KEEP_CACHE_FILES = 4;
// A temporary file older than this is a killed writer's (a write takes milliseconds).
const STALE_TEMPORARY_MS = 60_000;

export async function startNodeEntry(url) {
  const file = fileURLToPath(url);
  const compiled = compile(file);
  if (compiled === undefined) return import(url.href);
  const { script, cacheFile, write, seen } = compiled;
  // V8 stamps cached data with a hash of its flags: the data is made once the flags are
  // back, and not at all if this V8 does not come back to the same hash.
  const flagsTag = cachedDataVersionTag();
  const restoreFlags = holdStartupFlags();
  const main = script.runInThisContext();
  const module = { exports: {} };
  installImportHook();
  main(createRequire(file), module);
  let over = false;
  const afterStart = () => {
    if (over) return;
    over = true;
    clearTimeout(timer);
    try {
      restoreFlags();
      if (write === undefined || cachedDataVersionTag() !== flagsTag) return;
      // Another process (a worker of the same start) wrote the file meanwhile: theirs stays.
      if (write === "new" ? existsSync(cacheFile) : !sameFile(cacheFile, seen)) return;
      writeOwnFile(cacheFile, script.createCachedData(), write === "replace");
    } catch {
      // a cache that cannot be written only means a next start without it
    }
  };
  const timer = setTimeout(afterStart, AFTER_START_MS).unref();
  // A rejection stays unhandled (runMain reports its own failures), as without the cache.
  module.exports.started?.then(afterStart);
}

/**
 * The bundle has no import() of its own (none works inside a vm.Script with cached data on
 * node 20: scripts/build-runtimes.mjs); a user's module is imported by this module's. Made
 * here, not in startNodeEntry: a closure keeps its maker's whole context, and that one holds
 * the vm.Script, whose top-level bytecode (~0.4 MB: the bundle's module bodies, run once)
 * the hook would keep alive for the life of the process.
 */
function installImportHook() {
  globalThis[Symbol.for("polyvoy.import")] ??= (specifier) => import(specifier);
}

/**
 * The bundle's script, compiled with the cache when there is one. Its own function, so that
 * the bundle's bytes and the cached data (~2.7 MB) are garbage before the bundle runs and
 * an early scavenge frees them, rather than a full collection much later. Allocated before
 * the adapter raises glibc's thresholds (runtimes/kit/malloc-thresholds.ts), they are
 * blocks glibc mapped on their own, so freeing them hands the memory back to the system.
 */
function compile(file) {
  const bytes = readFileSync(file);
  // The bundle is ASCII (esbuild escapes the rest; scripts/build-runtimes.mjs checks), and
  // latin1 copies ASCII bytes into a one-byte string at about half UTF-8's cost.
  const text = bytes.toString(isAscii(bytes) ? "latin1" : "utf8");
  const begin = text.indexOf(BEGIN);
  const end = text.lastIndexOf(END);
  if (begin < 0 || end < begin) return undefined;
  const cacheFile = cachePath(bytes);
  const read = cacheFile === undefined ? undefined : readOwnFile(cacheFile);
  const cachedData = read?.data;
  const script = new Script(text.slice(begin + BEGIN.length, end), {
    filename: file,
    // Stack traces keep the file's own line numbers.
    lineOffset: lineCount(text, begin + BEGIN.length),
    cachedData,
  });
  // "replace" data V8 refused; "new" when there was none (another process may write it first).
  const write = cacheFile === undefined ? undefined : cachedData === undefined ? "new" : script.cachedDataRejected ? "replace" : undefined;
  return { script, cacheFile, write, seen: read?.stat };
}

/**
 * Holds V8's young generation small and TurboFan back while the bundle starts, and returns
 * what undoes both (a flag the user gave node, in execArgv or NODE_OPTIONS, is left alone).
 *
 * The young generation: V8 reads semi_space_growth_factor each time it grows the space (the
 * default is 2). Start-up allocates in bursts (the config's schemas and their validation),
 * which grow it to 8 MiB, and V8 keeps it so while the proxy idles: ~4 MiB no idle proxy needs.
 *
 * TurboFan: start-up code runs once, yet a small config's start made it hot enough to be
 * optimised, which paged in ~3.6 MiB of node's own code (TurboFan's) and ~0.5 MiB of compiler
 * memory that an idle proxy keeps (docs/performance.md, "Node's RSS, idle and under load").
 * Twice V8's threshold for optimising while starting avoids that; a large config's hot
 * start-up loops still reach it (no slower start measured with 3,000 routes), which
 * `--no-turbofan` did not allow (40 % slower), and node 22's V8 did not come back to the same
 * flag hash after it. The threshold is an integer flag whose default, restored, gives the
 * same hash (checked on node 20 and 22). Its name differs by V8: 11.3 (node 20) counts
 * budget ticks, 12.4 (node 22) invocations. Other V8s keep theirs: an unknown flag is an
 * error line on stderr, and node 24's V8 13.6 has the invocation count but setting it, even
 * to its default, changes the flag hash for good (every start would be cold). The saving
 * lasts until the first request (llhttp's WebAssembly compile brings those pages in) and for
 * the whole life of a --concurrency supervisor.
 */
function holdStartupFlags() {
  const own = `${process.execArgv.join(" ")} ${process.env.NODE_OPTIONS ?? ""}`;
  const held = [];
  if (!/semi[-_]space/.test(own)) held.push(["--semi-space-growth-factor=1", "--semi-space-growth-factor=2"]);
  const tiering = TURBOFAN_THRESHOLD_HOLD[process.versions.v8.split(".").slice(0, 2).join(".")];
  if (tiering !== undefined && !/--[\w-]*(opt|turbofan|jitless|ticks|invocation|interrupt|tier)/.test(own)) held.push(tiering);
  for (const [hold] of held) setFlagsFromString(hold);
  return () => {
    for (const [, restore] of held) setFlagsFromString(restore);
  };
}

/** By V8 major.minor: the flag that holds TurboFan back at twice its default, and its default. */
const TURBOFAN_THRESHOLD_HOLD = {
  "11.3": ["--ticks-before-optimization=6", "--ticks-before-optimization=3"],
  "12.4": ["--invocation-count-for-turbofan=6000", "--invocation-count-for-turbofan=3000"],
};

/** Whether the file at `path` is still the one read at start (`seen`), not replaced since. */
function sameFile(path, seen) {
  const now = lstatSync(path, { throwIfNoEntry: false });
  return seen !== undefined && now !== undefined && now.ino === seen.ino && now.dev === seen.dev && now.mtimeMs === seen.mtimeMs && now.size === seen.size;
}

function lineCount(text, end) {
  let lines = 0;
  for (let at = text.indexOf("\n"); at !== -1 && at < end; at = text.indexOf("\n", at + 1)) lines++;
  return lines;
}

/** The cache file for these bundle bytes, in a directory only this user can write; undefined when there is none. */
function cachePath(bytes) {
  try {
    const uid = process.getuid?.() ?? 0;
    const dir = join(tmpdir(), `polyvoy-compile-cache-${uid}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      const stat = fstatSync(fd);
      if (!stat.isDirectory() || stat.uid !== uid || (stat.mode & 0o022) !== 0) return undefined;
    } finally {
      closeSync(fd);
    }
    // Two CRCs (the whole and its second half): V8 accepts data made for any source of the
    // same length, so one 32-bit CRC alone would leave a 1 in 2^32 chance per pair of bundles
    // of running code compiled from another source.
    const hex = (n) => n.toString(16).padStart(8, "0");
    const key = `${hex(crc32(bytes))}${hex(crc32(bytes.subarray(bytes.length >> 1)))}-${bytes.length}-${process.version}-${process.arch}`;
    return join(dir, `${key}.v8cache`);
  } catch {
    return undefined;
  }
}

function readOwnFile(path) {
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile() || stat.uid !== (process.getuid?.() ?? 0)) return undefined;
      return { data: readFileSync(fd), stat };
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/**
 * Writes the cache file by a temporary file of this process's own, then prunes the
 * directory. New data does not replace a file another process wrote meanwhile (a link
 * fails if the name exists: the workers of one start write theirs at about the same time,
 * and a supervisor's, later, would hold only the functions a supervisor runs); refused
 * data is replaced (a rename).
 */
function writeOwnFile(path, data, replace) {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    // "wx": a temporary file of that name (another container's pid sharing /tmp) stays its own.
    writeFileSync(temporary, data, { mode: 0o600, flag: "wx" });
  } catch {
    return;
  }
  try {
    if (replace) renameSync(temporary, path);
    else {
      try {
        linkSync(temporary, path);
      } catch (err) {
        // A file system without hard links: a rename, which may replace another's.
        if (err.code !== "EEXIST") renameSync(temporary, path);
      }
    }
  } catch {}
  removeFile(temporary);
  prune(dirname(path), basename(path));
}

/**
 * Removes what no start will read: cache files beyond the KEEP_CACHE_FILES last used
 * (bundles since rebuilt or upgraded, other node versions; a start reads its file, which
 * moves its access time at least daily under relatime) and temporary files a killed
 * writer left. Only regular files of this user with our names: lstat, so a link is never
 * followed, nor removed.
 */
function prune(dir, keep) {
  try {
    const uid = process.getuid?.() ?? 0;
    const caches = [];
    for (const name of readdirSync(dir)) {
      const temporary = /\.v8cache\.\d+\.tmp$/.test(name);
      if (name === keep || !(temporary || name.endsWith(".v8cache"))) continue;
      const path = join(dir, name);
      const stat = lstatSync(path, { throwIfNoEntry: false });
      if (stat === undefined || !stat.isFile() || stat.uid !== uid) continue;
      if (!temporary) caches.push({ path, used: Math.max(stat.atimeMs, stat.mtimeMs) });
      else if (Date.now() - stat.mtimeMs > STALE_TEMPORARY_MS) removeFile(path);
    }
    caches.sort((a, b) => b.used - a.used);
    for (const { path } of caches.slice(KEEP_CACHE_FILES - 1)) removeFile(path);
  } catch {}
}

function removeFile(path) {
  try {
    unlinkSync(path);
  } catch {}
}
