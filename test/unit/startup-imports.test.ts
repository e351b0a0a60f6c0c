/**
 * What the proxy loads before it reads its config: each runtime's main.ts and what it
 * imports statically. zod, the config schemas and the Envoy field tables come only with the
 * config loader (core/config/load.ts), which core/main.ts imports when it validates a config
 * (core/config/validate-config.ts).
 * A static import of a schema file from the proxy's code (for a constant, say) would bring
 * them all back into every start-up.
 */
import { describe, expect, test } from "vitest";
import { build, type Metafile } from "esbuild";
import { join } from "node:path";
import { readFileSync } from "node:fs";

const ROOT = join(import.meta.dirname, "../..");

/** The inputs reachable from `entry` through static imports only (what loads at start-up), and the runtime modules they import. */
async function staticallyLoaded(entry: string, externals?: Set<string>): Promise<string[]> {
  const result = await build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    write: false,
    metafile: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    external: ["node:*", "bun:*"],
    logLevel: "silent",
  });
  return reachable(result.metafile, entry, externals);
}

function reachable(metafile: Metafile, entry: string, externals = new Set<string>()): string[] {
  const seen = new Set<string>([entry]);
  const queue = [entry];
  while (queue.length > 0) {
    const input = metafile.inputs[queue.pop()!];
    for (const imported of input?.imports ?? []) {
      if (imported.kind === "dynamic-import") continue;
      if (imported.external) {
        externals.add(imported.path);
        continue;
      }
      if (seen.has(imported.path)) continue;
      seen.add(imported.path);
      queue.push(imported.path);
    }
  }
  return [...seen].sort();
}

describe("start-up imports", () => {
  for (const runtime of ["node", "bun", "deno"]) {
    test(`runtimes/${runtime}/main.ts loads no zod, config schema or Envoy field table before the config`, async () => {
      const loaded = await staticallyLoaded(`runtimes/${runtime}/main.ts`);
      expect(loaded).toContain("core/server.ts");
      const configOnly = loaded.filter((path) => /node_modules\/zod\/|-schema\.ts$|core\/config\/(schema|load|envoy-fields|envoy-messages)\.ts$/.test(path));
      expect(configOnly).toEqual([]);
    });
  }

  for (const runtime of ["node", "bun", "deno"]) {
    test(`runtimes/${runtime}/main.ts imports none of node:tls, node:crypto, node:http, node:zlib, node:dns at start (runtimes/kit/builtins.ts loads them on first use)`, async () => {
      const externals = new Set<string>();
      await staticallyLoaded(`runtimes/${runtime}/main.ts`, externals);
      expect(externals.has("node:fs")).toBe(true);
      expect([...externals].filter((path) => /^node:(tls|crypto|http|https|http2|zlib|dns)(\/|$)/.test(path))).toEqual([]);
    });
  }

  test("runtimes/bun/main.ts imports only node:fs, node:buffer, node:events and bun:jsc at start (Bun compiles each node: module it loads)", async () => {
    const externals = new Set<string>();
    await staticallyLoaded("runtimes/bun/main.ts", externals);
    expect([...externals].sort()).toEqual(["bun:jsc", "node:buffer", "node:events", "node:fs"]);
  });

  test("the Bun entry's modules use the global process, not node:process's default export", async () => {
    // esbuild's CommonJS bundle (the Bun entry, for its bytecode) copies every property of a
    // module imported as a whole; on Bun that builds process.stdin, stdout and stderr as Node
    // streams, ~25 ms of CPU at each start (docs/performance.md, "Start-up on bun and deno").
    const loaded = await staticallyLoaded("runtimes/bun/main.ts");
    expect(loaded).toContain("runtimes/kit/launcher-watch.ts");
    const whole = loaded.filter((path) => !path.includes("node_modules/") && /import\s+(\*\s+as\s+)?\w+\s+from\s+["']node:process["']/.test(readFileSync(join(ROOT, path), "utf8")));
    expect(whole).toEqual([]);
  });

  test("the check sees the config loader where it is imported statically", async () => {
    const loaded = await staticallyLoaded("core/config/load.ts");
    expect(loaded).toContain("core/config/schema.ts");
    expect(loaded.some((path) => path.includes("node_modules/zod/"))).toBe(true);
  });
});
