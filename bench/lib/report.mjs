// results.json → results.md: the summary table (median per scenario and proxy), polyvoy's
// ratios to the best JS peer on the same runtime and to nginx, the speed targets (goals.mjs),
// and per-scenario details.
import { METRICS, THROUGHPUT, fmt, signed } from "./scenarios.mjs";
import { renderGoals } from "./goals.mjs";

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Per metric and target: {median, min, max, runs, errors, requests} or {error} or {skipped}. */
export function aggregate(results, targets) {
  const table = {};
  for (const metric of METRICS) {
    table[metric.id] = {};
    for (const target of targets) {
      const r = results[target.id];
      if (!r) continue;
      if (r.skipped) {
        table[metric.id][target.id] = { skipped: r.skipped };
        continue;
      }
      if (r.error) {
        table[metric.id][target.id] = { error: r.error };
        continue;
      }
      const entry = r.scenarios?.[metric.scenario];
      if (!entry) continue;
      if (entry.error) {
        table[metric.id][target.id] = { error: entry.error };
        continue;
      }
      // A field only some targets have (the RSS under load: none for direct) leaves the others' cells out.
      const values = entry.samples.map((s) => (metric.field ? s[metric.field] : s.value)).filter((v) => typeof v === "number");
      if (values.length === 0) continue;
      table[metric.id][target.id] = {
        median: median(values),
        min: Math.min(...values),
        max: Math.max(...values),
        runs: values,
        errors: entry.samples.reduce((a, s) => a + (s.errors ?? 0), 0),
        errorTypes: entry.samples.reduce((types, s) => {
          for (const [kind, n] of Object.entries(s.errorDetail ?? {})) if (n) types[kind] = (types[kind] ?? 0) + n;
          return types;
        }, {}),
        requests: entry.samples.reduce((a, s) => a + (s.requests ?? s.n ?? 0), 0),
      };
    }
  }
  return table;
}

const isBetter = (metric, a, b) => (metric.better === "higher" ? a > b : a < b);

/** The best JS peer on `runtime` for `metric`: {id, median} or null. */
export function bestPeer(metric, row, targets, runtime) {
  let best = null;
  for (const target of targets) {
    if (target.kind !== "js" || target.runtime !== runtime) continue;
    const cell = row[target.id];
    if (cell?.median === undefined || cell.median === null) continue;
    if (!best || isBetter(metric, cell.median, best.median)) best = { id: target.id, median: cell.median };
  }
  return best;
}

const ratio = (a, b) => (a === null || a === undefined || !b ? "–" : `${(a / b).toFixed(2)}×`);

function cellText(cell, withSpread = false) {
  if (!cell) return "–";
  if (cell.skipped) return "skipped";
  if (cell.error) return "failed";
  const warn = cell.errors > 0 ? " ⚠" : "";
  const text = fmt(cell.median) + warn;
  return withSpread ? `${text} (${fmt(cell.min)}–${fmt(cell.max)})` : text;
}

function errorsText(cell) {
  if (!cell.errors) return "0";
  const kinds = Object.entries(cell.errorTypes ?? {}).map(([kind, n]) => `${n.toLocaleString("en-US")} ${kind}`);
  return `${kinds.length ? kinds.join(", ") : cell.errors.toLocaleString("en-US")} (${cell.requests.toLocaleString("en-US")} ${cell.requests === 1 ? "request" : "requests"})`;
}

/**
 * A protocol filter's cost per target: the `filtered` scenario's rate over the `alone` one's
 * (tcp_proxy without the filter; medians), and the proxy's CPU time per request of each
 * (less noisy on a shared machine). `unit` names the rate, `per` one request of it.
 */
