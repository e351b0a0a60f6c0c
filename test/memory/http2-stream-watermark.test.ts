/**
 * A stream opened on an HTTP/2 connection whose write buffer is already over its high
 * watermark hears so at once (Envoy's codec_impl.cc ClientConnectionImpl::newStream runs the
 * new stream's high watermark callbacks): a gRPC side stream's sender (ext_proc full duplex)
 * is paused from its first message, not after the connection drains and fills again. Memory
 * runtime: a processor-like HTTP/2 upstream that stops reading, a small socket window.
 */
import { afterEach, describe, expect, test } from "vitest";
import { GrpcAsyncStream } from "../../core/http/grpc-async-stream.ts";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { startProxy } from "./support/proxy.ts";
import { MemoryH2Server } from "./support/h2-peers.ts";

const PORT = 9100;
let server: Server | undefined;
let upstream: MemoryH2Server | undefined;

afterEach(async () => {
  await server?.shutdown();
  upstream?.close();
  server = undefined;
  upstream = undefined;
});

describe("HTTP/2 upstream stream watermarks", () => {
  test("a stream opened while its connection is above the high watermark is told so at once", async () => {
    const runtime = new MemoryRuntime({ seed: 1, receiveWindow: 1024 });
    upstream = await MemoryH2Server.listen(runtime, PORT);
    server = await startProxy(runtime, {
      static_resources: {
        clusters: [
          {
            name: "p",
            connect_timeout: "1s",
            per_connection_buffer_limit_bytes: 4096,
            typed_extension_protocol_options: { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions", explicit_http_config: { http2_protocol_options: {} } } },
            load_assignment: { cluster_name: "p", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: PORT } } } }] }] },
          },
        ],
      },
    });
    const events = (label: string, log: string[]) => ({
      onReceiveMessage: () => {},
      onRemoteClose: (status: number) => log.push(`${label}:close:${status}`),
      onAboveWriteBufferHighWatermark: () => log.push(`${label}:above`),
      onBelowWriteBufferLowWatermark: () => log.push(`${label}:below`),
      onReady: () => log.push(`${label}:ready`),
    });
    const log: string[] = [];
    const first = new GrpcAsyncStream(server, events("a", log), 1 << 20, true);
    first.start("p", "/t.S/M", "", []);
    await runtime.settle(10);
    expect(log).toEqual(["a:ready"]);
    // The upstream stops reading: the first stream's 32 KiB (within its HTTP/2 window) fills the socket window, then the connection's buffer.
    for (const c of upstream.connections) c.socket.readDisable(true);
    first.sendMessage(new Uint8Array(32 * 1024));
    await runtime.settle(10);
    expect(log).toContain("a:above");
    const second = new GrpcAsyncStream(server, events("b", log), 1 << 20, true);
    second.start("p", "/t.S/M", "", []);
    await runtime.settle(10);
    expect(upstream.connections.length).toBe(1);
    expect(log.filter((e) => e.startsWith("b:"))).toEqual(["b:ready", "b:above"]);
    expect(second.aboveWriteBufferHighWatermark).toBe(true);
    first.reset();
    second.reset();
  });
});
