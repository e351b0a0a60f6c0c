/**
 * tls_inspector's enable_ja3_fingerprinting on the memory runtime: the ClientHello's JA3
 * hash is the connection's %TLS_JA3_FINGERPRINT% (a users' zero-trust gateway logs it and
 * sends it upstream: DDoS-Fury/ZTALeaks), "-" for a connection without one.
 */
import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import type { Socket } from "../../core/port.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { clientHelloRecords } from "../support/tls-client-hello.ts";
import { startProxy } from "./support/proxy.ts";

const TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

async function proxyLogging(ja3: boolean): Promise<{ runtime: MemoryRuntime; send: (bytes: Uint8Array) => Promise<void> }> {
  const runtime = new MemoryRuntime({ seed: 3 });
  await runtime.listen({ address: "127.0.0.1", port: 8001 }, (socket: Socket) => socket.setHandler({ onConnect() {}, onData() {}, onEnd() {}, onDrain() {}, onClose() {} }));
  await startProxy(runtime, {
    static_resources: {
      listeners: [
        {
          name: "l",
          address: { socket_address: { address: "127.0.0.1", port_value: 10000 } },
          listener_filters: [{ name: "envoy.filters.listener.tls_inspector", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector", enable_ja3_fingerprinting: ja3 } }],
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.tcp_proxy",
                  typed_config: {
                    "@type": TCP_PROXY,
                    stat_prefix: "t",
                    cluster: "c",
                    access_log: [{ name: "envoy.access_loggers.stdout", typed_config: { "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog", log_format: { text_format: "%TLS_JA3_FINGERPRINT%\n" } } }],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [{ name: "c", type: "STATIC", load_assignment: { cluster_name: "c", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 8001 } } } }] }] } }],
    },
  });
  return {
    runtime,
    async send(bytes) {
      const client = runtime.connect({ address: "127.0.0.1", port: 10000 });
      client.setHandler({ onConnect() {}, onData() {}, onEnd() {}, onDrain() {}, onClose() {} });
      client.write(bytes);
      runtime.runDue();
      client.close();
      runtime.runUntilIdle();
      // The access log's file flush interval (1 s) passes.
      await runtime.settle(1500);
    },
  };
}

const HELLO = clientHelloRecords({ serverName: "a.example.com", extensions: [[10, Uint8Array.of(0, 4, 0, 29, 0, 23)], [11, Uint8Array.of(1, 0)]] });

describe("tls_inspector JA3", () => {
  test("enabled: the MD5 of the hello's JA3 text is %TLS_JA3_FINGERPRINT%; a plain connection logs -", async () => {
    const proxy = await proxyLogging(true);
    await proxy.send(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
    await proxy.send(HELLO);
    const expected = createHash("md5").update("771,4865-4866,0-10-11,29-23,0").digest("hex");
    expect(proxy.runtime.stdoutText).toBe(`-\n${expected}\n`);
  });

  test("not enabled (Envoy's default): no fingerprint, -", async () => {
    const proxy = await proxyLogging(false);
    await proxy.send(HELLO);
    expect(proxy.runtime.stdoutText).toBe("-\n");
  });
});
