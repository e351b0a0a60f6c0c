/**
 * A listener's enable_reuse_port cannot change on an update (Envoy's
 * ListenerManagerImpl::setupSocketFactoryForListener): the reload names it, the listener
 * keeps its socket and config and serves on, and listener_create_failure counts it.
 */
import { expect, test } from "vitest";
import type { CommandLine } from "../../core/cli.ts";
import { ConfigReloader } from "../../core/config-reloader.ts";
import { loadBootstrap } from "../../core/config/load.ts";
import { Logger } from "../../core/log.ts";
import { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "../memory/support/http-peers.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const PATH = "/etc/polyvoy/envoy.json";
const config = (listenerExtra: Record<string, unknown>) =>
  httpProxyConfig({ listenPort: PROXY, clusters: { x: [UPSTREAM] }, listenerExtra, routes: [{ match: { prefix: "/" }, cluster: "x" }] });

test("changing enable_reuse_port on a reload is refused by name; the listener serves on", async () => {
  const before = config({});
  const runtime = new MemoryRuntime({ seed: 1, files: { [PATH]: JSON.stringify(before) } });
  const upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (_req, res) => res.respond(200, "up"));
  const log = new Logger(runtime, "info");
  const server = new Server(runtime, loadBootstrap(JSON.stringify(before), "json"), log);
  const settle = async <T>(work: Promise<T>): Promise<T> => {
    let done = false;
    const result = work.finally(() => (done = true));
    for (let i = 0; i < 500 && !done; i++) {
      runtime.advance(1);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return result;
  };
  await settle(server.start());
  const reloader = new ConfigReloader(runtime, server, { configPath: PATH } as CommandLine, log, before);
  const get = (): string[] => {
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runDue();
    return client.responses.map((r) => r.text());
  };
  expect(get()).toEqual(["up"]);

  // The same listener, with its socket to be bound the other way.
  runtime.files.set(PATH, JSON.stringify(config({ enable_reuse_port: false })));
  await settle(reloader.reload("test"));
  runtime.runDue();
  expect(runtime.logLines.join("")).toContain("Listener http: reuse port cannot be changed during an update");
  expect(server.listenerManager.listeners().map((l) => l.config.reusePort)).toEqual([undefined]);
  expect(server.stats.counter("listener_manager.listener_create_failure").value).toBe(1);
  expect(get()).toEqual(["up"]);

  // enable_reuse_port: true is the default it had: an update like any other.
  runtime.files.set(PATH, JSON.stringify(config({ enable_reuse_port: true, stat_prefix: "renamed" })));
  await settle(reloader.reload("test"));
  runtime.runDue();
  expect(server.stats.counter("listener_manager.listener_create_failure").value).toBe(1);
  expect(server.listenerManager.listeners()[0]!.config.statPrefix).toBe("renamed");
  expect(get()).toEqual(["up"]);
  upstream.close();
});
