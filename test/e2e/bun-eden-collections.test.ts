/**
 * Bun only: young-generation collections run between polls, every N socket reads
 * (runtimes/bun/eden-collections.ts), instead of wherever allocation crosses
 * JavaScriptCore's budget. Seen through JavaScriptCore's own GC log (`BUN_JSC_logGC=1`),
 * which prints each collection to stderr. Node and Deno run V8, whose young-generation
 * collections polyvoy leaves alone: there is nothing to test on them.
 */
import { afterEach, describe, expect, test } from "vitest";
import { Agent, request } from "undici";
import { ProxyProcess, RUNTIMES, runToExit } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream, type HttpUpstream } from "../support/http-upstream.ts";

const edenCollections = (stderr: string) => stderr.match(/EdenCollection/g)?.length ?? 0;

describe.skipIf(!RUNTIMES.includes("bun"))("eden collections between polls on bun", () => {
  let upstream: HttpUpstream | undefined;
  let proxy: ProxyProcess | undefined;

  afterEach(async () => {
    await proxy?.stop("SIGKILL");
    await upstream?.close();
  });

  /** Proxy 500 small GETs one after another over one connection (1,000 socket reads); the eden collections logged meanwhile. */
  async function collectionsDuring500Requests(readsPerCollection: string): Promise<number> {
    upstream = await httpUpstream((_req, res) => res.end("x".repeat(64)));
    const port = await freePort();
    const config = httpProxyConfig({ listenPort: port, clusters: { service: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "service" }] });
    proxy = await ProxyProcess.start("bun", config, 1, [], { BUN_JSC_logGC: "1", POLYVOY_BUN_READS_PER_EDEN_GC: readsPerCollection });
    const agent = new Agent({ connections: 1 });
    // Warm up first: start-up's own collections are not counted.
    for (let i = 0; i < 20; i++) await (await request(`http://127.0.0.1:${port}/`, { dispatcher: agent })).body.text();
    const before = edenCollections(proxy.stderr);
    for (let i = 0; i < 500; i++) {
      const response = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent });
      expect(await response.body.text()).toHaveLength(64);
    }
    await agent.close();
    return edenCollections(proxy.stderr) - before;
  }

  test("every 100 reads, one eden collection: ~10 in 500 proxied requests", async () => {
    expect(await collectionsDuring500Requests("100")).toBeGreaterThanOrEqual(9);
  });

  test("0 leaves them to JavaScriptCore: 500 small requests allocate too little for one", async () => {
    expect(await collectionsDuring500Requests("0")).toBeLessThanOrEqual(1);
  });

  test("a setting that is not a whole number stops start-up with one line naming it", async () => {
    const exited = await runToExit("bun", ["--mode", "validate", "-c", "/dev/null"], 20_000, { POLYVOY_BUN_READS_PER_EDEN_GC: "often" });
    expect(exited.code).toBe(1);
    expect(exited.stderr).toBe('environment: POLYVOY_BUN_READS_PER_EDEN_GC must be a whole number of reads (0 turns scheduled collections off), not "often"\n');
  });
});
