import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import type { AccessLogContext } from "../../../core/access-log/context.ts";
import { AccessLogManager, AccessLogOpenError, createAccessLoggers } from "../../../core/access-log/logger.ts";
import type { AccessLogConfig } from "../../../core/config/bootstrap.ts";
import type { AppendFile, PortError, Runtime } from "../../../core/port.ts";
import { currentRuntime } from "../../port/current-runtime.ts";

/** A context whose %REQ(X-LINE)% is `line`. */
function ctx(line: string): AccessLogContext {
  return {
    startWallClock: Date.UTC(2024, 0, 1),
    durationMs: 1,
    protocol: "HTTP/1.1",
    responseCode: 200,
    responseCodeDetails: undefined,
    responseFlags: [],
    bytesReceived: 0,
    bytesSent: 0,
    upstreamHost: undefined,
    upstreamCluster: undefined,
    downstreamRemoteAddress: undefined,
    downstreamLocalAddress: undefined,
    routeName: undefined,
    requestHeader: (name) => (name === "x-line" ? line : undefined),
    responseHeader: () => undefined,
    responseTrailer: () => undefined,
  };
}

const textLog = (path: string, format = "%REQ(X-LINE)%\n", name = "log"): AccessLogConfig => ({
  name,
  type: "envoy.access_loggers.file",
  path,
  format: { type: "text", format, omitEmptyValues: false },
});

const decode = (bytes: Uint8Array) => String.fromCharCode(...bytes);

/** An append-only file held in memory; writes can be held (a stuck reader) or made to fail. */
class FakeFile implements AppendFile {
  readonly writes: string[] = [];
  readonly held: (() => void)[] = [];
  hold = false;
  failWith: PortError | undefined;
  closed = false;

  constructor(readonly path: string) {}

  write(data: Uint8Array): Promise<void> {
    if (this.failWith) return Promise.reject(this.failWith);
    const text = decode(data);
    if (!this.hold) {
      this.writes.push(text);
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      this.held.push(() => {
        this.writes.push(text);
        resolve();
      }),
    );
  }

  release(): void {
    this.hold = false;
    for (const release of this.held.splice(0)) release();
  }

  flush = () => Promise.resolve();

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  get text(): string {
    return this.writes.join("");
  }
}

