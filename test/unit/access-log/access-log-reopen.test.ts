/** AccessLogManager.reopen (SIGUSR1, Envoy's AccessLogManagerImpl::reopen): close and reopen every file by its path. */
import { describe, expect, test } from "vitest";
import type { AccessLogContext } from "../../../core/access-log/context.ts";
import { AccessLogManager } from "../../../core/access-log/logger.ts";
import type { AccessLogConfig } from "../../../core/config/bootstrap.ts";
import type { AppendFile, PortError, Runtime } from "../../../core/port.ts";

const ctx = (line: string): AccessLogContext =>
  ({ requestHeader: (name: string) => (name === "x-line" ? line : undefined) }) as unknown as AccessLogContext;
const textLog = (path: string): AccessLogConfig => ({
  name: "log",
  type: "envoy.access_loggers.file",
  path,
  format: { type: "text", format: "%REQ(X-LINE)%\n", omitEmptyValues: false },
});

/** One open of a path: what was written to it, and whether it was closed. */
class OpenedFile implements AppendFile {
  text = "";
  closed = false;
  /** Writes wait for `release` while set. */
  held: (() => void)[] | undefined;
  constructor(readonly path: string) {}
  write(data: Uint8Array): Promise<void> {
    const text = String.fromCharCode(...data);
    if (!this.held) {
      this.text += text;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.held!.push(() => ((this.text += text), resolve())));
  }
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const run of held) run();
  }
  flush = () => Promise.resolve();
  /** As the port's: flush (the writes queued before), then close. */
  close(): Promise<void> {
    if (!this.held) {
      this.closed = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.held!.push(() => ((this.closed = true), resolve())));
  }
}

function fakeRuntime() {
  const opened: OpenedFile[] = [];
  const logged: string[] = [];
  let failOpen: PortError | undefined;
  const runtime = {
    setTimeout: () => 0,
    clearTimeout: () => {},
    log: { write: (line: string) => void logged.push(line) },
    async openAppendFile(path: string): Promise<AppendFile> {
      if (failOpen) throw failOpen;
      const file = new OpenedFile(path);
      opened.push(file);
      return file;
    },
  } as unknown as Runtime;
  return { runtime, opened, logged, failNextOpens: (error: PortError | undefined) => (failOpen = error) };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("access log reopen", () => {
  test("after a reopen, lines go to a new open of the same path; the old one is closed once its write is done", async () => {
    const fake = fakeRuntime();
    const manager = new AccessLogManager(fake.runtime);
    const [logger] = await manager.createAccessLoggers([textLog("/var/log/access.log")]);
    logger!.log(ctx("before"));
    await logger!.flush();
    const [first] = fake.opened;
    // A write in flight on the old file when the reopen comes.
    first!.held = [];
    logger!.log(ctx("in flight"));
    const flushing = logger!.flush();
    await settle();
    logger!.log(ctx("buffered"));
    await manager.reopen();
    expect(fake.opened.map((f) => f.path)).toEqual(["/var/log/access.log", "/var/log/access.log"]);
    expect(first!.closed).toBe(false);
    first!.release();
    await flushing;
    await settle();
    expect(first!.closed).toBe(true);
    logger!.log(ctx("after"));
    await logger!.flush();
    expect(first!.text).toBe("before\nin flight\n");
    // Lines still buffered at the reopen go to the new file, as in Envoy.
    expect(fake.opened[1]!.text).toBe("buffered\nafter\n");
    await manager.close();
    expect(fake.opened[1]!.closed).toBe(true);
  });

  test("the process's stdout and stderr are never reopened", async () => {
    const fake = fakeRuntime();
    const manager = new AccessLogManager(fake.runtime);
    await manager.createAccessLoggers([textLog("/dev/stdout"), textLog("/dev/stderr")]);
    await manager.reopen();
    expect(fake.opened).toHaveLength(2);
    expect(fake.opened.some((f) => f.closed)).toBe(false);
  });

  test("a path that cannot be opened again: the old file stays in use and the failure is logged", async () => {
    const fake = fakeRuntime();
    const manager = new AccessLogManager(fake.runtime);
    const [logger] = await manager.createAccessLoggers([textLog("/var/log/access.log")]);
    fake.failNextOpens({ code: "EACCES", message: "permission denied" });
    await manager.reopen();
    expect(fake.logged.join("")).toMatch(/access log \/var\/log\/access\.log: cannot reopen, still writing to the file opened before: EACCES/);
    logger!.log(ctx("still here"));
    await logger!.flush();
    expect(fake.opened).toHaveLength(1);
    expect(fake.opened[0]!.text).toBe("still here\n");
    expect(fake.opened[0]!.closed).toBe(false);
  });
});
