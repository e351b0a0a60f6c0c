import type { AppendFile } from "../../core/port.ts";

const ignore = (): void => {};

/**
 * The port's AppendFile over a runtime's "write these bytes to the end" function:
 * writes run one at a time in order (a later write never overtakes an earlier one,
 * whatever the runtime's own queueing), `flush` waits for the last, `close` closes the
 * file after it. Adapters supply only the write-to-the-end and the close.
 */
export class SerialAppendFile implements AppendFile {
  /** Settles when the last queued write has. */
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    readonly path: string,
    private readonly writeAll: (data: Uint8Array) => Promise<void>,
    /** Closes the file; undefined for stdout/stderr, which are not ours to close. */
    private readonly closeFile: (() => Promise<void> | void) | undefined,
  ) {}

  write(data: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject({ code: "EBADF", message: `${this.path}: file is closed` });
    const done = this.tail.then(() => this.writeAll(data));
    this.tail = done.then(ignore, ignore);
    return done;
  }

  flush(): Promise<void> {
    return this.tail;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      const closeFile = this.closeFile;
      if (closeFile) this.tail = this.tail.then(closeFile).then(ignore, ignore);
    }
    return this.tail;
  }
}
