/**
 * The command's checked configs on node and bun (core/config/checked-config-cache.ts), as
 * files in `$TMPDIR/polyvoy-checked-configs-<uid>/`, beside node's code cache and guarded as
 * it is (bin/node-code-cache.js): a directory of this user's only, not writable by others,
 * opened without following a link; an entry is this user's regular file, written whole
 * (a temporary file, then renamed). File names start with the build's id, so a build reads
 * only its own entries; the oldest are removed past KEEP_ENTRIES. Synchronous: a start reads
 * one small file before it serves (as Envoy reads its config, blocking), and writes once it
 * serves. No node:os or node:path (Bun compiles each node: module at its first load).
 */
import type { CheckedConfigStore } from "../../core/port.ts";
import { nodeFs } from "./builtins.ts";

/** Entries kept, of every build: a few configs in use, and a rebuilt or upgraded polyvoy's. */
const KEEP_ENTRIES = 16;
/**
 * Larger entries are neither written nor read: the core keeps texts up to 128 KiB
 * (MAX_CHECKED_TEXT), whose entries are ~5× that; a UTF-16 unit is at most 3 bytes of UTF-8.
 */
const MAX_ENTRY_CHARS = 4 * 1024 * 1024;
const MAX_ENTRY_BYTES = 3 * MAX_ENTRY_CHARS;
/** A temporary file older than this was left by a writer that died. */
const STALE_TEMPORARY_MS = 60_000;

interface ProcessLike {
  pid: number;
  env: Record<string, string | undefined>;
  getuid?: () => number;
}

/** The store for `buildId`; undefined without a build id (from the sources) or a user id (not POSIX). */
export function checkedConfigStore(buildId: string | undefined): CheckedConfigStore | undefined {
  const proc = (globalThis as unknown as { process: ProcessLike }).process;
  const uid = proc.getuid?.();
  if (buildId === undefined || uid === undefined) return undefined;
  // As os.tmpdir() on POSIX.
  const tmp = (proc.env["TMPDIR"] || proc.env["TMP"] || proc.env["TEMP"] || "/tmp").replace(/(.)\/+$/, "$1");
  const dir = `${tmp}/polyvoy-checked-configs-${uid}`;
  const prefix = `${buildId}-`;

  /** The directory, made if absent when `make`; false unless it is this user's own, closed to others. */
  const ownDirectory = (make: boolean): boolean => {
    const fs = nodeFs();
    if (make) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    let fd: number;
    try {
      fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    } catch {
      return false;
    }
    try {
      const stat = fs.fstatSync(fd);
      return stat.isDirectory() && stat.uid === uid && (stat.mode & 0o022) === 0;
    } finally {
      fs.closeSync(fd);
    }
  };

  return {
    location: dir,
    read(name) {
      if (!ownDirectory(false)) return undefined;
      const fs = nodeFs();
      let fd: number;
      try {
        fd = fs.openSync(`${dir}/${prefix}${name}`, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      } catch {
        return undefined;
      }
      try {
        const stat = fs.fstatSync(fd);
        if (!stat.isFile() || stat.uid !== uid || stat.size > MAX_ENTRY_BYTES) return undefined;
        const data = fs.readFileSync(fd, "utf8");
        // Used: pruning goes by the time an entry was last written or used (a read-only store keeps its time).
        const now = Date.now() / 1000;
        try {
          fs.futimesSync(fd, now, now);
        } catch {}
        return data;
      } finally {
        fs.closeSync(fd);
      }
    },
    write(name, data) {
      if (data.length > MAX_ENTRY_CHARS) throw new Error(`the entry would take more than ${MAX_ENTRY_CHARS} characters`);
      if (!ownDirectory(true)) throw new Error(`${dir} is not a directory of this user's only`);
      const fs = nodeFs();
      const path = `${dir}/${prefix}${name}`;
      const temporary = `${path}.${proc.pid}.tmp`;
      // "wx": a temporary file of that name (another container's pid sharing /tmp) stays its own.
      const fd = fs.openSync(temporary, "wx", 0o600);
      try {
        try {
          fs.writeFileSync(fd, data);
        } finally {
          fs.closeSync(fd);
        }
        fs.renameSync(temporary, path);
      } catch (err) {
        // A full disk: no part of an entry stays behind.
        fs.rmSync(temporary, { force: true });
        throw err;
      }
      prune(dir, uid);
    },
  };
}

/** Only this user's regular files with our names: lstat, so a link is never followed, nor removed. */
function prune(dir: string, uid: number): void {
  const fs = nodeFs();
  const entries: { path: string; at: number }[] = [];
  for (const name of fs.readdirSync(dir)) {
    const temporary = /\.checked\.\d+\.tmp$/.test(name);
    if (!temporary && !name.endsWith(".checked")) continue;
    const path = `${dir}/${name}`;
    const stat = fs.lstatSync(path, { throwIfNoEntry: false });
    if (stat === undefined || !stat.isFile() || stat.uid !== uid) continue;
    if (temporary) {
      if (Date.now() - stat.mtimeMs > STALE_TEMPORARY_MS) fs.rmSync(path, { force: true });
    } else entries.push({ path, at: stat.mtimeMs });
  }
  entries.sort((a, b) => b.at - a.at);
  for (const { path } of entries.slice(KEEP_ENTRIES)) fs.rmSync(path, { force: true });
}
