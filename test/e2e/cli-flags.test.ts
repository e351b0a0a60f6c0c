/**
 * Envoy's command-line flags for logs, the node and draining, on each runtime, seen from
 * outside: the log file (--log-path) in the given --log-format with the levels given per
 * component, the node in the admin's /server_info, and the flags refused by name.
 */
import { describe, expect, test } from "vitest";
import { existsSync, mkdtempSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";
import { proxyCommand, runToExit, RUNTIMES, writeConfig, startNodeFrom } from "../support/proxy-process.ts";
import { CommandProcess } from "../support/command-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { httpUpstream } from "../support/http-upstream.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each(RUNTIMES)("Envoy's command-line flags on %s", (runtime) => {
  test("--log-path, --log-format, --component-log-level main:debug and --service-* (the node in /server_info)", async () => {
    const upstream = await httpUpstream((_req, res) => res.end("ok"));
    const [port, admin] = [await freePort(), await freePort()];
    const config = writeConfig({
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: admin } } },
      node: { id: "from-config", cluster: "config-cluster" },
      ...httpProxyConfig({ listenPort: port, clusters: { up: [upstream.port] }, routes: [{ match: { prefix: "/" }, cluster: "up" }] }),
    });
    const logPath = join(mkdtempSync(join(inject("tempRoot"), "log-")), "polyvoy.log");
    const args = [
      ...["-c", config, "--log-path", logPath, "--log-format", "%Y-%m-%d %T.%e %t [%l][%n] %v", "--component-log-level", "main:debug,conn_handler:debug"],
      ...["--service-node", "node-7", "--service-cluster", "front", "--service-zone", "zone-a", "--disable-hot-restart", "--parent-shutdown-time-s", "5", "--drain-strategy", "immediate"],
    ];
    const [cmd, argv] = proxyCommand(runtime, args);
    const proxy = new CommandProcess(cmd, argv, process.cwd());
    const log = () => (existsSync(logPath) ? readFileSync(logPath, "latin1") : "");
    try {
      // The listener's own line: the admin's ("listener 'admin' listening on") may come first.
      await until(() => log().includes(`listening on 127.0.0.1:${port}`), `the listener in ${logPath}:\n${proxy.stderr}`);
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("ok");
      await until(() => log().includes("new connection"), "the debug line of the new connection");
      const info = (await (await fetch(`http://127.0.0.1:${admin}/server_info`)).json()) as {
        node: { id: string; cluster: string; locality?: { zone: string } };
        command_line_options: Record<string, unknown>;
      };
      expect(info.node).toMatchObject({ id: "node-7", cluster: "front", locality: { zone: "zone-a" } });
      expect(info.command_line_options).toMatchObject({
        log_path: logPath,
        component_log_level: "main:debug,conn_handler:debug",
        service_zone: "zone-a",
        parent_shutdown_time: "5s",
        drain_strategy: "Immediate",
      });
    } finally {
      await proxy.stop();
      await upstream.close();
    }
    const lines = log().trimEnd().split("\n");
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} 1 \[(debug|info|warning)\]\[(main|conn_handler)\] \S/);
    // Envoy's component for it: conn_handler (ActiveStreamListenerBase::newConnection).
    expect(lines.some((l) => / \[debug\]\[conn_handler\] \[C\d+\] new connection from /.test(l))).toBe(true);
    // The last line is written before the process exits (main.ts flushes the file first).
    expect(lines.at(-1)).toMatch(/\[info\]\[main\] exiting$/);
    // Nothing of the log on stderr.
    expect(proxy.stderr).not.toContain("listening on");
  });

  test("--log-path is reopened on SIGUSR1, as Envoy's: after logrotate moves it, lines go to a new file at the path", async () => {
    const port = await freePort();
    const config = writeConfig(httpProxyConfig({ listenPort: port, clusters: {}, routes: [] }));
    const logPath = join(mkdtempSync(join(inject("tempRoot"), "log-")), "polyvoy.log");
    const [cmd, argv] = proxyCommand(runtime, ["-c", config, "--log-path", logPath, "-l", "debug"]);
    const proxy = new CommandProcess(cmd, argv, process.cwd());
    const read = (path: string) => (existsSync(path) ? readFileSync(path, "latin1") : "");
    try {
      await until(() => read(logPath).includes(`listening on 127.0.0.1:${port}`), `the listener in ${logPath}:\n${proxy.stderr}`);
      renameSync(logPath, `${logPath}.1`);
      process.kill(proxy.pid, "SIGUSR1");
      await until(() => existsSync(logPath), `a new ${logPath} after SIGUSR1:\n${read(`${logPath}.1`)}`);
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
      await until(() => read(logPath).includes("no route match for URL '/'"), `the route miss in the new ${logPath}`);
    } finally {
      await proxy.stop();
    }
    expect(read(`${logPath}.1`)).toContain("caught SIGUSR1. Reopening access logs.");
    expect(read(`${logPath}.1`)).not.toContain("no route match");
    expect(read(logPath)).toMatch(/\[info\] exiting\n$/);
    // Nothing of the log on stderr (Deno may print its own inspector lines there on SIGUSR1).
    expect(proxy.stderr).not.toContain("Reopening");
  });

  test("--service-zone is the node's zone for zone-aware routing, over the config's; an empty --service-node changes nothing (Envoy's buildLocalNode)", async () => {
    const zones = await Promise.all([httpUpstream((_req, res) => res.end("z1")), httpUpstream((_req, res) => res.end("z2"))]);
    const endpoint = (zone: string, port: number) => ({
      locality: { region: "r", zone },
      lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }],
    });
    const [port, admin] = [await freePort(), await freePort()];
    const base = httpProxyConfig({ listenPort: port, clusters: {}, routes: [{ match: { prefix: "/" }, cluster: "zoned" }] }) as {
      static_resources: { clusters: object[] };
    };
    const assignment = (name: string) => ({ cluster_name: name, endpoints: [endpoint("z1", zones[0]!.port), endpoint("z2", zones[1]!.port)] });
    base.static_resources.clusters = [
      { name: "fleet", load_assignment: assignment("fleet") },
      { name: "zoned", common_lb_config: { zone_aware_lb_config: { min_cluster_size: 1 } }, load_assignment: assignment("zoned") },
    ];
    const config = writeConfig({
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: admin } } },
      node: { id: "config-id", locality: { region: "r", zone: "z1" } },
      cluster_manager: { local_cluster_name: "fleet" },
      ...base,
    });
    // An empty --service-node changes nothing, as in Envoy (buildLocalNode): the config's id stays.
    const [cmd, argv] = proxyCommand(runtime, ["-c", config, "--service-zone", "z2", "--service-node", ""]);
    const proxy = new CommandProcess(cmd, argv, process.cwd());
    try {
      await until(() => proxy.stderr.includes(`listening on 127.0.0.1:${port}`), `the listener:\n${proxy.stderr}`);
      const answers = new Set<string>();
      for (let i = 0; i < 6; i++) answers.add(await (await fetch(`http://127.0.0.1:${port}/`)).text());
      // Every pick stays in the flag's zone, none in the config's.
      expect([...answers]).toEqual(["z2"]);
      const info = (await (await fetch(`http://127.0.0.1:${admin}/server_info`)).json()) as { node: { id: string; locality: { region: string; zone: string } } };
      expect(info.node).toMatchObject({ id: "config-id", locality: { region: "r", zone: "z2" } });
    } finally {
      await proxy.stop();
      await Promise.all(zones.map((z) => z.close()));
    }
  });

  test("--base-id and --restart-epoch other than 0: one line naming the flag, exit 1; 0 (Envoy's default) is accepted", async () => {
    for (const flag of ["--base-id", "--restart-epoch"]) {
      const result = await runToExit(runtime, ["--config-yaml", "static_resources: {}", flag, "1"]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`^polyvoy: ${flag} 1 is not supported: [^\\n]+\\n$`));
    }
    const valid = await runToExit(runtime, ["--config-yaml", "static_resources: {}", "--mode", "validate", "--base-id", "0", "--restart-epoch", "0"]);
    expect(valid.stderr).not.toMatch(/not supported/);
    expect(valid.code).toBe(0);
  });

  test("--concurrency that is not a count of workers: one line, exit 1", async () => {
    // Each value's message is in test/unit/cli.test.ts; here, that the process says it and exits.
    for (const bad of ["-1", "1.5"]) {
      const result = await runToExit(runtime, ["--config-yaml", "static_resources: {}", "--concurrency", bad]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`^polyvoy: --concurrency: expected a whole number of workers from 0 to 256, got "${bad.replace(".", "\\.")}"\\n`));
    }
  });

  test("--log-path in a missing directory: one line, exit 1, nothing started", async () => {
    const result = await runToExit(runtime, ["--config-yaml", "static_resources: {}", "--log-path", "/nonexistent-dir/polyvoy.log"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("polyvoy: --log-path: cannot open '/nonexistent-dir/polyvoy.log': ENOENT\n");
  });
});
