/**
 * The bench report's speed-target section (bench/lib/goals.mjs): each target checked
 * against a run's medians, "not measured" when the run lacks a figure it needs, and the
 * tail target refused when the direct path's own p99 decided most rounds.
 */
import { describe, expect, test } from "vitest";
import { checkGoals, fastestPolyvoy, renderGoals } from "../../../bench/lib/goals.mjs";

type Cell = { median: number; runs: number[] };
type Table = Record<string, Record<string, Cell>>;

const cell = (median: number, runs: number[] = [median]): Cell => ({ median, runs });

/** A run in which every target holds: bun the fastest, at 0.8× nginx. */
function goodRun(): Table {
  return {
    "get-64c": {
      "polyvoy-node": cell(25_000),
      "polyvoy-bun": cell(36_000),
      "polyvoy-deno": cell(27_000),
      nginx: cell(45_000),
      "node-http-proxy": cell(10_000),
      "fastify-reply-from": cell(11_000),
      "bun-fetch": cell(30_000),
      "deno-fetch": cell(9_000),
    },
    "latency-half-p99": {
      direct: cell(1.8, [1.7, 1.8, 2.0, 1.9, 1.6]),
      "polyvoy-bun": cell(2.5, [2.4, 2.5, 2.9, 2.6, 2.3]),
    },
    "idle-memory": { "polyvoy-node": cell(2.0), "polyvoy-bun": cell(2.4), "polyvoy-deno": cell(5.8) },
    "body-1m": { "polyvoy-node": cell(1300), "polyvoy-bun": cell(1200), "polyvoy-deno": cell(1100), nginx: cell(1000) },
    "upload-1m": { "polyvoy-node": cell(1100), "polyvoy-bun": cell(1000), "polyvoy-deno": cell(900), nginx: cell(1000) },
  };
}

/** The seven targets, in the report's order. */
function goalsOf(table: Table) {
  const [node, bun, deno, nginx, tail, idle, bodies] = checkGoals(table);
  return { node: node!, bun: bun!, deno: deno!, nginx: nginx!, tail: tail!, idle: idle!, bodies: bodies! };
}

