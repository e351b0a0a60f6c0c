import { test, expect } from "vitest";
import type { Socket } from "../../core/port.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { httpProxyConfig } from "../support/configs.ts";
import { SocketRecorder } from "../port/socket-recorder.ts";
import { activeDownstreamConnections, pooledConnections, resourceCounters, startProxy } from "./support/proxy.ts";
import { latin1, latin1Bytes } from "./support/http-wire.ts";

async function setup(seed: number) {
  const lines: string[] = [];
  const runtime = new MemoryRuntime({ seed, trace: (l) => lines.push(l) });
  const upstreamSockets: Socket[] = [];
  await runtime.listen({ address: "127.0.0.1", port: 8080 }, (socket) => {
    upstreamSockets.push(socket);
    let head = "";
    let upgraded = false;
    socket.setHandler({
      onConnect() {},
      onData(data) {
        if (upgraded) return socket.write(data.slice());
        head += latin1(data);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        upgraded = true;
        socket.write(latin1Bytes("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n"));
        const rest = head.slice(end + 4);
        if (rest) socket.write(latin1Bytes(rest));
      },
      onEnd() { socket.end(); },
      onDrain() {},
      onClose() {},
    });
  });
  const server = await startProxy(runtime, httpProxyConfig({ listenPort: 10000, clusters: { backend: [8080] }, routes: [{ match: { prefix: "/" }, cluster: "backend" }], hcm: { upgrade_configs: [{ upgrade_type: "websocket" }] } }), "debug");
  const client = new SocketRecorder(runtime.connect({ address: "127.0.0.1", port: 10000 }));
  const leaks = () => {
    runtime.runUntilIdle();
    return { down: activeDownstreamConnections(server), pooled: pooledConnections(server, "backend"), counters: resourceCounters(server, "backend"), sockets: runtime.openSockets.size, timers: runtime.pendingTimers };
  };
  return { runtime, client, upstreamSockets, leaks, lines };
}
const NO_LEAKS = { down: 0, pooled: 0, counters: { connections: 0, pendingRequests: 0, requests: 0 }, sockets: 0, timers: 0 };
const UPGRADE = "GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n";

for (const seed of [1, 2, 3, 4, 5]) {
  test(`tunnel echo + client half-close ${seed}`, async () => {
    const { runtime, client, leaks, lines } = await setup(seed);
    client.socket.write(latin1Bytes(UPGRADE + "hello"));
    runtime.runDue();
    client.socket.write(latin1Bytes(" world"));
    client.socket.end();
    runtime.runDue();
    const got = client.text();
    if (!got.endsWith("hello world") || client.closeReason !== "remote") console.log(lines.join("\n"));
    expect(got).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n[\s\S]*\r\n\r\nhello world$/);
    expect(client.ended).toBe(true);
    expect(client.closeReason).toBe("remote");
    expect(leaks()).toEqual(NO_LEAKS);
  });
  test(`tunnel upstream reset ${seed}`, async () => {
    const { runtime, client, upstreamSockets, leaks } = await setup(seed);
    client.socket.write(latin1Bytes(UPGRADE + "hello"));
    runtime.runDue();
    upstreamSockets[0]!.reset();
    runtime.runDue();
    expect(client.closeReason).toBeDefined();
    expect(leaks()).toEqual(NO_LEAKS);
  });
  test(`tunnel client reset ${seed}`, async () => {
    const { runtime, client, leaks } = await setup(seed);
    client.socket.write(latin1Bytes(UPGRADE + "hello"));
    runtime.runDue();
    client.socket.reset();
    expect(leaks()).toEqual(NO_LEAKS);
  });
  test(`tunnel upstream half-close ${seed}`, async () => {
    const { runtime, client, upstreamSockets, leaks } = await setup(seed);
    client.socket.write(latin1Bytes(UPGRADE + "hello"));
    runtime.runDue();
    upstreamSockets[0]!.end();
    runtime.runDue();
    expect(client.ended).toBe(true);
    client.socket.write(latin1Bytes("still"));
    client.socket.end();
    runtime.runDue();
    expect(client.text().endsWith("hello")).toBe(true);
    expect(leaks()).toEqual(NO_LEAKS);
  });
}
