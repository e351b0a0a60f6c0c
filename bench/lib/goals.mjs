// polyvoy's speed targets (the project's goals for the bench, docs/performance.md,
// "Targets and where they stand"), checked against one run's medians, so each results.md
// says which held in it.
import { fmt, signed } from "./scenarios.mjs";

const POLYVOYS = ["polyvoy-node", "polyvoy-bun", "polyvoy-deno"];
const RUNTIME = { "polyvoy-node": "node", "polyvoy-bun": "bun", "polyvoy-deno": "deno" };

const medianOf = (table, metric, id) => {
  const value = table[metric]?.[id]?.median;
  return typeof value === "number" ? value : undefined;
};

/** polyvoy's median over the peer's, or undefined when either was not measured. */
const ratioOf = (table, metric, id, peer) => {
  const mine = medianOf(table, metric, id);
  const theirs = medianOf(table, metric, peer);
  return mine !== undefined && theirs ? mine / theirs : undefined;
};

const times = (value) => `${value.toFixed(2)}×`;

/** The polyvoy with the highest small-GET median (the one `latency-half` runs at half of). */
export function fastestPolyvoy(table) {
  const measured = POLYVOYS.filter((id) => medianOf(table, "get-64c", id) !== undefined);
  return measured.sort((a, b) => medianOf(table, "get-64c", b) - medianOf(table, "get-64c", a))[0];
}

/** A target held when every figure it needs was measured and passes; `met` is null when one was not measured. */
function verdict(figures, passes) {
  if (figures.some((f) => f === undefined)) return null;
  return figures.every(passes);
}

/**
 * Each target: `{ target, measured, met }` (`met` true, false, or null when this run did
 * not measure what it needs: a skipped peer, a failed scenario, tail rounds that the
 * machine's stalls decided).
 */
export function checkGoals(table) {
  const goals = [];

  const vsNhp = ratioOf(table, "get-64c", "polyvoy-node", "node-http-proxy");
  const vsReplyFrom = ratioOf(table, "get-64c", "polyvoy-node", "fastify-reply-from");
  goals.push({
    target: "node ≥ 1.6× node-http-proxy and ≥ 1.5× fastify + reply-from (small GETs, 64 connections)",
    measured: `${vsNhp === undefined ? "–" : times(vsNhp)} and ${vsReplyFrom === undefined ? "–" : times(vsReplyFrom)}`,
    met: vsNhp === undefined || vsReplyFrom === undefined ? null : vsNhp >= 1.6 && vsReplyFrom >= 1.5,
  });

  for (const [id, peer, label, least] of [
    ["polyvoy-bun", "bun-fetch", "bun ≥ 1.1× Bun.serve + fetch", 1.1],
    ["polyvoy-deno", "deno-fetch", "deno ≥ 1.3× Deno.serve + fetch", 1.3],
  ]) {
    const r = ratioOf(table, "get-64c", id, peer);
    goals.push({ target: label, measured: r === undefined ? "–" : times(r), met: verdict([r], (v) => v >= least) });
  }

  const fastest = fastestPolyvoy(table);
  const vsNginx = fastest ? ratioOf(table, "get-64c", fastest, "nginx") : undefined;
  goals.push({
    target: "the fastest runtime ≥ 0.7× nginx (small GETs)",
    measured: vsNginx === undefined ? "–" : `${RUNTIME[fastest]} ${times(vsNginx)}`,
    met: verdict([vsNginx], (v) => v >= 0.7),
  });

  goals.push(tailGoal(table, fastest));

  const idle = POLYVOYS.map((id) => medianOf(table, "idle-memory", id));
  goals.push({
    target: "≤ 8 KiB per idle keep-alive connection, every runtime",
    measured: idle.every((v) => v === undefined) ? "–" : POLYVOYS.map((id, i) => `${RUNTIME[id]} ${fmt(idle[i])}`).join(", ") + " KiB",
    met: verdict(idle, (v) => v <= 8),
  });

  const bodies = ["body-1m", "upload-1m"].flatMap((metric) => POLYVOYS.map((id) => ratioOf(table, metric, id, "nginx")));
  goals.push({
    target: "1 MiB responses and uploads ≥ 0.5× nginx, every runtime",
    measured: bodies.every((v) => v === undefined) ? "–" : `${bodies.map((v) => (v === undefined ? "–" : times(v))).join(" / ")} (responses, then uploads: node / bun / deno)`,
    met: verdict(bodies, (v) => v >= 0.5),
  });
  // HTTP/2 (issue 29) and HTTPS (issue 27): the best runtime in the scenario against nginx.
  for (const [metric, label] of [
    ["h2c-get", "HTTP/2 (h2c, h2load 8 connections × 100 streams): the fastest runtime ≥ 0.5× nginx"],
    ["https-get", "HTTPS small GETs over keep-alive: the fastest runtime ≥ 0.5× nginx with TLS"],
  ]) {
    const best = POLYVOYS.filter((id) => medianOf(table, metric, id) !== undefined).sort((a, b) => medianOf(table, metric, b) - medianOf(table, metric, a))[0];
    const r = best ? ratioOf(table, metric, best, "nginx") : undefined;
    // Not measured unless the run had the scenario (it is left out of --quick).
    if (!best && medianOf(table, metric, "nginx") === undefined) continue;
    goals.push({ target: label, measured: r === undefined ? "–" : `${RUNTIME[best]} ${times(r)}`, met: verdict([r], (v) => v >= 0.5) });
  }
  // Issue 26's footprint: RSS under the small-GET load ≤ the best JS peer on the same runtime.
  const PEERS = { node: ["node-http-proxy", "fastify-reply-from"], bun: ["bun-fetch"], deno: ["deno-fetch"] };
  const rss = POLYVOYS.map((id) => {
    const peers = PEERS[RUNTIME[id]].map((peer) => medianOf(table, "rss-load-peak", peer)).filter((v) => v !== undefined);
    // As the package runs it, when the run measured that (--only polyvoy-<runtime>-package): on
    // node the sources run through tsx, which holds tens of MiB of its own.
    const fromPackage = medianOf(table, "rss-load-peak", `${id}-package`);
    const mine = fromPackage ?? medianOf(table, "rss-load-peak", id);
    return mine === undefined || peers.length === 0 ? undefined : { mine, best: Math.min(...peers), sources: fromPackage === undefined };
  });
  // Not measured unless the run had the small-GET scenario on a target with a process.
  if (rss.some((v) => v !== undefined))
    goals.push({
      target: "RSS under the small-GET load (peak) ≤ the best JS peer on the same runtime, every runtime",
      measured:
        POLYVOYS.map((id, i) => `${RUNTIME[id]} ${rss[i] ? `${fmt(rss[i].mine)}${rss[i].sources ? " (from the sources)" : ""} vs ${fmt(rss[i].best)}` : "–"}`).join(", ") + " MiB",
      met: verdict(rss, (v) => v.mine <= v.best),
    });

  return goals;
}

