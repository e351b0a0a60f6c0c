// Starts dist/polyvoy-node.mjs on node with V8's code cache: the bytecode of the functions
// the previous start compiled, so this start parses and compiles little of the 1.3 MB
// bundle (node 20 has no module.enableCompileCache; vm.Script's cachedData is its script
// equivalent). The bundle's code is one function expression between two marker lines
// (scripts/build-runtimes.mjs); it is compiled as a script with the cached data, and the
// data is written as soon as start-up is over (the bundle's `started` settles: the
// listeners serve) when there was none or V8 refused it, so even a short-lived proxy's
// next start has it. Old cache files (other bundles, other node versions) are pruned then.
// The modules only some configs load (filters but the HCM and router, TLS, admin, xDS,
// re2js, yaml) are lazy scripts in the same file, each compiled with its own cache file
// when one of its modules is first needed (scripts/build-runtimes.mjs, nodeScriptModule):
// a start that needs none of them gets no closures, function data or source for their code.
//
// The cache is never trusted blindly: its file is named by two CRC-32s and the length of the
// bundle's bytes and node's version (V8 itself refuses data made by another V8 or other
// flags, and checks only the source's length), and it lives in a directory of the user's
// own (mode 0700, owned by this uid), as code read from it runs. Any failure to read or
// write the cache only means a start without it. The CRCs tell apart bundles, not
// attackers: whoever can write the bundle or that directory runs code as this user anyway.
// Built-ins by process.getBuiltinModule (an ES import builds each namespace); zlib's crc32
// rather than node:crypto's SHA-256, whose module alone costs ~8 ms of CPU to load.
const { Buffer, isAscii } = process.getBuiltinModule("node:buffer");
const { closeSync, constants, existsSync, fstatSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, unlinkSync, writeFileSync } = process.getBuiltinModule("node:fs");
const { createRequire } = process.getBuiltinModule("node:module");
const { tmpdir } = process.getBuiltinModule("node:os");
const { basename, dirname, join } = process.getBuiltinModule("node:path");
const { fileURLToPath } = process.getBuiltinModule("node:url");
const { cachedDataVersionTag, setFlagsFromString } = process.getBuiltinModule("node:v8");
const { Script } = process.getBuiltinModule("node:vm");
const { crc32 } = process.getBuiltinModule("node:zlib");

const BEGIN = "\n//#polyvoy-script-begin\n";
const END = "\n//#polyvoy-script-end\n";
// Before each lazy script, with its index; each ends with END.
const LAZY_BEGIN = "\n//#polyvoy-lazy-script-begin ";
const BEGIN_LINE = "\n";
// For a process whose start-up never settles `started` (the supervisor of --concurrency N
// workers waits for them to end), start-up is taken as over this long after it began. Its
// workers have written the cache by then, and it keeps theirs (writeOwnFile).
const AFTER_START_MS = 10_000;
// Cache files kept in the directory: one per bundle × node version in use (by last use),
// each with its lazy scripts' (`.lazy-<index>.v8cache`) that were loaded.
const KEEP_CACHE_FILES = 4;
// A temporary file older than this is a killed writer's (a write takes milliseconds).
const STALE_TEMPORARY_MS = 60_000;

export async function startNodeEntry(url) {
  const file = fileURLToPath(url);
  // `let`: dropped once written, as the closures below keep this function's context (the
  // lazy script's loader, for the process's life) and the vm.Script holds the bundle's
  // top-level bytecode (~0.4 MB: the module bodies, run once).
  let compiled = compileMain(file);
  if (compiled === undefined) return import(url.href);
  const { lazyParts } = compiled;
  // V8 stamps cached data with a hash of its flags: the data is made once the flags are
  // back, and not at all if this V8 does not come back to the same hash.
  const flagsTag = cachedDataVersionTag();
  const flags = startupFlags();
  flags.hold();
  let over = false;
  const main = compiled.script.runInThisContext();
  // The lazy scripts compiled before start-up was over, whose cache is written then.
  let lazyCompiled = [];
  const linked = link(createRequire(file), (index) => {
    // Compiled with the flags the cached data was made with (V8 refuses data of another
    // flags' hash), which a start-up that is not over holds otherwise.
    if (!over) flags.restore();
    let lazy;
    try {
      lazy = compileLazy(file, lazyParts, index);
    } finally {
      if (!over) flags.hold();
    }
    if (!over) lazyCompiled.push(lazy);
    else setImmediate(() => writeCache(lazy, flagsTag));
    return lazy.script.runInThisContext();
  });
  installImportHook();
  main(linked.require, linked.main);
  const afterStart = () => {
    if (over) return;
    over = true;
    clearTimeout(timer);
    flags.restore();
    writeCache(compiled, flagsTag);
    for (const lazy of lazyCompiled) writeCache(lazy, flagsTag);
    compiled = lazyCompiled = undefined;
  };
  const timer = setTimeout(afterStart, AFTER_START_MS).unref();
  // A rejection stays unhandled (runMain reports its own failures), as without the cache.
  linked.main.exports.started?.then(afterStart);
}

