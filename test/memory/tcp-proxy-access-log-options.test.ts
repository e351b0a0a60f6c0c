/**
 * tcp_proxy access_log_options.flush_access_log_on_connected on the memory runtime: the
 * access logs write a TcpUpstreamConnected line once the upstream is connected, and the
 * TcpConnectionEnd line at the end (Envoy's Filter::onUpstreamConnection; a users' egress
 * proxy, EternisAI/enchanted-proxy, sets it); the deprecated top-level field the same.
 * access_log_flush_interval and flush_access_log_on_start are refused by name.
 */
import { describe, expect, test } from "vitest";
import type { Socket } from "../../core/port.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { startProxy } from "./support/proxy.ts";
import { problemsOf } from "../unit/config/config-problems.ts";
import { loadBootstrap } from "../../core/config/load.ts";

const NOTHING = { onConnect() {}, onData() {}, onEnd() {}, onDrain() {}, onClose() {} };

function config(options: object | undefined, topLevel: object = {}): object {
  return {
    static_resources: {
      listeners: [
        {
          name: "l",
          address: { socket_address: { address: "127.0.0.1", port_value: 10000 } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.tcp_proxy",
                  typed_config: {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                    stat_prefix: "t",
                    cluster: "c",
                    access_log: [{ name: "envoy.access_loggers.stdout", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", log_format: { text_format: "%ACCESS_LOG_TYPE% %UPSTREAM_HOST% %BYTES_RECEIVED%\n" } } }],
                    ...(options && { access_log_options: options }),
                    ...topLevel,
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [{ name: "c", type: "STATIC", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 8001 } } } }] }] } }],
    },
  };
}

async function run(options: object | undefined, topLevel: object = {}): Promise<{ connected: string; ended: string }> {
  const runtime = new MemoryRuntime({ seed: 4 });
  await runtime.listen({ address: "127.0.0.1", port: 8001 }, (socket: Socket) => socket.setHandler(NOTHING));
  await startProxy(runtime, config(options, topLevel));
  const client = runtime.connect({ address: "127.0.0.1", port: 10000 });
  client.setHandler(NOTHING);
  client.write(new TextEncoder().encode("hello"));
  runtime.runDue();
  await runtime.settle(1500);
  const connected = runtime.stdoutText;
  client.close();
  runtime.runUntilIdle();
  await runtime.settle(1500);
  return { connected, ended: runtime.stdoutText };
}

describe("tcp_proxy access_log_options", () => {
  test("flush_access_log_on_connected: a TcpUpstreamConnected line while the connection is open, then TcpConnectionEnd", async () => {
    const { connected, ended } = await run({ flush_access_log_on_connected: true });
    expect(connected).toMatch(/^TcpUpstreamConnected 127\.0\.0\.1:8001 \d+\n$/);
    expect(ended).toMatch(/^TcpUpstreamConnected 127\.0\.0\.1:8001 \d+\nTcpConnectionEnd 127\.0\.0\.1:8001 5\n$/);
  });

  test("without it (or false): the end's line only", async () => {
    expect((await run(undefined)).ended).toBe("TcpConnectionEnd 127.0.0.1:8001 5\n");
    expect((await run({ flush_access_log_on_connected: false })).connected).toBe("");
  });

  test("access_log_flush_interval (periodic lines) is refused by name", () => {
    expect(problemsOf(() => loadBootstrap(JSON.stringify(config({ access_log_flush_interval: "1s" })), "json"))[0]).toMatch(
      /access_log_options: `access_log_flush_interval` is an Envoy field that polyvoy does not support yet \(periodic tcp_proxy access logs/,
    );
  });

  test("the deprecated top-level flush_access_log_on_connected does the same; with access_log_options too it is Envoy's error", async () => {
    const { connected, ended } = await run(undefined, { flush_access_log_on_connected: true });
    expect(connected).toMatch(/^TcpUpstreamConnected 127\.0\.0\.1:8001 \d+\n$/);
    expect(ended).toMatch(/\nTcpConnectionEnd 127\.0\.0\.1:8001 5\n$/);
    expect(problemsOf(() => loadBootstrap(JSON.stringify(config({}, { flush_access_log_on_connected: true })), "json"))[0]).toMatch(
      /flush_access_log_on_connected: Only one of flush_access_log_on_connected or access_log_options can be specified\.$/,
    );
  });

  test("flush_access_log_on_start (a log at the connection's start) is refused by name; false is accepted", () => {
    expect(problemsOf(() => loadBootstrap(JSON.stringify(config({ flush_access_log_on_start: true })), "json"))[0]).toMatch(
      /access_log_options: `flush_access_log_on_start` is an Envoy field that polyvoy does not support yet \(no access log is written at the connection's start\)/,
    );
    expect(loadBootstrap(JSON.stringify(config({ flush_access_log_on_start: false })), "json").listeners).toHaveLength(1);
  });
});
