/**
 * On Deno the proxy's start path loads no node: module (runtimes/README.md, "Deno: no node:
 * module on the start path"): each costs 10–40 ms. Static imports are checked over the
 * bundle's module graph (test/unit/startup-imports.test.ts); this checks what that cannot
 * see, the node compatibility Deno loads when a program first reads one of its globals
 * (`process`, `Buffer`, `setImmediate`, …), started from the package's `bin/polyvoy.js` and
 * deno build, dist/deno/ (from the sources, Deno itself loads node:module for the npm packages the
 * sources import, before any of polyvoy runs). A preloaded module replaces those globals' getters with ones that report
 * the first read on stderr. And on every runtime, the process guards that now run over the
 * runtime's own APIs on Deno still stop a proxy started from a package script once its
 * parent is gone (runtimes/kit/launcher-watch.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommandProcess, alive } from "../support/command-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { entryCommand, ROOT, RUNTIMES, singleProcess } from "../support/proxy-process.ts";
import { buildEntries } from "../support/built-entries.ts";

const DENO = join(ROOT, "node_modules/.bin/deno");
/** Deno's globals that load node compatibility when first read. */
const NODE_GLOBALS = ["process", "Buffer", "setImmediate", "clearImmediate", "global"];
const TRAP = `
for (const name of ${JSON.stringify(NODE_GLOBALS)}) {
  const own = Object.getOwnPropertyDescriptor(globalThis, name);
  if (!own) continue;
  Object.defineProperty(globalThis, name, {
    configurable: true,
    enumerable: own.enumerable,
    get() {
      Object.defineProperty(globalThis, name, own);
      const at = new Error().stack.split("\\n").slice(2, 5).join(" | ");
      Deno.stderr.writeSync(new TextEncoder().encode(\`node global read: \${name} at \${at}\\n\`));
      return own.get ? own.get.call(globalThis) : own.value;
    },
    set(value) {
      Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: own.enumerable });
    },
  });
}
`;

let folder: string;
let config: string;

beforeAll(async () => {
  folder = mkdtempSync(join(tmpdir(), "polyvoy-deno-start-"));
  writeFileSync(join(folder, "trap.mjs"), TRAP);
  config = join(folder, "envoy.json");
  const hcm = {
    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    stat_prefix: "start",
    route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "started" } } }] }] },
    http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
  };
  const listener = { name: "l", address: { socket_address: { address: "127.0.0.1", port_value: await freePort() } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: hcm }] }] };
  writeFileSync(config, JSON.stringify({ static_resources: { listeners: [listener] } }));
}, 60_000);

afterAll(() => {
  if (folder) rmSync(folder, { recursive: true, force: true });
});

/** Starts `entry` on deno with the trap preloaded; returns what it wrote to stderr up to its "listening on" line. */
async function stderrUntilListening(entry: string): Promise<string> {
  const proxy = new CommandProcess(DENO, ["run", "-A", "--preload", join(folder, "trap.mjs"), entry, "-c", config, "--concurrency", "1"], folder);
  try {
    await proxy.waitFor("listening on", 60_000);
    return proxy.stderr.slice(0, proxy.stderr.indexOf("listening on"));
  } finally {
    await proxy.stop();
  }
}

describe("deno's start path reads no node compatibility global", () => {
  test("the trap reports a read (a script reading process.env)", async () => {
    const script = join(folder, "reads-process.mjs");
    writeFileSync(script, 'void process.env.HOME;\nDeno.stderr.writeSync(new TextEncoder().encode("listening on\\n"));\n');
    expect(await stderrUntilListening(script)).toMatch(/node global read: process/);
  }, 60_000);

  test("from the package: bin/polyvoy.js and the chunks of dist/deno/ a start loads, no other", async () => {
    const before = await stderrUntilListening(await denoPackage());
    expect(before).toMatch(/starting on deno/);
    expect(before).not.toMatch(/node global read/);
  }, 180_000);
});

