/**
 * tcp_proxy compared with Envoy's (source/common/tcp_proxy/tcp_proxy.cc), black box on
 * every runtime: response flags, and the idle timeout when a peer has stopped reading.
 */
import { describe, expect, test } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProxyProcess, RUNTIMES, startNodeFrom } from "../support/proxy-process.ts";
import { connect, freePort, peerClosed, readAll, tcpServer } from "../support/net-helpers.ts";
import { lines } from "../support/log-lines.ts";
import { tcpProxyConfig, type TcpProxyOptions } from "../support/configs.ts";

// What the proxy does, not how it starts from source: node runs the package's entry (proxy-process.ts, nodeEntry).
startNodeFrom("package");

type Bootstrap = { admin?: object; static_resources: { listeners: any[]; clusters: any[] } };

function withAdmin(options: TcpProxyOptions, adminPort: number): Bootstrap {
  const config = tcpProxyConfig(options) as Bootstrap;
  config.admin = { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } };
  return config;
}

/** The admin's /stats as a map of name → value. */
async function stats(adminPort: number): Promise<Map<string, string>> {
  const body = await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text();
  const map = new Map<string, string>();
  for (const line of body.split("\n")) {
    const at = line.indexOf(": ");
    if (at > 0) map.set(line.slice(0, at), line.slice(at + 2));
  }
  return map;
}

