// Preloaded by bench/bun-eden-ab.mjs into a polyvoy process on Bun: once the proxy has
// started, times eden collections in its heap after a request-like churn, prints one JSON
// line to stderr and ends the process.
import { edenGC, heapStats } from "bun:jsc";

const collections = Number(process.env.POLYVOY_EDEN_PROBE_COLLECTIONS ?? 400);
// Long enough for the proxy to have loaded its config and listened (an idle start takes < 1 s).
const delay = Number(process.env.POLYVOY_EDEN_PROBE_DELAY_MS ?? 2000);
setTimeout(() => {
  const { heapSize, objectTypeCounts } = heapStats();
  const weak = Object.fromEntries(Object.entries(objectTypeCounts).filter(([type]) => type.startsWith("Weak")));
  const times = [];
  let survivors = [];
  for (let i = 0; i < collections; i++) {
    // ~2,000 short-lived objects of a few kinds (~400 KB), one in 200 kept for a while.
    for (let j = 0; j < 2000; j++) {
      const o = { a: j, b: [j, j + 1], c: new Uint8Array(64), d: `x${j}` };
      if (j % 200 === 0) survivors.push(o);
    }
    if (survivors.length > 200) survivors = [];
    const t0 = performance.now();
    edenGC();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.floor(p * times.length)];
  const probe = { median: q(0.5), p10: q(0.1), p90: q(0.9), heapMiB: heapSize / 1048576, weak };
  process.stderr.write(`${JSON.stringify({ probe })}\n`);
  process.exit(0);
}, delay);

