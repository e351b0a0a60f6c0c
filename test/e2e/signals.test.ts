/**
 * Signals as an operator sends them, on every runtime (Envoy's server.cc): SIGHUP
 * reloads the config file, SIGUSR1 reopens the access-log files (what logrotate's
 * postrotate sends), and no signal opens the runtime's debugger (node, and deno since
 * 2.9.2, open an inspector on 127.0.0.1:9229 on SIGUSR1 unless kept from it:
 * runtimes/kit/inspector-guard.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProxyProcess, RUNTIMES } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { lines } from "../support/log-lines.ts";

const INSPECTOR_PORT = 9229;


/** Lines of a log file once one of them is `line` (or after 5 s). */
async function linesUntil(path: string, line: string): Promise<string[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const all = existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean) : [];
    if (all.includes(line) || Date.now() > deadline) return all;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The TCP ports process `pid` listens on, from /proc: its socket inodes matched against
 * the listening sockets in /proc/net/tcp{,6}. Only this process's: another test's
 * inspector elsewhere on the machine does not count.
 */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const table of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is f[1] ("0100007F:2405"), st is f[3] ("0A" = LISTEN), inode is f[9].
      if (f.length > 9 && f[3] === "0A" && inodes.has(f[9]!)) ports.push(parseInt(f[1]!.split(":")[1]!, 16));
    }
  }
  return ports;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(RUNTIMES)("signals on %s", (runtime) => {
  let proxy: ProxyProcess;
  let port: number;
  let dir: string;
  let log: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "polyvoy-signals-"));
    log = join(dir, "access.log");
    port = await freePort();
    proxy = await ProxyProcess.start(
      runtime,
      httpProxyConfig({
        listenPort: port,
        clusters: {},
        routes: [{ match: { prefix: "/" }, action: { direct_response: { status: 200, body: { inline_string: "ok" } } } }],
        hcm: {
          access_log: [
            {
              name: "envoy.access_loggers.file",
              typed_config: {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                path: log,
                log_format: { text_format_source: { inline_string: "%REQ(:PATH)% %RESPONSE_CODE%\n" } },
              },
            },
          ],
        },
      }),
    );
    // Past the runtimes' start-up grace (deno arms its SIGUSR1 inspector after 500 ms).
    await sleep(800);
  });

  afterAll(async () => {
    await proxy?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("SIGHUP reloads the unchanged config file: the proxy keeps serving", async () => {
    proxy.child.kill("SIGHUP");
    await proxy.waitForLog(/caught SIGHUP: reloading '.*'/);
    await proxy.waitForLog(/config reload: done/);
    // The same file: nothing to update (no listener drained, no cluster replaced).
    expect(proxy.stderr).not.toMatch(/listener 'http' updated|cluster '.*' added or replaced/);
    const res = await fetch(`http://127.0.0.1:${port}/after-hup`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ok");
    expect(proxy.child.exitCode).toBeNull();
  });

  test("SIGUSR1 after logrotate moved the file away: new lines go to a fresh file at the original path, none is lost", async () => {
    await fetch(`http://127.0.0.1:${port}/before`).then((r) => r.text());
    expect(await linesUntil(log, "/before 200")).toContain("/before 200");
    const rotated = join(dir, "access.log.1");
    renameSync(log, rotated);
    // Written to the moved file until the reopen, as with Envoy.
    await fetch(`http://127.0.0.1:${port}/moved`).then((r) => r.text());
    proxy.child.kill("SIGUSR1");
    await proxy.waitForLog(/caught SIGUSR1\. Reopening access logs\./);
    const deadline = Date.now() + 5000;
    while (!existsSync(log) && Date.now() < deadline) await sleep(20);
    expect(existsSync(log)).toBe(true);
    await fetch(`http://127.0.0.1:${port}/after`).then((r) => r.text());
    const fresh = await linesUntil(log, "/after 200");
    expect(fresh).toContain("/after 200");
    const old = readFileSync(rotated, "utf8").split("\n").filter(Boolean);
    expect(old).toContain("/before 200");
    expect(old).not.toContain("/after 200");
    // The line logged between the move and the reopen is in one file or the other (as
    // in Envoy, lines still buffered at the reopen go to the new file), once.
    expect([...old, ...fresh].filter((l) => l === "/moved 200")).toHaveLength(1);
    expect(proxy.child.exitCode).toBeNull();
  });

  test("SIGUSR1 opens no debugger: nothing of the proxy's listens on 9229, and it lives", async () => {
    expect(listeningPorts(proxy.pid)).toContain(port);
    for (let i = 0; i < 3; i++) {
      proxy.child.kill("SIGUSR1");
      await sleep(300);
      expect(listeningPorts(proxy.pid)).not.toContain(INSPECTOR_PORT);
    }
    // Deno announces the inspector it opens before the guard closes it; node and bun open none.
    if (runtime !== "deno") expect(proxy.stderr).not.toMatch(/Debugger listening/);
    expect(proxy.stderr).not.toMatch(/could not close it/);
    const res = await fetch(`http://127.0.0.1:${port}/after-usr1`);
    expect(res.status).toBe(200);
    expect(proxy.child.exitCode).toBeNull();
  });
});
