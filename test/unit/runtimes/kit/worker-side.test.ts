/**
 * A worker's watch on its supervisor (runtimes/kit/workers/worker-side.ts): a worker whose
 * supervisor is gone stops, also when the supervisor died before the worker first looked (its
 * parent is then already another process: the supervisor's pid comes from the environment).
 */
import { beforeEach, describe, expect, test, vi } from "vitest";
import type { ProcessHost } from "../../../../runtimes/kit/process-host.ts";
import { WORKER_ENV } from "../../../../runtimes/kit/workers/worker-identity.ts";

function fakeHost(env: Record<string, string>, ppid: number) {
  const state = { ppid, terminated: 0, errors: [] as string[], tick: undefined as (() => void) | undefined };
  const host: ProcessHost = {
    env: (name) => env[name],
    pid: () => 500,
    ppid: () => state.ppid,
    onSignal: () => {},
    writeError: (line) => void state.errors.push(line),
    terminateSelf: () => void state.terminated++,
    every: (_ms, callback) => {
      state.tick = callback;
      return () => (state.tick = undefined);
    },
    after: () => {},
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