/** The runtime services the access logger uses: manual timers, files in memory. */
function fakeRuntime() {
  const files = new Map<string, FakeFile>();
  const timers = new Map<number, { at: number; callback: () => void }>();
  const logged: string[] = [];
  let now = 0;
  let nextTimer = 1;
  let opens = 0;
  const runtime = {
    setTimeout(callback: () => void, ms: number) {
      const id = nextTimer++;
      timers.set(id, { at: now + ms, callback });
      return id;
    },
    clearTimeout(handle: unknown) {
      timers.delete(handle as number);
    },
    log: { write: (line: string) => void logged.push(line) },
    async openAppendFile(path: string): Promise<AppendFile> {
      opens++;
      if (path.startsWith("/missing/")) throw { code: "ENOENT", message: "no such file or directory" } satisfies PortError;
      const file = new FakeFile(path);
      files.set(path, file);
      return file;
    },
  } as unknown as Runtime;
  return {
    runtime,
    files,
    logged,
    get opens() {
      return opens;
    },
    pendingTimers: () => timers.size,
    /** Advance the clock, firing due timers. */
    async advance(ms: number) {
      now += ms;
      for (const [id, timer] of [...timers]) {
        if (timer.at <= now) {
          timers.delete(id);
          timer.callback();
        }
      }
      await settle();
    },
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("AccessLogger buffering", () => {
  test("lines are batched and written once a second (Envoy's file_flush_interval)", async () => {
    const fake = fakeRuntime();
    const manager = new AccessLogManager(fake.runtime);
    const [logger] = await manager.createAccessLoggers([textLog("/log")]);
    logger!.log(ctx("one"));
    logger!.log(ctx("two"));
    await settle();
    const file = fake.files.get("/log")!;
    expect(file.writes).toEqual([]);
    await fake.advance(999);
    expect(file.writes).toEqual([]);
    await fake.advance(1);
    expect(file.writes).toEqual(["one\ntwo\n"]);
    logger!.log(ctx("three"));
    await fake.advance(1000);
    expect(file.writes).toEqual(["one\ntwo\n", "three\n"]);
    expect(file.writes.length).toBe(2);
    const stats = (await manager.stats()).get("/log")!;
    expect(stats).toMatchObject({ writeBuffered: 3, writeCompleted: 2, flushedByTimer: 2, linesDropped: 0, pendingBytes: 0 });
    expect(fake.pendingTimers()).toBe(0);
  });

  test("64 KiB buffered is written at once, without waiting for the timer", async () => {
    const fake = fakeRuntime();
    const [logger] = await createAccessLoggers([textLog("/log")], fake.runtime);
    const line = "x".repeat(1023);
    for (let i = 0; i < 64; i++) logger!.log(ctx(line)); // 64 × 1024 bytes
    await settle();
    const file = fake.files.get("/log")!;
    expect(file.writes.length).toBe(1);
    expect(file.writes[0]!.length).toBe(64 * 1024);
  });

  test("one write at a time: lines logged meanwhile go in the next one", async () => {
    const fake = fakeRuntime();
    const manager = new AccessLogManager(fake.runtime, { flushMinBytes: 10 });
    const [logger] = await manager.createAccessLoggers([textLog("/log")]);
    const file = fake.files.get("/log")!;
    file.hold = true;
    logger!.log(ctx("first-line")); // 11 bytes: written at once, and held
    logger!.log(ctx("a"));
    logger!.log(ctx("b"));
    await settle();
    expect(file.held.length).toBe(1);
    file.release();
    await settle();
    // The second batch was under 10 bytes: it waits for the timer.
    expect(file.writes).toEqual(["first-line\n"]);
    await fake.advance(1000);
    expect(file.writes).toEqual(["first-line\n", "a\nb\n"]);
  });

  test("a stuck file: lines beyond maxPendingBytes are dropped and counted, memory stays bounded", async () => {
    const fake = fakeRuntime();
    const manager = new AccessLogManager(fake.runtime, { maxPendingBytes: 100, flushMinBytes: 30 });
    const [logger] = await manager.createAccessLoggers([textLog("/log")]);
    const file = fake.files.get("/log")!;
    file.hold = true;
    for (let i = 0; i < 50; i++) logger!.log(ctx(`line ${String(i).padStart(2, "0")}`)); // 8 bytes each
    await settle();
    const stats = (await manager.stats()).get("/log")!;
    expect(stats.pendingBytes).toBeLessThanOrEqual(100);
    expect(stats.linesDropped).toBe(50 - 12);
    expect(stats.writeBuffered).toBe(12);
    file.release();
    await manager.flush();
    // Whatever was kept arrives whole and in order.
    expect(file.text).toBe(Array.from({ length: 12 }, (_, i) => `line ${String(i).padStart(2, "0")}\n`).join(""));
    expect(stats.pendingBytes).toBe(0);
    // Room again: new lines are kept.
    logger!.log(ctx("after"));
    await manager.flush();
    expect(file.text.endsWith("after\n")).toBe(true);
  });

  test("a failed write is counted and reported once; later lines still go out", async () => {
    const fake = fakeRuntime();
    const manager = new AccessLogManager(fake.runtime);
    const [logger] = await manager.createAccessLoggers([textLog("/log")]);
    const file = fake.files.get("/log")!;
    file.failWith = { code: "ENOSPC", message: "no space left on device" };
    logger!.log(ctx("lost 1"));
    await manager.flush();
    logger!.log(ctx("lost 2"));
    await manager.flush();
    expect(fake.logged).toEqual(["access log /log: write failed, 7 bytes lost: ENOSPC\n"]);
    file.failWith = undefined;
    logger!.log(ctx("kept"));
    await manager.flush();
    expect(file.text).toBe("kept\n");
    expect((await manager.stats()).get("/log")).toMatchObject({ writeFailed: 2, writeCompleted: 1, pendingBytes: 0 });
  });

  test("flush() writes now; close() flushes and closes; later lines are ignored", async () => {
    const fake = fakeRuntime();
    const manager = new AccessLogManager(fake.runtime);
    const [logger] = await manager.createAccessLoggers([textLog("/log")]);
    const file = fake.files.get("/log")!;
    logger!.log(ctx("a"));
    await logger!.flush();
    expect(file.text).toBe("a\n");
    logger!.log(ctx("b"));
    await manager.close();
    expect(file.text).toBe("a\nb\n");
    expect(file.closed).toBe(true);
    logger!.log(ctx("c"));
    await settle();
    expect(file.text).toBe("a\nb\n");
    expect(fake.pendingTimers()).toBe(0);
  });
});

describe("AccessLogManager", () => {
  test("loggers on the same path share one file and one buffer, in log order", async () => {
    const fake = fakeRuntime();
    const manager = new AccessLogManager(fake.runtime);
    const [a] = await manager.createAccessLoggers([textLog("/dev/stdout", "A %REQ(X-LINE)%\n")]);
    const [b, other] = await manager.createAccessLoggers([textLog("/dev/stdout", "B %REQ(X-LINE)%\n"), textLog("/other")]);
    expect(fake.opens).toBe(2);
    a!.log(ctx("1"));
    b!.log(ctx("2"));
    a!.log(ctx("3"));
    other!.log(ctx("x"));
    await manager.flush();
    expect(fake.files.get("/dev/stdout")!.writes).toEqual(["A 1\nB 2\nA 3\n"]);
    expect(fake.files.get("/other")!.writes).toEqual(["x\n"]);
  });

  test("a file that cannot be opened is an error naming the path", async () => {
    const fake = fakeRuntime();
    const manager = new AccessLogManager(fake.runtime);
    const failure = manager.createAccessLoggers([textLog("/ok"), textLog("/missing/dir/access.log")]);
    await expect(failure).rejects.toBeInstanceOf(AccessLogOpenError);
    await expect(failure).rejects.toMatchObject({
      path: "/missing/dir/access.log",
      error: { code: "ENOENT" },
      message: "cannot open access log file /missing/dir/access.log: ENOENT (no such file or directory)",
    });
  });
});

describe("through the real runtime", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  test("lines reach the file on flush; a missing directory fails at startup", async () => {
    const runtime = await currentRuntime();
    const dir = mkdtempSync(join(tmpdir(), "polyvoy-access-log-"));
    dirs.push(dir);
    const manager = new AccessLogManager(runtime);
    const [text, json] = await manager.createAccessLoggers([
      textLog(join(dir, "text.log")),
      {
        name: "json",
        type: "envoy.access_loggers.file",
        path: join(dir, "json.log"),
        format: { type: "json", json: { line: "%REQ(X-LINE)%", code: "%RESPONSE_CODE%" }, typed: true, omitEmptyValues: false, sortProperties: false },
      },
    ]);
    for (let i = 0; i < 1000; i++) {
      text!.log(ctx(`line ${i}`));
      json!.log(ctx(`line ${i}`));
    }
    await manager.close();
    const lines = readFileSync(join(dir, "text.log"), "latin1").split("\n");
    expect(lines.length).toBe(1001);
    expect(lines[999]).toBe("line 999");
    const records = readFileSync(join(dir, "json.log"), "latin1").trim().split("\n").map((l) => JSON.parse(l));
    expect(records[0]).toEqual({ line: "line 0", code: 200 });
    expect(records.length).toBe(1000);

    await expect(new AccessLogManager(runtime).createAccessLoggers([textLog(join(dir, "nope", "a.log"))])).rejects.toThrow(
      `cannot open access log file ${join(dir, "nope", "a.log")}: ENOENT`,
    );
  });
});
