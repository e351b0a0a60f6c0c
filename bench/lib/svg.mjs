// chart.svg, written by hand (no dependencies): grouped bars of req/s per proxy for the
// small-GET scenarios (64 and 256 keep-alive connections), with min–max whiskers.

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function niceMax(value) {
  if (!(value > 0)) return 1;
  const pow = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (step * pow >= value) return step * pow;
  return 10 * pow;
}

const short = (n) => (n >= 1e6 ? `${+(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${+(n / 1e3).toFixed(1)}k` : `${Math.round(n)}`);

/**
 * @param doc results document ({targets, table, meta})
 * @param series metric ids to draw side by side, e.g. ["get-64c", "get-256c"]
 * @param title what was measured (polyvoy compare names the user's config)
 */
export function renderChart(doc, allSeries = [["get-64c", "64 connections"], ["get-256c", "256 connections"]], title = "Small GETs (64-byte body) through each proxy") {
  const { targets, table, meta } = doc;
  const series = allSeries.filter(([id]) => Object.values(table[id] ?? {}).some((cell) => cell.median !== undefined));
  const colors = ["#3b6ea8", "#e08a2c", "#5a9e4b", "#b04a5a"];
  const shown = targets.filter((t) => series.some(([id]) => table[id]?.[t.id]?.median !== undefined));
  const W = Math.max(640, 110 + shown.length * 86);
  const H = 440;
  const left = 70;
  const right = 20;
  const top = 56;
  const bottom = 110;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const max = niceMax(Math.max(1, ...shown.flatMap((t) => series.map(([id]) => table[id]?.[t.id]?.max ?? 0))));
  const y = (v) => top + plotH - (v / max) * plotH;
  const groupW = plotW / Math.max(1, shown.length);
  const barW = Math.min(28, (groupW - 16) / series.length);

  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${left}" y="22" font-size="15" font-weight="600">${esc(title)} — requests/s, median of ${meta.settings.runs} run${meta.settings.runs > 1 ? "s" : ""} (whiskers: min–max)</text>`);
  out.push(`<text x="${left}" y="40" fill="#555">${esc(`${meta.date} · ${meta.mode} · ${meta.machine.cores} cores, proxy pinned to one · ${meta.machine.cpu}`)}</text>`);

  // grid and y axis
  for (let i = 0; i <= 5; i++) {
    const v = (max / 5) * i;
    const yy = y(v).toFixed(1);
    out.push(`<line x1="${left}" y1="${yy}" x2="${W - right}" y2="${yy}" stroke="${i === 0 ? "#333" : "#e3e3e3"}"/>`);
    out.push(`<text x="${left - 6}" y="${yy}" dy="4" text-anchor="end" fill="#444">${short(v)}</text>`);
  }
  out.push(`<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#444">requests / s</text>`);

  shown.forEach((target, gi) => {
    const gx = left + gi * groupW + (groupW - barW * series.length) / 2;
    series.forEach(([id], si) => {
      const cell = table[id]?.[target.id];
      if (cell?.median === undefined) return;
      const x = gx + si * barW;
      const yTop = y(cell.median);
      out.push(`<rect x="${x.toFixed(1)}" y="${yTop.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(top + plotH - yTop).toFixed(1)}" fill="${colors[si % colors.length]}"><title>${esc(`${target.label}, ${id}: ${Math.round(cell.median)} req/s (${Math.round(cell.min)}–${Math.round(cell.max)})`)}</title></rect>`);
      if (cell.max > cell.min) {
        const cx = (x + (barW - 2) / 2).toFixed(1);
        out.push(`<line x1="${cx}" y1="${y(cell.min).toFixed(1)}" x2="${cx}" y2="${y(cell.max).toFixed(1)}" stroke="#222"/>`);
        out.push(`<line x1="${(+cx - 3).toFixed(1)}" y1="${y(cell.max).toFixed(1)}" x2="${(+cx + 3).toFixed(1)}" y2="${y(cell.max).toFixed(1)}" stroke="#222"/>`);
        out.push(`<line x1="${(+cx - 3).toFixed(1)}" y1="${y(cell.min).toFixed(1)}" x2="${(+cx + 3).toFixed(1)}" y2="${y(cell.min).toFixed(1)}" stroke="#222"/>`);
      }
      out.push(`<text x="${(x + (barW - 2) / 2).toFixed(1)}" y="${(Math.min(yTop, y(cell.max)) - 4).toFixed(1)}" text-anchor="middle" font-size="10" fill="#333">${short(cell.median)}</text>`);
    });
    const lx = left + gi * groupW + groupW / 2;
    const ly = top + plotH + 14;
    out.push(`<text transform="translate(${lx.toFixed(1)} ${ly}) rotate(-30)" text-anchor="end" fill="${target.kind === "polyvoy" ? "#000" : "#333"}" font-weight="${target.kind === "polyvoy" ? 700 : 400}">${esc(target.label)}</text>`);
  });

  // legend
  series.forEach(([, label], si) => {
    const lx = W - right - 130 * (series.length - si);
    const ly = 40;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="12" height="12" fill="${colors[si % colors.length]}"/>`);
    out.push(`<text x="${lx + 18}" y="${ly + 1}">${esc(label)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
