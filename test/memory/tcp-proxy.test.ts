/**
 * tcp_proxy on the TCP connection pool (core/upstream/tcp-conn-pool.ts), on the memory
 * runtime: bytes that come before the upstream connects, the connections circuit
 * breaker, and typed connect failures in the access log.
 */
import { describe, expect, test } from "vitest";
import type { CloseReason, Socket, SocketHandler } from "../../core/port.ts";
import type { Server } from "../../core/server.ts";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { tcpProxyConfig } from "../support/configs.ts";
import { startProxy } from "./support/proxy.ts";

const PROXY = 10000;
const UPSTREAM = 8080;
const decoder = new TextDecoder();

class Peer implements SocketHandler {
  received = "";
  closed: CloseReason | undefined;
  ended = false;
  constructor(readonly socket: Socket) {
    socket.setHandler(this);
  }
  onConnect(): void {}
  onData(data: Uint8Array): void {
    this.received += decoder.decode(data);
  }
  onEnd(): void {
    this.ended = true;
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
}

async function setup(options: { listen?: boolean; thresholds?: Record<string, number>; upstreamPorts?: number[]; tcp?: Record<string, unknown> } = {}): Promise<Setup> {
  const runtime = new MemoryRuntime({ seed: 3 });
  const upstreams: Peer[] = [];
  if (options.listen !== false) await runtime.listen({ address: "127.0.0.1", port: UPSTREAM }, (socket) => upstreams.push(new Peer(socket)));
  const config = tcpProxyConfig({ listenPort: PROXY, upstreamPorts: options.upstreamPorts ?? [UPSTREAM] }) as {
    static_resources: { listeners: { filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] }[]; clusters: Record<string, unknown>[] };
  };
  config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.access_log = [
    {
      name: "envoy.access_loggers.file",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        path: "/dev/stdout",
        log_format: { text_format_source: { inline_string: "%RESPONSE_FLAGS% %UPSTREAM_TRANSPORT_FAILURE_REASON%\n" } },
      },
    },
  ];
  Object.assign(config.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config, options.tcp);
  if (options.thresholds) config.static_resources.clusters[0]!.circuit_breakers = { thresholds: [options.thresholds] };
  const server = await startProxy(runtime, config);
  return { runtime, server, upstreams };
}

function stat(server: Server, name: string): number | undefined {
  return (server.stats.get(name) as { value: number } | undefined)?.value;
}

describe("tcp_proxy on the TCP pool", () => {
  test("bytes the client sends before the upstream connected arrive, FIN included", async () => {
    const { runtime, upstreams } = await setup();
    runtime.setFaults({ port: UPSTREAM }, { connectDelayMs: 50 });
    const client = new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
    client.socket.write(new TextEncoder().encode("early bytes"));
    client.socket.end();
    runtime.advance(100);
    expect(upstreams.map((u) => u.received)).toEqual(["early bytes"]);
    upstreams[0]!.socket.write(new TextEncoder().encode("reply"));
    upstreams[0]!.socket.end();
    runtime.runUntilIdle();
    expect(client.received).toBe("reply");
    expect([...runtime.openSockets]).toEqual([]);
  });

  test("past max_connections the downstream is closed at once (UO, upstream_cx_overflow), as Envoy's tcp_proxy", async () => {
    const { runtime, server, upstreams } = await setup({ thresholds: { max_connections: 1 } });
    const first = new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
    runtime.runDue();
    const second = new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
    runtime.runDue();
    expect(upstreams).toHaveLength(1);
    expect(second.ended).toBe(true);
    expect(first.ended).toBe(false);
    expect(stat(server, "cluster.upstream.upstream_cx_overflow")).toBe(1);
    first.socket.close();
    upstreams[0]!.socket.close();
    runtime.runUntilIdle();
    expect(runtime.stdoutText).toBe("UO -\n- -\n");
  });

  test("a refused connect closes the downstream; the access log has UF,URX and Envoy's transport failure reason", async () => {
    const { runtime, server } = await setup({ listen: false });
    const client = new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
    runtime.runUntilIdle();
    expect(client.ended).toBe(true);
    // Envoy's tcp_proxy: UF for the failed connect, then URX as max_connect_attempts (1) is used up.
    expect(runtime.stdoutText).toBe("UF,URX delayed_connect_error:_Connection_refused\n");
    expect(stat(server, "cluster.upstream.upstream_cx_connect_fail")).toBe(1);
    expect(stat(server, "cluster.upstream.upstream_cx_connect_attempts_exceeded")).toBe(1);
  });
});

// Envoy's tcp_proxy max_connect_attempts: a failed connect is tried again (another pick of
// host) until that many were made; then URX and upstream_cx_connect_attempts_exceeded.
describe("tcp_proxy max_connect_attempts", () => {
  test("a refused connect is tried on the next host, and the connection goes through", async () => {
    const { runtime, server, upstreams } = await setup({ upstreamPorts: [UPSTREAM + 1, UPSTREAM], tcp: { max_connect_attempts: 2 } });
    const client = new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
    client.socket.write(new TextEncoder().encode("hello"));
    runtime.runDue();
    runtime.runDue();
    expect(upstreams.map((u) => u.received)).toEqual(["hello"]);
    expect(stat(server, "cluster.upstream.upstream_cx_connect_fail")).toBe(1);
    expect(stat(server, "cluster.upstream.upstream_cx_connect_attempts_exceeded")).toBe(0);
    upstreams[0]!.socket.write(new TextEncoder().encode("hi"));
    runtime.runDue();
    expect(client.received).toBe("hi");
    client.socket.close();
    runtime.runUntilIdle();
    // The connect that failed leaves its flag, as Envoy's stream info keeps it.
    expect(runtime.stdoutText).toBe("UF delayed_connect_error:_Connection_refused\n");
  });

  test("every attempt refused: as many connects as max_connect_attempts, then URX", async () => {
    const { runtime, server } = await setup({ listen: false, tcp: { max_connect_attempts: 3 } });
    const client = new Peer(runtime.connect({ address: "127.0.0.1", port: PROXY }));
    runtime.runUntilIdle();
    expect(client.ended).toBe(true);
    expect(stat(server, "cluster.upstream.upstream_cx_connect_fail")).toBe(3);
    expect(stat(server, "cluster.upstream.upstream_cx_connect_attempts_exceeded")).toBe(1);
    expect(runtime.stdoutText).toBe("UF,URX delayed_connect_error:_Connection_refused\n");
  });
});
