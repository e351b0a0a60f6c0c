/**
 * bench/core-ab.ts's measurement (bench/lib/core-pair.ts): this checkout's core serves
 * small GETs on the memory runtime, batch after batch, and two of it compare as equals.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { measureCorePair, PROXY_PORT, startCore, UPSTREAM_PORT } from "../../../bench/lib/core-pair.ts";
import { httpProxyConfig } from "../../support/configs.ts";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url)).replace(/\/$/, "");
const BOOTSTRAP = httpProxyConfig({
  listenPort: PROXY_PORT,
  clusters: { backend: [UPSTREAM_PORT] },
  routes: [{ match: { prefix: "/" }, cluster: "backend" }],
});

describe("core A/B bench", () => {
  test("a batch runs every request through the proxy and reports time per request", async () => {
    const run = await startCore(ROOT, BOOTSTRAP);
    for (const requests of [1, 100, 1000]) {
      const micros = run(requests);
      expect(micros).toBeGreaterThan(0);
      // Only a hang guard: speed is the bench's to judge, and a cold batch on a busy
      // machine can take a good part of a second per request.
      expect(micros).toBeLessThan(10_000_000);
    }
  });

  test("a checkout against itself: every pair measured, times alike", async () => {
    const result = await measureCorePair(ROOT, ROOT, BOOTSTRAP, { requests: 500, pairs: 6 });
    expect(result.pairs).toBe(6);
    expect(result.bFaster).toBeGreaterThanOrEqual(0);
    expect(result.bFaster).toBeLessThanOrEqual(6);
    expect(result.aMicros).toBeGreaterThan(0);
    expect(result.bMicros).toBeGreaterThan(0);
    // Same code on the same machine: far from a 3× difference whatever the noise.
    expect(result.ratio).toBeGreaterThan(1 / 3);
    expect(result.ratio).toBeLessThan(3);
  });

  test("an answer other than 200 stops the batch with the status line", async () => {
    // The cluster points where nothing listens: the proxy answers 503, which must not be measured.
    const elsewhere = httpProxyConfig({
      listenPort: PROXY_PORT,
      clusters: { backend: [UPSTREAM_PORT + 1] },
      routes: [{ match: { prefix: "/" }, cluster: "backend" }],
    });
    const run = await startCore(ROOT, elsewhere);
    expect(() => run(10)).toThrow(/the proxy answered HTTP\/1\.1 503 Service Unavailable/);
  });
});
