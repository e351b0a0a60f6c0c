import type { DirectoryChange, DirectoryWatch, Runtime, TimerHandle } from "../port.ts";

/** Events of one change (a write is several; a rename is two) are taken together after this long. */
const SETTLE_MS = 50;
/** Without the port's watchDirectory: how often the files are read again. */
export const POLL_MS = 1000;

/**
 * Watch files for changes (Envoy's Filesystem::Watcher as SdsApi uses it): through the
 * port's watchDirectory on each file's directory (or on `directory`, where any entry
 * counts: a watched_directory), or, where the runtime has none or the directory cannot
 * be watched, by reading the files every POLL_MS and comparing. `onChange` runs once
 * per burst of events, never while a poll is reading.
 */
export class FileWatch {
  private readonly watches: DirectoryWatch[] = [];
  private settle: TimerHandle | undefined;
  private poll: TimerHandle | undefined;
  private polling = false;
  private closed = false;
  /** The files' text when last read (polling), keyed by path. */
  private readonly seen = new Map<string, string | undefined>();

  constructor(
    private readonly runtime: Runtime,
    private readonly files: readonly string[],
    directory: string | undefined,
    private readonly onChange: () => void,
  ) {
    const byDirectory = new Map<string, Set<string> | undefined>();
    if (directory !== undefined) byDirectory.set(directory, undefined);
    else for (const file of files) (byDirectory.get(dirname(file)) ?? byDirectory.set(dirname(file), new Set()).get(dirname(file))!).add(basename(file));
    let unwatched = runtime.watchDirectory === undefined;
    for (const [dir, names] of runtime.watchDirectory ? byDirectory : []) {
      try {
        this.watches.push(runtime.watchDirectory!(dir, (name, kind) => (relevant(name, kind, names, files) ? this.changed() : undefined)));
      } catch {
        unwatched = true;
      }
    }
    if (unwatched) void this.startPolling();
  }

  close(): void {
    this.closed = true;
    for (const watch of this.watches) watch.close();
    if (this.settle) this.runtime.clearTimeout(this.settle);
    if (this.poll) this.runtime.clearTimeout(this.poll);
  }

  private changed(): void {
    if (this.closed || this.settle) return;
    this.settle = this.runtime.setTimeout(() => {
      this.settle = undefined;
      if (!this.closed) this.onChange();
    }, SETTLE_MS);
  }

  private async startPolling(): Promise<void> {
    await this.readAll();
    this.armPoll();
  }

  private armPoll(): void {
    if (this.closed) return;
    this.poll = this.runtime.setTimeout(() => void this.pollOnce(), POLL_MS);
  }

  private async pollOnce(): Promise<void> {
    if (this.closed || this.polling) return;
    this.polling = true;
    const changed = await this.readAll();
    this.polling = false;
    if (changed) this.changed();
    this.armPoll();
  }

  /** Read every file; true when one differs from the last read. */
  private async readAll(): Promise<boolean> {
    let changed = false;
    for (const file of this.files) {
      const text = await this.runtime.readTextFile(file).catch(() => undefined);
      if (this.seen.has(file) && this.seen.get(file) !== text) changed = true;
      this.seen.set(file, text);
    }
    return changed;
  }
}

/**
 * Whether a change in a watched directory concerns the files. For a file's own directory
 * (`names`): an event naming it, or naming nothing. For a watched_directory (no `names`):
 * Envoy's WatchedDirectory (source/common/config/watched_directory.cc) waits for MovedTo
 * only, so a file written in place there — a log kept in that directory, the proxy's own
 * included, which a reload writes to — must not start a reload; entries created, moved or
 * removed, and writes to the watched files themselves, still count.
 */
function relevant(name: string | undefined, kind: DirectoryChange, names: Set<string> | undefined, files: readonly string[]): boolean {
  if (name === undefined) return true;
  if (names !== undefined) return names.has(name);
  return kind === "rename" || files.some((file) => basename(file) === name);
}

function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
