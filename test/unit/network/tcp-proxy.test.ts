/**
 * tcp_proxy (core/network/tcp-proxy.ts) on the memory runtime: bytes both ways with
 * Envoy's tcp.<stat_prefix>.* counters, either side's close reaching the other, the
 * idle timeout, no host, and flow control from a slow upstream back to the client.
 * The TCP pool under it is in test/memory/conn-pool.test.ts; connect failures and
 * max_connections in test/memory/tcp-proxy.test.ts.
 */
import { describe, expect, test } from "vitest";
import type { CloseReason, Socket, SocketHandler } from "../../../core/port.ts";
import type { Server } from "../../../core/server.ts";
import { MemoryRuntime } from "../../../runtimes/memory/memory-runtime.ts";
import { tcpProxyConfig, type TcpProxyOptions } from "../../support/configs.ts";
import { firstDifference, latin1, latin1Bytes, pattern } from "../../memory/support/http-wire.ts";
import { startProxy } from "../../memory/support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;

/** A socket's peer that keeps every byte it receives and closes when the other side ends. */
class Peer implements SocketHandler {
  private readonly chunks: Uint8Array[] = [];
  length = 0;
  ended = false;
  closed: CloseReason | undefined;
  constructor(readonly socket: Socket) {
    socket.setHandler(this);
  }
  get bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
  get text(): string {
    return latin1(this.bytes);
  }
  send(text: string): void {
    this.socket.write(latin1Bytes(text));
  }
  onConnect(): void {}
  onData(data: Uint8Array): void {
    this.chunks.push(data.slice());
    this.length += data.length;
  }
  onEnd(): void {
    this.ended = true;
    this.socket.close();
  }
  onDrain(): void {}
  onClose(reason: CloseReason): void {
    this.closed = reason;
  }
}

interface Setup {
  runtime: MemoryRuntime;
  server: Server;
  upstreams: Peer[];
  connect(): Peer;
  stat(name: string): number;
}

async function setup(options: Partial<Omit<TcpProxyOptions, "accessLog">> & { accessLog?: string } = {}): Promise<Setup> {
  const runtime = new MemoryRuntime({ seed: 2 });
  const upstreams: Peer[] = [];
  await runtime.listen({ address: "127.0.0.1", port: UPSTREAM }, (socket) => upstreams.push(new Peer(socket)));
  const { accessLog, ...rest } = options;
  const config = tcpProxyConfig({ listenPort: PROXY, upstreamPorts: [UPSTREAM], ...rest, ...(accessLog ? { accessLog: { path: "/dev/stdout", format: accessLog } } : {}) });
  const server = await startProxy(runtime, config);
  return {
    runtime,
    server,
    upstreams,
    connect: () => new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY })),
    stat: (name) => (server.stats.get(name) as { value: number } | undefined)?.value ?? 0,
  };
}

