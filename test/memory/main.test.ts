/**
 * runMain (core/main.ts), the program every runtime's main.ts runs, on the memory
 * runtime: the config comes from its in-memory file system, signals are raised by the
 * test, log lines are collected and `exit` is recorded instead of ending the process.
 */
import { describe, expect, test } from "vitest";
import { runMain } from "../../core/main.ts";
import { VERSION } from "../../core/version.ts";
import { ExitCalled, MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { idleTimeOnlyKeepalive } from "../../runtimes/kit/tcp-keepalive.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";

const CONFIG_PATH = "/etc/polyvoy/envoy.json";
const config = httpProxyConfig({ listenPort: 10000, clusters: { backend: [8080] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] });

describe("runMain on the memory runtime", () => {
  test("serves from a config file, and SIGTERM shuts down gracefully with exit 0", async () => {
    const runtime = new MemoryRuntime({ files: { [CONFIG_PATH]: JSON.stringify(config) } });
    await MemoryHttpServer.listen(runtime, 8080, (_req, res) => res.respond(200, "up"));
    const main = runMain(runtime, ["-c", CONFIG_PATH]);
    await runtime.settle();
    await main;
    expect(runtime.exitCode).toBeUndefined();
    expect(runtime.listeners.has("127.0.0.1 10000")).toBe(true);

    const client = new MemoryHttpClient(runtime, 10000);
    client.request("GET", "/");
    runtime.runDue();
    expect(client.responses.map((r) => r.text())).toEqual(["up"]);

    expect(runtime.raise("SIGTERM")).toBe(true);
    await runtime.settle();
    expect(runtime.exitCode).toBe(0);
    expect(await runtime.exited).toBe(0);
    expect(client.ended).toBe(true); // the idle keep-alive connection was closed
    expect(runtime.listeners.has("127.0.0.1 10000")).toBe(false);
    expect(runtime.logLines.map((line) => line.replace(/^\[[^\]]+\]/, ""))).toEqual([
      `[info] polyvoy ${VERSION} starting on memory ${runtime.version}`,
      "[info] listener 'http' listening on 127.0.0.1:10000",
      "[info] caught SIGTERM, shutting down",
      "[info] exiting",
    ]);
    // Virtual wall clock: log timestamps are replayable.
    expect(runtime.logLines[0]).toMatch(/^\[2026-01-01 00:00:00\.000\]\[info\]/);
  });

  test("SIGTERM with a request in flight: shutdown closes it, and exit waits at most the 5 s grace period", async () => {
    const runtime = new MemoryRuntime({ files: { [CONFIG_PATH]: JSON.stringify(config) } });
    await MemoryHttpServer.listen(runtime, 8080, () => {}); // never answers
    const main = runMain(runtime, ["-c", CONFIG_PATH]);
    await runtime.settle();
    await main;
    const client = new MemoryHttpClient(runtime, 10000);
    client.request("GET", "/hangs");
    runtime.runDue();
    runtime.raise("SIGINT");
    await runtime.settle(5000);
    expect(runtime.exitCode).toBe(0);
    expect(runtime.now()).toBeLessThanOrEqual(5000);
    expect(client.closed).toBe(true);
    expect(runtime.logText).toContain("caught SIGINT, shutting down");
  });

  test("a config that fails validation exits 1 with one line per problem, and starts nothing", async () => {
    const bad = JSON.parse(JSON.stringify(config));
    bad.static_resources.clusters[0].lb_policy = "FOO";
    const runtime = new MemoryRuntime({ files: { [CONFIG_PATH]: JSON.stringify(bad) } });
    await runMain(runtime, ["-c", CONFIG_PATH]);
    expect(runtime.exitCode).toBe(1);
    expect(runtime.logLines.some((line) => line.startsWith("config error: static_resources.clusters[0].lb_policy"))).toBe(true);
    expect(runtime.listeners.size).toBe(0);
  });

  test("a missing config file exits 1 naming the file", async () => {
    const runtime = new MemoryRuntime();
    await runMain(runtime, ["-c", "/nope/envoy.yaml"]);
    expect(runtime.exitCode).toBe(1);
    expect(runtime.logLines).toEqual(["config error: cannot read '/nope/envoy.yaml': no such file"]);
  });

  test("a listener that cannot bind (EADDRINUSE) exits 1", async () => {
    const runtime = new MemoryRuntime({ files: { [CONFIG_PATH]: JSON.stringify(config) } });
    await runtime.listen({ address: "0.0.0.0", port: 10000 }, () => {});
    await runMain(runtime, ["-c", CONFIG_PATH]);
    expect(runtime.exitCode).toBe(1);
    expect(runtime.logText).toMatch(/listener 'http' cannot bind to 127\.0\.0\.1:10000: .*\(EADDRINUSE\)/);
  });

  test("--mode validate and --version exit 0; in exitMode 'throw' exit ends runMain with ExitCalled", async () => {
    const runtime = new MemoryRuntime({ files: { [CONFIG_PATH]: JSON.stringify(config) } });
    await runMain(runtime, ["-c", CONFIG_PATH, "--mode", "validate"]);
    expect(runtime.exitCode).toBe(0);
    // On stdout, as Envoy's (main_common.cc).
    expect(runtime.stdoutText).toBe(`configuration '${CONFIG_PATH}' OK\n`);
    expect(runtime.logLines).toEqual([]);

    const throwing = new MemoryRuntime({ exitMode: "throw" });
    await expect(runMain(throwing, ["--version"])).rejects.toEqual(new ExitCalled(0));
    expect(throwing.exitCode).toBe(0);
    // On stdout, as Envoy's --version (main.ts, writeStdout).
    expect(throwing.stdoutText).toBe(`polyvoy ${VERSION} (memory ${throwing.version})\n`);
    expect(throwing.logLines).toEqual([]);
  });

  test("--mode validate refuses a TCP statsd sink without node id and cluster, as start does; --service-node/--service-cluster supply them", async () => {
    const withSink = structuredClone(config) as { stats_sinks?: unknown[] };
    withSink.stats_sinks = [{ name: "envoy.stat_sinks.statsd", typed_config: { "@type": "type.googleapis.com/envoy.config.metrics.v3.StatsdSink", tcp_cluster_name: "backend" } }];
    const refused = new MemoryRuntime({ files: { [CONFIG_PATH]: JSON.stringify(withSink) } });
    await runMain(refused, ["-c", CONFIG_PATH, "--mode", "validate"]);
    expect(refused.exitCode).toBe(1);
    expect(refused.logText).toContain("config error: stats_sinks[0]: tcp statsd: node 'id' and 'cluster' are required. Set it either in 'node' config or via --service-node and --service-cluster options.");
    const named = new MemoryRuntime({ files: { [CONFIG_PATH]: JSON.stringify(withSink) } });
    await runMain(named, ["-c", CONFIG_PATH, "--mode", "validate", "--service-node", "n1", "--service-cluster", "c1"]);
    expect(named.exitCode).toBe(0);
  });

  test("--mode validate refuses what serving would: a tcp_keepalive field this runtime's sockets cannot set (exit 1)", async () => {
    const withKeepalive = structuredClone(config) as { static_resources: { clusters: Record<string, unknown>[] } };
    withKeepalive.static_resources.clusters[0]!.upstream_connection_options = { tcp_keepalive: { keepalive_time: 30, keepalive_interval: 5 } };
    const runtime = new MemoryRuntime({ files: { [CONFIG_PATH]: JSON.stringify(withKeepalive) } });
    // A runtime whose sockets set only the idle time, as node's.
    Object.defineProperty(runtime, "tcpKeepalive", { value: idleTimeOnlyKeepalive("node") });
    await runMain(runtime, ["-c", CONFIG_PATH, "--mode", "validate"]);
    expect(runtime.exitCode).toBe(1);
    expect(runtime.stdoutText).toBe("");
    expect(runtime.logText).toContain("config error: cluster 'backend': upstream_connection_options.tcp_keepalive.keepalive_interval is not supported on memory");
  });
});
