/**
 * A source entry's module graph as esbuild bundles it (runtime modules left as imports), for
 * the structural tests of what loads at start-up and in which order.
 */
import { build, type Metafile } from "esbuild";
import { join } from "node:path";
import { FENGARI_ALIASES, fengariPlugin } from "../../scripts/fengari-stubs.mjs";

export const ROOT = join(import.meta.dirname, "../..");

/** The module graph of `entry` (a path from the repository's root). */
export async function moduleGraph(entry: string): Promise<Metafile> {
  const result = await build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    write: false,
    metafile: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    external: ["node:*", "bun:*"],
    alias: FENGARI_ALIASES,
    plugins: [fengariPlugin()],
    logLevel: "silent",
  });
  return result.metafile;
}

/**
 * The inputs reachable from `entry` through anything but `import()` (what loads with it),
 * itself included, sorted; the runtime modules they import are added to `externals`.
 */
export function reachable(metafile: Metafile, entry: string, externals = new Set<string>()): string[] {
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
