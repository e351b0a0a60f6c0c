/**
 * --concurrency N: the process a user starts becomes the supervisor of N worker
 * processes, each running the same core with the same command line and config and
 * sharing every listener (SO_REUSEPORT, or node:cluster's shared socket). Envoy runs
 * workers as threads of one process (source/server/worker_impl.cc); here they are
 * processes, so the supervisor does what the shared process did: one admin for all
 * (admin-front.ts), signals passed on, and a worker that dies restarted (a thread
 * cannot die alone in Envoy; a process can).
 */
import type * as Fs from "node:fs";
import type * as FsPromises from "node:fs/promises";
import type { SignalName, SuperviseOptions } from "../../../core/port.ts";
import { randomBytes } from "../random-bytes.ts";
import { AdminFront } from "./admin-front.ts";
import { SinkFlush } from "./sink-flush.ts";
import { announcementPath, startConfigPath, WORKER_ENV, type Announcement } from "./worker-identity.ts";

/** A started worker process, as the runtime's way of starting one gives it. */
export interface WorkerChild {
  readonly pid: number | undefined;
  kill(signal: SignalName | "SIGKILL"): void;
  onExit(callback: (code: number | null, signal: string | null) => void): void;
}

/** Start one worker: this program again, with `env` added to the environment. */
export type LaunchWorker = (env: Record<string, string>) => WorkerChild;

/** More restarts than this within RESTART_WINDOW_MS: the workers keep dying, so the supervisor gives up and exits 1. */
export const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
/** How often startup looks for the workers' announcements. */
const READY_POLL_MS = 50;
/** A stop waits this long for workers to exit before it SIGKILLs them (a worker's own shutdown gives up after 5 s + its drain). */
const STOP_KILL_MS = 15 * 60_000;

interface Slot {
  readonly index: number;
  child: WorkerChild | undefined;
  pid: number | undefined;
  /** The worker announced itself: it listens for the signals passed on. */
  announced: boolean;
  /** Signals passed on before it announced itself, sent when it does (forwardWorkers). */
  readonly held: Set<SignalName>;
}

/** A worker's own admin, as it announced it. */
export interface WorkerAdmin {
  readonly index: number;
  readonly pid: number;
  readonly address: string;
  readonly port: number;
  /** The supervisor's secret its requests carry (WorkerIdentity.supervisorToken). */
  readonly token: string;
}

export class WorkerSupervisor {
  private readonly slots: Slot[];
  private folder = "";
  /** node:fs/promises, imported when the supervisor runs (on Deno no node: module loads at start: runtimes/README.md). */
  private files!: Pick<typeof FsPromises, "readFile" | "rm" | "writeFile">;
  /** node:fs's synchronous calls, for the config copy (writeStartConfig); imported with the rest at run(), as the deno bundle imports no node: module statically. */
  private fsSync!: Pick<typeof Fs, "mkdirSync" | "renameSync" | "rmSync" | "writeFileSync">;
  private stopping = false;
  /** The signal the workers were sent to stop (stop()). */
  private stopSignal: SignalName | undefined;
  private exitCode = 0;
  private started = false;
  private readonly restarts: number[] = [];
  private admin: AdminFront | undefined;
  /** With stats_sinks: the one flush of all workers' stats (sink-flush.ts). */
  readonly sinkFlush: SinkFlush | undefined;
  private finish: ((code: number) => void) | undefined;
  private killTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * A random secret handed to every worker in its environment: the workers' admins answer
   * the supervisor's stats paths (the merged flush's body, every stat's raw snapshot) only to
   * a request that carries it, so no other process on loopback can read or inject stats.
   */
  private readonly token = randomToken();

  constructor(
    private readonly options: SuperviseOptions,
    private readonly launch: LaunchWorker,
    private readonly onSignal: (signal: SignalName, callback: () => void) => void,
  ) {
    this.slots = Array.from({ length: options.count }, (_, index) => ({ index, child: undefined, pid: undefined, announced: false, held: new Set<SignalName>() }));
    this.sinkFlush = options.statsSinks && new SinkFlush(this, options.statsSinks.intervalMs);
  }

  get log(): SuperviseOptions["log"] {
    return this.options.log;
  }