/** Writes a script's cached data when it had none or V8 refused it, and the flags are those it will be read with. */
function writeCache({ script, cacheFile, write, seen }, flagsTag) {
  try {
    if (write === undefined || cachedDataVersionTag() !== flagsTag) return;
    // Another process (a worker of the same start) wrote the file meanwhile: theirs stays.
    if (write === "new" ? existsSync(cacheFile) : !sameFile(cacheFile, seen)) return;
    writeOwnFile(cacheFile, script.createCachedData(), write === "replace");
  } catch {
    // a cache that cannot be written only means a next start without it
  }
}

/**
 * What the bundle's require()s answer: node: built-ins by node's require, `polyvoy-mod:<path>`
 * by the script that has the module at that path: the main script or a lazy one, run at its
 * first use (`lazyScript(index)`). A module-level function: its closures keep only what it is
 * given. scripts/build-runtimes.mjs writes its text into the bundle too (NODE_LINK, for
 * `node polyvoy-node.mjs`): it must name nothing outside itself.
 */
export function link(nodeRequire, lazyScript) {
  const main = { exports: {} };
  const scripts = [];
  // A lazy script that failed to load (read, compile or run) fails with the same error every
  // time after, as an ES module whose evaluation threw. esbuild's init wrappers already keep
  // the error of a module whose import of another lazy script threw, so retrying here would
  // make a load work or not by the path that first asked for it.
  const failures = [];
  const require = (id) => {
    if (!id.startsWith("polyvoy-mod:")) return nodeRequire(id);
    const path = id.slice(12);
    const index = main.exports.polyvoyScripts[path];
    if (index === undefined) return main.exports.polyvoyModule(path);
    if (failures[index] !== undefined) throw failures[index];
    if (scripts[index] === undefined) {
      const module = { exports: {} };
      try {
        lazyScript(index)(require, module);
      } catch (err) {
        failures[index] = err;
        throw err;
      }
      scripts[index] = module.exports;
    }
    return scripts[index].polyvoyModule(path);
  };
  return { main, require };
}

/**
 * The main script, compiled with its cache, and where the lazy ones are (`lazyParts`). Its own
 * function, so that the bundle's bytes (1.5 MB) are garbage before the script runs and an
 * early scavenge frees them, rather than a full collection much later.
 */
