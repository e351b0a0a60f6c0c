/**
 * bench/lib/scenarios.mjs's warm-up: --warmup seconds; a scenario with `warmupRequests`
 * (the ext_proc pair, whose processor holds the rate to tens or hundreds of requests a
 * second) goes on, in runs sized by the rate seen, until that many requests or its
 * `warmupMaxSeconds`. The load tool is a stand-in answering at a fixed rate.
 */
import { expect, test } from "vitest";
import { THROUGHPUT, warmUp } from "../../../bench/lib/scenarios.mjs";

/** A load tool answering `rate` requests a second: the durations it was asked for. */
function loadAt(rate: number) {
  const asked: number[] = [];
  const run = async (_ctx: unknown, params: { seconds: number }) => {
    asked.push(params.seconds);
    return { requests: Math.round(rate * params.seconds), duration_us: params.seconds * 1e6 };
  };
  return { asked, run };
}

const ctx = { settings: { warmupSeconds: 2 } };
const scenario = (id: string) => THROUGHPUT.find((s) => s.id === id)!;

test("the ext_proc pair: the baseline runs first; both warm up by requests, within a bound", () => {
  const ids = THROUGHPUT.map((s) => s.id);
  expect(ids.indexOf("ext-proc-base")).toBeLessThan(ids.indexOf("ext-proc-duplex"));
  for (const id of ["ext-proc-base", "ext-proc-duplex"]) {
    expect(scenario(id).warmupRequests).toBeGreaterThanOrEqual(3000);
    expect(scenario(id).warmupMaxSeconds).toBeGreaterThan(0);
  }
});

test("at 100 req/s ext-proc-duplex warms up for 3000 requests: 2 s, then the 28 s the rate says", async () => {
  const load = loadAt(100);
  expect(await warmUp(ctx, scenario("ext-proc-duplex"), {}, load.run)).toEqual({ requests: 3000, seconds: 30 });
  expect(load.asked).toEqual([2, 28]);
});

test("at 40 req/s the bound ends it: 40 s in all, short of the count", async () => {
  const load = loadAt(40);
  const { seconds, requests } = await warmUp(ctx, scenario("ext-proc-duplex"), {}, load.run);
  expect(seconds).toBe(scenario("ext-proc-duplex").warmupMaxSeconds);
  expect(requests).toBe(40 * seconds);
  expect(load.asked).toEqual([2, 38]);
});

test("a fast baseline is warm after its --warmup seconds if they made the count; a scenario without a count runs them once", async () => {
  const fast = loadAt(3000);
  expect(await warmUp(ctx, scenario("ext-proc-base"), {}, fast.run)).toEqual({ requests: 6000, seconds: 2 });
  const plain = loadAt(10);
  await warmUp(ctx, scenario("get-64c"), {}, plain.run);
  expect(plain.asked).toEqual([2]);
});