  /** Bind the admin, start the workers and resolve with the exit code once all have stopped. */
  async run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.finish = resolve));
    const [files, fsSync, { tmpdir }, { join }] = await Promise.all([import("node:fs/promises"), import("node:fs"), import("node:os"), import("node:path")]);
    this.files = files;
    this.fsSync = fsSync;
    this.folder = await files.mkdtemp(join(tmpdir(), "polyvoy-workers-"));
    // A config read from a FIFO or a pipe is gone once read: the workers start from the
    // supervisor's copy, in its private folder (mkdtemp: mode 0700), owner-only as the secrets in it.
    this.writeStartConfig();
    // The admin first, as a single process's: a port taken is an error before any worker starts.
    if (this.options.admin) {
      this.admin = new AdminFront(this, this.options.statsConfig);
      try {
        await this.admin.listen(this.options.admin);
      } catch (err) {
        const { address, port, pipe } = this.options.admin;
        this.log.error(`admin listener cannot bind to ${pipe ? address : address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`}: ${describe(err)}`);
        await this.files.rm(this.folder, { recursive: true, force: true });
        return 1;
      }
    }
    // Each worker gets the signal the supervisor caught: SIGINT stops at once, SIGTERM drains
    // first with --drain-time-s (core/main.ts), in a worker as in one process.
    this.onSignal("SIGTERM", () => this.stop("caught SIGTERM"));
    this.onSignal("SIGINT", () => this.stop("caught SIGINT", 0, "SIGINT"));
    // SIGHUP (each worker reloads its config itself) and SIGUSR1 (each reopens its access logs).
    for (const signal of this.options.forwardSignals) this.onSignal(signal, () => this.forwardWorkers(signal));
    for (const slot of this.slots) this.startWorker(slot);
    void this.waitStarted();
    this.sinkFlush?.start();
    return done;
  }

  /** The admins of the workers that are up, first worker first (admin-front.ts asks them). */
  async workerAdmins(): Promise<WorkerAdmin[]> {
    const admins: WorkerAdmin[] = [];
    for (const slot of this.slots) {
      const announced = await this.announcement(slot);
      if (announced?.admin) admins.push({ index: slot.index, pid: announced.pid, ...announced.admin, token: this.token });
    }
    return admins;
  }

  /**
   * /quitquitquit is on its way to the workers in `reached` (those that had announced their
   * admin): their exits are the end, not crashes. A worker the quit cannot reach (one
   * restarted and not yet announced) is sent SIGTERM, or it would run until the kill timer.
   */
  async quitting(reached: readonly WorkerAdmin[]): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.log.info("admin /quitquitquit, stopping all workers");
      this.armKillTimer();
      // Envoy's terminate flushes the stats one last time, on every way to stop: here while
      // the workers, which hold the sinks, still run (within the flush's own bound).
      const sinkFlush = this.sinkFlush;
      sinkFlush?.stop();
      const final = this.started ? sinkFlush?.finalFlush() : undefined;
      if (final !== undefined) await final;
    }
    const pids = new Set(reached.map((w) => w.pid));
    for (const slot of this.slots) if (slot.child !== undefined && (slot.pid === undefined || !pids.has(slot.pid))) slot.child.kill("SIGTERM");
  }

  /** SIGTERM/SIGINT, or a worker that keeps dying: every worker is sent `signal` and stops as one process does, then the supervisor exits. */
  stop(reason: string, code = 0, signal: SignalName = "SIGTERM"): void {
    if (this.stopping) {
      if (code !== 0) this.exitCode = code;
      // A SIGINT after a SIGTERM: the workers draining stop at once too, as one process would.
      if (signal === "SIGINT" && this.stopSignal !== "SIGINT") {
        this.stopSignal = signal;
        this.signalWorkers(signal);
      }
      return;
    }
    this.stopSignal = signal;
    this.stopping = true;
    this.exitCode = code;
    this.log.info(`${reason}, stopping ${this.liveCount()} workers`);
    this.armKillTimer();
    // Envoy's terminate flushes the stats one last time (InstanceImpl::terminate), on
    // SIGTERM and SIGINT alike: here before the workers are told to stop (they hold the
    // sinks), within the flush's own bound (sink-flush.ts). The timer keeps running while
    // SIGTERM's workers drain; it stops when they have all exited (finishIfDone).
    const sinkFlush = this.sinkFlush;
    if (sinkFlush === undefined || sinkFlush.onAdmin || !this.started) {
      this.signalWorkers(signal);
      return this.finishIfDone();
    }
    if (signal !== "SIGTERM") sinkFlush.stop();
    void sinkFlush.finalFlush().finally(() => {
      this.signalWorkers(this.stopSignal ?? signal);
      this.finishIfDone();
    });
  }

  private signalWorkers(signal: SignalName): void {
    for (const slot of this.slots) slot.child?.kill(signal);
  }

  /**
   * SIGHUP or SIGUSR1 passed on: a worker still starting is sent it once it has announced
   * itself. Until its first module asks for the signal, the signal's default action would
   * end it (a worker reloads only once its first config serves anyway: core/main.ts).
   */
  private forwardWorkers(signal: SignalName): void {
    for (const slot of this.slots) {
      if (slot.child === undefined) continue;
      if (slot.announced) slot.child.kill(signal);
      else slot.held.add(signal);
    }
  }

  /** Poll for `child`'s announcement (startup, or a restart); then send what was held for it. */
  private async watchAnnouncement(slot: Slot, child: WorkerChild): Promise<void> {
    while (slot.child === child && !this.stopping) {
      if (await this.announcement(slot)) {
        if (slot.child !== child) return;
        slot.announced = true;
        for (const signal of slot.held) child.kill(signal);
        slot.held.clear();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
  }

  private armKillTimer(): void {
    this.killTimer ??= setTimeout(() => {
      for (const slot of this.slots) slot.child?.kill("SIGKILL");
    }, STOP_KILL_MS);
    this.killTimer.unref?.();
  }

  private liveCount(): number {
    return this.slots.filter((slot) => slot.child !== undefined).length;
  }

  private startWorker(slot: Slot): void {
    // A stopping supervisor starts no worker (a restart racing a quit would never be told).
    if (this.stopping) return;
    const child = this.launch({
      [WORKER_ENV.index]: String(slot.index),
      [WORKER_ENV.count]: String(this.options.count),
      [WORKER_ENV.folder]: this.folder,
      [WORKER_ENV.token]: this.token,
    });
    slot.child = child;
    slot.pid = child.pid;
    slot.announced = false;
    slot.held.clear();
    child.onExit((code, signal) => this.onWorkerExit(slot, child, code, signal));
    void this.watchAnnouncement(slot, child);
  }

  private async announcement(slot: Slot): Promise<Announcement | undefined> {
    if (slot.child === undefined || slot.pid === undefined) return undefined;
    try {
      const announced = JSON.parse(await this.files.readFile(announcementPath(this.folder, slot.index), "utf8")) as Announcement;
      // A restarted worker's predecessor's announcement is not this worker's.
      return announced.pid === slot.pid ? announced : undefined;
    } catch {
      return undefined;
    }
  }

  /** Startup ends when every worker has announced itself; one that exits before is a failed start (exit 1). */
  private async waitStarted(): Promise<void> {
    while (!this.stopping) {
      const announced = await Promise.all(this.slots.map((slot) => this.announcement(slot)));
      if (announced.every((a) => a !== undefined)) {
        this.started = true;
        this.log.info(`all ${this.options.count} workers started (pids ${this.slots.map((s) => s.pid).join(", ")})`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
  }

  private onWorkerExit(slot: Slot, child: WorkerChild, code: number | null, signal: string | null): void {
    if (slot.child !== child) return;
    slot.child = undefined;
    // Synchronous: removed after the restarted worker wrote its own, the announcement would
    // be lost and the signals held for it never sent.
    try {
      this.fsSync.rmSync(announcementPath(this.folder, slot.index), { force: true });
    } catch {
      // The folder is gone (a /tmp cleaner): the worker's pid check still tells them apart.
    }
    const how = signal !== null ? `signal ${signal}` : `code ${code}`;
    if (this.stopping) {
      this.log.info(`worker ${slot.index} (pid ${child.pid}) exited with ${how}`);
      return this.finishIfDone();
    }
    if (!this.started) {
      // The worker said why on the log; the others started the same config and go too.
      this.log.error(`worker ${slot.index} (pid ${child.pid}) exited with ${how} while starting`);
      return this.stop("a worker failed to start", 1);
    }
    const now = performance.now();
    this.restarts.push(now);
    while (this.restarts.length > 0 && this.restarts[0]! < now - RESTART_WINDOW_MS) this.restarts.shift();
    if (this.restarts.length > MAX_RESTARTS) {
      this.log.error(`worker ${slot.index} (pid ${child.pid}) exited with ${how}: more than ${MAX_RESTARTS} worker restarts within ${RESTART_WINDOW_MS / 1000} s, giving up`);
      return this.stop("workers keep exiting", 1);
    }
    // The handed config again first: a /tmp cleaner may have removed the copy since the
    // start, and a restarted worker would then read a drained FIFO or pipe itself.
    try {
      this.writeStartConfig();
    } catch (err) {
      this.log.error(`cannot write the config copy for worker ${slot.index}: ${describe(err)}`);
    }
    this.startWorker(slot);
    this.log.warn(`worker ${slot.index} (pid ${child.pid}) exited with ${how}; restarted as pid ${slot.pid}`);
  }

  /**
   * A config read from a FIFO or a pipe, for the workers to start from
   * (SuperviseOptions.startConfig), in the supervisor's private folder (mkdtemp: mode 0700,
   * made again if removed), owner-only as the secrets in it. Written whole and renamed, so a
   * worker starting meanwhile reads the old copy or the new one, never a part. Synchronous:
   * a restart happens in the exit's callback, before anything else can ask for the worker.
   */
  private writeStartConfig(): void {
    if (this.options.startConfig === undefined) return;
    const { mkdirSync, renameSync, writeFileSync } = this.fsSync;
    mkdirSync(this.folder, { recursive: true, mode: 0o700 });
    const path = startConfigPath(this.folder);
    writeFileSync(`${path}.tmp`, this.options.startConfig, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  }

  private finishIfDone(): void {
    if (!this.stopping || this.liveCount() > 0 || !this.finish) return;
    const finish = this.finish;
    this.finish = undefined;
    clearTimeout(this.killTimer);
    this.sinkFlush?.stop();
    void (async () => {
      await this.admin?.close();
      await this.files.rm(this.folder, { recursive: true, force: true });
      this.log.info("exiting");
      finish(this.exitCode);
    })();
  }
}

/** 32 bytes from the Web Crypto API (Node, Bun and Deno have it: the kit's randomBytes), in hex. */
function randomToken(): string {
  const bytes = new Uint8Array(32);
  randomBytes(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function describe(err: unknown): string {
  const e = err as { message?: string; code?: string };
  return `${e.message ?? String(err)}${e.code ? ` (${e.code})` : ""}`;
}