function compileMain(file) {
  // Kept open for the process's life: lazy scripts are read from this file, the bundle this
  // process started from, even after an upgrade or reinstall replaced the path (npm writes
  // new files; the old inode stays readable through the descriptor).
  const fd = openSync(file, constants.O_RDONLY);
  let bytes, stat;
  try {
    stat = fstatSync(fd);
    bytes = readFileSync(fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  // Lines are counted once, from one section to the next (each script keeps the file's line numbers).
  const lines = { at: 0, count: 0 };
  const lazyParts = { key: undefined, fd, size: stat.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, scripts: [] };
  const mainAt = bytes.lastIndexOf(BEGIN);
  for (let at = bytes.indexOf(LAZY_BEGIN); at !== -1 && at < mainAt; at = bytes.indexOf(LAZY_BEGIN, at + 1)) {
    const line = bytes.indexOf(10, at + LAZY_BEGIN.length);
    lazyParts.scripts[Number(bytes.latin1Slice(at + LAZY_BEGIN.length, line))] = section(bytes, BEGIN_LINE, END, line, lines);
  }
  const main = section(bytes, BEGIN, END, mainAt, lines);
  if (main === undefined) {
    closeSync(fd);
    return undefined;
  }
  const key = bundleKey(bytes);
  lazyParts.key = key;
  const body = bytes.subarray(main.start, main.end);
  // The bundle is ASCII (esbuild escapes the rest; scripts/build-runtimes.mjs checks), and
  // latin1 copies ASCII bytes into a one-byte string at about half UTF-8's cost. Decoded
  // from the script's own bytes: a slice of the whole file's text would be a sliced string
  // that keeps the whole file (the lazy script too) alive as long as V8 keeps the source.
  const source = body.toString(isAscii(body) ? "latin1" : "utf8");
  return { ...compile(file, source, main.lineOffset, cachePath(`${key}.v8cache`)), lazyParts };
}

/**
 * Lazy script `index`, read alone (the whole file read again, once the adapter has raised
 * glibc's thresholds, would stay in the malloc heap) through the descriptor compileMain kept,
 * so from the bundle this process started from (its modules must fit the main script's),
 * wherever the path points now. Only a bundle written over in place (same inode, other bytes:
 * its size changed, or its modification time and its checksum) is refused. No open() per
 * load: nothing here fails on a busy process's descriptor limit, which would leave the module
 * that needed it failed for good (link() keeps a failed load's error, as esbuild's init
 * wrappers keep a thrown one). Its cache file is the bundle's, `.lazy-<index>`.
 */
function compileLazy(file, parts, index) {
  const part = parts.scripts[index];
  if (part === undefined) throw new Error(`polyvoy: ${file} has no lazy script ${index}`);
  try {
    return readAndCompileLazy(file, parts, index, part);
  } catch (err) {
    if (typeof err?.code !== "string") throw err;
    // A system error (EIO): said with the file and what to do, as link() gives it every time after.
    throw new Error(`polyvoy: cannot read lazy script ${index} of ${file}: ${err instanceof Error ? err.message : String(err)}: restart polyvoy to load a module from it`);
  }
}

function readAndCompileLazy(file, parts, index, part) {
  const now = fstatSync(parts.fd);
  // The change time too: a copy that keeps the modification time (cp -p, rsync -t; npm's
  // tarballs all carry one date) still sets it.
  const touched = now.mtimeMs !== parts.mtimeMs || now.ctimeMs !== parts.ctimeMs;
  if (now.size !== parts.size || (touched && !sameContent(parts, now))) {
    throw new Error(`polyvoy: ${file} was written over since this process started: restart polyvoy to load a module from it`);
  }
  const source = readLatin1(parts.fd, part.start, part.end);
  return compile(file, source, part.lineOffset, cachePath(`${parts.key}.lazy-${index}.v8cache`));
}

/**
 * Whether the kept bundle, whose times changed (a touch, or its path replaced), still has
 * the bytes it started with: bundleKey's two checksums, read by 64 KiB (as readLatin1).
 */
function sameContent(parts, now) {
  const chunk = Buffer.allocUnsafeSlow(65536);
  const half = now.size >> 1;
  let whole = 0;
  let second = 0;
  for (let at = 0; at < now.size; ) {
    const read = readSync(parts.fd, chunk, 0, Math.min(chunk.length, now.size - at), at);
    if (read === 0) return false;
    const bytes = chunk.subarray(0, read);
    whole = crc32(bytes, whole);
    if (at + read > half) second = crc32(bytes.subarray(Math.max(0, half - at)), second);
    at += read;
  }
  if (bundleKeyOf(whole, second, now.size) !== parts.key) return false;
  parts.mtimeMs = now.mtimeMs;
  parts.ctimeMs = now.ctimeMs;
  return true;
}

/**
 * The ASCII text between two offsets of a file, read by 64 KiB: one buffer of the script's
 * size (~0.5 MB), allocated once the adapter has raised glibc's thresholds, would be freed
 * into the malloc heap and stay resident there.
 */
function readLatin1(fd, start, end) {
  const chunk = Buffer.allocUnsafeSlow(65536);
  const parts = [];
  for (let at = start; at < end; ) {
    const read = readSync(fd, chunk, 0, Math.min(chunk.length, end - at), at);
    if (read === 0) throw new Error("the bundle is shorter than when it was read");
    if (!isAscii(chunk.subarray(0, read))) throw new Error("the bundle's lazy script is not ASCII");
    parts.push(chunk.latin1Slice(0, read));
    at += read;
  }
  return parts.join("");
}

/**
 * Where the script whose begin marker is at `from` is in the bundle's bytes (up to the next
 * `endMarker`), and its first line's number (`lines`: the lines before `lines.at`, moved on
 * to here); undefined when it is not there.
 */
function section(bytes, beginMarker, endMarker, from, lines) {
  if (from < 0 || !bytes.subarray(from, from + beginMarker.length).equals(Buffer.from(beginMarker))) return undefined;
  const start = from + beginMarker.length;
  const end = bytes.indexOf(endMarker, start);
  if (end < 0) return undefined;
  for (let at = bytes.indexOf(10, lines.at); at !== -1 && at < start; at = bytes.indexOf(10, at + 1)) lines.count++;
  lines.at = start;
  return { start, end, lineOffset: lines.count };
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
 * A script's source, compiled with the cache when there is one. Its own function, so that the
 * cached data (~1 MB) is garbage before the script runs and an early scavenge frees it,
 * rather than a full collection much later. Allocated before the adapter raises glibc's
 * thresholds (runtimes/kit/malloc-thresholds.ts), it and the bundle's bytes are blocks
 * glibc mapped on their own, so freeing them hands the memory back to the system.
 */
function compile(file, source, lineOffset, cacheFile) {
  const read = cacheFile === undefined ? undefined : readOwnFile(cacheFile);
  const cachedData = read?.data;
  const script = new Script(source, {
    filename: file,
    // Stack traces keep the file's own line numbers.
    lineOffset,
    cachedData,
  });
  // "replace" data V8 refused; "new" when there was none (another process may write it first).
  const write = cacheFile === undefined ? undefined : cachedData === undefined ? "new" : script.cachedDataRejected ? "replace" : undefined;
  return { script, cacheFile, write, seen: read?.stat };
}

/**
 * What holds V8's young generation small and TurboFan back while the bundle starts, and
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
function startupFlags() {
  const own = `${process.execArgv.join(" ")} ${process.env.NODE_OPTIONS ?? ""}`;
  const held = [];
  if (!/semi[-_]space/.test(own)) held.push(["--semi-space-growth-factor=1", "--semi-space-growth-factor=2"]);
  const tiering = TURBOFAN_THRESHOLD_HOLD[process.versions.v8.split(".").slice(0, 2).join(".")];
  if (tiering !== undefined && !/--[\w-]*(opt|turbofan|jitless|ticks|invocation|interrupt|tier)/.test(own)) held.push(tiering);
  return {
    hold: () => held.forEach(([hold]) => setFlagsFromString(hold)),
    restore: () => held.forEach(([, restore]) => setFlagsFromString(restore)),
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

/**
 * The bundle's key: two CRCs (the whole and its second half) and its length, with node's
 * version. V8 accepts data made for any source of the same length, so one 32-bit CRC alone
 * would leave a 1 in 2^32 chance per pair of bundles of running code compiled from another
 * source.
 */
function bundleKey(bytes) {
  return bundleKeyOf(crc32(bytes), crc32(bytes.subarray(bytes.length >> 1)), bytes.length);
}

function bundleKeyOf(whole, second, length) {
  const hex = (n) => n.toString(16).padStart(8, "0");
  return `${hex(whole)}${hex(second)}-${length}-${process.version}-${process.arch}`;
}

/** The cache file named `name`, in a directory only this user can write; undefined when there is none. */
function cachePath(name) {
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
    return join(dir, name);
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
 * writer left; a lazy script's cache goes with its bundle's. Only regular files of this
 * user with our names: lstat, so a link is never
 * followed, nor removed.
 */
function prune(dir, keep) {
  try {
    const uid = process.getuid?.() ?? 0;
    // A lazy script's cache goes with its bundle's (`X.lazy-3.v8cache` with `X.v8cache`).
    const mainOf = (name) => name.replace(/\.lazy-\d+\.v8cache$/, ".v8cache");
    const keepMain = mainOf(keep);
    const caches = [];
    const lazies = [];
    for (const name of readdirSync(dir)) {
      const temporary = /\.v8cache\.\d+\.tmp$/.test(name);
      if (name === keep || !(temporary || name.endsWith(".v8cache"))) continue;
      const path = join(dir, name);
      const stat = lstatSync(path, { throwIfNoEntry: false });
      if (stat === undefined || !stat.isFile() || stat.uid !== uid) continue;
      if (temporary) {
        if (Date.now() - stat.mtimeMs > STALE_TEMPORARY_MS) removeFile(path);
      } else if (mainOf(name) !== name) lazies.push(name);
      else if (name !== keepMain) caches.push({ name, used: Math.max(stat.atimeMs, stat.mtimeMs) });
    }
    caches.sort((a, b) => b.used - a.used);
    const kept = new Set([keepMain, ...caches.slice(0, KEEP_CACHE_FILES - 1).map(({ name }) => name)]);
    for (const { name } of caches.slice(KEEP_CACHE_FILES - 1)) removeFile(join(dir, name));
    for (const name of lazies) if (!kept.has(mainOf(name))) removeFile(join(dir, name));
  } catch {}
}

function removeFile(path) {
  try {
    unlinkSync(path);
  } catch {}
}
