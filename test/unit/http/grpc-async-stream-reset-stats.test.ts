/**
 * A gRPC stream that completed (our half-close, then the server's trailers) is no reset:
 * neither an RST_STREAM on the wire nor the cluster's upstream_rq_tx_reset (Envoy's
 * CodecClient counts a reset only from the codec's reset callbacks, which a closed stream
 * never runs). A call we abandon mid-stream still is one, counted once.
 * Proxy and server both on the memory runtime: the core's HTTP/2 pool and codec, end to end.
 */
import { afterEach, expect, test } from "vitest";
import { GrpcAsyncStream } from "../../../core/http/grpc-async-stream.ts";
import type { Server } from "../../../core/server.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { startProxy } from "../../memory/support/proxy.ts";
import { MemoryXdsServer } from "../../memory/support/xds-server.ts";

const PORT = 18001;
const HTTP_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const METHOD = "/envoy.service.ext_proc.v3.ExternalProcessor/Process";
/** Any protobuf message: the memory server reads it as a DiscoveryRequest (version_info "A"). */
const MESSAGE = new Uint8Array([0x0a, 1, 0x41]);

let runtime: MemoryRuntime;
let upstream: MemoryXdsServer;

afterEach(() => upstream?.close());

async function elapse(ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    runtime.advance(10);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

async function setup(): Promise<Server> {
  runtime = new MemoryRuntime({ seed: 3 });
  upstream = await MemoryXdsServer.listen(runtime, PORT);
  return startProxy(runtime, {
    static_resources: {
      clusters: [
        {
          name: "processor",
          type: "STATIC",
          connect_timeout: "1s",
          typed_extension_protocol_options: { "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": { "@type": HTTP_OPTIONS, explicit_http_config: { http2_protocol_options: {} } } },
          load_assignment: { cluster_name: "processor", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: PORT } } } }] }] },
        },
      ],
    },
  });
}

function open(server: Server, closes: number[]): GrpcAsyncStream {
  const stream = new GrpcAsyncStream(server, { onReceiveMessage: () => {}, onRemoteClose: (status) => closes.push(status) }, 1 << 20);
  stream.start("processor", METHOD, "", []);
  return stream;
}

const counter = (server: Server, name: string) => server.stats.counter(`cluster.processor.${name}`).value;

test("three calls half-closed by us and ended by the server's trailers: no reset counted, none sent", async () => {
  const server = await setup();
  const closes: number[] = [];
  for (let i = 0; i < 3; i++) {
    const call = open(server, closes);
    call.sendMessage(MESSAGE);
    call.closeSend();
    await elapse(50);
    const served = upstream.last;
    expect(served.h2.remoteEnded).toBe(true);
    served.send(MESSAGE);
    served.close(0);
    await elapse(50);
    expect(served.reset).toBe(false);
  }
  expect(closes).toEqual([0, 0, 0]);
  expect(upstream.streams).toHaveLength(3);
  expect(counter(server, "upstream_rq_total")).toBe(3);
  expect(counter(server, "upstream_rq_tx_reset")).toBe(0);
  expect(counter(server, "upstream_rq_rx_reset")).toBe(0);
  expect(server.stats.counter("cluster.processor.http2.tx_reset").value).toBe(0);
});

test("the server's trailers while our side is still open: our side is reset, counted once", async () => {
  const server = await setup();
  const closes: number[] = [];
  const call = open(server, closes);
  call.sendMessage(MESSAGE);
  await elapse(50);
  upstream.last.close(0);
  await elapse(50);
  expect(closes).toEqual([0]);
  expect(upstream.last.reset).toBe(true);
  expect(counter(server, "upstream_rq_tx_reset")).toBe(1);
});

test("a call abandoned mid-stream is a reset: RST_STREAM sent, upstream_rq_tx_reset counted once", async () => {
  const server = await setup();
  const closes: number[] = [];
  const call = open(server, closes);
  call.sendMessage(MESSAGE);
  await elapse(50);
  call.reset();
  await elapse(50);
  expect(upstream.last.reset).toBe(true);
  expect(closes).toEqual([]);
  expect(counter(server, "upstream_rq_tx_reset")).toBe(1);
});
