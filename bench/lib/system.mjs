// Processes, tools, CPU pinning and /proc: everything the harness needs from the machine.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import http from "node:http";
import os from "node:os";
import { join, resolve } from "node:path";

export const BENCH = resolve(import.meta.dirname, "..");
export const ROOT = resolve(BENCH, "..");
export const BIN = join(ROOT, "node_modules/.bin");

// POLYVOY_BENCH_WITHOUT=nginx,wrk pretends those tools are absent (to try the fallbacks).
const WITHOUT = new Set((process.env.POLYVOY_BENCH_WITHOUT ?? "").split(",").filter(Boolean));

/** Absolute path of `name` on PATH (and the sbin dirs, where Debian puts nginx and haproxy), or null. */
export function which(name) {
  if (WITHOUT.has(name)) return null;
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/local/sbin"];
  for (const dir of dirs) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** First line of a command's output (stdout or stderr), for version strings. */
export function firstLine(cmd, args) {
  const result = spawnSync(cmd, args, { encoding: "utf8", timeout: 10_000 });
  return `${result.stdout ?? ""}${result.stderr ?? ""}`.split("\n").find((line) => line.trim()) ?? "";
}

/** The open-files hard limit (we raise the soft limit to it for every process we start). */
export function nofileHardLimit() {
  const out = spawnSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).stdout.trim();
  if (out === "unlimited") return Number(readFileSync("/proc/sys/fs/nr_open", "utf8").trim());
  return Number(out) || 1024;
}

/**
 * CPU placement: the proxy on core 0, the load generator and the origin on core 1
 * (with taskset when present and the machine has two cores or more).
 */
export function cpuPlan() {
  const taskset = which("taskset");
  const cpus = os.availableParallelism?.() ?? os.cpus().length;
  if (!taskset) return { pinned: false, note: "taskset not found: processes are not pinned to cores", proxy: null, load: null };
  if (cpus < 2) return { pinned: false, note: `only ${cpus} CPU: processes are not pinned`, proxy: null, load: null };
  return { pinned: true, note: "", proxy: "0", load: "1", taskset };
}

/**
 * argv that runs `cmd args` with the soft open-files limit raised to the hard limit and,
 * when `core` is set, pinned to it. Both steps `exec`, so the pid is the command's own.
 */
export function wrapped(core, cmd, args, nofile) {
  const pin = core === null || core === undefined ? "" : `exec taskset -c ${core} "$@"`;
  return ["sh", ["-c", `ulimit -n ${nofile} 2>/dev/null; ${pin || 'exec "$@"'}`, "sh", cmd, ...args]];
}

/** A started process: keeps the tail of its output for error messages; stop() ends only it. */
export class Proc {
  constructor(label, argv, options = {}) {
    this.label = label;
    this.output = "";
    const [cmd, args] = argv;
    this.child = spawn(cmd, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    const keep = (d) => {
      this.output += d;
      if (this.output.length > 20_000) this.output = this.output.slice(-10_000);
    };
    this.child.stdout.on("data", keep);
    this.child.stderr.on("data", keep);
    this.exitCode = undefined;
    this.exited = new Promise((resolvePromise) =>
      this.child.on("exit", (code, signal) => {
        this.exitCode = code ?? signal;
        resolvePromise();
      }),
    );
    this.child.on("error", (error) => {
      this.output += String(error);
      this.exitCode = "spawn error";
    });
  }
  get pid() {
    return this.child.pid;
  }
  get running() {
    return this.exitCode === undefined;
  }
  /**
   * Stop it in place (SIGSTOP, all its threads) while other targets are measured, so
   * that its idle-time work (a runtime's idle GC, timers) takes nothing from theirs.
   */
  pause() {
    if (this.running) this.signal("SIGSTOP");
  }
  resume() {
    if (this.running) this.signal("SIGCONT");
  }
  /**
   * process.kill, not child.kill: Deno's ChildProcess takes any signal sent through kill()
   * as the end of the child (it reports an exit and refuses every later signal), which
   * would leave a process that was only paused running, unstoppable (polyvoy compare runs
   * this under deno).
   */
  signal(name) {
    try {
      process.kill(this.child.pid, name);
    } catch {
      // already gone
    }
  }
  async stop(timeoutMs = 6000) {
    if (!this.running) return;
    this.resume(); // a stopped process would not act on SIGTERM
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.running && this.signal("SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Run a command to completion (bounded by timeoutMs); resolves with its output. */
export function run(argv, { timeoutMs = 120_000, env = process.env, input } = {}) {
  return new Promise((resolvePromise) => {
    const [cmd, args] = argv;
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    if (input !== undefined) child.stdin.end(input);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (error) => (stderr += String(error)));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? signal, stdout, stderr });
    });
  });
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolvePromise, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePromise(port));
    });
  });
}

