/**
 * The server's graceful drain (core/server.ts) on the memory runtime, as Envoy's
 * DrainManagerImpl and `/drain_listeners` do it: during the drain time the listeners keep
 * accepting and new connections are served and told to close (HTTP/1 `connection: close`)
 * — all at once with --drain-strategy immediate, with gradual with a probability that
 * rises over the drain time — then the listeners close (SIGTERM's drain: the server stops);
 * `/drain_listeners?inboundonly` only touches INBOUND listeners; `skip_exit` needs graceful.
 */
import { describe, expect, test } from "vitest";
import type { CommandLine } from "../../../core/cli.ts";
import { loadBootstrap } from "../../../core/config/load.ts";
import { Logger } from "../../../core/log.ts";
import { Server } from "../../../core/server.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { MemoryHttpClient } from "../../memory/support/http-peers.ts";

const IN = 10000;
const OUT = 10001;
const ADMIN = 9901;

function listener(name: string, port: number, direction?: "INBOUND" | "OUTBOUND"): object {
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    ...(direction ? { traffic_direction: direction } : {}),
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: name,
              route_config: { virtual_hosts: [{ name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: name } } }] }] },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } }],
            },
          },
        ],
      },
    ],
  };
}

let runtime: MemoryRuntime;

async function setup(strategy: "gradual" | "immediate", drainTimeS = 10): Promise<{ server: Server; stopped: () => boolean }> {
  runtime = new MemoryRuntime({ seed: 7 });
  const config = {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: ADMIN } } },
    static_resources: { listeners: [listener("inbound", IN, "INBOUND"), listener("outbound", OUT, "OUTBOUND")] },
  };
  const commandLine = { drainTimeS, drainStrategy: strategy } as CommandLine;
  const server = new Server(runtime, loadBootstrap(JSON.stringify(config), "json"), new Logger(runtime, "warn"), { commandLine });
  let stopped = false;
  server.onStopped = () => (stopped = true);
  const started = server.start();
  runtime.runUntilIdle();
  await started;
  return { server, stopped: () => stopped };
}

/** One GET on a new connection: its response, or undefined when the connection was refused. */
function get(port: number, path = "/"): { status: number; connection: string | undefined; body: string } | undefined {
  const client = new MemoryHttpClient(runtime, port);
  client.request(path.startsWith("/drain") ? "POST" : "GET", path);
  runtime.advance(1);
  const response = client.responses[0];
  if (!client.closed) client.socket.close();
  runtime.runDue();
  return response && { status: response.status, connection: response.get("connection"), body: response.text() };
}

describe("server drain", () => {
  test("SIGTERM's drain (immediate): new connections are served, told to close, until the drain time is over; then the server stops", async () => {
    const { server, stopped } = await setup("immediate");
    server.drainAndStop("caught SIGTERM");
    runtime.advance(100);
    expect(get(IN)).toEqual({ status: 200, connection: "close", body: "inbound" });
    runtime.advance(5000);
    expect(get(OUT)).toEqual({ status: 200, connection: "close", body: "outbound" });
    expect(server.state).toBe("DRAINING");
    expect(stopped()).toBe(false);
    runtime.advance(5000);
    await new Promise((resolve) => setTimeout(resolve, 0));
    runtime.runUntilIdle();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(get(IN)).toBeUndefined();
    expect(stopped()).toBe(true);
  });

  test("gradual: the share of responses told to close rises over the drain time (Envoy's elapsed whole seconds > random % drain time)", async () => {
    const { server } = await setup("gradual");
    server.drainAndStop("caught SIGTERM");
    const closing = (): number => Array.from({ length: 40 }, () => get(IN)?.connection).filter((c) => c === "close").length;
    // First second: elapsed counts as 1 s of 10 (whole seconds remaining, truncated, as Envoy): ~10 %.
    const early = closing();
    runtime.advance(4500);
    const middle = closing();
    runtime.advance(4500);
    const late = closing();
    expect(early).toBeLessThanOrEqual(10);
    expect(middle).toBeGreaterThan(early);
    expect(middle).toBeLessThan(40);
    expect(late).toBe(40);
  });

  test("/drain_listeners?inboundonly stops only the INBOUND listeners; graceful keeps them accepting first; skip_exit needs graceful", async () => {
    await setup("immediate", 5);
    expect(get(ADMIN, "/drain_listeners?skip_exit")).toMatchObject({ status: 400, body: "skip_exit requires graceful\n" });
    expect(get(ADMIN, "/drain_listeners?inboundonly&graceful")).toMatchObject({ status: 200 });
    runtime.advance(1000);
    expect(get(IN)).toEqual({ status: 200, connection: "close", body: "inbound" });
    expect(get(OUT)).toEqual({ status: 200, connection: undefined, body: "outbound" });
    runtime.advance(5000);
    expect(get(IN)).toBeUndefined();
    expect(get(OUT)?.body).toBe("outbound");
  });

  test("/drain_listeners?graceful&skip_exit: connections are told to close, the listeners accept on after the drain time", async () => {
    await setup("immediate", 5);
    expect(get(ADMIN, "/drain_listeners?graceful&skip_exit")).toMatchObject({ status: 200 });
    runtime.advance(6000);
    expect(get(IN)).toEqual({ status: 200, connection: "close", body: "inbound" });
    expect(get(OUT)).toEqual({ status: 200, connection: "close", body: "outbound" });
  });
});
