#!/usr/bin/env node
// The `polyvoy` command: `npx polyvoy`, `bunx polyvoy`, `deno run -A npm:polyvoy`. It starts
// the prebuilt entry for the runtime it runs on (scripts/build-runtimes.mjs), in this
// process, so signals reach the proxy.
//
// bunx honours this file's `#!/usr/bin/env node` and starts it on Node when Node is
// installed (Bun's documented behaviour; `bunx --bun` would not). bunx says so in the
// environment (npm_lifecycle_event=bunx, npm_execpath = its own executable): then the Bun
// entry runs in a Bun child of this launcher, which passes signals on and exits as it does.
// An npm_execpath inherited from an npm script (bunx keeps one it finds) names npm, not
// Bun: then `bun` from PATH.
//
// `polyvoy compare …` is the runtime comparison (bench/compare.mjs): it starts polyvoy under
// each runtime itself, so it runs here, on whichever runtime launched this file.
//
// On Deno the arguments are read from Deno.args, not `process`: Deno's `process` global
// loads node:process (~25 ms), and the deno entry loads no node: module on its start path
// (runtimes/README.md, "Deno: no node: module on the start path").
const args = typeof globalThis.Deno !== "undefined" ? globalThis.Deno.args : process.argv.slice(2);
// Modules this file may not run are named through variables (here and below): Deno reads
// every literal import() of a module it loads before running it, outside an npm layout.
//
// On Bun this file costs the proxy's idle RSS for its life what an entry started directly
// would not (docs/performance.md, "Bun's idle RSS: where the +14 MiB are"), so: Bun takes
// the first branch that runs it and require()s the (CommonJS) bun entry rather than
// import()ing it; the file holds no top-level await (Bun evaluates such a module as an async
// one), the other runtimes' code is in a function Bun never calls (~0.5 MiB together).
// And the file stays larger than 4 KiB: Bun 1.4.5 keeps a larger file's transpiled output in
// its runtime transpiler cache (~/.bun/install/cache) and from the second start on never
// runs its transpiler, whose code is ~1.2 MiB of Bun's executable kept resident; every
// other file a start runs is CommonJS with bytecode (test/unit/startup-imports.test.ts).
// A start that fails throws (Bun's require()) or rejects a promise no one handles
// (startOther()): the runtime prints the error and exits 1, as for a rejected top-level await.
if (args[0] === "compare") {
  const comparison = "../bench/compare.mjs";
  import(comparison)
    .then(({ compare }) => compare(args.slice(1)))
    .then((code) => process.exit(code));
} else if (typeof globalThis.Bun !== "undefined") {
  // The bun entry split at its import()s, with bytecode per file: a start reads and keeps
  // only the files it runs (scripts/build-runtimes.mjs; dist/polyvoy-bun.js is the same in one file, to vendor).
  const bunEntry = "../dist/bun/main.js";
  import.meta.require(bunEntry);
} else {
  startOther();
}

/** bunx's Node launcher, Deno and Node. */
async function startOther() {
  const bunx = typeof globalThis.Bun === "undefined" && typeof globalThis.Deno === "undefined" && process.env.npm_lifecycle_event === "bunx";
  if (bunx) {
    const execPath = process.env.npm_execpath ?? "";
    const bun = /(^|[/\\])bunx?(\.exe)?$/.test(execPath) ? execPath : "bun";
    const { spawn } = await import("node:child_process");
    const { fileURLToPath } = await import("node:url");
    const entry = fileURLToPath(new URL("../dist/bun/main.js", import.meta.url));
    // BUN_BE_BUN: the executable behind npm_execpath may be named bunx; run it as bun.
    const child = spawn(bun, [entry, ...process.argv.slice(2)], { stdio: "inherit", env: { ...process.env, BUN_BE_BUN: "1" } });
    for (const signal of ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1"]) process.on(signal, () => child.kill(signal));
    child.on("error", (err) => {
      process.stderr.write(`polyvoy: cannot start bun (${bun}): ${err.message}\n`);
      process.exit(1);
    });
    child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
  } else if (typeof globalThis.Deno !== "undefined") {
    // The deno entry split at its import()s: a start loads only the chunks it runs
    // (scripts/build-runtimes.mjs; dist/polyvoy-deno.js is the same in one file, to vendor).
    await import("../dist/deno/main.mjs");
  } else {
    // Node: with V8's code cache (bun and deno keep their own).
    const codeCache = "./node-code-cache.js";
    const { startNodeEntry } = await import(codeCache);
    await startNodeEntry(new URL("../dist/polyvoy-node.mjs", import.meta.url));
  }
}
