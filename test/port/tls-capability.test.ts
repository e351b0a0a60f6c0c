/**
 * The port's TLS capability on the runtime running the tests (node, bun and deno each
 * run it): a server-side handshake that starts from bytes a listener filter already
 * read (`peeked`), as a TLS inspector leaves them; the handshake's outcome told to the
 * context's callbacks (session fields, a refused peer, a failed handshake); ALPN and SNI.
 */
import { afterEach, beforeAll, describe, expect, test } from "vitest";
import type { Runtime, Socket, SocketHandler, TlsHandshakeCallbacks, TlsSession, PortError } from "../../core/port.ts";
import { currentRuntime } from "./current-runtime.ts";
import { SocketRecorder } from "./socket-recorder.ts";
import { mintTestCerts, type TestCerts } from "../support/test-certs.ts";

let runtime: Runtime;
let certs: TestCerts;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  runtime = await currentRuntime();
  certs = mintTestCerts();
});

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

class Outcomes implements TlsHandshakeCallbacks {
  sessions: TlsSession[] = [];
  errors: PortError[] = [];
  constructor(private readonly verdict: (session: TlsSession) => boolean = () => true) {}
  onHandshake(session: TlsSession): boolean {
    this.sessions.push(session);
    return this.verdict(session);
  }
  onHandshakeError(error: PortError): void {
    this.errors.push(error);
  }
}

function serverContext(outcomes: Outcomes, extra: { trustedCa?: string; alpn?: string[] } = {}) {
  return runtime.tls!.serverContext(
    {
      certificates: [{ certificateChain: certs.read(certs.server.cert), privateKey: certs.read(certs.server.key) }],
      alpnProtocols: extra.alpn ?? [],
      params: {},
      requestClientCertificate: extra.trustedCa !== undefined,
      ...(extra.trustedCa !== undefined ? { trustedCa: extra.trustedCa } : {}),
    },
    outcomes,
  );
}

/** A listener that reads each socket's first bytes itself, then hands the socket and those bytes to `upgrade`. */
async function peekingListener(upgrade: (socket: Socket, peeked: Uint8Array) => void): Promise<number> {
  const listener = await runtime.listen({ address: "127.0.0.1", port: 0 }, (socket) => {
    const peek: SocketHandler = {
      onConnect() {},
      onData(data) {
        socket.setHandler(detached);
        upgrade(socket, data.slice()); // lent for the call: the listener filter keeps a copy
      },
      onEnd() {},
      onDrain() {},
      onClose() {},
    };
    socket.setHandler(peek);
  });
  cleanups.push(() => listener.close());
  return listener.address.port;
}

const detached: SocketHandler = { onConnect() {}, onData() {}, onEnd() {}, onDrain() {}, onClose() {} };

