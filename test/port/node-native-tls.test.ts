/**
 * Node's TLS sockets sit on the net.Socket's own handle (runtimes/node/native-tls-socket.ts),
 * not over a JS Duplex: an accepted socket is handed over by NodeSocket.detach with every
 * byte it read already — the bytes a listener filter peeked and the bytes the plain socket
 * held while its reads were disabled — in order; reset() stays an RST. (The port conformance suite holds these
 * sockets to the rest of the contract; this file runs on node only.)
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { Duplex } from "node:stream";
import { afterEach, describe, expect, test } from "vitest";
import type { Socket, SocketHandler, TlsHandshakeCallbacks } from "../../core/port.ts";
import { createNodeRuntime } from "../../runtimes/node/node-runtime.ts";
import { NativeTlsSocket } from "../../runtimes/node/native-tls-socket.ts";
import { currentRuntimeName } from "./current-runtime.ts";
import { SocketRecorder } from "./socket-recorder.ts";
import { mintTestCerts } from "../support/test-certs.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const accept: TlsHandshakeCallbacks = { onHandshake: () => true, onHandshakeError() {} };
const detached: SocketHandler = { onConnect() {}, onData() {}, onEnd() {}, onDrain() {}, onClose() {} };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A node TLS client whose first flight leaves in two writes `gapMs` apart: `head` bytes of
 * the ClientHello, then the rest (over a relaying Duplex on the test's side only).
 */
function splitHelloClient(port: number, ca: string, head: number, gapMs: number): tls.TLSSocket {
  const tcp = net.connect({ host: "127.0.0.1", port });
  let first = true;
  const relay = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      if (!first) return void tcp.write(chunk, callback);
      first = false;
      tcp.write(chunk.subarray(0, head));
      setTimeout(() => tcp.write(chunk.subarray(head), callback), gapMs);
    },
    final(callback) {
      tcp.end(callback);
    },
  });
  tcp.on("data", (data) => relay.push(data));
  tcp.on("end", () => relay.push(null));
  tcp.on("error", (err) => relay.destroy(err));
  cleanups.push(() => tcp.destroy());
  return tls.connect({ socket: relay, ca, servername: "example.com" });
}

describe.skipIf(currentRuntimeName() !== "node")("node: TLS on the accepted net.Socket's handle", () => {
  test("peeked bytes, then bytes held while reads were disabled, reach the handshake in order; plaintext flows both ways", async () => {
    const runtime = createNodeRuntime();
    const certs = mintTestCerts();
    const server = runtime.tls!.serverContext(
      { certificates: [{ certificateChain: certs.read(certs.server.cert), privateKey: certs.read(certs.server.key) }], alpnProtocols: [], params: {}, requestClientCertificate: false },
      accept,
    );
    let upgraded: Socket | undefined;
    let recorder: SocketRecorder | undefined;
    const listener = await runtime.listen({ address: "127.0.0.1", port: 0 }, (socket) => {
      // As the listener's ActiveTcpSocket does: the first read is a listener filter's,
      // reads are then disabled (what comes next is held), enabled again right before accept.
      socket.setHandler({
        ...detached,
        onData(data) {
          const peeked = data.slice();
          socket.readDisable(true);
          socket.setHandler(detached);
          setTimeout(() => {
            socket.readDisable(false);
            upgraded = runtime.tls!.accept(socket, server, peeked);
            recorder = new SocketRecorder(upgraded);
          }, 300);
        },
      });
    });
    cleanups.push(() => listener.close());
    const client = splitHelloClient(listener.address.port, certs.read(certs.ca), 20, 100);
    cleanups.push(() => client.destroy());
    const received: Buffer[] = [];
    client.on("data", (data: Buffer) => received.push(data));
    await new Promise<void>((resolve, reject) => {
      client.once("secureConnect", resolve);
      client.once("error", reject);
    });
    expect(upgraded).toBeInstanceOf(NativeTlsSocket);
    client.write("ping");
    await recorder!.until(() => recorder!.receivedBytes === 4, "ping");
    expect(recorder!.text()).toBe("ping");
    upgraded!.write(new TextEncoder().encode("pong"));
    for (let i = 0; i < 200 && Buffer.concat(received).length < 4; i++) await sleep(10);
    expect(Buffer.concat(received).toString()).toBe("pong");
    // reset() is an RST on the wire (net's resetAndClosing under the TLSSocket's close), not a FIN.
    const peerError = new Promise<string | undefined>((resolve) => {
      client.once("error", (err: NodeJS.ErrnoException) => resolve(err.code));
      client.once("end", () => resolve("FIN"));
    });
    upgraded!.reset();
    expect(await peerError).toBe("ECONNRESET");
  });
});
