// `polyvoy compare`: measurements → medians and spread per runtime and target, the terminal
// table and results.md.
import { median } from "./report.mjs";

const spread = (values) => (values.length ? { median: median(values), min: Math.min(...values), max: Math.max(...values), runs: values.length } : undefined);
const numbers = (rows, pick) => rows.map(pick).filter((v) => typeof v === "number" && Number.isFinite(v));

function sumErrors(rows) {
  const total = {};
  for (const row of rows) for (const [kind, n] of Object.entries(row.errors ?? {})) total[kind] = (total[kind] ?? 0) + n;
  return total;
}

/** {runtimes: {name: {refused, startupMs, rssIdleMiB, targets: {id: {rps, p50, p99, p999, cpuUsPerRequest, rssLoadMiB, errors, statuses, failures, addedMs}}}}} */
export function aggregateCompare(doc) {
  const runtimes = {};
  const names = [...new Set(doc.measurements.map((m) => m.runtime))];
  for (const name of names) {
    const rows = doc.measurements.filter((m) => m.runtime === name);
    const refusals = rows.filter((m) => m.refused).map((m) => m.refused);
    const entry = {
      refused: refusals[0] ?? null,
      startupMs: spread(numbers(rows, (m) => m.startupMs)),
      rssIdleMiB: spread(numbers(rows, (m) => m.rssIdleMiB)),
      targets: {},
    };
    for (const target of doc.targets) {
      const runs = rows.filter((m) => m.target === target.id && !m.error);
      const failures = rows.filter((m) => m.target === target.id && m.error).map((m) => m.error);
      if (!runs.length && !failures.length) continue;
      entry.targets[target.id] = {
        rps: spread(numbers(runs, (m) => m.rps)),
        p50: median(numbers(runs, (m) => m.latencyMs?.p50)),
        p99: median(numbers(runs, (m) => m.latencyMs?.p99)),
        p999: median(numbers(runs, (m) => m.latencyMs?.p999)),
        cpuUsPerRequest: median(numbers(runs, (m) => m.cpuUsPerRequest)),
        rssLoadMiB: median(numbers(runs, (m) => m.rssLoadMiB)),
        errors: sumErrors(runs),
        // what one request answered before each run's load (null: not probed)
        statuses: [...new Set(numbers(runs, (m) => m.status))].sort((a, b) => a - b),
        failures,
      };
    }
    runtimes[name] = entry;
  }
  // latency added over the direct path, where the origin was measured directly
  const direct = runtimes.direct;
  if (direct) {
    for (const [name, entry] of Object.entries(runtimes)) {
      if (name === "direct") continue;
      for (const [id, cell] of Object.entries(entry.targets)) {
        const base = direct.targets[id];
        if (base && cell.p50 !== null && base.p50 !== null) cell.addedMs = { p50: cell.p50 - base.p50, p99: cell.p99 - base.p99 };
      }
    }
  }
  return { runtimes };
}

const int = (v) => (v === null || v === undefined ? "–" : Math.round(v).toLocaleString("en-US"));
const ms = (v) => (v === null || v === undefined ? "–" : v < 10 ? v.toFixed(2) : v.toFixed(1));
const mib = (v) => (v === null || v === undefined ? "–" : v.toFixed(0));
const signed = (v) => (v >= 0 ? `+${ms(v)}` : `−${ms(-v)}`);

function errorText(cell) {
  const parts = Object.entries(cell.errors ?? {}).filter(([, n]) => n > 0).map(([kind, n]) => `${kind} ${n}`);
  const unexpected = (cell.statuses ?? []).filter((s) => s < 200 || s > 299);
  if (unexpected.length) parts.unshift(`answered ${unexpected.join(", ")}`);
  if (cell.failures?.length) parts.push(`failed: ${cell.failures[0]}`);
  return parts.join(", ") || "0";
}

function describeTarget(t) {
  const what = { direct_response: "direct response", route: "route → origin", target: "--target" }[t.source];
  return `${t.tls ? "https" : "http"}://${t.listener}${t.path} (${what}${t.host ? `, Host: ${t.host}` : ""}${t.http2 ? ", HTTP/2 with h2load" : ""})`;
}

