/**
 * tcp_proxy access_log_options.flush_access_log_on_connected on every runtime: a real
 * client and upstream; the access log gets a TcpUpstreamConnected line while the
 * connection is still open, and the TcpConnectionEnd line when it ends.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { freePort } from "../support/net-helpers.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

const read = (path: string) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
};

describe.each(RUNTIMES)("tcp_proxy flush_access_log_on_connected on %s", (runtime) => {
  let upstream: Server;
  let upstreamPort: number;
  let proxy: ProxyProcess;
  let port: number;
  let logPath: string;

  beforeAll(async () => {
    upstream = createServer((socket) => socket.on("data", () => {}).on("error", () => {}));
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    upstreamPort = (upstream.address() as { port: number }).port;
    port = await freePort();
    logPath = join(mkdtempSync(join(tmpdir(), "polyvoy-tcp-log-")), "access.log");
    proxy = await ProxyProcess.start(runtime, {
      static_resources: {
        listeners: [
          {
            name: "tcp",
            address: { socket_address: { address: "127.0.0.1", port_value: port } },
            filter_chains: [
              {
                filters: [
                  {
                    name: "envoy.filters.network.tcp_proxy",
                    typed_config: {
                      "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                      stat_prefix: "tcp",
                      cluster: "up",
                      access_log: [{ name: "envoy.access_loggers.file", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog", path: logPath, log_format: { text_format: "%ACCESS_LOG_TYPE% %UPSTREAM_CLUSTER%\n" } } }],
                      access_log_options: { flush_access_log_on_connected: true },
                    },
                  },
                ],
              },
            ],
          },
        ],
        clusters: [{ name: "up", type: "STATIC", load_assignment: { cluster_name: "up", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: upstreamPort } } } }] }] } }],
      },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await new Promise<void>((resolve) => upstream?.close(() => resolve()));
  });

  test("TcpUpstreamConnected while open, TcpConnectionEnd after", async () => {
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    socket.write("hello");
    // Envoy's file_flush_interval (1 s) passes before a line is written.
    await expect.poll(() => read(logPath), { timeout: 5000 }).toBe("TcpUpstreamConnected up\n");
    socket.end();
    await new Promise<void>((resolve) => socket.once("close", () => resolve()));
    await expect.poll(() => read(logPath), { timeout: 5000 }).toBe("TcpUpstreamConnected up\nTcpConnectionEnd up\n");
  });
});