/** `file` (in the checkout) and the files it imports statically, transitively: esbuild's minified `import{…}from"./x.mjs"`, `import"./x.mjs"`. */
function staticClosure(file: string, into: Set<string>): Set<string> {
  if (into.has(file)) return into;
  into.add(file);
  for (const [, specifier] of readFileSync(join(ROOT, file), "utf8").matchAll(/\bimport\s*(?:[^"'()]*?from\s*)?["'](\.{1,2}\/[^"']+)["']/g)) {
    staticClosure(join(file, "..", specifier!), into);
  }
  return into;
}

let packageBin: Promise<string> | undefined;
/**
 * The package's bin/polyvoy.js and, of a fresh dist/deno/, only what a start loads (the
 * entry's static imports and the config loader's, loaded by import() at every start), copied
 * into the test's folder (built once): a start needs none of the chunks that a config loads
 * when it names their subsystem (scripts/build-runtimes.mjs), nor the one-file
 * dist/polyvoy-deno.js — it runs without them. (That Deno does not read them when present
 * holds under node_modules only: elsewhere it reads every literal import() ahead.)
 */
function denoPackage(): Promise<string> {
  packageBin ??= (async () => {
    buildEntries(["deno"]);
    const loader = readdirSync(join(ROOT, "dist/deno/chunks")).filter((f) => /^load-\w+\.mjs$/.test(f));
    expect(loader).toHaveLength(1);
    const loaded = staticClosure(`dist/deno/chunks/${loader[0]}`, staticClosure("dist/deno/main.mjs", new Set()));
    const all = readdirSync(join(ROOT, "dist/deno/chunks")).length + 1;
    // Not the whole build: re2js, xDS, every filter but the router … stay behind.
    expect(loaded.size).toBeLessThan(all * 0.7);
    mkdirSync(join(folder, "pkg/bin"), { recursive: true });
    mkdirSync(join(folder, "pkg/dist/deno/chunks"), { recursive: true });
    for (const file of ["bin/polyvoy.js", ...loaded]) copyFileSync(join(ROOT, file), join(folder, "pkg", file));
    writeFileSync(join(folder, "pkg/package.json"), JSON.stringify({ type: "module" }));
    return join(folder, "pkg/bin/polyvoy.js");
  })();
  return packageBin;
}

const hasScript = (() => {
  try {
    execFileSync("script", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

describe("deno's hardware CPU count asks for no permission", () => {
  // Deno asks on a terminal for a permission not granted, and the start waits on the answer;
  // `script` gives the proxy a terminal. Read is narrowed to the config and the package, so
  // /sys/devices/system/cpu/online is not readable: the count (no --concurrency) must not ask
  // for it (runtimes/deno/deno-cpu-count.ts). --allow-sys lets node:os count instead.
  // Only what comes before the "starting" line is the count's: the workers started after it
  // need more than this narrowed set (a temporary folder, --allow-run) and may ask.
  test.skipIf(!hasScript)("under a narrowed --allow-read on a terminal, counting the CPUs asks for no permission", async () => {
    const bin = await denoPackage();
    const deno = [DENO, "run", "--allow-net", "--allow-env", "--allow-sys", `--allow-read=${config},${join(folder, "pkg")}`, bin, "-c", config];
    const quoted = deno.map((arg) => `'${arg}'`).join(" ");
    const proxy = new CommandProcess("sh", ["-c", `script -qc "${quoted}" /dev/null 1>&2`], folder);
    try {
      let ended = false;
      void proxy.exited.then(() => (ended = true));
      const deadline = Date.now() + 60_000;
      while (!/ starting |Deno requests/.test(proxy.stderr)) {
        if (Date.now() > deadline) throw new Error(`no start line and no prompt:\n${proxy.stderr}`);
        if (ended) throw new Error(`script ended before a start line or a prompt:\n${proxy.stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const starting = proxy.stderr.search(/starting (\d+ workers )?on deno/);
      expect(starting, proxy.stderr).toBeGreaterThanOrEqual(0);
      expect(proxy.stderr.slice(0, starting)).not.toMatch(/Deno requests/);
    } finally {
      await proxy.stop();
    }
  }, 180_000);
});

describe.each(RUNTIMES)("%s: started from a package script", (runtime) => {
  test("the proxy stops once the process that started it is gone", async () => {
    const [cmd, args] = entryCommand(runtime, singleProcess(["-c", config]));
    const quoted = [cmd, ...args].map((arg) => `'${arg}'`).join(" ");
    // A shell standing for npm: it starts the proxy, and is then killed without passing anything on.
    const shell = spawn("sh", ["-c", `${quoted} & echo $! >&2; wait`], {
      cwd: ROOT,
      env: { ...process.env, npm_lifecycle_event: "start" },
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    shell.stderr!.on("data", (d) => (stderr += d));
    const deadline = Date.now() + 60_000;
    while (!stderr.includes("listening on")) {
      if (Date.now() > deadline) throw new Error(`not listening:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const pid = Number(stderr.split("\n")[0]);
    expect(Number.isSafeInteger(pid)).toBe(true);
    shell.kill("SIGKILL");
    try {
      while (alive(pid)) {
        if (Date.now() > deadline + 10_000) throw new Error(`the proxy (pid ${pid}) outlived its launcher:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(stderr).toMatch(/the process that started it \(pid \d+\) is gone/);
    } finally {
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }
  }, 90_000);
});
