/**
 * The --concurrency supervisor (runtimes/kit/workers/worker-supervisor.ts) with workers it
 * launches through its LaunchWorker seam: a worker restarted just before /quitquitquit has
 * not announced its admin, so the quit the admin front sends cannot reach it — the
 * supervisor stops it with SIGTERM; once quitting, a worker that exits is not restarted.
 */
import { writeFile } from "node:fs/promises";
import { describe, expect, test } from "vitest";
import type { SignalName } from "../../../../core/port.ts";
import { WorkerSupervisor, type WorkerChild } from "../../../../runtimes/kit/workers/worker-supervisor.ts";
import { announcementPath, WORKER_ENV } from "../../../../runtimes/kit/workers/worker-identity.ts";

/** A worker process as the supervisor sees it: its pid, the signals it got, and an exit the test decides. */
class Worker implements WorkerChild {
  readonly signals: string[] = [];
  private exitCallback: ((code: number | null, signal: string | null) => void) | undefined;
  constructor(
    readonly pid: number,
    readonly index: number,
    readonly folder: string,
  ) {}
  kill(signal: SignalName | "SIGKILL"): void {
    this.signals.push(signal);
  }
  onExit(callback: (code: number | null, signal: string | null) => void): void {
    this.exitCallback = callback;
  }
  exit(code: number): void {
    this.exitCallback?.(code, null);
  }
  announce(): Promise<void> {
    return writeFile(announcementPath(this.folder, this.index), JSON.stringify({ pid: this.pid, admin: { address: "127.0.0.1", port: 20000 + this.pid } }));
  }
}

// A hang guard, not a speed check: the supervisor polls announcements every 50 ms with file
// reads, which a loaded machine (the unit suite under bun, in parallel) stretched past 2 s.
const until = async (condition: () => boolean): Promise<void> => {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
};

describe("WorkerSupervisor", () => {
  test("a worker restarted as /quitquitquit comes is stopped with SIGTERM; none is restarted after", async () => {
    const workers: Worker[] = [];
    const lines: string[] = [];
    const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    const supervisor = new WorkerSupervisor(
      { count: 2, argv: [], admin: undefined, statsConfig: undefined, log, forwardSignals: [] },
      (env) => {
        const worker = new Worker(100 + workers.length, Number(env[WORKER_ENV.index]), env[WORKER_ENV.folder]!);
        workers.push(worker);
        return worker;
      },
      () => {},
    );
    const exited = supervisor.run();
    await until(() => workers.length === 2);
    await Promise.all(workers.map((w) => w.announce()));
    await until(() => lines.some((l) => l.startsWith("all 2 workers started")));
    // Worker 1 crashes and is restarted; the new one has not announced itself yet.
    workers[1]!.exit(1);
    expect(workers).toHaveLength(3);
    const reached = await supervisor.workerAdmins();
    expect(reached.map((w) => w.pid)).toEqual([100]);
    supervisor.quitting(reached);
    expect(workers[0]!.signals).toEqual([]);
    expect(workers[2]!.signals).toEqual(["SIGTERM"]);
    // The quit's worker exits; the other one too: no restart, the supervisor exits 0.
    workers[0]!.exit(0);
    workers[2]!.exit(0);
    expect(await exited).toBe(0);
    expect(workers).toHaveLength(3);
  });

  test("SIGHUP and SIGUSR1 passed on reach a worker once it has announced itself (before, their default action would end it)", async () => {
    const workers: Worker[] = [];
    const lines: string[] = [];
    const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    const handlers = new Map<SignalName, () => void>();
    const supervisor = new WorkerSupervisor(
      { count: 2, argv: [], admin: undefined, statsConfig: undefined, log, forwardSignals: ["SIGHUP", "SIGUSR1"] },
      (env) => {
        const worker = new Worker(100 + workers.length, Number(env[WORKER_ENV.index]), env[WORKER_ENV.folder]!);
        workers.push(worker);
        return worker;
      },
      (signal, callback) => handlers.set(signal, callback),
    );
    const exited = supervisor.run();
    await until(() => workers.length === 2);
    handlers.get("SIGHUP")!();
    handlers.get("SIGHUP")!();
    handlers.get("SIGUSR1")!();
    expect(workers.map((w) => w.signals)).toEqual([[], []]);
    await workers[0]!.announce();
    await until(() => workers[0]!.signals.length > 0);
    // Held once each, sent as it announced; the other worker still starts.
    expect(workers[0]!.signals).toEqual(["SIGHUP", "SIGUSR1"]);
    expect(workers[1]!.signals).toEqual([]);
    await workers[1]!.announce();
    await until(() => lines.some((l) => l.startsWith("all 2 workers started")));
    await until(() => workers[1]!.signals.length > 0);
    expect(workers[1]!.signals).toEqual(["SIGHUP", "SIGUSR1"]);
    // Once announced, at once; a restarted worker is held again until it announces.
    handlers.get("SIGHUP")!();
    expect(workers.map((w) => w.signals.length)).toEqual([3, 3]);
    workers[1]!.exit(1);
    handlers.get("SIGHUP")!();
    expect(workers[2]!.signals).toEqual([]);
    await workers[2]!.announce();
    await until(() => workers[2]!.signals.length > 0);
    expect(workers[2]!.signals).toEqual(["SIGHUP"]);
    handlers.get("SIGTERM")!();
    for (const worker of [workers[0]!, workers[2]!]) worker.exit(0);
    expect(await exited).toBe(0);
  });
});

describe("WorkerSupervisor: the signal that stops it", () => {
  /** A supervisor of two workers that have started; its signal handlers by name. */
  async function twoWorkers(firstPid: number) {
    const workers: Worker[] = [];
    const handlers = new Map<string, () => void>();
    const log = { info: () => {}, warn: () => {}, error: () => {} };
    const supervisor = new WorkerSupervisor(
      { count: 2, argv: [], admin: undefined, statsConfig: undefined, log, forwardSignals: [] },
      (env) => {
        const worker = new Worker(firstPid + workers.length, Number(env[WORKER_ENV.index]), env[WORKER_ENV.folder]!);
        workers.push(worker);
        return worker;
      },
      (name, callback) => void handlers.set(name, callback),
    );
    const exited = supervisor.run();
    await until(() => workers.length === 2);
    const send = (signal: string) => handlers.get(signal)!();
    /** Every worker exits; the supervisor's exit code. */
    const end = () => {
      for (const worker of workers) worker.exit(0);
      return exited;
    };
    return { workers, send, end };
  }

  // A worker stops as one process does on the signal the supervisor caught: SIGINT at once,
  // SIGTERM after its drain with --drain-time-s (core/main.ts). SIGINT passed on as SIGTERM
  // made a ^C to the supervisor drain every worker for the whole drain time.
  test.each([["SIGINT"], ["SIGTERM"]] as const)("%s is passed on to every worker as it is", async (signal) => {
    const { workers, send, end } = await twoWorkers(300);
    send(signal);
    for (const worker of workers) expect(worker.signals).toEqual([signal]);
    expect(await end()).toBe(0);
  });

  test("a SIGINT after a SIGTERM: the draining workers are sent SIGINT too, and stop at once", async () => {
    const { workers, send, end } = await twoWorkers(400);
    send("SIGTERM");
    send("SIGINT");
    send("SIGINT");
    for (const worker of workers) expect(worker.signals).toEqual(["SIGTERM", "SIGINT"]);
    expect(await end()).toBe(0);
  });
});
