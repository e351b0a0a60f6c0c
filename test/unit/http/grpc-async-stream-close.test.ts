/**
 * GrpcAsyncStream.closeSendAndDeleteOnRemoteClose (ext_proc's end of a request, Envoy's
 * halfCloseAndDeleteOnRemoteClose): half-close and let the server end the call; a reset only
 * when it has not within the timeout, and none at all before a connection was had.
 */
import { expect, test } from "vitest";
import { Timers } from "../../../core/event/timers.ts";
import { GrpcAsyncStream } from "../../../core/http/grpc-async-stream.ts";
import { HeaderMap } from "../../../core/http/header-map.ts";
import { ResponseHeaders } from "../../../core/http/message.ts";
import type { UpstreamCallbacks } from "../../../core/upstream/http1-conn-pool.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";

/** A stream on a stand-in pool: what reached the wire (or the pool), and the callbacks the caller got, in order. */
function harness() {
  const runtime = new MemoryRuntime({ seed: 1 });
  const timers = new Timers(runtime as never);
  const log: string[] = [];
  let upstream: UpstreamCallbacks | undefined;
  const pool = {
    newStream: (callbacks: UpstreamCallbacks) => {
      upstream = callbacks;
      return { cancel: () => log.push("pool cancelled") };
    },
  };
  // A cluster without upstream HTTP filters (config.upstreamHttpFilters unset): the stream is the pool's callbacks itself.
  const cluster = { config: {}, loadBalancer: { chooseHost: () => ({}) } };
  const server = { timers, clusterManager: { get: () => cluster, grpcStreamPoolCodeLoading: () => undefined, grpcStreamConnPool: () => pool } };
  const wire = {
    encodeHeaders: () => log.push("headers"),
    encodeData: (_data: Uint8Array, end: boolean) => log.push(end ? "end" : "message"),
    reset: () => log.push("reset"),
  };
  const stream = new GrpcAsyncStream(server as never, { onReceiveMessage: () => log.push("caller: message"), onRemoteClose: (status) => log.push(`caller: closed ${status}`) }, 1 << 20, true);
  stream.start("processor", "/envoy.service.ext_proc.v3.ExternalProcessor/Process", "", []);
  return { runtime, log, stream, connect: () => upstream!.onPoolReady(wire as never), upstream: () => upstream! };
}

test("the server ends the call after our half-close: no reset from us, nothing reaches the caller", async () => {
  const h = harness();
  h.connect();
  h.stream.sendMessage(new Uint8Array([1]));
  h.stream.closeSendAndDeleteOnRemoteClose(5000);
  const headers = new ResponseHeaders(200);
  headers.set("content-type", "application/grpc");
  h.upstream().decodeHeaders(headers, false);
  const trailers = new HeaderMap();
  trailers.set("grpc-status", "0");
  h.upstream().decodeTrailers(trailers);
  await h.runtime.settle(10_000);
  // The trailers' reset is the codec's no-op on a stream both sides ended; the timer never fires.
  expect(h.log).toEqual(["headers", "message", "end", "reset"]);
});

test("a server that never ends the call: reset at the timeout, not before", async () => {
  const h = harness();
  h.connect();
  h.stream.closeSendAndDeleteOnRemoteClose(5000);
  h.stream.closeSendAndDeleteOnRemoteClose(5000);
  await h.runtime.settle(4900);
  expect(h.log).toEqual(["headers", "end"]);
  await h.runtime.settle(200);
  expect(h.log).toEqual(["headers", "end", "reset"]);
});

test("given up before a connection: the pool request is cancelled, nothing is sent", async () => {
  const h = harness();
  h.stream.sendMessage(new Uint8Array([1]));
  h.stream.closeSendAndDeleteOnRemoteClose(5000);
  // At once, not at the timeout: a connection made meanwhile would carry the call out.
  await h.runtime.settle(100);
  expect(h.log).toEqual(["pool cancelled"]);
});
