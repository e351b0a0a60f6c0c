/**
 * Node's adapter reads both kinds of socket into buffers it reuses (socket-reads.ts):
 * connected ones through `net.connect`'s `onread`, accepted ones by setting the fields
 * node keeps `onread` in (accepted-socket.ts, which leans on node internals and falls
 * back to node's fresh buffers without them). This checks that on the node the tests run
 * on, the fast path is the one taken, on either side: a body's reads arrive in the same
 * memory, not in a fresh buffer each. (A read is lent for the onData call only; that the
 * reuse never changes bytes a write still queues is the conformance suite's.)
 */
import { describe, expect, test } from "vitest";
import type { Runtime, Socket } from "../../core/port.ts";
import { currentRuntimeName } from "./current-runtime.ts";
import { SocketRecorder } from "./socket-recorder.ts";

const MiB = 1024 * 1024;

/** Records the memory each large read was lent in. */
class BufferRecorder extends SocketRecorder {
  readonly largeReadBuffers: ArrayBufferLike[] = [];
  override onData(data: Uint8Array): void {
    if (data.byteLength >= 8192) this.largeReadBuffers.push(data.buffer);
    super.onData(data);
  }
}

describe.skipIf(currentRuntimeName() !== "node")("node reads into reused buffers", () => {
  test.each([
    ["an accepted", "accepted"],
    ["a connected", "connected"],
  ] as const)("%s socket reads a 4 MiB body into the same few buffers", async (_, side) => {
    const { createNodeRuntime } = await import("../../runtimes/node/node-runtime.ts");
    const runtime: Runtime = createNodeRuntime();
    let accepted: ((socket: Socket) => void) | undefined;
    const listener = await runtime.listen({ address: "127.0.0.1", port: 0 }, (socket) => accepted?.(socket));
    const acceptedSocket = new Promise<Socket>((resolve) => (accepted = resolve));
    const connected = runtime.connect({ address: "127.0.0.1", port: listener.address.port });
    const [reader, writer] =
      side === "accepted"
        ? [new BufferRecorder(await acceptedSocket), new SocketRecorder(connected)]
        : [new BufferRecorder(connected), new SocketRecorder(await acceptedSocket)];
    try {
      const body = new Uint8Array(4 * MiB).fill(7);
      for (let at = 0; at < body.length; at += 65536) writer.socket.write(body.subarray(at, at + 65536));
      await reader.until(() => reader.receivedBytes === body.length, "the body");
      const reads = reader.largeReadBuffers.length;
      const distinct = new Set(reader.largeReadBuffers).size;
      expect(reads, "large reads").toBeGreaterThanOrEqual(8);
      // Fresh buffers: one per read. Reused: the socket's own buffer (no write held it
      // here), plus the copies of the large reads that came through the buffer idle
      // sockets share and were copied out: the first ones, and on a busy machine those
      // after a short read mid-body (the socket then gives its own buffer back). A
      // quarter of the reads still tells reuse from a buffer per read.
      expect(distinct, `${reads} large reads in ${distinct} buffers`).toBeLessThanOrEqual(Math.max(4, Math.floor(reads / 4)));
    } finally {
      reader.socket.reset();
      writer.socket.reset();
      listener.close();
    }
  });
});
