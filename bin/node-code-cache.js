// Starts dist/polyvoy-node.mjs on node with V8's code cache: the bytecode of the functions
// the previous start compiled, so this start parses and compiles little of the 1.3 MB
// bundle (node 20 has no module.enableCompileCache; vm.Script's cachedData is its script
// equivalent). The bundle's code is one function expression between two marker lines
// (scripts/build-runtimes.mjs); it is compiled as a script with the cached data, and the
// data is written after start-up when there was none or V8 refused it.
//
// The cache is never trusted blindly: its file is named by the SHA-256 of the bundle's
// bytes and node's version (V8 itself refuses data made by another V8 or other flags, and
// checks only the source's length), and it lives in a directory of the user's own
// (mode 0700, owned by this uid), as code read from it runs. Any failure to read or
// write the cache only means a start without it.
// Built-ins by process.getBuiltinModule: an ES import of node:crypto builds its namespace,
// which loads node's whole Web Crypto (~20 ms of start-up here) for one hash.
const { createHash } = process.getBuiltinModule("node:crypto");
const { closeSync, constants, fstatSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } = process.getBuiltinModule("node:fs");
const { createRequire } = process.getBuiltinModule("node:module");
const { tmpdir } = process.getBuiltinModule("node:os");
const { join } = process.getBuiltinModule("node:path");
const { fileURLToPath } = process.getBuiltinModule("node:url");
const { Script } = process.getBuiltinModule("node:vm");

const BEGIN = "\n//#polyvoy-script-begin\n";
const END = "\n//#polyvoy-script-end\n";
// Written once start-up is over, so the data holds the functions start-up compiled.
const WRITE_AFTER_MS = 2000;

export async function startNodeEntry(url) {
  const file = fileURLToPath(url);
  const bytes = readFileSync(file);
  const text = bytes.toString("utf8");
  const begin = text.indexOf(BEGIN);
  const end = text.lastIndexOf(END);
  if (begin < 0 || end < begin) return import(url.href);
  const cacheFile = cachePath(bytes);
  const cachedData = cacheFile === undefined ? undefined : readOwnFile(cacheFile);
  const script = new Script(text.slice(begin + BEGIN.length, end), {
    filename: file,
    // Stack traces keep the file's own line numbers.
    lineOffset: lineCount(text, begin + BEGIN.length),
    cachedData,
    // The bundle imports node: built-ins and the absolute URLs of user modules.
    importModuleDynamically: (specifier) => import(specifier),
  });
  const main = script.runInThisContext();
  main(createRequire(file));
  if (cacheFile !== undefined && (cachedData === undefined || script.cachedDataRejected)) {
    setTimeout(() => writeOwnFile(cacheFile, script.createCachedData()), WRITE_AFTER_MS).unref();
  }
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
    const key = createHash("sha256").update(bytes).update(`\0${process.version}\0${process.arch}`).digest("hex");
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
      return readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

function writeOwnFile(path, data) {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, data, { mode: 0o600, flag: "wx" });
    renameSync(temporary, path);
  } catch {
    try {
      unlinkSync(temporary);
    } catch {}
  }
}
