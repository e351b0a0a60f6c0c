/**
 * The stats flush of N worker processes (--concurrency) with stats_sinks, driven by the
 * supervisor as Envoy's main thread drives its one flush (source/server/server.cc
 * InstanceImpl::flushStats): every stats_flush_interval each worker is asked for its
 * cumulative snapshot (`/stats?format=worker&flush=sinks`: flush=sinks closes only the
 * interval its own admin shows); the answers are merged with each counter's delta and each
 * histogram's interval from the worker's previous answer (core/stats/merged-flush.ts), so a
 * late answer loses nothing, and sent to the
 * first worker that answered, whose sinks (with its cluster manager, for gRPC and TCP
 * statsd clusters) send them (`POST /stats/sinks_flush`). The other workers' sinks send only
 * the histogram values their own requests record, as each of Envoy's worker threads does.
 *
 * Bounded: a worker that does not answer within SNAPSHOT_TIMEOUT (the flush interval,
 * from 1 s to 5 s) is left out of that flush (its counts go with the next one it answers);
 * a flush still running when the next is due makes that one skipped, so nothing queues.
 */
import { MergedFlushState, type WorkerFlushAnswer } from "../../../core/stats/merged-flush.ts";
import { SINKS_FLUSH_PATH, WORKER_SNAPSHOT_PATH } from "../../../core/admin/supervisor-requests.ts";
import type { WorkerStatsSnapshot } from "../../../core/admin/worker-stats.ts";
import { askWorker } from "./admin-front.ts";
import type { WorkerAdmin, WorkerSupervisor } from "./worker-supervisor.ts";

const MIN_TIMEOUT_MS = 1000;
const MAX_TIMEOUT_MS = 5000;
/** A lost flush is said at warn at most this often (the rest at debug). */
const LOST_WARNING_MS = 60_000;

export class SinkFlush {
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** When a lost flush was last said at warn (performance.now() ms). */
  private lastLostWarning = -Infinity;
  private running: Promise<void> | undefined;
  private readonly state = new MergedFlushState();
  /** The pid of the worker whose sinks sent the last flush. */
  private flusherPid: number | undefined;
  private readonly timeoutMs: number;

  constructor(
    private readonly supervisor: Pick<WorkerSupervisor, "workerAdmins" | "log">,
    /** stats_flush_interval; undefined: stats_flush_on_admin (a flush on each read of the admin's /stats). */
    private readonly intervalMs: number | undefined,
  ) {
    this.timeoutMs = Math.min(MAX_TIMEOUT_MS, Math.max(MIN_TIMEOUT_MS, intervalMs ?? 0));
  }

  /** Flushing on the admin's reads, not on a timer. */
  get onAdmin(): boolean {
    return this.intervalMs === undefined;
  }

  start(): void {
    if (this.intervalMs === undefined || this.timer !== undefined) return;
    this.arm(this.intervalMs);
  }

  /** The next flush an interval after this one ends, as Envoy's flushStatsInternal re-enables its timer: a slow flush never makes them pile up. */
  private arm(intervalMs: number): void {
    const timer = setTimeout(() => {
      void this.flush().finally(() => {
        if (this.timer === timer) this.arm(intervalMs);
      });
    }, intervalMs);
    this.timer = timer;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * The last flush, at a stop (Envoy's InstanceImpl::terminate): after the one running, if
   * any, ends (it took its snapshots before the last requests), a flush of its own.
   */
  async finalFlush(): Promise<void> {
    if (this.intervalMs === undefined) return;
    await this.running;
    await this.flush();
  }

  /** One flush of all workers' stats; while one runs, another is skipped (said at debug). */
  flush(): Promise<void> {
    if (this.running !== undefined) {
      this.supervisor.log.debug?.("stats flush: the previous flush is still running; this one is skipped");
      return this.running;
    }
    this.running = this.flushOnce()
      // A fault here must not end the supervisor (an unhandled rejection) or stop later flushes.
      .catch((err: unknown) => this.supervisor.log.warn(`stats flush: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async flushOnce(): Promise<void> {
    const log = this.supervisor.log;
    const workers = await this.supervisor.workerAdmins();
    const answers = await Promise.all(workers.map((worker) => this.snapshot(worker)));
    const answered: { worker: WorkerAdmin; answer: WorkerFlushAnswer }[] = [];
    answers.forEach((answer, i) => {
      if (answer !== undefined) answered.push({ worker: workers[i]!, answer });
    });
    if (answered.length === 0) return;
    const message = this.state.message(answered.map((a) => a.answer));
    // The worker that flushed last, while it answers (its sinks hold their streams and
    // caches: one metrics_service stream, as Envoy's one process); else the first that answered.
    const flusher = (answered.find((a) => a.worker.pid === this.flusherPid) ?? answered[0]!).worker;
    this.flusherPid = flusher.pid;
    const sent = await askWorker(flusher, "POST", SINKS_FLUSH_PATH, "application/json", new TextEncoder().encode(JSON.stringify(message)), this.timeoutMs);
    if (sent?.status !== 200) {
      // At warn, at most once a minute: a flush always refused must not go unseen, nor flood the log.
      const line = `stats flush: worker ${flusher.index} (pid ${flusher.pid}) did not take the merged stats${sent ? ` (${sent.status})` : ""}: this flush is lost`;
      const now = performance.now();
      if (now - this.lastLostWarning >= LOST_WARNING_MS) {
        this.lastLostWarning = now;
        log.warn(line);
      } else log.debug?.(line);
    }
  }

  private async snapshot(worker: WorkerAdmin): Promise<WorkerFlushAnswer | undefined> {
    const answer = await askWorker(worker, "GET", `${WORKER_SNAPSHOT_PATH}&flush=sinks`, undefined, undefined, this.timeoutMs);
    if (answer?.status !== 200) {
      this.supervisor.log.debug?.(`stats flush: worker ${worker.index} (pid ${worker.pid}) did not answer within ${this.timeoutMs} ms: left out of this flush`);
      return undefined;
    }
    try {
      return { index: worker.index, pid: worker.pid, snapshot: JSON.parse(new TextDecoder().decode(answer.body)) as WorkerStatsSnapshot };
    } catch {
      return undefined;
    }
  }
}
