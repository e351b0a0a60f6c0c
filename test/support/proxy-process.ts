/**
 * Spawns polyvoy under a given runtime, as a user would, and talks to it only
 * through its process: stdout/stderr, exit code, signals and /proc (RSS).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { inject } from "vitest";
import { join, resolve } from "node:path";
import { buildEntries } from "./built-entries.ts";

export type RuntimeName = "node" | "bun" | "deno";

export const ROOT = resolve(import.meta.dirname, "../..");
const BIN = join(ROOT, "node_modules/.bin");

/** The runtimes under test: all three unless POLYVOY_RUNTIMES narrows it (e.g. "bun,deno"). */
export const RUNTIMES: RuntimeName[] = (process.env.POLYVOY_RUNTIMES?.split(",") as RuntimeName[] | undefined) ?? [
  "node",
  "bun",
  "deno",
];

/**
 * A command line made one process (`--concurrency 1`) unless it says how many workers: the
 * default is one per hardware thread (as Envoy's), and the tests that do not test workers
 * talk to one process (its pid, its log, its stats).
 */
export function singleProcess(args: readonly string[]): string[] {
  return args.some((arg) => arg === "--concurrency" || arg.startsWith("--concurrency=")) ? [...args] : ["--concurrency", "1", ...args];
}

/** argv that starts polyvoy on `runtime` (the same entry points the README documents), one process unless `args` give --concurrency. */
export function proxyCommand(runtime: RuntimeName, args: string[]): [string, string[]] {
  return entryCommand(runtime, singleProcess(args));
}

/**
 * How this test file starts polyvoy on node: "source", the README's `node --import tsx
 * runtimes/node/main.ts`, or "package", `node bin/polyvoy.js` (what `npx polyvoy` runs:
 * dist/polyvoy-node.mjs with V8's code cache), built from the same sources once per run
 * (built-entries.ts). tsx compiles nothing on a warm start but still resolves and loads the
 * start's ~350 modules through its hooks: 1.2-1.9 s of CPU per start where the package's
 * entry takes 0.2-0.3 s, and a file that starts node fifty times spends most of its time there. A
 * file whose tests are about what the proxy does, not about starting it from source, calls
 * `startNodeFrom("package")` at its top. The source entry stays the default and the README's
 * command keeps its own tests: the files about processes, signals and workers, the RSS
 * measurements, and TypeScript filters, which the package's entry refuses (`.ts`: only tsx
 * loads one). A change to the sources builds the entry again (its stamp is the build id).
 */
let nodeEntry: "source" | "package" = "source";

/** From now on, this file's node processes start from `entry` (see nodeEntry). */
export function startNodeFrom(entry: "source" | "package"): void {
  nodeEntry = entry;
}

let packageEntryBuilt = false;

/** argv that starts polyvoy on `runtime` with `args` as they are (no flag added: as many workers as it chooses). */
export function entryCommand(runtime: RuntimeName, args: string[]): [string, string[]] {
  switch (runtime) {
    case "node":
      if (nodeEntry === "package") {
        if (!packageEntryBuilt) buildEntries(["node"]);
        packageEntryBuilt = true;
        // bin/polyvoy.js starts the entry in its own process: the pid is the proxy's.
        return [process.execPath, [join(ROOT, "bin/polyvoy.js"), ...args]];
      }
      // `node --import tsx` rather than the tsx CLI, so the pid we signal and measure is the proxy's own.
      return [process.execPath, ["--import", "tsx", join(ROOT, "runtimes/node/main.ts"), ...args]];
    case "bun":
      return [join(BIN, "bun"), [join(ROOT, "runtimes/bun/main.ts"), ...args]];
    case "deno":
      return [join(BIN, "deno"), ["run", "-A", join(ROOT, "runtimes/deno/main.ts"), ...args]];
  }
}

/** Write `config` (an object, serialized as JSON, or YAML text) to a temp file; returns its path. */
export function writeConfig(config: object | string, extension = typeof config === "string" ? "yaml" : "json"): string {
  // Under the run's temp folder (temp-root.ts), removed when the run ends; named
  // envoy.<ext>, as a user's would be, in a folder of its own.
  const folder = mkdtempSync(join(inject("tempRoot"), "config-"));
  const path = join(folder, `envoy.${extension}`);
  writeFileSync(path, typeof config === "string" ? config : JSON.stringify(config, null, 2));
  return path;
}

export interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run polyvoy to completion (validate mode, config errors) with a time limit. */
export function runToExit(runtime: RuntimeName, args: string[], timeoutMs = 20_000, env?: Record<string, string>): Promise<Exited> {
  const [cmd, argv] = proxyCommand(runtime, args);
  const child = spawn(cmd, argv, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: env && { ...process.env, ...env } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`polyvoy on ${runtime} did not exit within ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      // let the pipes drain
      setImmediate(() => resolvePromise({ code, signal, stdout, stderr }));
    });
  });
}

/** A running proxy. */
export class ProxyProcess {
  stderr = "";
  /** The config file it was started with (a reload test rewrites it). */
  configPath = "";
  private exited: Promise<Exited>;

  private constructor(
    readonly runtime: RuntimeName,
    readonly child: ChildProcess,
  ) {
    let stdout = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (this.stderr += d));
    this.exited = new Promise((resolvePromise) =>
      child.on("exit", (code, signal) => setImmediate(() => resolvePromise({ code, signal, stdout, stderr: this.stderr }))),
    );
  }

  /**
   * Start polyvoy with `config` (and `env` added to the environment) and wait until
   * `listeners` listeners report they are listening — by default every listener of an
   * object config, the admin one included (it reports first, so waiting for one line
   * would let a test connect before the proxy's own listener is bound).
   */
  static async start(
    runtime: RuntimeName,
    config: object | string,
    listeners = listenerCount(config),
    extraArgs: string[] = [],
    env?: Record<string, string>,
  ): Promise<ProxyProcess> {
    const path = writeConfig(config);
    const proxy = ProxyProcess.launch(runtime, ["-c", path, ...extraArgs], env);
    proxy.configPath = path;
    await proxy.waitForLog(/listening on/g, listeners);
    return proxy;
  }

  /** Start polyvoy with the command line `args` (one process unless they give --concurrency) and wait for nothing. */
  static launch(runtime: RuntimeName, args: string[], env?: Record<string, string>): ProxyProcess {
    const [cmd, argv] = proxyCommand(runtime, args);
    const child = spawn(cmd, argv, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: env && { ...process.env, ...env } });
    return new ProxyProcess(runtime, child);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Wait until `pattern` has matched `count` times in stderr (or the process exits). */
  async waitForLog(pattern: RegExp, count = 1, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exitedEarly = false;
    void this.exited.then(() => (exitedEarly = true));
    while ((this.stderr.match(pattern)?.length ?? 0) < count) {
      if (exitedEarly) throw new Error(`polyvoy on ${this.runtime} exited; stderr:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} from polyvoy on ${this.runtime}; stderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Resident set size now and at its peak (VmHWM), in bytes, from /proc. */
  memory(): { rss: number; peak: number } {
    const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
    const kb = (field: string) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))?.[1] ?? 0) * 1024;
    return { rss: kb("VmRSS"), peak: kb("VmHWM") };
  }

  /** Sample RSS every 20 ms until `stop()` is called; returns the highest seen. */
  sampleRss(): { peak(): number; stop(): number } {
    let max = this.memory().rss;
    const timer = setInterval(() => {
      try {
        max = Math.max(max, this.memory().rss);
      } catch {
        // the process exited
      }
    }, 20);
    return {
      peak: () => max,
      stop() {
        clearInterval(timer);
        return max;
      },
    };
  }

  /** Send a signal and wait for exit. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 10_000): Promise<Exited> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }
}

/** The listeners an object config binds (its static listeners and the admin's); 1 for a config as text. */
function listenerCount(config: object | string): number {
  if (typeof config === "string") return 1;
  const bootstrap = config as { admin?: { address?: unknown }; static_resources?: { listeners?: unknown[] } };
  return Math.max(1, (bootstrap.static_resources?.listeners?.length ?? 0) + (bootstrap.admin?.address ? 1 : 0));
}