describe("tcp_proxy: bytes, closes and counters", () => {
  test("bytes go both ways and are counted as Envoy's tcp_proxy and cluster stats; the access log has the byte counts", async () => {
    const { runtime, upstreams, connect, stat } = await setup({ accessLog: "%BYTES_RECEIVED% %BYTES_SENT% %UPSTREAM_CLUSTER%\n" });
    const client = connect();
    runtime.runDue();
    client.send("hello upstream");
    runtime.runDue();
    expect(upstreams.map((u) => u.text)).toEqual(["hello upstream"]);
    upstreams[0]!.send("hi back!");
    runtime.runDue();
    expect(client.text).toBe("hi back!");
    expect(stat("tcp.tcp.downstream_cx_total")).toBe(1);
    expect(stat("tcp.tcp.downstream_cx_rx_bytes_total")).toBe(14);
    expect(stat("tcp.tcp.downstream_cx_tx_bytes_total")).toBe(8);
    expect(stat("cluster.upstream.upstream_cx_tx_bytes_total")).toBe(14);
    expect(stat("cluster.upstream.upstream_cx_total")).toBe(1);
    client.socket.close();
    runtime.runUntilIdle();
    expect(upstreams[0]!.closed).toBeDefined();
    expect(runtime.stdoutText).toBe("14 8 upstream\n");
    expect([...runtime.openSockets]).toEqual([]);
  });

  test("the upstream closing: the client gets what it sent first, then the close", async () => {
    const { runtime, upstreams, connect } = await setup();
    const client = connect();
    runtime.runDue();
    upstreams[0]!.send("last words");
    upstreams[0]!.socket.close();
    runtime.runUntilIdle();
    expect(client.text).toBe("last words");
    expect(client.ended).toBe(true);
    expect([...runtime.openSockets]).toEqual([]);
  });

  test("the upstream resetting: the proxy closes the client's connection", async () => {
    const { runtime, upstreams, connect } = await setup();
    const client = connect();
    runtime.runDue();
    upstreams[0]!.socket.reset();
    runtime.runUntilIdle();
    expect(client.ended).toBe(true);
    expect([...runtime.openSockets]).toEqual([]);
  });

  test("the client resetting: the upstream connection is closed too", async () => {
    const { runtime, upstreams, connect } = await setup();
    const client = connect();
    runtime.runDue();
    expect(upstreams).toHaveLength(1);
    client.socket.reset();
    runtime.runUntilIdle();
    expect(upstreams[0]!.closed).toBeDefined();
    expect([...runtime.openSockets]).toEqual([]);
  });

  test("a cluster without hosts: the client is closed at once, the cluster's upstream_cx_none_healthy (not downstream_cx_no_route), flag UH", async () => {
    const { runtime, upstreams, connect, stat } = await setup({ upstreamPorts: [], accessLog: "%RESPONSE_FLAGS%\n" });
    const client = connect();
    runtime.runUntilIdle();
    expect(client.ended || client.closed !== undefined).toBe(true);
    expect(upstreams).toHaveLength(0);
    // Envoy's tcpConnPoolImpl counts the miss on the cluster; the route was found (tcp_proxy.cc).
    expect(stat("cluster.upstream.upstream_cx_none_healthy")).toBe(1);
    expect(stat("tcp.tcp.downstream_cx_no_route")).toBe(0);
    expect(runtime.stdoutText).toBe("UH\n");
  });
});

describe("tcp_proxy: idle_timeout", () => {
  test("no bytes either way for idle_timeout closes both sides (idle_timeout counted); bytes postpone it", async () => {
    const { runtime, upstreams, connect, stat } = await setup({ idleTimeout: "10s" });
    const client = connect();
    runtime.runDue();
    runtime.advance(6000);
    client.send("still here");
    runtime.advance(6000); // 12 s since the connect, 6 s since the bytes
    expect(client.closed).toBeUndefined();
    upstreams[0]!.send("me too");
    runtime.advance(9999); // 10 s less 1 ms since the upstream's bytes
    expect(client.closed).toBeUndefined();
    expect(stat("tcp.tcp.idle_timeout")).toBe(0);
    runtime.advance(1);
    runtime.runDue();
    expect(stat("tcp.tcp.idle_timeout")).toBe(1);
    expect(client.ended || client.closed !== undefined).toBe(true);
    runtime.runUntilIdle();
    expect(upstreams[0]!.closed).toBeDefined();
    expect([...runtime.openSockets].filter((s) => s !== client.socket)).toEqual([]);
  });
});

describe("tcp_proxy: flow control", () => {
  test("an upstream that does not read stops the proxy reading the client at the buffer limit; once it reads, every byte arrives", async () => {
    const { runtime, upstreams, connect, stat } = await setup({ bufferLimitBytes: 16 * 1024 });
    const client = connect();
    runtime.runDue();
    const upstream = upstreams[0]!;
    upstream.socket.readDisable(true);
    const data = pattern(1024 * 1024, 6);
    client.socket.write(data);
    runtime.runDue();
    expect(stat("tcp.tcp.downstream_flow_control_paused_reading_total")).toBe(1);
    // The rest waits in the client's own queue, not in the proxy.
    expect(client.socket.bufferedAmount).toBeGreaterThan(256 * 1024);
    upstream.socket.readDisable(false);
    runtime.runDue();
    expect(upstream.length).toBe(data.length);
    expect(firstDifference(upstream.bytes, data)).toBe(-1);
    expect(stat("tcp.tcp.downstream_flow_control_resumed_reading_total")).toBeGreaterThanOrEqual(1);
    client.socket.close();
    runtime.runUntilIdle();
    expect([...runtime.openSockets]).toEqual([]);
  });

  test("a client that does not read stops the proxy reading the upstream (its writes queue on the upstream's side)", async () => {
    const { runtime, upstreams, connect } = await setup({ bufferLimitBytes: 16 * 1024 });
    const client = connect();
    runtime.runDue();
    client.socket.readDisable(true);
    const data = pattern(1024 * 1024, 7);
    upstreams[0]!.socket.write(data);
    runtime.runDue();
    expect(upstreams[0]!.socket.bufferedAmount).toBeGreaterThan(256 * 1024);
    client.socket.readDisable(false);
    runtime.runDue();
    expect(client.length).toBe(data.length);
    expect(firstDifference(client.bytes, data)).toBe(-1);
    client.socket.close();
    runtime.runUntilIdle();
    expect([...runtime.openSockets]).toEqual([]);
  });
});

