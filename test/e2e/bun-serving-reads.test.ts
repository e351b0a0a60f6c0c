/**
 * Bun only: the adapter reads files at once while the proxy starts and on Bun's file
 * thread pool once it serves (bun-runtime.ts, serving()), so a reload's read of a large
 * config leaves the event loop serving. Server.start() tells the runtime, so the entry
 * (runtimes/bun/main.ts) and a program embedding polyvoy through its API
 * (runtimes/bun/index.ts) behave alike. Seen from outside through each thread's read
 * bytes (/proc/<pid>/task/<tid>/io, rchar): a SIGHUP's read of a 4 MB config is done by a
 * pool thread, not by the main thread (tid = pid), where a read made at once would be.
 * Node and Deno read on their own pools from the first read: nothing to test.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, test } from "vitest";
import { CommandProcess } from "../support/command-process.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { freePort } from "../support/net-helpers.ts";
import { ROOT, RUNTIMES } from "../support/proxy-process.ts";

const CONFIG_COMMENT_BYTES = 4 * 1024 * 1024;

/** Bytes each thread of `pid` has read so far, by thread id. */
function threadReads(pid: number): Map<number, number> {
  const reads = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      reads.set(Number(tid), Number(readFileSync(`/proc/${pid}/task/${tid}/io`, "utf8").match(/^rchar: (\d+)$/m)![1]));
    } catch {
      // the thread ended meanwhile
    }
  }
  return reads;
}

describe.skipIf(!RUNTIMES.includes("bun"))("file reads on bun once the proxy serves", () => {
  const folder = (): string => mkdtempSync(join(inject("tempRoot"), "bun-serving-"));

  /** The entry, and a program that embeds polyvoy through the package's API (runMain, no entry of ours). */
  const programs: [string, () => string][] = [
    ["the entry (runtimes/bun/main.ts)", () => join(ROOT, "runtimes/bun/main.ts")],
    [
      "a program embedding polyvoy (runtimes/bun/index.ts)",
      () => {
        const path = join(folder(), "embed.ts");
        writeFileSync(path, `import { createBunRuntime, runMain } from ${JSON.stringify(join(ROOT, "runtimes/bun/index.ts"))};\nvoid runMain(createBunRuntime(), process.argv.slice(2));\n`);
        return path;
      },
    ],
  ];

  test.each(programs)("%s: a SIGHUP's read of the config is made on a pool thread, not on the main thread", { timeout: 60_000 }, async (_name, program) => {
    const port = await freePort();
    const config = httpProxyConfig({ listenPort: port, clusters: { backend: [9] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] });
    // JSON is YAML: the config, then a comment that makes its read large enough to see.
    const path = join(folder(), "envoy.yaml");
    writeFileSync(path, `${JSON.stringify(config)}\n${`#${"x".repeat(1023)}\n`.repeat(CONFIG_COMMENT_BYTES / 1024)}`);
    const proxy = new CommandProcess(join(ROOT, "node_modules/.bin/bun"), [program(), "-c", path, "--concurrency", "1"], ROOT);
    try {
      await proxy.waitFor("listening on", 30_000);
      const before = threadReads(proxy.pid);
      proxy.signal("SIGHUP");
      await proxy.waitFor("config reload: done", 30_000);
      const after = threadReads(proxy.pid);
      const grew = (tid: number) => (after.get(tid) ?? 0) - (before.get(tid) ?? 0);
      // Without serving() the main thread reads it (a read at once): 4 MB more there.
      expect(grew(proxy.pid)).toBeLessThan(CONFIG_COMMENT_BYTES / 2);
      expect(Math.max(...[...after.keys()].filter((tid) => tid !== proxy.pid).map(grew))).toBeGreaterThanOrEqual(CONFIG_COMMENT_BYTES);
    } finally {
      await proxy.stop();
    }
  });
});
