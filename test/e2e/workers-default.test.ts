/**
 * Without --concurrency, polyvoy runs one worker per hardware thread, as Envoy does
 * (std::thread::hardware_concurrency(); core/concurrency.ts), on every runtime: on Deno
 * from the plain `deno run -A` entry (its workers get --unstable-net from the supervisor).
 * --concurrency 0 is one process, as Envoy runs at least one worker. And the listener's
 * enable_reuse_port (Envoy's default true) and deprecated reuse_port: false across workers
 * is one shared socket, which node:cluster's workers have and Bun's and Deno's cannot.
 */
import { describe, expect, test } from "vitest";
import { cpus } from "node:os";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { entryCommand, ROOT, RUNTIMES, writeConfig, type RuntimeName } from "../support/proxy-process.ts";
import { CommandProcess } from "../support/command-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";

/** The machine's hardware threads, counted as Envoy's default counts them (online CPUs, whatever this process's affinity). */
const CPUS = cpus().length;
/** Workers each load and compile the program: slow on a loaded machine. */
const STARTED_MS = 120_000;

function statValue(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}: `));
  return line === undefined ? undefined : Number(line.slice(name.length + 2));
}

async function configWith(listenerExtra: Record<string, unknown> = {}): Promise<{ path: string; listen: number; admin: number }> {
  const listen = await freePort();
  const admin = await freePort();
  const config = {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: admin } } },
    ...httpProxyConfig({ listenPort: listen, clusters: {}, listenerExtra, routes: [{ match: { prefix: "/" }, action: { direct_response: { status: 200, body: { inline_string: "served\n" } } } }] }),
  };
  return { path: writeConfig(config), listen, admin };
}

function start(runtime: RuntimeName, args: string[]): CommandProcess {
  const [cmd, argv] = entryCommand(runtime, args);
  return new CommandProcess(cmd, argv, ROOT);
}

describe.each(RUNTIMES)("workers by default (%s)", (runtime) => {
  test(`no --concurrency: one worker per hardware thread (${CPUS} here), one admin for all`, { timeout: 240_000 }, async () => {
    const { path, listen, admin } = await configWith();
    const proxy = start(runtime, ["-c", path]);
    try {
      if (CPUS > 1) {
        await proxy.waitFor(`starting ${CPUS} workers on ${runtime} `, STARTED_MS);
        await proxy.waitFor(`all ${CPUS} workers started (pids `, STARTED_MS);
        expect(proxy.stderr.match(new RegExp(`starting on ${runtime} [^\\n]*\\(worker \\d+ of ${CPUS}\\)`, "g"))).toHaveLength(CPUS);
      } else {
        await proxy.waitFor(`starting on ${runtime} `, STARTED_MS);
        await proxy.waitFor(`listening on 127.0.0.1:${listen}`, STARTED_MS);
      }
      expect(await (await fetch(`http://127.0.0.1:${listen}/`)).text()).toBe("served\n");
      expect(statValue(await (await fetch(`http://127.0.0.1:${admin}/stats?filter=^server\\.concurrency$`)).text(), "server.concurrency")).toBe(CPUS);
      const info = (await (await fetch(`http://127.0.0.1:${admin}/server_info`)).json()) as { command_line_options: { concurrency: number } };
      expect(info.command_line_options.concurrency).toBe(CPUS);
    } finally {
      expect(await proxy.stop()).toBe(0);
    }
  });

  test("--concurrency 0 is one process (Envoy runs at least one worker)", { timeout: 120_000 }, async () => {
    const { path, listen, admin } = await configWith();
    const proxy = start(runtime, ["-c", path, "--concurrency", "0"]);
    try {
      await proxy.waitFor(`listener 'http' listening on`, STARTED_MS);
      expect(proxy.stderr).not.toContain("workers");
      expect(await (await fetch(`http://127.0.0.1:${listen}/`)).text()).toBe("served\n");
      expect(statValue(await (await fetch(`http://127.0.0.1:${admin}/stats?filter=^server\\.concurrency$`)).text(), "server.concurrency")).toBe(1);
    } finally {
      expect(await proxy.stop()).toBe(0);
    }
  });

  test("enable_reuse_port and reuse_port in one process: one socket either way; both set, Envoy's warning", { timeout: 120_000 }, async () => {
    const { path, listen } = await configWith({ enable_reuse_port: false, reuse_port: true });
    const proxy = start(runtime, ["-c", path, "--concurrency", "1"]);
    try {
      await proxy.waitFor(`listening on 127.0.0.1:${listen}`, STARTED_MS);
      expect(proxy.stderr).toContain(`both enable_reuse_port and reuse_port set on listener 'http', preferring enable_reuse_port.`);
      expect(await (await fetch(`http://127.0.0.1:${listen}/`)).text()).toBe("served\n");
    } finally {
      expect(await proxy.stop()).toBe(0);
    }
  });

  test("enable_reuse_port: false across 2 workers: one shared socket on node, refused by name on bun and deno", { timeout: 240_000 }, async () => {
    const { path, listen, admin } = await configWith({ enable_reuse_port: false });
    const proxy = start(runtime, ["-c", path, "--concurrency", "2"]);
    if (runtime !== "node") {
      const code = await proxy.exited;
      expect(code).toBe(1);
      expect(proxy.stderr).toMatch(
        new RegExp(`\\[error\\] listener 'http': enable_reuse_port: false needs one listening socket shared by every worker, and ${runtime}'s workers are processes that each bind their own \\(SO_REUSEPORT\\): use enable_reuse_port: true or --concurrency 1\\n`),
      );
      expect(proxy.stderr).not.toContain("starting 2 workers");
      return;
    }
    try {
      await proxy.waitFor("all 2 workers started (pids ", STARTED_MS);
      const pids = proxy.stderr.match(/all 2 workers started \(pids (\d+), (\d+)\)/)!.slice(1).map(Number);
      // node:cluster: the listening socket is the supervisor's alone; the workers hold none of their own on the port.
      for (const pid of pids) expect(listeningInodes(pid, listen)).toEqual([]);
      expect(listeningInodes(Number(readFileSync(`/proc/${pids[0]}/stat`, "utf8").split(" ")[3]), listen)).toHaveLength(1);
      for (let i = 0; i < 10; i++) expect(await (await fetch(`http://127.0.0.1:${listen}/`)).text()).toBe("served\n");
      expect(statValue(await (await fetch(`http://127.0.0.1:${admin}/stats?filter=downstream_rq_total`)).text(), "http.ingress_http.downstream_rq_total")).toBe(10);
    } finally {
      expect(await proxy.stop()).toBe(0);
    }
  });
});

/** The inodes of the listening sockets on `port` that process `pid` holds (its fds matched against /proc/<pid>/net/tcp, state 0A). */
function listeningInodes(pid: number, port: number): string[] {
  const fds = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
      if (m) fds.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const mine: string[] = [];
  for (const line of readFileSync(`/proc/${pid}/net/tcp`, "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 9 && f[3] === "0A" && parseInt(f[1]!.split(":")[1]!, 16) === port && fds.has(f[9]!)) mine.push(f[9]!);
  }
  return mine;
}