/** Polls /stats until `ok` holds (up to `timeoutMs`), and returns the last answer. */
async function statsWhen(adminPort: number, ok: (s: Map<string, string>) => boolean, timeoutMs = 10_000): Promise<Map<string, string>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await stats(adminPort);
    if (ok(s) || Date.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each(RUNTIMES)("tcp_proxy as Envoy's on %s", (runtime) => {
  // Envoy's onGenericPoolFailure turns a pool overflow into a LocalClose while connecting,
  // which tries to connect again and finds max_connect_attempts (1) used up: URX and
  // upstream_cx_connect_attempts_exceeded, not UO (UO is the connections circuit breaker
  // that establishUpstreamConnection checks before asking the pool).
  test("a pool overflow (max_pending_requests) is URX and upstream_cx_connect_attempts_exceeded", async () => {
    const dir = mkdtempSync(join(tmpdir(), "polyvoy-tcp-"));
    const upstream = await tcpServer((s) => s.end("never"));
    const [port, adminPort] = [await freePort(), await freePort()];
    const config = withAdmin({ listenPort: port, upstreamPorts: [upstream.port], accessLog: { path: join(dir, "tcp.log"), format: "%RESPONSE_FLAGS%\n" } }, adminPort);
    config.static_resources.clusters[0].circuit_breakers = { thresholds: [{ max_pending_requests: 0 }] };
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      const client = await connect(port);
      client.on("error", () => {});
      await peerClosed(client);
      expect(await lines(join(dir, "tcp.log"), 1)).toEqual(["URX"]);
      const s = await stats(adminPort);
      expect(s.get("cluster.upstream.upstream_rq_pending_overflow")).toBe("1");
      expect(s.get("cluster.upstream.upstream_cx_connect_attempts_exceeded")).toBe("1");
      expect(s.get("cluster.upstream.upstream_cx_overflow")).toBe("0");
      expect(upstream.accepted).toBe(0);
    } finally {
      await proxy.stop("SIGKILL");
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Envoy's onIdleTimeout closes the downstream NoFlush ("During idle timeouts, we close both
  // upstream and downstream with NoFlush", tcp_proxy.cc): a client that stopped reading must
  // not keep the connection (and what the proxy buffered for it) past the timeout.
  test("idle_timeout frees a connection whose client stopped reading", async () => {
    const chunk = Buffer.alloc(64 * 1024, 7);
    const upstream = await tcpServer((socket) => {
      socket.on("error", () => {});
      const pump = () => {
        while (!socket.destroyed && socket.write(chunk));
        if (!socket.destroyed) socket.once("drain", pump);
      };
      pump();
    });
    const [port, adminPort] = [await freePort(), await freePort()];
    const proxy = await ProxyProcess.start(runtime, withAdmin({ listenPort: port, upstreamPorts: [upstream.port], idleTimeout: "1s" }, adminPort));
    try {
      const client = await connect(port);
      client.on("error", () => {});
      client.pause();
      const listenerActive = `listener.127.0.0.1_${port}.downstream_cx_active`;
      const s = await statsWhen(adminPort, (m) => m.get("tcp.tcp.idle_timeout") === "1" && m.get(listenerActive) === "0");
      expect(s.get("tcp.tcp.idle_timeout")).toBe("1");
      expect(s.get(listenerActive)).toBe("0");
      expect(s.get("cluster.upstream.upstream_cx_active")).toBe("0");
      client.destroy();
    } finally {
      await proxy.stop("SIGKILL");
      await upstream.close();
    }
  });

  test("max_connect_attempts: a refused connect is tried on the next host and every connection goes through", async () => {
    const upstream = await tcpServer((s) => s.end("pong"));
    const deadPort = await freePort(); // nothing listens there
    const [port, adminPort] = [await freePort(), await freePort()];
    const config = withAdmin({ listenPort: port, upstreamPorts: [deadPort, upstream.port] }, adminPort);
    config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.max_connect_attempts = 2;
    const proxy = await ProxyProcess.start(runtime, config);
    try {
      // Round robin over the two hosts, each attempt a pick: at least three of the four
      // connections are first sent to the dead host, and go through on their second attempt.
      for (let i = 0; i < 4; i++) {
        const client = await connect(port);
        const reply = readAll(client);
        client.end("ping");
        expect((await reply).toString()).toBe("pong");
      }
      const s = await stats(adminPort);
      expect(Number(s.get("cluster.upstream.upstream_cx_connect_fail"))).toBeGreaterThanOrEqual(3);
      expect(upstream.accepted).toBe(4);
      expect(s.get("cluster.upstream.upstream_cx_connect_attempts_exceeded")).toBe("0");
    } finally {
      await proxy.stop("SIGKILL");
      await upstream.close();
    }
  });

  // A client's reset must be seen while the proxy holds bytes for an upstream that does not
  // read: the downstream's reads are disabled then (the upstream above its high watermark)
  // and the port promises that a reset still closes a read-disabled socket (port.ts). Node
  // stops watching a paused socket at all (runtimes/kit/reset-probe.ts): the connection
  // stayed until the idle timeout. The downstream closed, the upstream is left flushing
  // what it was sent, as Envoy's tcp_proxy does (TcpUpstream::onDownstreamEvent, then
  // UpstreamDrainManager: upstream_flush_active).
  test("a client reset while the upstream does not read (the proxy's queue full) closes the downstream", async () => {
    const upstream = await tcpServer((socket) => socket.pause()); // never reads
    const [port, adminPort] = [await freePort(), await freePort()];
    const proxy = await ProxyProcess.start(runtime, withAdmin({ listenPort: port, upstreamPorts: [upstream.port] }, adminPort));
    try {
      const client = await connect(port);
      client.on("error", () => {});
      // Write until the client's own queue stays full for a second: every buffer on the
      // way (the upstream's receive buffer, the proxy's queue, the kernel's) is full.
      const chunk = Buffer.alloc(256 * 1024, 1);
      for (;;) {
        while (client.write(chunk));
        const drained = await Promise.race([
          new Promise<boolean>((r) => client.once("drain", () => r(true))),
          new Promise<boolean>((r) => setTimeout(() => r(false), 1000)),
        ]);
        if (!drained) break;
      }
      const s0 = await stats(adminPort);
      expect(s0.get("tcp.tcp.downstream_flow_control_paused_reading_total")).not.toBe("0");
      client.resetAndDestroy();
      const listenerActive = `listener.127.0.0.1_${port}.downstream_cx_active`;
      const s = await statsWhen(adminPort, (m) => m.get(listenerActive) === "0");
      expect(s.get(listenerActive)).toBe("0");
      expect(s.get("tcp.tcp.upstream_flush_total")).toBe("1");
    } finally {
      await proxy.stop("SIGKILL");
      await upstream.close();
    }
  });
});