// Envoy's UpstreamDrainManager (tcp_proxy.cc): the client gone while bytes for the upstream
// are still buffered, the upstream connection is left flushing, counted, under the idle timeout.
describe("tcp_proxy: the upstream left flushing after the client closed", () => {
  test("an upstream that reads later gets every byte, then is closed (upstream_flush_total, upstream_flush_active)", async () => {
    const { runtime, upstreams, connect, stat } = await setup({ idleTimeout: "10s", bufferLimitBytes: 4 * 1024 * 1024 });
    const client = connect();
    runtime.runDue();
    const upstream = upstreams[0]!;
    upstream.socket.readDisable(true);
    const data = pattern(1024 * 1024, 8);
    client.socket.write(data);
    runtime.runDue();
    client.socket.reset();
    runtime.runDue();
    expect(stat("tcp.tcp.upstream_flush_total")).toBe(1);
    expect(stat("tcp.tcp.upstream_flush_active")).toBe(1);
    upstream.socket.readDisable(false);
    runtime.runUntilIdle();
    expect(firstDifference(upstream.bytes, data)).toBe(-1);
    expect(upstream.closed).toBeDefined();
    expect(stat("tcp.tcp.upstream_flush_active")).toBe(0);
    expect(stat("tcp.tcp.idle_timeout")).toBe(0);
  });

  test("an upstream that never reads is closed after idle_timeout", async () => {
    const { runtime, upstreams, connect, stat } = await setup({ idleTimeout: "10s", bufferLimitBytes: 4 * 1024 * 1024 });
    const client = connect();
    runtime.runDue();
    const upstream = upstreams[0]!;
    upstream.socket.readDisable(true);
    client.socket.write(pattern(1024 * 1024, 9));
    runtime.runDue();
    client.socket.reset();
    runtime.runDue();
    expect(stat("tcp.tcp.upstream_flush_active")).toBe(1);
    runtime.advance(10_000);
    runtime.runDue();
    expect(stat("tcp.tcp.idle_timeout")).toBe(1);
    runtime.runUntilIdle();
    expect(upstream.closed).toBeDefined();
    expect(stat("tcp.tcp.upstream_flush_active")).toBe(0);
    expect([...runtime.openSockets]).toEqual([]);
  });

  // Envoy's TcpUpstream::onDownstreamEvent(LocalClose) closes the upstream NoFlush: a
  // downstream closed by the proxy (listener drain, LDS removal, shutdown) hands nothing on.
  test("the client closed by the proxy (closeConnections): an upstream that does not read is reset, not kept", async () => {
    const { runtime, server, upstreams, connect, stat } = await setup({ idleTimeout: "10s", bufferLimitBytes: 4 * 1024 * 1024 });
    const client = connect();
    runtime.runDue();
    const upstream = upstreams[0]!;
    upstream.socket.readDisable(true);
    client.socket.write(pattern(1024 * 1024, 10));
    runtime.runDue();
    void server.listenerManager.closeConnections();
    runtime.runDue();
    runtime.advance(100 * 3600_000);
    runtime.runUntilIdle();
    expect(upstream.closed).toBeDefined();
    expect(stat("cluster.upstream.upstream_cx_active")).toBe(0);
    expect(stat("tcp.tcp.upstream_flush_total")).toBe(0);
    expect([...runtime.openSockets]).toEqual([]);
  });
});