describe("bench speed targets", () => {
  test("a run that meets every target says so for each of the seven", () => {
    const goals = checkGoals(goodRun());
    expect(goals).toHaveLength(7);
    expect(goals.map((g) => g.met)).toEqual([true, true, true, true, true, true, true]);
    expect(fastestPolyvoy(goodRun())).toBe("polyvoy-bun");
    expect(goalsOf(goodRun()).tail.measured).toBe("bun +0.70 ms (2.50 against direct's 1.80; per round +0.70, +0.70, +0.90, +0.70, +0.70)");
  });

  test("HTTP/2 (h2c) and HTTPS targets appear only when the run measured them: the best runtime against nginx", () => {
    expect(checkGoals(goodRun())).toHaveLength(7);
    const table: Table = {
      ...goodRun(),
      "h2c-get": { "polyvoy-node": cell(20_000), "polyvoy-bun": cell(26_000), "polyvoy-deno": cell(15_000), nginx: cell(50_000) },
      "https-get": { "polyvoy-node": cell(9_000), "polyvoy-bun": cell(8_000), "polyvoy-deno": cell(7_000), nginx: cell(20_000) },
    };
    const goals = checkGoals(table);
    expect(goals).toHaveLength(9);
    expect(goals[7]).toMatchObject({ met: true, measured: "bun 0.52×" });
    expect(goals[8]).toMatchObject({ met: false, measured: "node 0.45×" });
  });

  test("a ratio below its target is missed, and a pair target needs both halves", () => {
    const table = goodRun();
    table["get-64c"]!["fastify-reply-from"] = cell(18_000); // node 1.39× reply-from, still 2.5× node-http-proxy
    table["get-64c"]!.nginx = cell(54_000); // bun 0.67×
    const goals = goalsOf(table);
    expect(goals.node).toMatchObject({ met: false, measured: "2.50× and 1.39×" });
    expect(goals.nginx).toMatchObject({ met: false, measured: "bun 0.67×" });
    expect(goals.bun.met).toBe(true);
  });

  test("a figure the run did not measure leaves its target unjudged, not met", () => {
    const table = goodRun();
    delete table["get-64c"]!["deno-fetch"];
    delete table["upload-1m"];
    const goals = goalsOf(table);
    expect(goals.deno).toMatchObject({ met: null, measured: "–" });
    expect(goals.bodies.met).toBeNull();
    expect(goals.bun.met).toBe(true);
  });

  test("the tail: over 1 ms added is missed; rounds the direct path's stalls decided are counted, and if half or more, not judged", () => {
    const slow = goodRun();
    slow["latency-half-p99"]!["polyvoy-bun"] = cell(3.0, [2.9, 3.0, 3.4, 3.1, 2.8]);
    expect(goalsOf(slow).tail).toMatchObject({ met: false });

    const stalled = goodRun();
    stalled["latency-half-p99"]!.direct = cell(6.04, [137, 2.16, 6.32, 3.25, 6.04]);
    stalled["latency-half-p99"]!["polyvoy-bun"] = cell(3.43, [5.06, 2.53, 3.43, 2.34, 13.87]);
    const tail = goalsOf(stalled).tail;
    expect(tail.met).toBeNull();
    expect(tail.measured).toContain("bun −2.61 ms");
    expect(tail.measured).toContain("the direct path's own p99 was the higher in 3 of 5 rounds");

    const oneStall = goodRun();
    oneStall["latency-half-p99"]!.direct = cell(1.8, [40, 1.8, 2.0, 1.9, 1.6]);
    const once = goalsOf(oneStall).tail;
    expect(once.met).toBe(true);
    expect(once.measured).toContain("the higher in 1 of 5 rounds");
  });

  test("RSS under load appears only when measured: each runtime's peak against its best JS peer, every runtime needed", () => {
    const table: Table = {
      ...goodRun(),
      "rss-load-peak": {
        "polyvoy-node": cell(80),
        "polyvoy-bun": cell(40),
        "polyvoy-deno": cell(120),
        "node-http-proxy": cell(85),
        "fastify-reply-from": cell(95),
        "bun-fetch": cell(31),
        "deno-fetch": cell(130),
      },
    };
    const goals = checkGoals(table);
    expect(goals).toHaveLength(8);
    expect(goals[7]).toMatchObject({ met: false, measured: "node 80.0 (from the sources) vs 85.0, bun 40.0 (from the sources) vs 31.0, deno 120 (from the sources) vs 130 MiB" });
    table["rss-load-peak"]!["polyvoy-bun"] = cell(30);
    expect(checkGoals(table)[7]!.met).toBe(true);
    delete table["rss-load-peak"]!["deno-fetch"];
    expect(checkGoals(table)[7]).toMatchObject({ met: null, measured: "node 80.0 (from the sources) vs 85.0, bun 30.0 (from the sources) vs 31.0, deno – MiB" });
    table["rss-load-peak"]!["polyvoy-node-package"] = cell(60);
    expect(checkGoals(table)[7]!.measured).toMatch(/^node 60\.0 vs 85\.0, bun 30\.0 \(from the sources\)/);
  });

  test("the section is a table with a verdict per target; a quick run's figures are not judged", () => {
    const table = goodRun();
    table["get-64c"]!.nginx = cell(54_000);
    const full = renderGoals(table, "full").join("\n");
    expect(full).toContain("## The speed targets in this run");
    expect(full).toContain("From this run's medians");
    expect(full).toContain("| the fastest runtime ≥ 0.7× nginx (small GETs) | bun 0.67× | **missed** |");
    const quick = renderGoals(table, "quick").join("\n");
    expect(quick).toContain("| the fastest runtime ≥ 0.7× nginx (small GETs) | bun 0.67× | not judged (quick run) |");
    expect(quick).not.toContain("missed");
  });
});