function filterCost(doc, shown, { filter, alone: aloneId, filtered: filteredId, unit, per }) {
  const cpu = (id, scenario) => median((doc.results[id]?.scenarios?.[scenario]?.samples ?? []).map((s) => s.cpuUsPerRequest).filter((v) => typeof v === "number"));
  const parts = [];
  for (const target of shown) {
    const alone = doc.table[aloneId]?.[target.id]?.median;
    const filtered = doc.table[filteredId]?.[target.id]?.median;
    if (typeof alone !== "number" || typeof filtered !== "number" || !alone) continue;
    const [a, b] = [cpu(target.id, aloneId), cpu(target.id, filteredId)];
    const cpuText = a !== null && b !== null ? `; CPU ${fmt(a)} → ${fmt(b)} µs/${per}, ${(b / a).toFixed(2)}×` : "";
    parts.push(`${target.label} ${(filtered / alone).toFixed(2)}× (${fmt(alone)} → ${fmt(filtered)} ${unit}${cpuText})`);
  }
  return `${filter}'s cost (with the filter ÷ tcp_proxy alone, medians): ${parts.length ? parts.join(", ") : "–"}.`;
}

/** postgres_proxy's cost per target: queries/s and CPU per query, with the filter ÷ tcp_proxy alone. */
export function postgresFilterCost(doc, shown) {
  return filterCost(doc, shown, { filter: "postgres_proxy", alone: "postgres", filtered: "postgres-filter", unit: "queries/s", per: "query" });
}

/** kafka_broker's cost per target: requests/s and CPU per request, with the filter ÷ tcp_proxy alone. */
export function kafkaFilterCost(doc, shown) {
  return filterCost(doc, shown, { filter: "kafka_broker", alone: "kafka", filtered: "kafka-filter", unit: "requests/s", per: "request" });
}

/** The selected scenarios warmed until a count of requests (`warmupRequests`), as the Runs line names them. */
function warmupByRequests(selected) {
  const counted = THROUGHPUT.filter((t) => t.warmupRequests && Array.isArray(selected) && selected.includes(t.id));
  if (counted.length === 0) return "";
  return ` (${counted.map((t) => `${t.id}: until ${t.warmupRequests} requests, within ${t.warmupMaxSeconds} s`).join("; ")})`;
}

/**
 * A scenario measured against another on the same target (its `baseline`: a tunnel against
 * plain tcp_proxy, an aggregate cluster against the plain one): the medians' ratio per target,
 * and the proxy's CPU time per request (or per 64 KiB chunk, per connection) of each.
 */
export function baselineRatio(doc, shown, scenario) {
  const cpu = (id, s) => median((doc.results[id]?.scenarios?.[s]?.samples ?? []).map((x) => x.cpuUsPerRequest).filter((v) => typeof v === "number"));
  const parts = [];
  for (const target of shown) {
    const base = doc.table[scenario.baseline]?.[target.id]?.median;
    const mine = doc.table[scenario.id]?.[target.id]?.median;
    if (typeof base !== "number" || typeof mine !== "number" || !base) continue;
    const [a, b] = [cpu(target.id, scenario.baseline), cpu(target.id, scenario.id)];
    const cpuText = a !== null && b !== null ? `; CPU ${fmt(a)} → ${fmt(b)} µs each, ${(b / a).toFixed(2)}×` : "";
    parts.push(`${target.label} ${(mine / base).toFixed(2)}× (${fmt(base)} → ${fmt(mine)} ${scenario.unit}${cpuText})`);
  }
  return `${scenario.id} ÷ ${scenario.baseline} (medians, same process): ${parts.length ? parts.join(", ") : "–"}.`;
}