/** One GET over a fresh connection: {status, body} or throws. */
export function get(port, path, timeoutMs = 2000) {
  return new Promise((resolvePromise, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, agent: false, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolvePromise({ status: res.statusCode, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/** Poll until GET `path` on `port` answers 200 with `bytes` bytes (bounded by timeoutMs). */
export async function waitReady(port, path, bytes, proc, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (proc && !proc.running) throw new Error(`${proc.label} exited (${proc.exitCode}):\n${proc.output.slice(-2000)}`);
    try {
      const { status, body } = await get(port, path);
      if (status === 200 && body.length === bytes) return;
      last = `status ${status}, ${body.length} bytes`;
    } catch (error) {
      last = error.message;
    }
    await sleep(100);
  }
  throw new Error(`${proc?.label ?? "server"} on port ${port} not ready after ${timeoutMs} ms (${last})${proc ? `:\n${proc.output.slice(-2000)}` : ""}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits (at most `timeoutMs`) until polyvoy on node, started with TMPDIR=`tmp`, has written
 * V8's code cache there (bin/node-code-cache.js, once start-up is over): a start before that
 * compiles the whole bundle, the starts after it read the cache. True when it was written.
 */
export async function nodeCodeCacheWritten(tmp, timeoutMs) {
  const dir = join(tmp, `polyvoy-compile-cache-${process.getuid?.() ?? 0}`);
  for (const deadline = Date.now() + timeoutMs; ; await sleep(50)) {
    if (existsSync(dir) && readdirSync(dir).some((name) => name.endsWith(".v8cache"))) return true;
    if (Date.now() > deadline) return false;
  }
}

/**
 * Waits (at most `timeoutMs`) until polyvoy, started with TMPDIR=`tmp`, has kept the config
 * it checked there (core/config/checked-config-cache.ts, once the proxy serves). True when it was.
 */
export async function checkedConfigKept(tmp, timeoutMs) {
  const dir = join(tmp, `polyvoy-checked-configs-${process.getuid?.() ?? 0}`);
  for (const deadline = Date.now() + timeoutMs; ; await sleep(50)) {
    if (existsSync(dir) && readdirSync(dir).some((name) => name.endsWith(".checked"))) return true;
    if (Date.now() > deadline) return false;
  }
}

/** Resident set size of `pid` in bytes (VmRSS from /proc). */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
}

/**
 * Resident set size of `pid` and every process under it (a runtime's helper processes: an
 * esbuild service, nginx's workers), in bytes; 0 once `pid` is gone. Shared pages are
 * counted once per process, as `ps` would.
 */
export function treeRssBytes(pid) {
  const children = new Map(); // ppid → [pid]
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // field 4 (ppid) follows the command name, which may hold spaces
      const ppid = Number(readFileSync(`/proc/${name}/stat`, "utf8").split(") ")[1].split(" ")[1]);
      const list = children.get(ppid);
      if (list) list.push(Number(name));
      else children.set(ppid, [Number(name)]);
    } catch {
      // exited while we listed
    }
  }
  let total = 0;
  const queue = [pid];
  while (queue.length) {
    const next = queue.pop();
    try {
      total += rssBytes(next);
    } catch {
      // exited while we read
    }
    queue.push(...(children.get(next) ?? []));
  }
  return total;
}

let clockTicks;

/**
 * CPU time (all threads, user + system, in µs), minor page faults and read/write syscalls
 * of `pid` so far, from /proc/<pid>/stat and io; null when they cannot be read (not Linux,
 * no process, or not ours).
 */
export function processCounters(pid) {
  if (!pid) return null;
  try {
    // The command name (field 2) may hold spaces: split after its closing parenthesis.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    clockTicks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    // fields[0] is field 3 (state): minflt is field 10, utime 14, stime 15
    const io = readFileSync(`/proc/${pid}/io`, "utf8");
    return {
      cpuUs: ((Number(fields[11]) + Number(fields[12])) * 1e6) / clockTicks,
      minorFaults: Number(fields[7]),
      // read/readv and write/writev syscalls (the kernel counts no recv/send here, which
      // bun, deno and HAProxy use: 0 for them)
      reads: Number(/^syscr: (\d+)/m.exec(io)?.[1] ?? 0),
      writes: Number(/^syscw: (\d+)/m.exec(io)?.[1] ?? 0),
    };
  } catch {
    return null;
  }
}

/** Open file descriptors of `pid` (sockets included). */
export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

export function machineInfo() {
  const cpuModel = os.cpus()[0]?.model ?? "unknown";
  let distro = "";
  try {
    distro = /^PRETTY_NAME="?(.*?)"?$/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "";
  } catch {
    // not Linux?
  }
  return {
    cpu: cpuModel,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    os: distro,
  };
}