/** Rows for one target: [header, ...rows] as arrays of cells. */
function targetRows(doc, target) {
  const header = ["runtime", "req/s", "min–max", "p50 ms", "p99 ms", "p99.9 ms", "CPU µs/req", "RSS MiB", "errors"];
  const hasAdded = Object.values(doc.summary.runtimes).some((r) => r.targets[target.id]?.addedMs);
  if (hasAdded) header.push("added p50/p99 ms");
  const rows = [header];
  for (const [name, entry] of Object.entries(doc.summary.runtimes)) {
    const cell = entry.targets[target.id];
    if (!cell) {
      if (entry.refused && name !== "direct") rows.push([name, `refused: ${entry.refused}`]);
      continue;
    }
    const row = [
      name,
      int(cell.rps?.median),
      cell.rps ? `${int(cell.rps.min)}–${int(cell.rps.max)}` : "–",
      ms(cell.p50),
      ms(cell.p99),
      ms(cell.p999),
      cell.cpuUsPerRequest === null ? "–" : cell.cpuUsPerRequest.toFixed(1),
      mib(cell.rssLoadMiB),
      errorText(cell),
    ];
    if (hasAdded) row.push(cell.addedMs ? `${signed(cell.addedMs.p50)} / ${signed(cell.addedMs.p99)}` : "");
    rows.push(row);
  }
  return rows;
}

function runtimeRows(doc) {
  const rows = [["runtime", "start-up ms", "idle RSS MiB", "status"]];
  for (const r of doc.runtimes) {
    const entry = doc.summary.runtimes[r.runtime];
    if (r.skipped) rows.push([r.runtime, "–", "–", `skipped: ${r.skipped}`]);
    else if (!entry) rows.push([r.runtime, "–", "–", "not measured"]);
    else rows.push([r.runtime, ms(entry.startupMs?.median), mib(entry.rssIdleMiB?.median), entry.refused ? `refused: ${entry.refused}` : "measured"]);
  }
  return rows;
}

function textTable(rows) {
  const widths = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, String(cell).length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? String(cell) : String(cell).padEnd(widths[i]))).join("  ")).join("\n");
}

function markdownTable(rows) {
  const [header, ...body] = rows;
  const escape = (c) => String(c).replace(/\|/g, "\\|");
  return [`| ${header.map(escape).join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`, ...body.map((r) => `| ${r.map(escape).join(" | ")} |`)].join("\n");
}

function settingsLine(doc) {
  const s = doc.meta.settings;
  const load = s.rate ? `open loop at ${s.rate} req/s` : `${s.connections} keep-alive connections`;
  return `${s.method} requests, ${load}, ${s.seconds} s per run after ${s.warmupSeconds} s of warm-up, ${s.runs} round${s.runs > 1 ? "s" : ""} (medians; the runtimes' order rotates); load from ${doc.meta.load}${s.origin ? "; clusters pointed at the bench's origin" : ""}`;
}

export function renderCompareTable(doc) {
  const out = [`\npolyvoy compare: ${doc.meta.config} — ${settingsLine(doc)}`];
  for (const target of doc.targets) out.push("", describeTarget(target), textTable(targetRows(doc, target)));
  out.push("", textTable(runtimeRows(doc)));
  for (const note of doc.notes) out.push(`note: ${note}`);
  return out.join("\n");
}

export function renderCompareMarkdown(doc) {
  const m = doc.meta.machine;
  const out = [
    `# polyvoy compare: ${doc.meta.config}`,
    "",
    `- ${doc.meta.date}, ${m.cores} cores (${m.cpu}), ${m.os || "unknown OS"}, kernel ${m.kernel}`,
    `- ${settingsLine(doc)}`,
    "- RSS is the peak during the run; CPU is the proxy process's user + system time per request.",
  ];
  for (const target of doc.targets) out.push("", `## ${describeTarget(target)}`, "", markdownTable(targetRows(doc, target)));
  out.push("", "## Runtimes", "", markdownTable(runtimeRows(doc)));
  if (doc.notes.length) out.push("", "## Notes", "", ...doc.notes.map((n) => `- ${n}`));
  return out.join("\n") + "\n";
}
