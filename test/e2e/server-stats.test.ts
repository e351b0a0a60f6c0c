/**
 * The server.* stats Envoy emits from its start (server.h ALL_SERVER_STATS) that have a
 * meaning here, and /server_info's hot_restart_version, on every runtime, black-box.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";
import { httpProxyConfig } from "../support/configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

describe.each(RUNTIMES)("server stats on %s", (runtime) => {
  let proxy: ProxyProcess;
  let admin: number;

  beforeAll(async () => {
    admin = await freePort();
    const listen = await freePort();
    proxy = await ProxyProcess.start(runtime, {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: admin } } },
      ...httpProxyConfig({ listenPort: listen, clusters: { backend: [await freePort()] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }] }),
    });
  });

  afterAll(async () => {
    await proxy?.stop("SIGKILL");
  });

  test("server.version (0: no git SHA in a polyvoy build) and server.initialization_time_ms, recorded once at start", async () => {
    const text = await (await fetch(`http://127.0.0.1:${admin}/stats?filter=^server\\.(version|initialization_time_ms)$`)).text();
    expect(text).toMatch(/^server\.version: 0$/m);
    expect(text).toMatch(/^server\.initialization_time_ms: P0\(/m);
    const prometheus = await (await fetch(`http://127.0.0.1:${admin}/stats/prometheus?filter=initialization_time_ms`)).text();
    expect(prometheus).toContain("# TYPE envoy_server_initialization_time_ms histogram\n");
    expect(prometheus).toContain("envoy_server_initialization_time_ms_count{} 1\n");
  });

  test("/server_info says hot_restart_version: disabled, as Envoy without hot restart", async () => {
    const info = (await (await fetch(`http://127.0.0.1:${admin}/server_info`)).json()) as Record<string, unknown>;
    expect(info.hot_restart_version).toBe("disabled");
  });
});