/**
 * Added p99 at half of the fastest polyvoy's maximum, over the direct path at the same
 * rate. A round in which the direct path's own p99 was the higher measured a stall of the
 * machine, not the proxy: such rounds are counted in the text, and when they are half or
 * more, the run is said not to have measured the target.
 */
function tailGoal(table, fastest) {
  const target = "added p99 ≤ 1 ms at half of the fastest runtime's maximum";
  const mine = fastest ? table["latency-half-p99"]?.[fastest] : undefined;
  const direct = table["latency-half-p99"]?.direct;
  if (typeof mine?.median !== "number" || typeof direct?.median !== "number") return { target, measured: "–", met: null };
  const added = mine.median - direct.median;
  const rounds = Math.min(mine.runs.length, direct.runs.length);
  let directSlower = 0;
  for (let i = 0; i < rounds; i++) if (direct.runs[i] > mine.runs[i]) directSlower++;
  const perRound = mine.runs.slice(0, rounds).map((v, i) => signed(v - direct.runs[i]));
  let measured = `${RUNTIME[fastest]} ${signed(added)} ms (${fmt(mine.median)} against direct's ${fmt(direct.median)}; per round ${perRound.join(", ")})`;
  if (directSlower > 0) measured += `; the direct path's own p99 was the higher in ${directSlower} of ${rounds} rounds`;
  const unmeasured = directSlower * 2 >= rounds;
  return { target, measured, met: unmeasured ? null : added <= 1 };
}

/** The section of results.md: one row per target. */
export function renderGoals(table, mode) {
  // A quick run's one cold 1-s run per scenario says nothing about a target: figures only.
  const quick = mode === "quick";
  const source = quick ? "This quick run's figures (one cold 1-s run each), not judged" : "From this run's medians";
  const lines = ["## The speed targets in this run", "", `${source} (docs/performance.md, "Targets and where they stand", has every full run's).`, ""];
  lines.push("| target | measured | |", "| --- | --- | --- |");
  for (const goal of checkGoals(table)) {
    const said = quick ? "not judged (quick run)" : goal.met === null ? "not measured" : goal.met ? "met" : "**missed**";
    lines.push(`| ${goal.target} | ${goal.measured} | ${said} |`);
  }
  lines.push("");
  return lines;
}
