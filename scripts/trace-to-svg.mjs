#!/usr/bin/env node
// Draws a request-lifecycle trace (Chrome Trace Event JSON from the admin's
// GET /trace) as an SVG timeline: one lane per connection, the stream as a bar,
// each step as a tick with its name. Usage:
//   curl -s localhost:9901/trace > trace.json && node scripts/trace-to-svg.mjs trace.json > trace.svg
import { readFileSync } from "node:fs";

const trace = JSON.parse(readFileSync(process.argv[2] ?? 0, "utf8"));
const events = trace.traceEvents.filter((e) => e.ph === "i");
const spans = trace.traceEvents.filter((e) => e.ph === "X");
const lanes = [...new Set(events.map((e) => e.tid))];
const t0 = Math.min(...events.map((e) => e.ts));
const t1 = Math.max(...events.map((e) => e.ts));
const width = 1100;
const left = 110;
const plot = width - left - 40;
const rowHeight = 22;
const x = (ts) => left + ((ts - t0) / Math.max(1, t1 - t0)) * plot;
const escape = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

const parts = [];
let y = 56;
for (const lane of lanes) {
  const laneEvents = events.filter((e) => e.tid === lane).sort((a, b) => a.ts - b.ts);
  const top = y;
  parts.push(`<text x="10" y="${top + 14}" font-weight="bold">C${lane}</text>`);
  for (const span of spans.filter((s) => s.tid === lane)) {
    parts.push(`<rect x="${x(span.ts)}" y="${top}" width="${Math.max(2, x(span.ts + span.dur) - x(span.ts))}" height="${laneEvents.length * rowHeight + 8}" fill="#dbeafe" rx="4"/>`);
    parts.push(`<text x="${x(span.ts) + 4}" y="${top - 4}" fill="#1e40af">${escape(span.name)} · ${(span.dur / 1000).toFixed(2)} ms</text>`);
  }
  laneEvents.forEach((e, i) => {
    const ey = top + 14 + i * rowHeight;
    const ms = ((e.ts - t0) / 1000).toFixed(3);
    parts.push(`<line x1="${x(e.ts)}" y1="${ey - 10}" x2="${x(e.ts)}" y2="${ey + 4}" stroke="#dc2626" stroke-width="2"/>`);
    const label = `${e.name}${e.args?.detail ? ` ${e.args.detail}` : ""} (+${ms} ms)`;
    const anchor = x(e.ts) > left + plot * 0.6 ? "end" : "start";
    const tx = anchor === "end" ? x(e.ts) - 6 : x(e.ts) + 6;
    parts.push(`<text x="${tx}" y="${ey}" text-anchor="${anchor}">${escape(label)}</text>`);
  });
  y = top + laneEvents.length * rowHeight + 40;
}
const height = y + 20;
process.stdout.write(
  `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="monospace" font-size="12">` +
    `<rect width="100%" height="100%" fill="white"/>` +
    `<text x="10" y="20" font-size="14" font-weight="bold">polyvoy request-lifecycle trace (${((t1 - t0) / 1000).toFixed(2)} ms)</text>` +
    `<line x1="${left}" y1="28" x2="${left + plot}" y2="28" stroke="#999"/>` +
    parts.join("") +
    `</svg>\n`,
);
