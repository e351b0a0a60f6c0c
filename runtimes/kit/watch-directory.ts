import type { FSWatcher } from "node:fs";
import type { DirectoryChange, DirectoryWatch } from "../../core/port.ts";
import { nodeFs } from "./builtins.ts";
import { toPortError } from "./errors.ts";

/**
 * The port's watchDirectory through node:fs's watch (inotify on Linux; Bun and Deno
 * implement it too). A directory, not the file: a file replaced by a rename (how
 * certificates are rotated, and what Envoy's watcher waits for) is a new inode that a
 * watch on the old one would never report. The watch does not keep the process alive.
 * node:fs is loaded at the first watch (builtins.ts): only configs with watched files need it.
 */
export function watchDirectory(path: string, onChange: (name: string | undefined, kind: DirectoryChange) => void): DirectoryWatch {
  let watcher: FSWatcher;
  let closed = false;
  try {
    watcher = nodeFs().watch(path, { persistent: false }, (event, name) => {
      if (!closed) onChange(typeof name === "string" && name !== "" ? name : undefined, event === "change" ? "change" : "rename");
    });
  } catch (err) {
    throw toPortError(err);
  }
  // The directory removed or unreadable: nothing more will be reported; the core keeps what it has.
  watcher.on("error", () => undefined);
  return {
    close() {
      if (closed) return;
      closed = true;
      watcher.close();
    },
  };
}
