/** envoy.filters.network.connection_limit on the memory runtime: the limit, the delay, the stats, and the terminal-filter check. */
import { afterEach, describe, expect, test } from "vitest";
import type { Server } from "../../core/server.ts";
import { ConfigError } from "../../core/config/errors.ts";
import { loadBootstrap } from "../../core/config/load.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { MemoryHttpClient, MemoryHttpServer } from "./support/http-peers.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;

let runtime: MemoryRuntime;
let server: Server;
let upstream: MemoryHttpServer;

const limitFilter = (typedConfig: Record<string, unknown>) => ({
  name: "envoy.filters.network.connection_limit",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit", ...typedConfig },
});

/** The HTTP proxy of the other tests with `filters` put before its HCM. */
function config(filters: object[]): { static_resources: { listeners: { filter_chains: { filters: object[] }[] }[] } } {
  const c = httpProxyConfig({ listenPort: PROXY, clusters: { backend: [UPSTREAM] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }) as ReturnType<typeof config>;
  const chain = c.static_resources.listeners[0]!.filter_chains[0]!;
  chain.filters = [...filters, ...chain.filters];
  return c;
}

async function setup(typedConfig: Record<string, unknown>): Promise<void> {
  runtime = new MemoryRuntime({ seed: 1 });
  upstream = await MemoryHttpServer.listen(runtime, UPSTREAM, (request, response) => response.respond(200, request.path));
  server = await startProxy(runtime, config([limitFilter({ stat_prefix: "lim", ...typedConfig })]));
}

function stat(name: string): number {
  return (server.stats.get(name) as { value: number } | undefined)?.value ?? 0;
}

afterEach(() => upstream?.close());

describe("envoy.filters.network.connection_limit", () => {
  test("connections over max_connections are closed at once; closing one makes room", async () => {
    await setup({ max_connections: 2 });
    const a = new MemoryHttpClient(runtime, PROXY);
    const b = new MemoryHttpClient(runtime, PROXY);
    runtime.runDue();
    const c = new MemoryHttpClient(runtime, PROXY);
    c.request("GET", "/c");
    runtime.runDue();
    expect(c.closed).toBe(true);
    expect(c.responses).toHaveLength(0);
    expect(stat("connection_limit.lim.limited_connections")).toBe(1);
    expect(stat("connection_limit.lim.active_connections")).toBe(2);
    a.request("GET", "/a");
    runtime.runDue();
    expect(a.responses.map((r) => r.status)).toEqual([200]);
    b.socket.close();
    runtime.runDue();
    expect(stat("connection_limit.lim.active_connections")).toBe(1);
    const d = new MemoryHttpClient(runtime, PROXY);
    d.request("GET", "/d");
    runtime.runDue();
    expect(d.responses.map((r) => r.status)).toEqual([200]);
    expect(upstream.requests.map((r) => r.path)).toEqual(["/a", "/d"]);
    a.socket.close();
    d.socket.close();
    runtime.runDue();
    expect(stat("connection_limit.lim.active_connections")).toBe(0);
  });

  test("with delay: a connection over the limit is held, its bytes dropped, then closed", async () => {
    await setup({ max_connections: 1, delay: "2s" });
    const a = new MemoryHttpClient(runtime, PROXY);
    runtime.runDue();
    const b = new MemoryHttpClient(runtime, PROXY);
    b.request("GET", "/b");
    runtime.runDue();
    runtime.advance(1999);
    expect(b.closed).toBe(false);
    runtime.advance(1);
    expect(b.closed).toBe(true);
    expect(b.responses).toHaveLength(0);
    expect(upstream.requests).toHaveLength(0);
    expect(stat("connection_limit.lim.limited_connections")).toBe(1);
    expect(stat("connection_limit.lim.active_connections")).toBe(1);
    a.socket.close();
    runtime.runDue();
    expect(stat("connection_limit.lim.active_connections")).toBe(0);
  });
});

describe("envoy.filters.network.connection_limit: a rejected connection counts until it is closed (Envoy's Filter::onNewConnection)", () => {
  test("held by delay, it is in active_connections and keeps its slot: a connection made meanwhile is rejected too", async () => {
    await setup({ max_connections: 1, delay: "2s" });
    const a = new MemoryHttpClient(runtime, PROXY);
    runtime.runDue();
    const b = new MemoryHttpClient(runtime, PROXY);
    runtime.runDue();
    expect(stat("connection_limit.lim.active_connections")).toBe(2);
    a.socket.close();
    runtime.runDue();
    expect(stat("connection_limit.lim.active_connections")).toBe(1);
    const c = new MemoryHttpClient(runtime, PROXY);
    runtime.runDue();
    expect(stat("connection_limit.lim.limited_connections")).toBe(2);
    runtime.advance(2000);
    expect([b.closed, c.closed]).toEqual([true, true]);
    expect(stat("connection_limit.lim.active_connections")).toBe(0);
    const d = new MemoryHttpClient(runtime, PROXY);
    d.request("GET", "/d");
    await runtime.settle();
    expect(d.responses.map((r) => r.status)).toEqual([200]);
    expect(stat("connection_limit.lim.limited_connections")).toBe(2);
  });
});

describe("config", () => {
  function problems(c: object): string[] {
    try {
      loadBootstrap(JSON.stringify(c), "json");
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
    throw new Error("config loaded but should have been rejected");
  }

  test("max_connections is required and at least 1; unsupported fields name themselves", () => {
    expect(problems(config([limitFilter({ stat_prefix: "x" })])).join("\n")).toMatch(/typed_config\.max_connections/);
    expect(problems(config([limitFilter({ stat_prefix: "x", max_connections: 0 })])).join("\n")).toMatch(/typed_config\.max_connections/);
    expect(problems(config([limitFilter({ stat_prefix: "x", max_connections: 1, runtime_enabled: {} })])).join("\n")).toMatch(
      /typed_config: `runtime_enabled` is an Envoy field that polyvoy does not support yet/,
    );
  });

  test("Envoy's terminal-filter check", () => {
    const c = config([]);
    const chain = c.static_resources.listeners[0]!.filter_chains[0]!;
    chain.filters = [...chain.filters, limitFilter({ stat_prefix: "x", max_connections: 1 })];
    expect(problems(c).join("\n")).toMatch(/terminal filter named envoy.filters.network.http_connection_manager .* must be the last filter in a network filter chain/);
    expect(problems(c).join("\n")).toMatch(/non-terminal filter named envoy.filters.network.connection_limit .* is the last filter/);
  });
});