export function renderMarkdown(doc) {
  const { meta, targets, table, notes } = doc;
  const byId = Object.fromEntries(targets.map((t) => [t.id, t]));
  const lines = [];
  const s = meta.settings;
  lines.push(`# polyvoy benchmark — ${meta.date} (${meta.mode})`, "");
  lines.push(
    `- Machine: ${meta.machine.cpu}, ${meta.machine.cores} cores, ${meta.machine.memoryGiB} GiB, ${meta.machine.os}, Linux ${meta.machine.kernel}`,
    `- Measured: polyvoy ${meta.versions.polyvoy}${meta.versions.commit ? ` (${meta.versions.commit}${meta.versions.dirty ? ", with uncommitted changes" : ""})` : ""} on node ${meta.versions.node}, bun ${meta.versions.bun ?? "–"}, deno ${meta.versions.deno ?? "–"}; nginx ${meta.versions.nginx ?? "–"}, HAProxy ${meta.versions.haproxy ?? "–"}; http-proxy ${meta.versions["http-proxy"] ?? "–"}, fastify ${meta.versions.fastify ?? "–"} + @fastify/reply-from ${meta.versions["@fastify/reply-from"] ?? "–"} (undici ${meta.versions.undici ?? "–"})`,
    `- Placement: ${meta.placement}`,
    `- Origin: ${meta.origin}`,
    `- Load: ${meta.load}`,
    `- Runs: ${s.runs} round${s.runs > 1 ? "s" : ""}; in each, every proxy on a fresh process, measured scenario by scenario: one scenario's runs of all proxies back to back (each proxy stopped in place, SIGSTOP, while the others run), ${s.warmupSeconds ? `${s.warmupSeconds} s warm-up${warmupByRequests(s.scenarios)}, then ` : ""}one run of ${s.seconds} s (so the n-th runs of all proxies in a scenario come from the same minute or two; the order of the proxies rotates from round to round); cells are the median${s.runs > 1 ? ", (min–max) in the details" : ""}. ⚠ = the load tool counted errors (see the details).`,
    `- Latency: ${s.rate} req/s over ${s.latencyConnections} keep-alive connections for ${s.latencySeconds} s per run (open loop, from when each request was due)${meta.halfRate ? `; "at half of polyvoy's max rate": ${s.latencyRounds} round${s.latencyRounds > 1 ? "s" : ""}; in each, half of what the fastest polyvoy (${meta.halfRate.fastest}) made on small GETs at 64 connections right before, on a fresh process (${meta.halfRate.rates.map((r) => r.toLocaleString("en-US")).join(", ")} req/s), for direct, polyvoy and nginx (the added latency is over direct)` : ""}.`,
    `- RSS under load: of the proxy's process tree (its own and any child's VmRSS, /proc), read every 0.2 s during the small-GET scenario at 64 connections (its warm-up included, on the round's fresh process, which has only passed the pass-through check before): the highest reading, and the reading when the run ended.`,
    `- Idle memory: ${s.idleConnections.toLocaleString("en-US")} keep-alive connections, each after one request; (RSS after − RSS before) / N, from /proc/<pid>/status, with RSS after taken once the connections have been idle for ${s.idleSettleMs / 1000} s (garbage-collected runtimes free the burst's garbage in an idle-time collection: V8's memory reducer ran 24–28 s after it here; nginx and HAProxy are sampled after ${s.settleMs / 1000} s), and ${s.settleMs / 1000} s after opening for the second row.`,
    `- Took ${Math.round(meta.seconds / 6) / 10} min; 1-minute load average ${meta.loadavg.before} before, ${meta.loadavg.max} at most, ${meta.loadavg.after} after (the bench itself keeps both cores busy, about 2: much more means other work shared the machine).`,
    "",
  );

  const ran = new Set(s.scenarios);
  const shown = targets.filter((t) => Object.values(table).some((row) => row[t.id]));
  lines.push("## Summary (medians)", "");
  lines.push(`| scenario | unit | ${shown.map((t) => t.label).join(" | ")} |`);
  lines.push(`| --- | --- | ${shown.map(() => "---:").join(" | ")} |`);
  for (const metric of METRICS) {
    const row = table[metric.id];
    if (!row || !ran.has(metric.scenario) || Object.keys(row).length === 0) continue;
    lines.push(`| ${metric.title} | ${metric.unit} ${metric.better === "higher" ? "↑" : "↓"} | ${shown.map((t) => cellText(row[t.id])).join(" | ")} |`);
  }
  lines.push("", "↑ higher is better, ↓ lower is better.", "");

  // polyvoy against the best JS peer on its runtime and against nginx
  const polyvoys = targets.filter((t) => t.kind === "polyvoy" && shown.includes(t));
  if (polyvoys.length) {
    lines.push("## polyvoy ÷ peers", "");
    lines.push("A ratio is polyvoy's median divided by the peer's (so above 1 is better for ↑ rows, below 1 for ↓ rows).", "");
    const head = polyvoys.flatMap((t) => [`${t.label} ÷ best ${t.runtime} peer`, `${t.label} ÷ nginx`]);
    lines.push(`| scenario | | ${head.join(" | ")} |`);
    lines.push(`| --- | --- | ${head.map(() => "---:").join(" | ")} |`);
    for (const metric of METRICS) {
      const row = table[metric.id];
      if (!row || !ran.has(metric.scenario) || Object.keys(row).length === 0) continue;
      const cells = polyvoys.flatMap((t) => {
        const mine = row[t.id]?.median;
        const best = bestPeer(metric, row, targets, t.runtime);
        return [best ? `${ratio(mine, best.median)} (${byId[best.id].label})` : "–", ratio(mine, row.nginx?.median)];
      });
      lines.push(`| ${metric.title} | ${metric.better === "higher" ? "↑" : "↓"} | ${cells.join(" | ")} |`);
    }
    lines.push("");
    lines.push(...renderGoals(table, meta.mode));
  }

  lines.push("## Details", "");
  for (const metric of METRICS) {
    const row = table[metric.id];
    if (!row || !ran.has(metric.scenario) || Object.keys(row).length === 0) continue;
    lines.push(`### ${metric.title} — ${metric.unit} (${metric.better} is better)`, "");
    lines.push("| proxy | runtime | median | min–max | ÷ best JS peer, same runtime | ÷ nginx | errors |");
    lines.push("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for (const target of shown) {
      const cell = row[target.id];
      if (!cell) continue;
      if (cell.skipped || cell.error) {
        lines.push(`| ${target.label} | ${target.runtime ?? "native"} | ${cell.skipped ? "skipped" : "failed"} | | | | ${(cell.skipped ?? cell.error).replace(/\|/g, "\\|").replace(/\n/g, " ").slice(0, 160)} |`);
        continue;
      }
      const best = target.kind === "polyvoy" || target.kind === "js" ? bestPeer(metric, row, targets, target.runtime) : null;
      const vsPeer = best ? `${ratio(cell.median, best.median)}${best.id === target.id ? "" : ` (${byId[best.id].label})`}` : "";
      const vsNginx = target.id === "nginx" || target.kind === "direct" ? "" : ratio(cell.median, row.nginx?.median);
      lines.push(
        `| ${target.label} | ${target.runtime ?? (target.kind === "direct" ? "–" : "native")} | ${fmt(cell.median)} | ${fmt(cell.min)}–${fmt(cell.max)} | ${vsPeer} | ${vsNginx} | ${errorsText(cell)} |`,
      );
    }
    if (metric.id === "postgres-filter") lines.push("", postgresFilterCost(doc, shown));
    if (metric.id === "kafka-filter") lines.push("", kafkaFilterCost(doc, shown));
    const scenario = THROUGHPUT.find((t) => t.id === metric.id);
    if (scenario?.baseline && ran.has(scenario.baseline)) lines.push("", baselineRatio(doc, shown, scenario));
    if ((metric.scenario === "latency" || metric.scenario === "latency-half") && row.direct?.median !== undefined) {
      const added = shown
        .filter((t) => t.kind !== "direct" && row[t.id]?.median !== undefined)
        .map((t) => `${t.label} ${signed(row[t.id].median - row.direct.median)}`);
      lines.push("", `Added over direct (medians, ms): ${added.join(", ")}.`);
    }
    lines.push("");
  }

  if (notes.length) {
    lines.push("## Notes", "");
    for (const note of notes) lines.push(`- ${note}`);
    lines.push("");
  }
  return lines.join("\n");
}
