// `polyvoy compare`: which runtimes can run polyvoy here, and the command for each. A runtime
// is the one that launched the command, the pinned devDependency of the checkout or the
// project polyvoy is installed in (node_modules/.bin), or the one on PATH; a runtime found
// nowhere is skipped with a note. polyvoy itself starts from the prebuilt one-file entries of
// an installed package (dist/), or from the sources in a checkout (which dist/ may lag).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ROOT, which } from "./system.mjs";

export const RUNTIMES = ["node", "bun", "deno"];

function launcher() {
  if (typeof globalThis.Bun !== "undefined") return "bun";
  if (typeof globalThis.Deno !== "undefined") return "deno";
  return "node";
}

/** The executable of `runtime`, or null. `POLYVOY_BENCH_WITHOUT=bun` hides one (for tests). */
export function findExecutable(runtime) {
  const hidden = new Set((process.env.POLYVOY_BENCH_WITHOUT ?? "").split(",").filter(Boolean));
  if (hidden.has(runtime)) return null;
  if (launcher() === runtime) return process.execPath;
  // the checkout's own node_modules, or the project's when polyvoy is node_modules/polyvoy
  for (const dir of [join(ROOT, "node_modules/.bin"), join(ROOT, "../.bin")]) {
    if (existsSync(join(dir, runtime))) return join(dir, runtime);
  }
  return which(runtime);
}

const fromCheckout = () => existsSync(join(ROOT, ".git")) || !existsSync(join(ROOT, "dist/polyvoy-node.mjs"));

/** [cmd, args] that starts polyvoy on `runtime` with `configPath`. */
export function polyvoyCommand(runtime, exe, configPath) {
  if (fromCheckout()) {
    return {
      node: [exe, ["--import", "tsx", join(ROOT, "runtimes/node/main.ts"), "-c", configPath, "--concurrency", "1"]],
      bun: [exe, [join(ROOT, "runtimes/bun/main.ts"), "-c", configPath, "--concurrency", "1"]],
      deno: [exe, ["run", "-A", join(ROOT, "runtimes/deno/main.ts"), "-c", configPath, "--concurrency", "1"]],
    }[runtime];
  }
  return {
    node: [exe, [join(ROOT, "dist/polyvoy-node.mjs"), "-c", configPath, "--concurrency", "1"]],
    // What the package's command runs on bun and deno (bin/polyvoy.js): the split builds.
    bun: [exe, [join(ROOT, "dist/bun/main.js"), "-c", configPath, "--concurrency", "1"]],
    deno: [exe, ["run", "-A", join(ROOT, "dist/deno/main.mjs"), "-c", configPath, "--concurrency", "1"]],
  }[runtime];
}

/** [{runtime, exe, skipped?}] for the runtimes asked for, in that order. */
export function findRuntimes(names) {
  return names.map((runtime) => {
    if (!RUNTIMES.includes(runtime)) return { runtime, skipped: `unknown runtime (one of ${RUNTIMES.join(", ")})` };
    const exe = findExecutable(runtime);
    return exe ? { runtime, exe } : { runtime, skipped: `${runtime} not found (not in node_modules/.bin nor on PATH)` };
  });
}
