/**
 * runtimes/kit/workers/sink-flush.ts: the supervisor's flush timer is re-armed when a flush
 * ends (Envoy's flushStatsInternal enables its timer again then), so a flush slower than
 * the interval spaces the next one out instead of starting it at a fixed rate.
 */
import { afterEach, expect, test, vi } from "vitest";
import { SinkFlush } from "../../../../runtimes/kit/workers/sink-flush.ts";

afterEach(() => {
  vi.useRealTimers();
});

test("each flush starts an interval after the previous one ended; stop() ends the timer", async () => {
  vi.useFakeTimers();
  const started: number[] = [];
  const supervisor = {
    log: { info: () => {}, warn: () => {}, error: () => {} },
    // A slow flush (250 ms) with a 100 ms interval; no worker is up, so it ends there.
    workerAdmins: async () => {
      started.push(Date.now());
      await new Promise((resolve) => setTimeout(resolve, 250));
      return [];
    },
  };
  const t0 = Date.now();
  const flush = new SinkFlush(supervisor, 100);
  flush.start();
  await vi.advanceTimersByTimeAsync(1000);
  expect(started.map((t) => t - t0)).toEqual([100, 450, 800]);
  flush.stop();
  await vi.advanceTimersByTimeAsync(1000);
  expect(started).toHaveLength(3);
});