describe("the port's TLS capability", () => {
  test("a handshake whose ClientHello a listener filter already read: the peeked bytes go first; SNI and ALPN reach both sides", async () => {
    const serverOutcomes = new Outcomes();
    const server = serverContext(serverOutcomes, { alpn: ["h2", "http/1.1"] });
    let accepted: SocketRecorder | undefined;
    let peekedBytes = 0;
    const port = await peekingListener((socket, peeked) => {
      peekedBytes = peeked.byteLength;
      accepted = new SocketRecorder(runtime.tls!.accept(socket, server, peeked));
    });
    const clientOutcomes = new Outcomes();
    const client = runtime.tls!.clientContext({ alpnProtocols: ["http/1.1"], params: {}, trustedCa: certs.read(certs.ca) }, clientOutcomes);
    const recorder = new SocketRecorder(runtime.tls!.connect({ address: "127.0.0.1", port }, client, "example.com"));
    cleanups.push(() => recorder.socket.reset());
    await recorder.until(() => recorder.connected, "handshake");
    expect(peekedBytes).toBeGreaterThan(0); // the ClientHello, or its start
    recorder.socket.write(new TextEncoder().encode("ping"));
    await new Promise<void>((resolve) => {
      const wait = () => (accepted && accepted.receivedBytes === 4 ? resolve() : setTimeout(wait, 10));
      wait();
    });
    expect(accepted!.text()).toBe("ping");
    accepted!.socket.write(new TextEncoder().encode("pong"));
    await recorder.until(() => recorder.receivedBytes === 4, "reply");
    expect(recorder.text()).toBe("pong");
    const [serverSession] = serverOutcomes.sessions;
    expect(serverSession).toMatchObject({ serverName: "example.com", alpn: "http/1.1", peerCertificate: undefined, peerVerifyError: undefined });
    expect(serverSession!.version).toMatch(/^TLSv1\.[23]$/);
    expect(accepted!.socket.tls).toBe(serverSession);
    const [clientSession] = clientOutcomes.sessions;
    expect(clientSession).toMatchObject({ serverName: "example.com", alpn: "http/1.1", peerVerifyError: undefined });
    expect(clientSession!.peerCertificate?.subjectAltNames).toContainEqual({ type: "DNS", value: "example.com" });
    // Bun terminates it in Bun itself (runtimes/bun/bun-tls.ts), not through the kit's TLSSocket over a Duplex.
    if (runtime.name === "bun") expect(accepted!.socket.constructor.name).toBe("BunTlsSocket");
  });

  test("a client certificate is read and checked against the CA; refusing the peer closes before any byte is delivered", async () => {
    const outcomes = new Outcomes(() => false);
    const server = serverContext(outcomes, { trustedCa: certs.read(certs.ca) });
    let accepted: SocketRecorder | undefined;
    const listener = await runtime.listen({ address: "127.0.0.1", port: 0 }, (socket) => (accepted = new SocketRecorder(runtime.tls!.accept(socket, server, undefined))));
    cleanups.push(() => listener.close());
    const client = runtime.tls!.clientContext(
      { alpnProtocols: [], params: {}, certificate: { certificateChain: certs.read(certs.rogue.cert), privateKey: certs.read(certs.rogue.key) } },
      new Outcomes(),
    );
    const recorder = new SocketRecorder(runtime.tls!.connect({ address: "127.0.0.1", port: listener.address.port }, client, undefined));
    cleanups.push(() => recorder.socket.reset());
    await recorder.until(() => recorder.connected || recorder.closeReason !== undefined, "handshake");
    recorder.socket.write(new TextEncoder().encode("must not arrive"));
    // The server's FIN (or reset) ends it: a half-open socket waits for us to close our side.
    await recorder.until(() => recorder.ended || recorder.closeReason !== undefined, "closed by the server");
    expect(accepted!.receivedBytes).toBe(0);
    expect(accepted!.closeReason).toBe("error");
    const [session] = outcomes.sessions;
    expect(session!.peerCertificate?.subject).toBe("CN=rogue");
    expect(session!.peerVerifyError).toBeDefined();
  });

  test("close() before the handshake is done: a peer that never finishes it cannot keep the socket", async () => {
    const server = serverContext(new Outcomes());
    let accepted: SocketRecorder | undefined;
    const listener = await runtime.listen({ address: "127.0.0.1", port: 0 }, (socket) => (accepted = new SocketRecorder(runtime.tls!.accept(socket, server, undefined))));
    cleanups.push(() => listener.close());
    // A peer that connects and never sends its ClientHello.
    const plain = new SocketRecorder(runtime.connect({ address: "127.0.0.1", port: listener.address.port }));
    cleanups.push(() => plain.socket.reset());
    await plain.until(() => plain.connected && accepted !== undefined, "connect");
    accepted!.socket.close();
    await accepted!.until(() => accepted!.closeReason !== undefined, "the accepted socket's close");
    expect(accepted!.closeReason).toBe("local");
    await plain.until(() => plain.ended || plain.closeReason !== undefined, "the peer sees the close");
  });

  test("a peer that does not speak TLS: the handshake fails, told once, and the socket closes with an error", async () => {
    const outcomes = new Outcomes();
    const server = serverContext(outcomes);
    let accepted: SocketRecorder | undefined;
    const listener = await runtime.listen({ address: "127.0.0.1", port: 0 }, (socket) => (accepted = new SocketRecorder(runtime.tls!.accept(socket, server, undefined))));
    cleanups.push(() => listener.close());
    const plain = new SocketRecorder(runtime.connect({ address: "127.0.0.1", port: listener.address.port }));
    cleanups.push(() => plain.socket.reset());
    await plain.until(() => plain.connected, "connect");
    plain.socket.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
    await plain.until(() => plain.ended || plain.closeReason !== undefined, "closed");
    await new Promise<void>((resolve) => {
      const wait = () => (accepted?.closeReason !== undefined ? resolve() : setTimeout(wait, 10));
      wait();
    });
    expect(accepted!.closeReason).toBe("error");
    expect(accepted!.receivedBytes).toBe(0);
    expect(outcomes.errors).toHaveLength(1);
    expect(outcomes.sessions).toHaveLength(0);
  });
});
