/**
 * The bootstrap reload (core/config-reloader.ts) on the memory runtime: a cluster dropped,
 * re-added and dropped again across three reloads is removed once the listeners the last
 * drop drained are gone — not when the first drop's are (their routes still name it).
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
const X = 8080;
const Y = 8081;
const PATH = "/etc/polyvoy/envoy.json";

/** Config A routes to cluster x (and has y); config B has only y and routes to it. */
const configA = httpProxyConfig({ listenPort: PROXY, clusters: { x: [X], y: [Y] }, routes: [{ match: { prefix: "/" }, cluster: "x" }] });
const configB = httpProxyConfig({ listenPort: PROXY, clusters: { y: [Y] }, routes: [{ match: { prefix: "/" }, cluster: "y" }] });

test("a cluster dropped, re-added and dropped again waits for the listeners the last drop drained", async () => {
  const runtime = new MemoryRuntime({ seed: 1, files: { [PATH]: JSON.stringify(configA) } });
  const upstreams = [await MemoryHttpServer.listen(runtime, X, (_req, res) => res.respond(200, "x")), await MemoryHttpServer.listen(runtime, Y, (_req, res) => res.respond(200, "y"))];
  const log = new Logger(runtime, "warn");
  const server = new Server(runtime, loadBootstrap(JSON.stringify(configA), "json"), log);
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
  const reloader = new ConfigReloader(runtime, server, { configPath: PATH } as CommandLine, log, configA);
  const reloadTo = async (config: object) => {
    runtime.files.set(PATH, JSON.stringify(config));
    await settle(reloader.reload("test"));
    runtime.runDue();
  };
  const kept = (): MemoryHttpClient => {
    const client = new MemoryHttpClient(runtime, PROXY);
    client.request("GET", "/");
    runtime.runDue();
    return client;
  };
  // A connection on A's listener stays open across reload 1 (its listener drains, routing to x).
  const first = kept();
  await reloadTo(configB);
  await reloadTo(configA);
  // One on the re-added config's listener stays open across reload 3.
  const third = kept();
  await reloadTo(configB);
  expect(server.clusterManager.get("x")).toBeDefined();
  first.socket.close();
  await settle(new Promise((resolve) => setTimeout(resolve, 20)));
  runtime.runDue();
  // The first drop's listener is gone; the third's still drains and routes to x.
  expect(server.clusterManager.get("x")).toBeDefined();
  third.request("GET", "/");
  runtime.runDue();
  expect(third.responses.map((r) => r.text())).toEqual(["x", "x"]);
  third.socket.close();
  await settle(new Promise((resolve) => setTimeout(resolve, 20)));
  runtime.runDue();
  expect(server.clusterManager.get("x")).toBeUndefined();
  expect(first.responses.map((r) => r.text())).toEqual(["x"]);
  for (const upstream of upstreams) upstream.close();
});
