/**
 * The command's checked configs on deno (core/config/checked-config-cache.ts): the same
 * files as on node and bun (runtimes/kit/checked-config-store.ts), through Deno's own file
 * APIs (no node: module on the start path: runtimes/README.md). Deno has no O_NOFOLLOW: the
 * directory is lstat'ed (not a link, this user's, closed to others), so nobody else can put
 * or swap a file in it. Used only when Deno's permissions already allow all it needs (the
 * environment's TMPDIR, the user id, reading and writing the directory): a start never
 * makes Deno ask (a prompt on a terminal would hold the start until answered).
 */
import type { CheckedConfigStore } from "../../core/port.ts";
import { Deno, type DenoPermissionDescriptor } from "./deno-api.ts";

/** As the node and bun store's. */
const KEEP_ENTRIES = 16;
const MAX_ENTRY_CHARS = 4 * 1024 * 1024;
const MAX_ENTRY_BYTES = 3 * MAX_ENTRY_CHARS;
const STALE_TEMPORARY_MS = 60_000;

const granted = (descriptor: DenoPermissionDescriptor): boolean => {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
};

/** The store for `buildId`; undefined without a build id (from the sources), a user id, or the permissions. */
export function denoCheckedConfigStore(buildId: string | undefined): CheckedConfigStore | undefined {
  if (buildId === undefined) return undefined;
  if (!["TMPDIR", "TMP", "TEMP"].every((variable) => granted({ name: "env", variable })) || !granted({ name: "sys", kind: "uid" })) return undefined;
  const uid = Deno.uid();
  if (uid === null) return undefined;
  const tmp = (Deno.env.get("TMPDIR") || Deno.env.get("TMP") || Deno.env.get("TEMP") || "/tmp").replace(/(.)\/+$/, "$1");
  const dir = `${tmp}/polyvoy-checked-configs-${uid}`;
  if (!granted({ name: "read", path: dir }) || !granted({ name: "write", path: dir })) return undefined;
  const prefix = `${buildId}-`;

  const ownDirectory = (): boolean => {
    try {
      const stat = Deno.lstatSync(dir);
      return stat.isDirectory && !stat.isSymlink && stat.uid === uid && stat.mode !== null && (stat.mode & 0o022) === 0;
    } catch {
      return false;
    }
  };

  return {
    location: dir,
    read(name) {
      if (!ownDirectory()) return undefined;
      const path = `${dir}/${prefix}${name}`;
      try {
        const stat = Deno.lstatSync(path);
        if (!stat.isFile || stat.uid !== uid || stat.size > MAX_ENTRY_BYTES) return undefined;
        const data = Deno.readTextFileSync(path);
        // Used: pruning goes by the time an entry was last written or used (a read-only store keeps its time).
        const now = new Date();
        try {
          Deno.utimeSync(path, now, now);
        } catch {}
        return data;
      } catch {
        return undefined;
      }
    },
    write(name, data) {
      if (data.length > MAX_ENTRY_CHARS) throw new Error(`the entry would take more than ${MAX_ENTRY_CHARS} characters`);
      Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (!ownDirectory()) throw new Error(`${dir} is not a directory of this user's only`);
      const path = `${dir}/${prefix}${name}`;
      const temporary = `${path}.${Deno.pid}.tmp`;
      try {
        Deno.writeTextFileSync(temporary, data, { mode: 0o600, createNew: true });
        Deno.renameSync(temporary, path);
      } catch (err) {
        // A full disk: no part of an entry stays behind (a name taken by another is not ours to remove).
        if ((err as { name?: string }).name === "AlreadyExists") throw err;
        try {
          Deno.removeSync(temporary);
        } catch {}
        throw err;
      }
      prune(dir, uid);
    },
  };
}

function prune(dir: string, uid: number): void {
  const entries: { path: string; at: number }[] = [];
  for (const { name } of Deno.readDirSync(dir)) {
    const temporary = /\.checked\.\d+\.tmp$/.test(name);
    if (!temporary && !name.endsWith(".checked")) continue;
    const path = `${dir}/${name}`;
    let stat;
    try {
      stat = Deno.lstatSync(path);
    } catch {
      continue;
    }
    if (!stat.isFile || stat.uid !== uid) continue;
    const at = stat.mtime?.getTime() ?? 0;
    if (!temporary) entries.push({ path, at });
    else if (Date.now() - at > STALE_TEMPORARY_MS) remove(path);
  }
  entries.sort((a, b) => b.at - a.at);
  for (const { path } of entries.slice(KEEP_ENTRIES)) remove(path);
}

function remove(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {}
}
