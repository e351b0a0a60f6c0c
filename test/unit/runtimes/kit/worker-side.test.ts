/**
 * A worker's watch on its supervisor (runtimes/kit/workers/worker-side.ts): a worker whose
 * supervisor is gone stops, also when the supervisor died before the worker first looked (its
 * parent is then already another process: the supervisor's pid comes from the environment).
 */
import { beforeEach, describe, expect, test, vi } from "vitest";
import type { ProcessHost } from "../../../../runtimes/kit/process-host.ts";
import { WORKER_ENV } from "../../../../runtimes/kit/workers/worker-identity.ts";

function fakeHost(env: Record<string, string>, ppid: number) {
  const state = { ppid, terminated: 0, signal: undefined as string | undefined, errors: [] as string[], tick: undefined as (() => void) | undefined };
  const host: ProcessHost = {
    env: (name) => env[name],
    pid: () => 500,
    ppid: () => state.ppid,
    onSignal: () => {},
    writeError: (line) => void state.errors.push(line),
    terminateSelf: (signal) => {
      state.terminated++;
      state.signal = signal;
    },
    every: (_ms, callback) => {
      state.tick = callback;
      return () => (state.tick = undefined);
    },
    after: () => {},
    holdOpen: () => {},
  };
  return { host, state };
}

describe("a worker's supervisor watch", () => {
  beforeEach(() => vi.resetModules());

  test("a supervisor gone before the worker looked (reparented already): the worker stops at once", async () => {
    const { stopWithSupervisor } = await import("../../../../runtimes/kit/workers/worker-side.ts");
    const { host, state } = fakeHost({ [WORKER_ENV.supervisor]: "4242" }, 1);
    stopWithSupervisor(host);
    expect(state.terminated).toBe(1);
    // At once, as on SIGINT: no --drain-time-s drain for an orphan holding the ports.
    expect(state.signal).toBe("SIGINT");
    expect(state.errors).toEqual(["polyvoy: worker 500: its supervisor (pid 4242) is gone\n"]);
    expect(state.tick).toBeUndefined();
  });

  test("the supervisor alive: nothing; once it is gone, the next poll stops the worker, once", async () => {
    const { stopWithSupervisor } = await import("../../../../runtimes/kit/workers/worker-side.ts");
    const { host, state } = fakeHost({ [WORKER_ENV.supervisor]: "4242" }, 4242);
    stopWithSupervisor(host);
    state.tick!();
    expect(state.terminated).toBe(0);
    state.ppid = 1;
    state.tick!();
    expect(state.terminated).toBe(1);
    expect(state.tick).toBeUndefined();
  });
});

describe("a supervisor's workers", () => {
  test("each is told its supervisor's pid (POLYVOY_SUPERVISOR_PID), the process the supervisor runs in", async () => {
    const { workerProcesses } = await import("../../../../runtimes/kit/workers/index.ts");
    const { host } = fakeHost({}, 1);
    const envs: Record<string, string>[] = [];
    const workers = workerProcesses(
      async () => (env) => {
        envs.push(env);
        // A worker that exits at once: the supervisor gives up after restarts, and run() ends.
        return { pid: 900 + envs.length, kill: () => {}, onExit: (callback) => void setTimeout(() => callback(1, null), 0) };
      },
      () => {},
      "reuse-port",
      host,
    );
    const log = { info: () => {}, warn: () => {}, error: () => {} };
    await workers.supervise({ count: 1, argv: [], admin: undefined, statsConfig: undefined, log, forwardSignals: [] } as never);
    expect(envs.length).toBeGreaterThan(0);
    for (const env of envs) expect(env[WORKER_ENV.supervisor]).toBe("500");
  });
});
