/**
 * Bun only: JavaScriptCore's tier-up thresholds are raised while the proxy starts and
 * normal once it serves (runtimes/bun/start-jit-policy.ts). Seen through JavaScriptCore's
 * own compile log (`BUN_JSC_reportBaselineCompileTimes=1`: one "using Baseline" line on
 * stderr per function the baseline JIT compiles): few compiles before "listening on",
 * and the request path compiled as usual after it. Node and Deno run V8: nothing to test.
 */
import { afterEach, describe, expect, test } from "vitest";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

const baselineCompiles = (stderr: string) => stderr.match(/using Baseline/g)?.length ?? 0;

describe.skipIf(!RUNTIMES.includes("bun"))("JIT policy during start-up on bun", () => {
  let upstream: HttpUpstream | undefined;
  let proxy: ProxyProcess | undefined;

  afterEach(async () => {
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  test("start-up compiles little; 300 proxied requests then compile the request path", async () => {
    upstream = await httpUpstream((_req, res) => res.end("x".repeat(64)));
    const port = await freePort();
    const config = httpProxyConfig({ listenPort: port, clusters: { service: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "service" }] });
    proxy = await ProxyProcess.start("bun", config, 1, [], { BUN_JSC_reportBaselineCompileTimes: "1" });
    // With the normal thresholds from the first line: ~140 compiles before listening;
    // with them raised, a handful.
    const atStart = baselineCompiles(proxy.stderr.slice(0, proxy.stderr.indexOf("listening on")));
    expect(atStart).toBeLessThanOrEqual(30);
    const agent = new Agent({ connections: 1 });
    for (let i = 0; i < 300; i++) {
      const response = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent });
      expect(await response.body.text()).toHaveLength(64);
    }
    await agent.close();
    // ~340 compiles with the thresholds back to normal; ~15 had they stayed raised.
    expect(baselineCompiles(proxy.stderr) - atStart).toBeGreaterThanOrEqual(100);
  });
});
